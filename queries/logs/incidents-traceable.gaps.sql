-- Per cluster, log format, gateway and authority: requests lacking a route, a backend or a trace/request id.
SELECT t.cluster, t.log_format, t.gateway, t.authority, t.requests, t.missing_route, t.missing_backend,
       t.missing_id,
       concat_ws(', ', CASE WHEN t.missing_route > 0 THEN t.missing_route || ' without route' END,
                 CASE WHEN t.missing_backend > 0 THEN t.missing_backend || ' without backend' END,
                 CASE WHEN t.missing_id > 0 THEN t.missing_id || ' without trace or request id' END)
         || ' of ' || t.requests || ' request(s)' AS finding,
       o.origin AS location, t.example.source, t.example.run_id, t.example.artifact_sha256, t.example.collected_at
FROM (SELECT cluster, log_format, gateway, authority,
             count(*) AS requests,
             count(*) FILTER (WHERE missing_route) AS missing_route,
             count(*) FILTER (WHERE missing_backend) AS missing_backend,
             count(*) FILTER (WHERE missing_id) AS missing_id,
             min({'ts': ts, 'artifact_sha256': artifact_sha256, 'run_id': run_id, 'source': source,
                  'collected_at': collected_at}) FILTER (WHERE missing_route OR missing_backend OR missing_id)
               AS example
      FROM logs_http_traceability
      GROUP BY ALL) t
LEFT JOIN logs_origins o ON o.run_id = t.example.run_id AND o.artifact_sha256 = t.example.artifact_sha256
WHERE t.missing_route + t.missing_backend + t.missing_id > 0
