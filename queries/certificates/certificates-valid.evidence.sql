-- one row per consumer and object whose every certificate in use is valid beyond the warning period
SELECT cluster, object, used_by,
       'valid until ' || strftime(min(not_after) AT TIME ZONE 'UTC', '%Y-%m-%d') || ' (' || min(days_left) || ' days)'
         || CASE WHEN count(*) > 1 THEN ', ' || count(*) || ' certificates checked' ELSE '' END
         || CASE WHEN bool_or(is_leaf AND chain_valid) THEN ', chain verified' ELSE '' END AS detail,
       arg_min(common_name, chain_position) AS common_name,
       arg_min(sha256_fingerprint, chain_position) AS sha256_fingerprint,
       arg_min(location, chain_position) AS location, any_value(source) AS source, any_value(run_id) AS run_id,
       arg_min(artifact_sha256, chain_position) AS artifact_sha256, max(collected_at) AS collected_at
FROM certificates_in_use
GROUP BY cluster, object, used_by
HAVING NOT bool_or(expiring OR not_yet_valid OR weak_key OR weak_signature)
   AND (any_value(found_in) <> 'endpoint' OR bool_or(is_leaf AND chain_valid))
