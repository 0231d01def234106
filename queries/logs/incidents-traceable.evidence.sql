-- Per cluster, gateway and authority: requests carrying a route, a backend and a trace or request id.
SELECT t.cluster, t.gateway, t.authority, t.requests, t.first_ts, t.last_ts,
       t.requests || ' traceable request(s) to ' || coalesce(t.authority, '(no authority)') AS detail,
       o.origin AS location, t.example.source, t.example.run_id, t.example.artifact_sha256, t.example.collected_at
FROM (SELECT cluster, gateway, authority, count(*) AS requests, min(ts) AS first_ts, max(ts) AS last_ts,
             min({'ts': ts, 'artifact_sha256': artifact_sha256, 'run_id': run_id, 'source': source,
                  'collected_at': collected_at}) AS example
      FROM logs_http_traceability
      WHERE NOT (missing_route OR missing_backend OR missing_id)
      GROUP BY ALL) t
LEFT JOIN logs_origins o ON o.run_id = t.example.run_id AND o.artifact_sha256 = t.example.artifact_sha256
