SELECT c.cluster, 'Certificate ' || c.namespace || '/' || c.name AS object,
       'writes Secret ' || c.namespace || '/' || c.secret_name AS context,
       'Ready; renews ' || strftime(c.renewal_time AT TIME ZONE 'UTC', '%Y-%m-%d') || ', before notAfter '
         || strftime(c.not_after AT TIME ZONE 'UTC', '%Y-%m-%d') || '; revision ' || coalesce(c.revision, 0)
         || ', ' || h.renewals || ' renewal(s) observed since ' || strftime(h.first_seen AT TIME ZONE 'UTC', '%Y-%m-%d')
         || '; issuer ' || c.issuer_kind || ' ' || c.issuer_name || ' Ready' AS detail,
       c.location, c.source, c.run_id, c.artifact_sha256, c.collected_at
FROM cert_manager_judged c
JOIN (SELECT cluster, namespace, name, min(collected_at) AS first_seen,
             coalesce(max(revision) - min(revision), 0) AS renewals
      FROM cert_manager_certificates GROUP BY ALL) h USING (cluster, namespace, name),
     cert_as_of a
WHERE c.ready = 'True' AND c.renewal_time < c.not_after AND c.renewal_time > a.at - INTERVAL 1 DAY
  AND c.last_failure_time IS NULL AND c.issuer_ready = 'True'
  AND date_trunc('second', c.secret_not_after) = date_trunc('second', c.not_after)
UNION ALL
SELECT cluster, object, used_by,
       CASE WHEN certificate IS NOT NULL THEN 'renewed by cert-manager Certificate ' || certificate
            WHEN replaced IS NOT NULL THEN 're-issued: replaced a certificate valid until '
                 || strftime(previous_not_after AT TIME ZONE 'UTC', '%Y-%m-%d') || ' before it expired'
            ELSE 'renewed by ACM (managed renewal, ' || acm_renewal || ')' END,
       location, source, run_id, artifact_sha256, collected_at
FROM cert_rotation
WHERE certificate IS NOT NULL OR replaced IS NOT NULL
   OR (found_in = 'acm' AND acm_type = 'AMAZON_ISSUED' AND acm_renewal = 'ELIGIBLE')
