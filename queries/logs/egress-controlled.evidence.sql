-- One row per judged source workload (logs_regulated_egress), destination and port whose allowed egress the allowlist
-- admits.
SELECT e.cluster, e.namespace, e.workload AS object, e.destination, e.port, e.addresses, e.flows,
       e.first_ts, e.last_ts, e.allowed_by,
       'egress from ' || CASE WHEN e.namespace IS NULL THEN 'egress proxy client ' || e.workload
                              WHEN e.unlisted THEN 'namespace ' || e.namespace || ' (not in the Kubernetes inventory)'
                              ELSE 'regulated namespace ' || e.namespace END || ' to ' || e.destination
         || coalesce(' port ' || e.port, '') || ' allowed by ' || e.allowed_by AS detail,
       o.origin AS location, e.example.source, e.example.run_id, e.example.artifact_sha256, e.example.collected_at
FROM logs_regulated_egress_summary e
LEFT JOIN logs_origins o ON o.run_id = e.example.run_id AND o.artifact_sha256 = e.example.artifact_sha256
WHERE e.allowed
