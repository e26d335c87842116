"""Store modules: each owns the queries of one resource, one transaction per method."""
