-- Clusters with an up-to-date Gateway API attachment analysis: the public listeners that only some namespaces can
-- attach routes to (and which ones), and the routes accepted on public listeners.
SELECT e.cluster, e.gateway_namespace AS namespace, 'Gateway/' || e.gateway || ' listener ' || e.listener AS object,
       'public listener admits routes from ' || e.routes_from || ' namespaces only: '
         || coalesce(nullif(e.namespaces, ''), 'none in the inventory') AS detail,
       l.location, e.source, e.run_id, e.artifact_sha256, e.collected_at
FROM analysed_exposure e
LEFT JOIN gateway_listeners l
  ON l.cluster = e.cluster AND l.namespace = e.gateway_namespace AND l.gateway = e.gateway AND l.listener = e.listener
WHERE e.public AND NOT e.any_namespace
UNION ALL
SELECT a.cluster, a.route_namespace, a.route_kind || '/' || a.route,
       'accepted on public listener ' || a.listener || ' of Gateway ' || a.gateway_namespace || '/' || a.gateway
         || CASE a.hostnames WHEN '' THEN '' WHEN '*' THEN ' for any host' ELSE ' for ' || a.hostnames END,
       r.location, a.source, a.run_id, a.artifact_sha256, a.collected_at
FROM analysed_attachments a
JOIN analysed_exposure e USING (cluster, gateway_namespace, gateway, listener)
LEFT JOIN k8s_current r
  ON r.cluster = a.cluster AND r.kind = a.route_kind AND r.namespace = a.route_namespace AND r.name = a.route
WHERE a.accepted AND e.public
UNION ALL
-- Other clusters: public listeners not open to All namespaces, cross-namespace references with a ReferenceGrant.
SELECT cluster, namespace, 'Gateway/' || gateway || ' listener ' || listener,
       'public listener admits routes from ' || routes_from || ' namespaces only',
       location, source, run_id, artifact_sha256, collected_at
FROM gateway_listeners
WHERE public AND routes_from <> 'All' AND cluster NOT IN (SELECT cluster FROM analysed_clusters)
UNION ALL
SELECT cluster, from_namespace, from_kind || '/' || from_name,
       ref || ' to ' || to_kind || ' ' || to_namespace || '/' || to_name
         || ' permitted by ReferenceGrant ' || to_namespace || '/' || granted_by,
       location, source, run_id, artifact_sha256, collected_at
FROM cross_namespace_refs_granted
WHERE granted_by IS NOT NULL AND cluster NOT IN (SELECT cluster FROM analysed_clusters)
