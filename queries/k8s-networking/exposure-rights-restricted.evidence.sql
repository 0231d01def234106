-- The rights of the platform's identities (exposure_identities) to create or change an exposure resource, each with
-- its path (binding, role, rule).
SELECT cluster, namespace, object, subject, scope, resources, indirect, finding AS detail,
       location, source, run_id, artifact_sha256, collected_at
FROM exposure_right_findings
WHERE platform
