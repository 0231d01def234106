-- With more than one cluster collected: ranges of two clusters that overlap, and clusters whose ranges cannot be
-- determined (they cannot be compared).
SELECT cluster, NULL AS namespace, object,
       role || ' range ' || cidr || ' (' || origin || ' of ' || object || ') overlaps ' || other_role || ' range '
         || other_cidr || ' (' || other_origin || ' of ' || other_object || ') in cluster ' || other_cluster AS finding,
       location, source, run_id, artifact_sha256, collected_at
FROM platform_overlaps
WHERE other_cluster <> cluster
UNION ALL
SELECT cluster, namespace, object, finding || ': not compared with the other clusters', location, source, run_id,
       artifact_sha256, collected_at
FROM platform_range_gaps
WHERE (SELECT multi FROM platform_multi_cluster)
