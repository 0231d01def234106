-- Gateways without a traceable access log record in the window.
SELECT g.cluster, g.kind || ' ' || g.gateway AS object, NULL::VARCHAR AS log_format, NULL::VARCHAR AS authority,
       g.requests, NULL::BIGINT AS missing_route, NULL::BIGINT AS missing_backend, NULL::BIGINT AS missing_id,
       CASE WHEN g.requests = 0
            THEN 'no access log record of this gateway in the window (logs input `gateway` setting, or kubelet '
                 || 'pod-log paths of its proxies, name it)'
            ELSE g.requests || ' access log record(s) in the window, none with a route, a backend and a trace or '
                 || 'request id' END AS finding,
       g.location, g.source, g.run_id, g.artifact_sha256, g.collected_at
FROM logs_gateway_coverage g
WHERE g.traceable = 0
UNION ALL
-- Gateway kinds not listed for a cluster: its gateways of that kind are unknown.
SELECT u.cluster, 'cluster ' || u.cluster, NULL, NULL, NULL, NULL, NULL, NULL,
       u.kind || ' ' || u.status || ': the gateways of this kind are unknown',
       c.seen.location, c.seen.source, c.seen.run_id, c.seen.artifact_sha256, c.seen.collected_at
FROM logs_gateway_kinds_unknown u JOIN logs_clusters c USING (cluster)
UNION ALL
-- Per cluster, gateway and authority: requests lacking a route, a backend or a trace/request id.
SELECT t.cluster, 'access log of ' || coalesce(t.gateway, '(proxy not named)'), t.log_format, t.authority, t.requests,
       t.missing_route, t.missing_backend, t.missing_id,
       concat_ws(', ', CASE WHEN t.missing_route > 0 THEN t.missing_route || ' without route' END,
                 CASE WHEN t.missing_backend > 0 THEN t.missing_backend || ' without backend' END,
                 CASE WHEN t.missing_id > 0 THEN t.missing_id || ' without trace or request id' END)
         || ' of ' || t.requests || ' request(s)',
       o.origin, t.example.source, t.example.run_id, t.example.artifact_sha256, t.example.collected_at
FROM (SELECT cluster, log_format, gateway, authority,
             count(*) AS requests,
             count(*) FILTER (WHERE missing_route) AS missing_route,
             count(*) FILTER (WHERE missing_backend) AS missing_backend,
             count(*) FILTER (WHERE missing_id) AS missing_id,
             min({'ts': ts, 'artifact_sha256': artifact_sha256, 'run_id': run_id, 'source': source,
                  'collected_at': collected_at}) FILTER (WHERE NOT traceable) AS example
      FROM logs_http_traceability
      GROUP BY ALL) t
LEFT JOIN logs_origins o ON o.run_id = t.example.run_id AND o.artifact_sha256 = t.example.artifact_sha256
WHERE t.missing_route + t.missing_backend + t.missing_id > 0
