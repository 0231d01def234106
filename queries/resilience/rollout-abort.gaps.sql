-- Regulated workloads whose delivery cannot abort a failing release (view res_rollout_abort).
SELECT cluster, namespace, kind || '/' || name AS object, delivered_by,
       kind || ' ' || namespace || '/' || name || ': ' || finding AS finding,
       location, source, run_id, artifact_sha256, collected_at
FROM res_rollout_abort
WHERE finding IS NOT NULL
UNION ALL
-- kinds the claim reads that could not be listed (view res_unlisted)
SELECT cluster, NULL, 'Kind/' || kind, NULL, finding, location, source, run_id, artifact_sha256, collected_at
FROM res_unlisted
WHERE list_contains(claims, 'rollout-abort')
