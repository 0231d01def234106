-- Clusters without a NetworkPolicy enforcement drop in the window (access-log denials do not count).
SELECT c.cluster, 'cluster ' || c.cluster AS object, NULL::TIMESTAMPTZ AS gap_start, NULL::TIMESTAMPTZ AS gap_end,
       'no NetworkPolicy enforcement drop (Hubble DROPPED, POLICY_DENIED) in the window'
         || coalesce(' (only ' || d.denies || ' other deny record(s): ' || d.kinds || ')', '') AS finding,
       c.seen.location AS location, c.seen.source, c.seen.run_id, c.seen.artifact_sha256, c.seen.collected_at
FROM logs_clusters c
LEFT JOIN (SELECT cluster, sum(n) AS denies, string_agg(what, ', ' ORDER BY what) AS kinds
           FROM (SELECT cluster, log_format || ' ' || coalesce(reason, 'deny') AS what, count(*) AS n
                 FROM logs_flows WHERE verdict = 'deny' GROUP BY ALL
                 UNION ALL
                 SELECT cluster, log_format || ' access-log deny', count(*) FROM logs_http WHERE verdict = 'deny'
                 GROUP BY ALL)
           GROUP BY cluster) d USING (cluster)
WHERE c.cluster NOT IN (SELECT cluster FROM logs_policy_drops)
UNION ALL
-- Nodes that reported no flow record in the window.
SELECT n.cluster, 'node ' || n.node, NULL, NULL, 'no flow record from this node in the window',
       n.seen.location, n.seen.source, n.seen.run_id, n.seen.artifact_sha256, n.seen.collected_at
FROM logs_nodes n
WHERE NOT EXISTS (SELECT 1 FROM logs_flows f
                  WHERE f.cluster = n.cluster AND f.log_format = 'hubble' AND logs_node(f.log_format, f.observer) = n.node)
UNION ALL
-- Silences in a node's (or a cluster's other) flow logs longer than max_log_gap_minutes.
SELECT s.cluster, coalesce('node ' || s.node, 'flow logs of ' || s.cluster), s.silence_start, s.silence_end,
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
