-- One row per regulated source workload, destination and port whose allowed egress matched no allowlist entry
-- (a namespace the inventory does not hold, and an egress proxy's client no Pod holds, may be regulated: their
-- egress counts too), one per untrusted
-- allowlist ConfigMap or unusable allowlist entry (logs_allowlist_problems), and one per host-network Pod or
-- workload of a regulated namespace, whose egress no flow log attributes to it.
SELECT e.cluster, e.namespace, e.workload AS object, e.destination, e.port, e.addresses, e.flows,
       e.first_ts, e.last_ts,
       'allowed egress from ' || CASE WHEN e.namespace IS NULL
                                       THEN 'client ' || e.workload || ' of an egress proxy (no Pod of the Kubernetes '
                                            || 'inventory holds this address: it may have been a regulated one)'
                                     WHEN e.unlisted THEN 'namespace ' || e.namespace
                                          || ' (not in the Kubernetes inventory: it may be regulated)'
                                     ELSE 'regulated namespace ' || e.namespace END
         || ' to ' || e.destination || coalesce(' port ' || e.port, '')
         || ' outside the cluster, not on the egress allowlist' AS finding,
       o.origin AS location, e.example.source, e.example.run_id, e.example.artifact_sha256, e.example.collected_at
FROM logs_regulated_egress_summary e
LEFT JOIN logs_origins o ON o.run_id = e.example.run_id AND o.artifact_sha256 = e.example.artifact_sha256
WHERE NOT e.allowed
UNION ALL
SELECT cluster, namespace, object, entry, NULL, NULL, NULL, NULL, NULL, finding,
       location, source, run_id, artifact_sha256, collected_at
FROM logs_allowlist_problems
UNION ALL
SELECT cluster, namespace, kind || '/' || name, NULL, NULL, NULL, NULL, NULL, NULL,
       kind || ' ' || namespace || '/' || name || ' of a regulated namespace uses hostNetwork: its connections leave '
         || 'as the node''s (Cilium reserved:host), so no flow log attributes its egress to the namespace',
       location, source, run_id, artifact_sha256, collected_at
FROM logs_regulated_host_network
