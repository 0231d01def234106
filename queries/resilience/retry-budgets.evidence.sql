-- Route rules to regulated backends whose retries are bounded and safe, or that do not retry (view
-- res_retry_budgets).
SELECT cluster, namespace, route_kind || '/' || route AS object, rule_ref AS rule,
       array_to_string(services, ', ') AS backends, detail, location, source, run_id, artifact_sha256, collected_at
FROM res_retry_budgets
WHERE finding IS NULL
