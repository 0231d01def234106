-- Gateway and regulated workloads with at least two pods and one meaningful PodDisruptionBudget (view
-- res_disruption_budgets).
SELECT cluster, namespace, kind || '/' || name AS object, role,
       floor || ' pods at least' || coalesce(', PodDisruptionBudget ' || budget_names, ', one per Node') AS detail,
       location, source, run_id, artifact_sha256, collected_at
FROM res_disruption_budgets
WHERE finding = ''
