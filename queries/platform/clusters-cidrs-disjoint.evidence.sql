-- With more than one cluster collected: every range counted of each cluster.
SELECT r.cluster, r.namespace, r.object,
       r.role || ' range ' || r.cidr || ' (' || r.origin || ')' AS detail,
       r.location, r.source, r.run_id, r.artifact_sha256, r.collected_at
FROM platform_ranges r
WHERE r.bits IS NOT NULL AND (SELECT multi FROM platform_multi_cluster)
