SELECT cluster, object, used_by,
       'valid until ' || strftime(not_after AT TIME ZONE 'UTC', '%Y-%m-%d') || ' (' || days_left || ' days)'
         || CASE WHEN chain_valid THEN ', chain verified' ELSE '' END AS detail,
       common_name, sha256_fingerprint, location, source, run_id, artifact_sha256, collected_at
FROM certificates_in_use
WHERE NOT expiring AND (found_in <> 'endpoint' OR chain_valid)
