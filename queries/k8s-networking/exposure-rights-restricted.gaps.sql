-- Every right of another subject to create or change an exposure resource, direct or through privilege escalation,
-- naming the subject, the rights, where they apply and the binding, role and rule they come from; clusters whose
-- rights are not judged; RBAC objects the analysis left out as malformed.
SELECT cluster, namespace, object, subject, scope, resources, indirect, finding,
       location, source, run_id, artifact_sha256, collected_at
FROM exposure_right_findings
WHERE NOT platform
UNION ALL
SELECT u.cluster, NULL, u.object, NULL, NULL, NULL, NULL, u.finding,
       i.location, i.source, i.run_id, i.artifact_sha256, i.collected_at
FROM exposure_rights_unjudged u
JOIN k8s_inventory_current i ON i.cluster = u.cluster
QUALIFY row_number() OVER (PARTITION BY u.cluster, u.object ORDER BY i.kind) = 1
UNION ALL
SELECT cluster, namespace, object, NULL, NULL, NULL, NULL, finding, location, source, run_id, artifact_sha256,
       collected_at
FROM analysis_errors_current
WHERE analysis = 'rbac'
