SELECT cluster, object, used_by,
       CASE WHEN expired THEN 'certificate expired on ' || strftime(not_after AT TIME ZONE 'UTC', '%Y-%m-%d')
            ELSE 'certificate expires in ' || days_left || ' day(s), on '
                 || strftime(not_after AT TIME ZONE 'UTC', '%Y-%m-%d') END AS finding,
       common_name, sha256_fingerprint, location, source, run_id, artifact_sha256, collected_at
FROM certificates_in_use
WHERE expiring
UNION ALL
SELECT cluster, object, used_by, 'certificate does not verify: ' || chain_error,
       common_name, sha256_fingerprint, location, source, run_id, artifact_sha256, collected_at
FROM certificates_in_use
WHERE found_in = 'endpoint' AND chain_valid = false AND NOT expiring
UNION ALL
SELECT NULL, 'endpoint ' || endpoint || coalesce(' (SNI ' || sni || ')', ''), NULL,
       'endpoint could not be checked: ' || status || coalesce(' (' || error || ')', ''),
       NULL, NULL, endpoint, source, run_id, artifact_sha256, collected_at
FROM tls_endpoints_current
WHERE status <> 'ok'
UNION ALL
SELECT cluster, 'Secret ' || secret_namespace || '/' || secret_name,
       'Gateway ' || gateway_namespace || '/' || gateway || ' listener ' || listener,
       'listener references a Secret that holds no certificate (not found)',
       NULL, NULL, location, source, run_id, artifact_sha256, collected_at
FROM certificate_references_current
WHERE NOT found
