-- Destinations whose logs are deleted sooner than min_retention_days or whose retention could not be read, and,
-- once any retention was read, the directories of log files no destination read covers (retention not evidenced).
SELECT object, service, log_formats, files, expires_after_days, getvariable('min_retention_days') AS min_retention_days,
       CASE WHEN status IS NULL THEN 'retention not evidenced: ' || files || ' log file(s) read from outside any '
                                     || 'S3 or CloudWatch Logs input whose retention was read'
            WHEN status = 'error' THEN 'retention ' || retention
            ELSE 'logs deleted after ' || retention || ', under min_retention_days '
                 || getvariable('min_retention_days') END AS finding,
       location, source, run_id, artifact_sha256, collected_at
FROM logs_retention_judged
WHERE NOT coalesce(meets, false) AND EXISTS (SELECT 1 FROM logs_retention)
