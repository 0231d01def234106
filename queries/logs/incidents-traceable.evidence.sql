-- Per gateway: its traceable access log records in the window, citing the earliest.
SELECT g.cluster, g.kind || ' ' || g.gateway AS object, NULL::VARCHAR AS authority, g.traceable AS requests,
       g.first_ts, g.last_ts, g.traceable || ' traceable request(s) of ' || g.requests AS detail,
       o.origin AS location, g.example.source, g.example.run_id, g.example.artifact_sha256, g.example.collected_at
FROM logs_gateway_coverage g
LEFT JOIN logs_origins o ON o.run_id = g.example.run_id AND o.artifact_sha256 = g.example.artifact_sha256
WHERE g.traceable > 0
UNION ALL
-- Per cluster, proxy and authority: requests carrying a route, a backend and a trace or request id.
SELECT t.cluster, 'access log of ' || coalesce(t.gateway, '(proxy not named)'), t.authority, t.requests, t.first_ts,
       t.last_ts, t.requests || ' traceable request(s) to ' || coalesce(t.authority, '(no authority)'),
       o.origin, t.example.source, t.example.run_id, t.example.artifact_sha256, t.example.collected_at
FROM (SELECT cluster, gateway, authority, count(*) AS requests, min(ts) AS first_ts, max(ts) AS last_ts,
             min({'ts': ts, 'artifact_sha256': artifact_sha256, 'run_id': run_id, 'source': source,
                  'collected_at': collected_at}) AS example
      FROM logs_http_traceability
      WHERE traceable
      GROUP BY ALL) t
LEFT JOIN logs_origins o ON o.run_id = t.example.run_id AND o.artifact_sha256 = t.example.artifact_sha256
