-- How long are the logs retained? Every S3 or CloudWatch Logs destination of a log input (its latest reading) and
-- every directory of log files no such destination covers, with the log formats read from it and its retention.
SELECT object AS destination, service, log_formats, files, retention, expires_after_days, transitions,
       noncurrent_expiration_days, object_lock
FROM logs_retention_judged
