"""The decision: one pure function over (request, lineage, taxonomy, licences)."""
