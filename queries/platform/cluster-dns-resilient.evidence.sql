-- Cluster DNS Deployments with at least two replicas ready, and what scales them.
SELECT d.cluster, d.namespace, 'Deployment/' || d.name AS object,
       'cluster DNS ' || d.name || ': ' || d.replicas || ' replicas, ' || d.ready || ' ready'
         || coalesce('; ' || (SELECT string_agg(s.detail, '; ' ORDER BY s.detail) FROM platform_dns_scaling s
                              WHERE s.cluster = d.cluster AND s.dns = d.name), '')
         || CASE WHEN d.cluster IN (SELECT cluster FROM platform_nodelocal_dns) THEN '; NodeLocal DNSCache runs'
                 ELSE '; no NodeLocal DNSCache' END AS detail,
       d.location, d.source, d.run_id, d.artifact_sha256, d.collected_at
FROM platform_dns d
WHERE d.replicas >= 2 AND d.ready >= 2
