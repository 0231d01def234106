-- Connections from workloads of regulated namespaces to external addresses outside the egress allowlist, admin
-- network policy rules the analysis does not model that may decide their connections outside the cluster, and
-- regulated namespaces of clusters without an up-to-date analysis.
SELECT cluster, src_namespace AS namespace, src_kind || '/' || src_workload AS object, src, external, conn,
       src || ' can connect to ' || external || ' (' || conn || '), outside the egress allowlist'
         || CASE WHEN contains(external, ':') THEN ' (an IPv6 range: the allowlist holds IPv4 CIDRs only)' ELSE '' END
         || coalesce('; opened by: ' || admitted_by, '') AS finding,
       location, source, run_id, artifact_sha256, collected_at
FROM reach_regulated_egress
WHERE allowed_by IS NULL
UNION ALL
SELECT cluster, namespace, object, NULL, NULL, NULL, finding, location, source, run_id, artifact_sha256, collected_at
FROM reach_unanalysed
UNION ALL
SELECT cluster, namespace, object, src, NULL, NULL, finding, location, source, run_id, artifact_sha256, collected_at
FROM reach_unmodelled
