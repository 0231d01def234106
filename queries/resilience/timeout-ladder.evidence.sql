-- Route rules to regulated backends whose timeouts nest (view res_timeout_ladder).
SELECT cluster, namespace, route_kind || '/' || route AS object, rule_ref AS rule,
       array_to_string(services, ', ') AS backends, detail, location, source, run_id, artifact_sha256, collected_at
FROM res_timeout_ladder
WHERE finding IS NULL
