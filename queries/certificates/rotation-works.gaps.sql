SELECT c.cluster, 'Certificate ' || c.namespace || '/' || c.name AS object, c.secret_name,
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
              THEN 'issuance failed at ' || strftime(c.last_failure_time AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M') END
       ) AS finding,
       c.location, c.source, c.run_id, c.artifact_sha256, c.collected_at
FROM cert_manager_certificates_current c, cert_as_of a
WHERE c.ready IS DISTINCT FROM 'True' OR c.renewal_time IS NULL OR c.renewal_time >= c.not_after
   OR c.not_after <= a.at OR c.renewal_time <= a.at - INTERVAL 1 DAY OR c.last_failure_time IS NOT NULL
