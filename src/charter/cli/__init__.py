"""The `charter` command line: thin wrappers over charter.Registry, one file per noun."""
