-- Every public entry point and what it exposes: compared across bundles by `defensible diff` (new and removed public
-- routes). Gateway API routes attached to a public Gateway listener (public: decided from evidence, gateway_public):
-- for clusters with an up-to-date attachment analysis, the routes it accepts on public listeners; for other clusters,
-- the routes whose parentRefs name a public listener. Then the entry points outside the Gateway API: public Service
-- load balancers, node ports and external IPs that are no Gateway's (gateway columns empty, `listener` says how it
-- is reached, `hostname` its addresses), public Ingresses (one row per host; `listener` is the ingress class),
-- VirtualServices bound to public Istio Gateways, and workloads publishing hostPorts.
SELECT DISTINCT a.cluster, a.route_kind, a.route_namespace, a.route, a.gateway_namespace, a.gateway, a.listener,
       e.hostname, e.protocol
FROM analysed_attachments a
JOIN analysed_exposure e USING (cluster, gateway_namespace, gateway, listener)
JOIN gateway_public p USING (cluster, gateway_namespace, gateway)
WHERE a.accepted AND p.public
UNION
SELECT DISTINCT a.cluster, a.route_kind, a.route_namespace, a.route, a.gateway_namespace, a.gateway, a.listener,
       l.hostname, l.protocol
FROM route_attachments a
JOIN gateway_listeners l
  ON l.cluster = a.cluster AND l.namespace = a.gateway_namespace AND l.gateway = a.gateway AND l.listener = a.listener
JOIN gateway_public p ON p.cluster = l.cluster AND p.gateway_namespace = l.namespace AND p.gateway = l.gateway
WHERE p.public AND a.cluster NOT IN (SELECT cluster FROM analysed_clusters)
UNION
SELECT cluster, 'Service', namespace, name, NULL, NULL, entry,
       CASE entry WHEN 'LoadBalancer' THEN array_to_string(list_transform(
                      CAST(coalesce(s.status->'loadBalancer'->'ingress', '[]') AS JSON[]),
                      lambda i: coalesce(i->>'ip', i->>'hostname')), ', ')
                  WHEN 'externalIPs' THEN array_to_string(CAST(s.spec->'externalIPs' AS VARCHAR[]), ', ')
                  ELSE 'every node' END,
       e.detail
FROM entry_points e
JOIN service_entries s USING (cluster, namespace, name, entry)
WHERE e.kind = 'Service' AND e.public AND e.fronts IS NULL
UNION
SELECT e.cluster, 'Ingress', e.namespace, e.name, NULL, NULL, e.detail, h.host,
       CASE WHEN coalesce(json_array_length(i.spec->'tls'), 0) > 0 THEN 'HTTPS' ELSE 'HTTP' END
FROM entry_points e
JOIN k8s_current i ON i.cluster = e.cluster AND i.kind = 'Ingress' AND i.namespace = e.namespace AND i.name = e.name
CROSS JOIN unnest(list_transform(CAST(coalesce(i.spec->'rules', '[]') AS JSON[]), lambda r: coalesce(r->>'host', '*'))
                  || CASE WHEN (i.spec->'defaultBackend') IS NOT NULL THEN ['*'] ELSE [] END) h(host)
WHERE e.kind = 'Ingress' AND e.public
UNION
SELECT b.cluster, 'VirtualService', b.namespace, b.virtual_service, b.gateway_namespace,
       b.gateway || ' (networking.istio.io)', b.server, b.hosts, b.protocol
FROM istio_gateway_bindings b
JOIN entry_points p
  ON p.cluster = b.cluster AND p.kind = 'Gateway.networking.istio.io' AND p.namespace = b.gateway_namespace
     AND p.name = b.gateway
WHERE p.public
UNION
SELECT cluster, kind, namespace, name, NULL, NULL, 'hostPort', 'every node it runs on', ports
FROM host_entries
WHERE host_port
