-- NetworkPolicy enforcement drops per cluster and node, citing the earliest.
SELECT d.cluster, 'node ' || coalesce(d.node, '(not named)') AS object, d.records, d.first_ts, d.last_ts,
       d.records || ' NetworkPolicy drop(s) (' || d.reasons || ')' AS detail,
       o.origin AS location, d.example.source, d.example.run_id, d.example.artifact_sha256, d.example.collected_at
FROM (SELECT cluster, node, count(*) AS records, min(ts) AS first_ts, max(ts) AS last_ts,
             string_agg(DISTINCT reason, ', ' ORDER BY reason) AS reasons,
             min({'ts': ts, 'artifact_sha256': artifact_sha256, 'run_id': run_id, 'source': source,
                  'collected_at': collected_at}) AS example
      FROM logs_policy_drops
      GROUP BY cluster, node) d
LEFT JOIN logs_origins o ON o.run_id = d.example.run_id AND o.artifact_sha256 = d.example.artifact_sha256
UNION ALL
-- Flow records per node (Hubble) or per cluster (other flow logs) in the window, citing the earliest (counted
-- per log file first: the earliest record is then chosen among the files, not among every flow).
SELECT f.cluster, coalesce('node ' || f.node, 'flow logs of ' || f.cluster), f.records, f.first_ts, f.last_ts,
       f.records || ' flow record(s)', o.origin, f.example.source, f.example.run_id, f.example.artifact_sha256,
       f.example.collected_at
FROM (SELECT cluster, node, sum(records) AS records, min(first_ts) AS first_ts, max(last_ts) AS last_ts,
             min({'ts': first_ts, 'artifact_sha256': artifact_sha256, 'run_id': run_id, 'source': source,
                  'collected_at': collected_at}) AS example
      FROM (SELECT cluster, logs_node(log_format, observer) AS node, artifact_sha256, run_id, source, collected_at,
                   count(*) AS records, min(ts) AS first_ts, max(ts) AS last_ts
            FROM logs_flows
            GROUP BY ALL)
      GROUP BY ALL) f
LEFT JOIN logs_origins o ON o.run_id = f.example.run_id AND o.artifact_sha256 = f.example.artifact_sha256
UNION ALL
-- Files with malformed lines: noted, not a gap by themselves (see ingest_rejects).
SELECT f.cluster, 'log file ' || f.origin, NULL, f.first_ts, f.last_ts,
       'note: ' || f.rejected || ' malformed line(s) rejected; ' || f.records || ' record(s) loaded',
       f.origin, f.source, f.run_id, f.artifact_sha256, f.collected_at
FROM logs_files f
WHERE f.rejected > 0
