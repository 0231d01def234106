-- Route rules to regulated backends whose retries are unbounded or may repeat a processed write (view
-- res_retry_budgets).
SELECT cluster, namespace, route_kind || '/' || route AS object, rule_ref AS rule,
       array_to_string(services, ', ') AS backends, rule_ref || ': ' || finding AS finding,
       location, source, run_id, artifact_sha256, collected_at
FROM res_retry_budgets
WHERE finding IS NOT NULL
UNION ALL
-- kinds the claim reads that could not be listed (view res_unlisted)
SELECT cluster, NULL, 'Kind/' || kind, NULL, NULL, finding, location, source, run_id, artifact_sha256, collected_at
FROM res_unlisted
WHERE list_contains(claims, 'retry-budgets')
