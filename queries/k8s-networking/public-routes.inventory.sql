-- Routes attached to a public Gateway listener: what the platform exposes. Compared across bundles by
-- `defensible diff` (new and removed public routes). Clusters with an up-to-date Gateway API attachment analysis:
-- the routes it accepts on public listeners; other clusters: the routes whose parentRefs name a public listener.
SELECT DISTINCT a.cluster, a.route_kind, a.route_namespace, a.route, a.gateway_namespace, a.gateway, a.listener,
       e.hostname, e.protocol
FROM analysed_attachments a
JOIN analysed_exposure e USING (cluster, gateway_namespace, gateway, listener)
WHERE a.accepted AND e.public
UNION
SELECT DISTINCT a.cluster, a.route_kind, a.route_namespace, a.route, a.gateway_namespace, a.gateway, a.listener,
       l.hostname, l.protocol
FROM route_attachments a
JOIN gateway_listeners l
  ON l.cluster = a.cluster AND l.namespace = a.gateway_namespace AND l.gateway = a.gateway AND l.listener = a.listener
WHERE l.public AND a.cluster NOT IN (SELECT cluster FROM analysed_clusters)
