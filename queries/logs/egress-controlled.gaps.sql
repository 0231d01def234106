-- One row per regulated source workload, destination and port whose allowed egress matched no allowlist entry,
-- and one per untrusted allowlist ConfigMap or unusable allowlist entry (logs_allowlist_problems).
SELECT e.cluster, e.namespace, e.workload AS object, e.destination, e.port, e.addresses, e.flows,
       e.first_ts, e.last_ts,
       'allowed egress from regulated namespace ' || e.namespace || ' to ' || e.destination
         || coalesce(' port ' || e.port, '') || ' outside the cluster, not on the egress allowlist' AS finding,
       o.origin AS location, e.example.source, e.example.run_id, e.example.artifact_sha256, e.example.collected_at
FROM logs_regulated_egress_summary e
LEFT JOIN logs_origins o ON o.run_id = e.example.run_id AND o.artifact_sha256 = e.example.artifact_sha256
WHERE NOT e.allowed
UNION ALL
SELECT cluster, namespace, object, entry, NULL, NULL, NULL, NULL, NULL, finding,
       location, source, run_id, artifact_sha256, collected_at
FROM logs_allowlist_problems
