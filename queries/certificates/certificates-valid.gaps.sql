-- every certificate a consumer relies on (leaf, chain, trust anchors, mesh CA), judged at the evaluation instant
SELECT cluster, object, used_by,
       CASE WHEN not_yet_valid THEN which || ' is not valid before ' || strftime(not_before AT TIME ZONE 'UTC', '%Y-%m-%d')
            WHEN expired THEN which || ' expired on ' || strftime(not_after AT TIME ZONE 'UTC', '%Y-%m-%d')
            ELSE which || ' expires in ' || days_left || ' day(s), on '
                 || strftime(not_after AT TIME ZONE 'UTC', '%Y-%m-%d') END AS finding,
       common_name, sha256_fingerprint, location, source, run_id, artifact_sha256, collected_at
FROM certificates_in_use
WHERE expiring OR not_yet_valid
UNION ALL
-- a certificate with a key or signature that clients refuse
SELECT cluster, object, used_by,
       which || ' has a weak ' || concat_ws(' and ',
         CASE WHEN weak_key THEN 'key (' || key_type || coalesce(' ' || key_size || ' bits', '')
                                  || '; at least RSA 2048 or EC 256 bits)' END,
         CASE WHEN weak_signature THEN 'signature (' || signature_algorithm || ')' END) || ': clients refuse it',
       common_name, sha256_fingerprint, location, source, run_id, artifact_sha256, collected_at
FROM certificates_in_use
WHERE weak_key OR weak_signature
UNION ALL
-- a served or client chain must link: each certificate issued by the one that follows it (RFC 8446 4.4.2)
SELECT c.cluster, c.object, c.used_by,
       c.which || ' is followed by ' || coalesce(n.common_name, n.subject) || ', which did not issue it (its issuer is '
         || c.issuer || '): the chain does not link',
       c.common_name, c.sha256_fingerprint, c.location, c.source, c.run_id, c.artifact_sha256, c.collected_at
FROM certificates_in_use c
JOIN certificates_in_use n
  ON n.run_id = c.run_id AND n.object = c.object AND n.used_by IS NOT DISTINCT FROM c.used_by
 AND n.secret_key IS NOT DISTINCT FROM c.secret_key AND n.chain_position = c.chain_position + 1
WHERE c.role IN ('serving', 'client') AND c.issuer IS DISTINCT FROM n.subject
UNION ALL
-- each host name a consumer serves must be named by one of its certificates (RFC 9525; a listener may hold several,
-- chosen by SNI); `*` and no hostname accept any name and are not checked
SELECT u.cluster, string_agg(DISTINCT u.object, ', ' ORDER BY u.object) AS object, u.used_by,
       'no certificate covers the hostname ' || h.host || ' (they name '
         || coalesce(nullif(array_to_string(flatten(list(u.sans)), ', '), ''), 'no subjectAltName') || ')',
       any_value(u.common_name), any_value(u.sha256_fingerprint), any_value(u.location), any_value(u.source),
       any_value(u.run_id), any_value(u.artifact_sha256), max(u.collected_at)
FROM certificates_in_use u, unnest(u.hostnames) AS h(host)
WHERE u.is_leaf AND u.role = 'serving' AND h.host NOT IN ('', '*')
GROUP BY u.cluster, u.used_by, h.host
HAVING NOT bool_or(list_bool_or(list_transform(u.sans,
                   lambda s: starts_with(s, 'DNS:') AND cert_name_covers(substr(s, 5), h.host))))
UNION ALL
SELECT cluster, object, used_by, 'certificate does not verify: ' || chain_error,
       common_name, sha256_fingerprint, location, source, run_id, artifact_sha256, collected_at
FROM certificates_in_use
WHERE found_in = 'endpoint' AND is_leaf AND chain_valid = false AND NOT expiring
UNION ALL
SELECT NULL, 'endpoint ' || endpoint || coalesce(' (SNI ' || sni || ')', ''), NULL,
       'endpoint could not be checked: ' || status || coalesce(' (' || error || ')', ''),
       NULL, NULL, endpoint, source, run_id, artifact_sha256, collected_at
FROM tls_endpoints_current
WHERE status <> 'ok'
UNION ALL
-- a consumer whose object is missing or holds no certificate where the consumer reads it
SELECT cluster, object, consumer,
       'references a ' || object_kind || ' that holds no certificate'
         || CASE WHEN found THEN CASE role WHEN 'trust-anchor' THEN ' in its CA keys' ELSE ' in tls.crt' END
                 ELSE ' (not found)' END,
       NULL, NULL, location, source, run_id, artifact_sha256, collected_at
FROM cert_consumers_resolved
WHERE object_kind IS NOT NULL AND certificates = 0
UNION ALL
-- a TLS server whose certificate is not in a Kubernetes object cannot be judged
SELECT cluster, consumer, consumer, 'certificate cannot be checked: ' || note,
       NULL, NULL, location, source, run_id, artifact_sha256, collected_at
FROM tls_consumers_current
WHERE object_kind IS NULL
