-- Listener conflicts (Conflicted: HostnameConflict, ProtocolConflict) and route conflicts on one listener (identical
-- matches, an HTTPRoute and a GRPCRoute on one hostname, TLSRoutes on one SNI name, several TCPRoutes or UDPRoutes),
-- each naming both objects; and Gateways of clusters without an up-to-date analysis.
SELECT c.cluster, split_part(split_part(c.loser, ' ', 2), '/', 1) AS namespace,
       split_part(c.loser, ' ', 1) || '/' || split_part(split_part(c.loser, ' ', 2), '/', 2) AS object,
       c.first, c.second, c.winner, c.reason,
       c.reason || ' on Gateway ' || c.gateway_namespace || '/' || c.gateway || ' listener ' || c.listener
         || ' (port ' || c.port || '): ' || c.first || ' and ' || c.second || ': ' || c.detail AS finding,
       coalesce(o.location, g.location) AS location, c.source, c.run_id, c.artifact_sha256, c.collected_at
FROM gateway_conflicts_current c
LEFT JOIN k8s_current g
  ON g.cluster = c.cluster AND g.kind = 'Gateway' AND g.namespace = c.gateway_namespace AND g.name = c.gateway
LEFT JOIN k8s_current o
  ON o.cluster = c.cluster AND o.kind = split_part(c.loser, ' ', 1)
     AND o.namespace = split_part(split_part(c.loser, ' ', 2), '/', 1)
     AND o.name = split_part(split_part(c.loser, ' ', 2), '/', 2)
UNION ALL
SELECT g.cluster, g.namespace, 'Gateway/' || g.name, NULL, NULL, NULL, NULL,
       'Gateway ' || g.namespace || '/' || g.name || ': conflicts not judged, cluster ' || g.cluster
         || ' has no analysis of its current inventory: run `defensible collect analysis`',
       g.location, g.source, g.run_id, g.artifact_sha256, g.collected_at
FROM k8s_current g
WHERE g.kind = 'Gateway' AND g.cluster NOT IN (SELECT cluster FROM analysed_clusters)
UNION ALL
-- Objects the gateway analysis of an analysed cluster left out as malformed: not judged, so a gap each.
SELECT cluster, namespace, object, NULL, NULL, NULL, NULL, finding, location, source, run_id, artifact_sha256, collected_at
FROM analysis_errors_current
WHERE analysis = 'gateway'
UNION ALL
-- Listeners the Gateway's own controller reports Conflicted (status.listeners[].conditions, Conflicted=True), whatever
-- the analysis found: the controller knows of conflicts the inventory may not show (ListenerSets, merged Gateways).
SELECT g.cluster, g.namespace, 'Gateway/' || g.name, l->>'name', NULL, NULL, coalesce(c->>'reason', 'Conflicted'),
       'listener ' || (l->>'name') || ' of Gateway ' || g.namespace || '/' || g.name
         || ' is reported Conflicted by its controller (' || coalesce(c->>'reason', 'no reason')
         || coalesce(': ' || (c->>'message'), '') || ')',
       g.location, g.source, g.run_id, g.artifact_sha256, g.collected_at
FROM (SELECT *, unnest(from_json(coalesce(status->'listeners', '[]'), '["JSON"]')) AS l
      FROM k8s_current WHERE kind = 'Gateway') g,
     LATERAL (SELECT unnest(from_json(coalesce(g.l->'conditions', '[]'), '["JSON"]')) AS c)
WHERE (c->>'type') = 'Conflicted' AND (c->>'status') = 'True'
