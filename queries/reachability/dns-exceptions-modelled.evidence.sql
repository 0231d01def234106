-- Workloads of egress-isolated namespaces that reach cluster DNS on UDP and TCP 53.
SELECT cluster, namespace, object, id, via,
       id || ' reaches cluster DNS: ' || via AS detail,
       location, source, run_id, artifact_sha256, collected_at
FROM reach_dns
WHERE resolves
