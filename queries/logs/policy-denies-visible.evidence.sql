-- Deny records per cluster and log, citing the earliest.
SELECT d.cluster, 'cluster ' || d.cluster AS object, d.deny_records, d.first_ts, d.last_ts,
       d.deny_records || ' deny record(s) in ' || d.log AS detail,
       o.origin AS location, d.example.source, d.example.run_id, d.example.artifact_sha256, d.example.collected_at
FROM (SELECT cluster, log, count(*) AS deny_records, min(ts) AS first_ts, max(ts) AS last_ts,
             min({'ts': ts, 'artifact_sha256': artifact_sha256, 'run_id': run_id, 'source': source,
                  'collected_at': collected_at}) AS example
      FROM logs_denies
      GROUP BY cluster, log) d
LEFT JOIN logs_origins o ON o.run_id = d.example.run_id AND o.artifact_sha256 = d.example.artifact_sha256
UNION ALL
-- Files with malformed lines: noted, not a gap by themselves (see ingest_rejects).
SELECT f.cluster, 'log file ' || f.origin, NULL, f.first_ts, f.last_ts,
       'note: ' || f.rejected || ' malformed line(s) rejected; ' || f.records || ' record(s) loaded',
       f.origin, f.source, f.run_id, f.artifact_sha256, f.collected_at
FROM logs_files f
WHERE f.rejected > 0
