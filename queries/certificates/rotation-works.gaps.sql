-- every cert-manager Certificate: Ready, renewing in time, issuer Ready, and its Secret holds what its status says
SELECT c.cluster, 'Certificate ' || c.namespace || '/' || c.name AS object,
       'writes Secret ' || c.namespace || '/' || c.secret_name AS context,
       concat_ws('; ',
         CASE WHEN c.ready IS DISTINCT FROM 'True'
              THEN 'not Ready (' || coalesce(c.ready, 'no Ready condition')
                   || coalesce(': ' || c.ready_reason, '') || coalesce(': ' || c.ready_message, '') || ')' END,
         CASE WHEN c.renewal_time IS NULL THEN 'no renewalTime' END,
         CASE WHEN c.renewal_time >= c.not_after THEN 'renewalTime is not before notAfter' END,
         CASE WHEN c.not_after <= a.at THEN 'expired on ' || strftime(c.not_after AT TIME ZONE 'UTC', '%Y-%m-%d') END,
         CASE WHEN c.renewal_time <= a.at - INTERVAL 1 DAY AND c.not_after > a.at
              THEN 'renewal overdue since ' || strftime(c.renewal_time AT TIME ZONE 'UTC', '%Y-%m-%d') END,
         CASE WHEN c.last_failure_time IS NOT NULL
              THEN 'issuance failed at ' || strftime(c.last_failure_time AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M') END,
         CASE WHEN c.issuer_ref IS NULL THEN 'no issuerRef'
              WHEN c.issuer_name IS NULL
              THEN 'its issuer ' || replace(c.issuer_ref, '/', ' ') || ' was not collected: its readiness is unknown'
              WHEN c.issuer_ready IS DISTINCT FROM 'True'
              THEN 'its issuer ' || c.issuer_kind || ' ' || c.issuer_name || ' is not Ready ('
                   || coalesce(c.issuer_ready, 'no Ready condition') || coalesce(': ' || c.issuer_reason, '')
                   || coalesce(': ' || c.issuer_message, '') || ')' END,
         CASE WHEN c.not_after IS NOT NULL AND c.secret_not_after IS NULL
              THEN 'its Secret ' || c.namespace || '/' || coalesce(c.secret_name, '?') || ' holds no certificate'
              WHEN date_trunc('second', c.secret_not_after) <> date_trunc('second', c.not_after)
              THEN 'its Secret ' || c.namespace || '/' || c.secret_name || ' holds a certificate valid until '
                   || strftime(c.secret_not_after AT TIME ZONE 'UTC', '%Y-%m-%d') || ', the status says notAfter '
                   || strftime(c.not_after AT TIME ZONE 'UTC', '%Y-%m-%d') END
       ) AS finding,
       c.location, c.source, c.run_id, c.artifact_sha256, c.collected_at
FROM cert_manager_judged c, cert_as_of a
WHERE c.ready IS DISTINCT FROM 'True' OR c.renewal_time IS NULL OR c.renewal_time >= c.not_after
   OR c.not_after <= a.at OR c.renewal_time <= a.at - INTERVAL 1 DAY OR c.last_failure_time IS NOT NULL
   OR c.issuer_ref IS NULL OR c.issuer_name IS NULL OR c.issuer_ready IS DISTINCT FROM 'True'
   OR (c.not_after IS NOT NULL AND c.secret_not_after IS NULL)
   OR date_trunc('second', c.secret_not_after) <> date_trunc('second', c.not_after)
UNION ALL
-- every certificate in use that needs rotation (not a trust anchor) and that nothing is seen to renew
SELECT cluster, object, used_by,
       'no rotation evidence: '
         || CASE found_in WHEN 'secret' THEN 'no cert-manager Certificate writes this Secret'
                          WHEN 'acm' THEN 'ACM does not renew it (' || coalesce(acm_type, 'type unknown') || ', renewal '
                                          || coalesce(acm_renewal, 'eligibility unknown') || ')'
                          ELSE 'an endpoint' END
         || ' and no re-issue was observed in ' || earlier_runs || ' earlier collection(s); it expires on '
         || strftime(not_after AT TIME ZONE 'UTC', '%Y-%m-%d'),
       location, source, run_id, artifact_sha256, collected_at
FROM cert_rotation
WHERE certificate IS NULL AND replaced IS NULL
  AND NOT (found_in = 'acm' AND acm_type = 'AMAZON_ISSUED' AND acm_renewal = 'ELIGIBLE')
