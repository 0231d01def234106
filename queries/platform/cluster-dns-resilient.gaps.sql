-- Clusters without a cluster DNS Deployment, DNS Deployments with fewer than two replicas or ready replicas, and
-- autoscalers that may scale them below two.
SELECT c.cluster, NULL AS namespace, 'cluster ' || c.cluster AS object,
       'no cluster DNS Deployment (kube-system coredns or kube-dns) collected' AS finding,
       c.location, c.source, c.run_id, c.artifact_sha256, c.collected_at
FROM platform_clusters c
WHERE c.cluster NOT IN (SELECT cluster FROM platform_dns)
UNION ALL
SELECT cluster, namespace, 'Deployment/' || name,
       'cluster DNS ' || name || ' is a single point of failure: ' || replicas || ' replica(s) requested, '
         || coalesce(ready::VARCHAR, 'unknown (no status)') || ' ready',
       location, source, run_id, artifact_sha256, collected_at
FROM platform_dns
WHERE replicas < 2 OR coalesce(ready, 0) < 2
UNION ALL
SELECT cluster, namespace, scaler, detail || ': may scale cluster DNS ' || dns || ' below two replicas',
       location, source, run_id, artifact_sha256, collected_at
FROM platform_dns_scaling
WHERE NOT ok
