SELECT c.cluster, 'Certificate ' || c.namespace || '/' || c.name AS object, c.secret_name,
       'Ready; renews ' || strftime(c.renewal_time AT TIME ZONE 'UTC', '%Y-%m-%d') || ', before notAfter '
         || strftime(c.not_after AT TIME ZONE 'UTC', '%Y-%m-%d') || '; revision ' || coalesce(c.revision, 0)
         || ', ' || h.renewals || ' renewal(s) observed since ' || strftime(h.first_seen AT TIME ZONE 'UTC', '%Y-%m-%d')
         AS detail,
       c.location, c.source, c.run_id, c.artifact_sha256, c.collected_at
FROM cert_manager_certificates_current c
JOIN (SELECT cluster, namespace, name, min(collected_at) AS first_seen,
             coalesce(max(revision) - min(revision), 0) AS renewals
      FROM cert_manager_certificates GROUP BY ALL) h USING (cluster, namespace, name),
     cert_as_of a
WHERE c.ready = 'True' AND c.renewal_time < c.not_after AND c.renewal_time > a.at - INTERVAL 1 DAY
  AND c.last_failure_time IS NULL
