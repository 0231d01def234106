-- Regulated workloads delivered with an analysis that can abort a failing release (view res_rollout_abort).
SELECT cluster, namespace, kind || '/' || name AS object, delivered_by, detail,
       location, source, run_id, artifact_sha256, collected_at
FROM res_rollout_abort
WHERE finding IS NULL
