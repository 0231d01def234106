-- With Istio in more than one cluster: a cluster whose root is not collected or unreadable, and each pair of
-- clusters that share no root certificate or differ in trust domain.
WITH roots AS (
    SELECT cluster, list_sort(list(DISTINCT fingerprint) FILTER (WHERE fingerprint IS NOT NULL)) AS fingerprints,
           min(trust_domain) AS trust_domain, min(location) AS location, min(source) AS source, min(run_id) AS run_id,
           min(artifact_sha256) AS artifact_sha256, min(collected_at) AS collected_at
    FROM platform_trust_roots
    GROUP BY cluster
)
SELECT i.cluster, 'istio-system' AS namespace, 'ConfigMap/istio-ca-root-cert' AS object,
       'Istio runs but no readable root certificate (istio-system/istio-ca-root-cert root-cert.pem) was collected: '
         || 'trust not compared' AS finding,
       c.location, c.source, c.run_id, c.artifact_sha256, c.collected_at
FROM platform_istio_clusters i
JOIN platform_clusters c USING (cluster)
WHERE (SELECT multi FROM platform_multi_mesh)
  AND NOT EXISTS (SELECT 1 FROM roots r WHERE r.cluster = i.cluster AND len(r.fingerprints) > 0)
UNION ALL
SELECT t.cluster, t.namespace, 'ConfigMap/' || t.name, 'an Istio root certificate of root-cert.pem is not readable',
       t.location, t.source, t.run_id, t.artifact_sha256, t.collected_at
FROM platform_trust_roots t
WHERE t.fingerprint IS NULL AND (SELECT multi FROM platform_multi_mesh)
UNION ALL
SELECT a.cluster, 'istio-system', 'ConfigMap/istio-ca-root-cert',
       CASE WHEN len(list_intersect(a.fingerprints, b.fingerprints)) = 0
            THEN 'shares no Istio root certificate with cluster ' || b.cluster || ' (' || array_to_string(a.fingerprints, ', ')
                 || ' against ' || array_to_string(b.fingerprints, ', ') || ')'
            ELSE '' END
         || CASE WHEN len(list_intersect(a.fingerprints, b.fingerprints)) = 0 AND a.trust_domain <> b.trust_domain
                 THEN '; ' ELSE '' END
         || CASE WHEN a.trust_domain <> b.trust_domain
                 THEN 'trust domain ' || a.trust_domain || ' differs from cluster ' || b.cluster || '''s ' || b.trust_domain
                 ELSE '' END,
       a.location, a.source, a.run_id, a.artifact_sha256, a.collected_at
FROM roots a
JOIN roots b ON a.cluster < b.cluster
WHERE len(a.fingerprints) > 0 AND len(b.fingerprints) > 0
  AND (len(list_intersect(a.fingerprints, b.fingerprints)) = 0 OR a.trust_domain <> b.trust_domain)
