-- Overlapping ranges (a pod and a service range of one cluster, or ranges of two clusters), and clusters whose pod
-- or service ranges cannot be determined or are not CIDRs.
SELECT cluster, NULL AS namespace, object,
       role || ' range ' || cidr || ' (' || origin || ' of ' || object || ') overlaps '
         || CASE WHEN other_cluster = cluster THEN 'service range ' ELSE other_role || ' range ' END || other_cidr
         || ' (' || other_origin || ' of ' || other_object
         || CASE WHEN other_cluster = cluster THEN ')' ELSE ' in cluster ' || other_cluster || ')' END AS finding,
       location, source, run_id, artifact_sha256, collected_at
FROM platform_overlaps
UNION ALL
SELECT cluster, namespace, object, finding, location, source, run_id, artifact_sha256, collected_at
FROM platform_range_gaps
