"""The logs source: deny and egress logs parsed by DuckDB into flows, http_access, dns_queries, audit_events.
`fetch` finds the files (local, S3, CloudWatch), `ingest` loads them, `formats` holds one module per log format."""
