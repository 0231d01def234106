"""The certificates source: TLS Secrets, cert-manager Certificates, live TLS endpoints and ACM into `certificates`.
Uses the core, sources.kubernetes (listing) and sources.logs.fetch (AWS clients); private keys are never read."""
