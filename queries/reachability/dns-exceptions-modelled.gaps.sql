-- Workloads of egress-isolated namespaces that cannot reach cluster DNS on UDP and TCP 53, and egress-isolated
-- namespaces of clusters without an up-to-date analysis.
SELECT cluster, namespace, object, id,
       id || ' cannot resolve names: ' || blocked AS finding,
       location, source, run_id, artifact_sha256, collected_at
FROM reach_dns
WHERE NOT resolves
UNION ALL
SELECT cluster, namespace, object, NULL, finding, location, source, run_id, artifact_sha256, collected_at
FROM reach_dns_unanalysed
