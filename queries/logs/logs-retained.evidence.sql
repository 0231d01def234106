-- Destinations that keep their logs at least min_retention_days.
SELECT object, service, log_formats, files, expires_after_days,
       CASE WHEN expires_after_days IS NOT NULL THEN 'kept ' || retention
            WHEN service = 's3' THEN 'kept indefinitely: no enabled lifecycle rule expires objects under the prefix'
            ELSE 'kept indefinitely: the log group has no retentionInDays (never expire)' END AS detail,
       location, source, run_id, artifact_sha256, collected_at
FROM logs_retention_judged
WHERE meets
