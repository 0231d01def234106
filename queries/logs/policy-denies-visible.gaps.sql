-- Clusters without deny records in the window.
SELECT c.cluster, 'cluster ' || c.cluster AS object, NULL::TIMESTAMPTZ AS gap_start, NULL::TIMESTAMPTZ AS gap_end,
       'no deny records (flows or access logs) in the window' AS finding,
       c.seen.location AS location, c.seen.source, c.seen.run_id, c.seen.artifact_sha256, c.seen.collected_at
FROM logs_clusters c
WHERE c.cluster NOT IN (SELECT cluster FROM logs_denies)
UNION ALL
-- Silences in a cluster's flow logs longer than max_log_gap_minutes.
SELECT s.cluster, 'flow logs of ' || s.cluster, s.silence_start, s.silence_end,
       'no flow log record for ' || s.minutes || ' minutes, more than max_log_gap_minutes ('
         || getvariable('max_log_gap_minutes') || ')',
       o.origin, s.source, s.run_id, s.artifact_sha256, s.collected_at
FROM logs_flow_silences s
LEFT JOIN logs_origins o USING (run_id, artifact_sha256)
WHERE epoch(s.silence_end) - epoch(s.silence_start) > 60 * CAST(getvariable('max_log_gap_minutes') AS DOUBLE)
UNION ALL
-- Log files reporting lost records (e.g. VPC SKIPDATA, Hubble lost_events).
SELECT f.cluster, 'log file ' || f.origin, f.first_ts, f.last_ts,
       TRY_CAST(json_extract_string(f.skipped, '$."' || m || '"') AS BIGINT) || ' ' || m
         || ' record(s): the ' || f.log_format || ' log lost records', f.origin,
       f.source, f.run_id, f.artifact_sha256, f.collected_at
FROM logs_files f, unnest(CAST(getvariable('lost_data_markers') AS VARCHAR[])) AS t(m)
WHERE TRY_CAST(json_extract_string(f.skipped, '$."' || m || '"') AS BIGINT) > 0
