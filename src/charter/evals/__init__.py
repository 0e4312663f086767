"""Bias benchmarks: vendored data, one small scorer per benchmark mirroring its reference
implementation, bootstrap confidence intervals, and ``run.evaluate`` to score a model on several at once."""
