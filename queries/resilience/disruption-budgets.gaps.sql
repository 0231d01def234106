-- Gateway and regulated workloads that a voluntary disruption (node drain, upgrade) may take down or that block it,
-- and budgets that select nothing (views res_disruption_budgets, res_idle_budgets).
SELECT cluster, namespace, kind || '/' || name AS object, role,
       kind || ' ' || namespace || '/' || name || ' (' || role || '): ' || finding AS finding,
       location, source, run_id, artifact_sha256, collected_at
FROM res_disruption_budgets
WHERE finding <> ''
UNION ALL
SELECT cluster, namespace, 'PodDisruptionBudget/' || budget, NULL,
       'PodDisruptionBudget ' || namespace || '/' || budget || ' selects no pod template of its namespace'
         || CASE WHEN selector IS NULL THEN ' (no selector: policy/v1 selects nothing)' ELSE '' END,
       location, source, run_id, artifact_sha256, collected_at
FROM res_idle_budgets
UNION ALL
SELECT cluster, namespace, kind || '/' || name, NULL,
       kind || ' ' || namespace || '/' || name || coalesce(' (class ' || class || ')', '')
         || ': no workload of the inventory is found serving it; its pods'' disruption budget is not evidenced',
       location, source, run_id, artifact_sha256, collected_at
FROM res_unserved_gateways
UNION ALL
-- kinds the claim reads that could not be listed (view res_unlisted)
SELECT cluster, NULL, 'Kind/' || kind, NULL, finding, location, source, run_id, artifact_sha256, collected_at
FROM res_unlisted
WHERE list_contains(claims, 'disruption-budgets')
