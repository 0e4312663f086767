"""Volunteer-computing training runs (hivemind swarms): the signed contribution ledger and its checks."""
