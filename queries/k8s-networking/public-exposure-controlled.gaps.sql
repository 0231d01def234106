-- Clusters with an up-to-date Gateway API attachment analysis (analysed_*): a public listener that every
-- namespace can attach routes to; a route accepted on a public listener from a regulated namespace that lacks the
-- public_access_label; a reference not permitted by a ReferenceGrant (RefNotPermitted) on a public listener, from
-- an accepted route's backendRefs or the listener's certificateRefs.
SELECT e.cluster, e.gateway_namespace AS namespace, 'Gateway/' || e.gateway || ' listener ' || e.listener AS object,
       'public listener admits routes from all namespaces (allowedRoutes.namespaces.from: All), '
         || 'including namespaces created later' AS finding,
       l.location, e.source, e.run_id, e.artifact_sha256, e.collected_at
FROM analysed_exposure e
LEFT JOIN gateway_listeners l
  ON l.cluster = e.cluster AND l.namespace = e.gateway_namespace AND l.gateway = e.gateway AND l.listener = e.listener
WHERE e.public AND e.any_namespace
UNION ALL
SELECT a.cluster, a.route_namespace, a.route_kind || '/' || a.route,
       'attached to public listener ' || a.listener || ' of Gateway ' || a.gateway_namespace || '/' || a.gateway
         || ' from regulated namespace ' || a.route_namespace || ', which is not labelled '
         || getvariable('public_access_label'),
       r.location, a.source, a.run_id, a.artifact_sha256, a.collected_at
FROM analysed_attachments a
JOIN analysed_exposure e USING (cluster, gateway_namespace, gateway, listener)
JOIN regulated_namespaces n ON n.cluster = a.cluster AND n.namespace = a.route_namespace
JOIN k8s_current ns ON ns.cluster = a.cluster AND ns.kind = 'Namespace' AND ns.name = a.route_namespace
LEFT JOIN k8s_current r
  ON r.cluster = a.cluster AND r.kind = a.route_kind AND r.namespace = a.route_namespace AND r.name = a.route
WHERE a.accepted AND e.public
  AND (ns.labels->>split_part(getvariable('public_access_label'), '=', 1))
      IS DISTINCT FROM split_part(getvariable('public_access_label'), '=', 2)
UNION ALL
SELECT a.cluster, a.route_namespace, a.route_kind || '/' || a.route,
       'attached to public listener ' || a.listener || ' of Gateway ' || a.gateway_namespace || '/' || a.gateway
         || ' with a backendRef not permitted by any ReferenceGrant (RefNotPermitted): ' || a.resolved_refs_message,
       r.location, a.source, a.run_id, a.artifact_sha256, a.collected_at
FROM analysed_attachments a
JOIN analysed_exposure e USING (cluster, gateway_namespace, gateway, listener)
LEFT JOIN k8s_current r
  ON r.cluster = a.cluster AND r.kind = a.route_kind AND r.namespace = a.route_namespace AND r.name = a.route
WHERE a.accepted AND e.public AND a.resolved_refs_reason = 'RefNotPermitted'
UNION ALL
SELECT e.cluster, e.gateway_namespace, 'Gateway/' || e.gateway || ' listener ' || e.listener,
       'public listener has a certificateRef not permitted by any ReferenceGrant (RefNotPermitted): '
         || e.resolved_refs_message,
       l.location, e.source, e.run_id, e.artifact_sha256, e.collected_at
FROM analysed_exposure e
LEFT JOIN gateway_listeners l
  ON l.cluster = e.cluster AND l.namespace = e.gateway_namespace AND l.gateway = e.gateway AND l.listener = e.listener
WHERE e.public AND e.resolved_refs_reason = 'RefNotPermitted'
UNION ALL
-- Other clusters: the Gateway objects alone (a public listener admitting routes from All namespaces) and every
-- cross-namespace reference without a ReferenceGrant.
SELECT cluster, namespace, 'Gateway/' || gateway || ' listener ' || listener,
       'public listener admits routes from all namespaces (allowedRoutes.namespaces.from: All)',
       location, source, run_id, artifact_sha256, collected_at
FROM gateway_listeners
WHERE public AND routes_from = 'All' AND cluster NOT IN (SELECT cluster FROM analysed_clusters)
UNION ALL
SELECT cluster, from_namespace, from_kind || '/' || from_name,
       ref || ' to ' || to_kind || ' ' || to_namespace || '/' || to_name
         || ' is not permitted by any ReferenceGrant in ' || to_namespace,
       location, source, run_id, artifact_sha256, collected_at
FROM cross_namespace_refs_granted
WHERE granted_by IS NULL AND cluster NOT IN (SELECT cluster FROM analysed_clusters)
