-- Routes attached to a public Gateway listener: what the platform exposes. Compared across bundles by
-- `defensible diff` (new and removed public routes).
SELECT DISTINCT a.cluster, a.route_kind, a.route_namespace, a.route, a.gateway_namespace, a.gateway, a.listener,
       l.hostname, l.protocol
FROM route_attachments a
JOIN gateway_listeners l
  ON l.cluster = a.cluster AND l.namespace = a.gateway_namespace AND l.gateway = a.gateway AND l.listener = a.listener
WHERE l.public
