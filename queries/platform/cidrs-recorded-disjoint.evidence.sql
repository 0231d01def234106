-- Every address range counted for a cluster whose pod and service ranges are both determined.
SELECT r.cluster, r.namespace, r.object,
       r.role || ' range ' || r.cidr || ' (' || r.origin || ')' AS detail,
       r.location, r.source, r.run_id, r.artifact_sha256, r.collected_at
FROM platform_ranges r
WHERE r.bits IS NOT NULL
