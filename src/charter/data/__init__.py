"""Data creation and curation: record tags, the compiled selection predicate, dedup, manifests."""
