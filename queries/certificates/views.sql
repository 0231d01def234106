-- Helper views of the certificates pack. Parameters are DuckDB variables set from pack.yaml (getvariable).
CREATE VIEW cert_as_of AS
SELECT CAST(getvariable('as_of') AS TIMESTAMPTZ) AS at,  -- the instant judged, set by the engine
       CAST(getvariable('expiry_warning_days') AS INTEGER) AS warning_days;

-- Certificates in use, one row per user: a Secret's leaf per listener referencing it, an endpoint's leaf,
-- an ACM certificate per consumer (InUseBy).
CREATE VIEW certificates_in_use AS
SELECT c.cluster, c.found_in,
       CASE c.found_in WHEN 'secret' THEN 'Secret ' || c.namespace || '/' || c.secret_name
                       WHEN 'endpoint' THEN 'endpoint ' || c.endpoint || coalesce(' (SNI ' || c.sni || ')', '')
                       ELSE 'ACM ' || c.acm_arn END AS object,
       u.used_by, c.common_name, c.sans, c.not_after, c.chain_valid, c.chain_error, c.sha256_fingerprint,
       CAST(floor((epoch(c.not_after) - epoch(a.at)) / 86400) AS INTEGER) AS days_left,  -- whole days
       c.not_after <= a.at AS expired,
       c.not_after <= a.at + to_days(a.warning_days) AS expiring,
       c.location, c.source, c.run_id, c.artifact_sha256, c.collected_at
FROM certificates_current c,
     unnest(CASE WHEN cardinality(c.referenced_by) > 0 THEN c.referenced_by ELSE [NULL] END) AS u(used_by),
     cert_as_of a
WHERE c.chain_position = 0 AND (c.found_in = 'endpoint' OR cardinality(c.referenced_by) > 0);
