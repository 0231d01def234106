-- Whether a Gateway is public is decided from evidence (gateway_public), not by its label alone. Clusters with an
-- up-to-date Gateway API attachment analysis (analysed_*): a public listener that every namespace can attach routes
-- to (from: All, or a Selector every namespace satisfies); a route accepted on a public listener from a regulated
-- namespace that lacks the public_access_label, or that sends traffic to a Service of such a namespace; a reference
-- not permitted by a ReferenceGrant (RefNotPermitted) on a public listener, from an accepted route's backendRefs or
-- the listener's certificateRefs.
SELECT e.cluster, e.gateway_namespace AS namespace, 'Gateway/' || e.gateway || ' listener ' || e.listener AS object,
       CASE WHEN e.routes_from = 'All' THEN
                 'public listener admits routes from all namespaces (allowedRoutes.namespaces.from: All), '
                   || 'including namespaces created later'
            ELSE 'public listener admits routes from every namespace: its allowedRoutes.namespaces.selector is '
                   || 'satisfied by every namespace (or by a namespace created later), so it is from: All in effect'
       END AS finding,
       l.location, e.source, e.run_id, e.artifact_sha256, e.collected_at
FROM analysed_exposure e
JOIN gateway_public p USING (cluster, gateway_namespace, gateway)
LEFT JOIN gateway_listeners l
  ON l.cluster = e.cluster AND l.namespace = e.gateway_namespace AND l.gateway = e.gateway AND l.listener = e.listener
WHERE p.public AND e.any_namespace
UNION ALL
SELECT a.cluster, a.route_namespace, a.route_kind || '/' || a.route,
       'attached to public listener ' || a.listener || ' of Gateway ' || a.gateway_namespace || '/' || a.gateway
         || ' from regulated namespace ' || a.route_namespace || ', which is not labelled '
         || getvariable('public_access_label'),
       r.location, a.source, a.run_id, a.artifact_sha256, a.collected_at
FROM analysed_attachments a
JOIN gateway_public p USING (cluster, gateway_namespace, gateway)
JOIN regulated_namespaces n ON n.cluster = a.cluster AND n.namespace = a.route_namespace
LEFT JOIN public_access_namespaces o ON o.cluster = a.cluster AND o.namespace = a.route_namespace
LEFT JOIN k8s_current r
  ON r.cluster = a.cluster AND r.kind = a.route_kind AND r.namespace = a.route_namespace AND r.name = a.route
WHERE a.accepted AND p.public AND o.namespace IS NULL
UNION ALL
SELECT a.cluster, a.route_namespace, a.route_kind || '/' || a.route,
       'attached to public listener ' || a.listener || ' of Gateway ' || a.gateway_namespace || '/' || a.gateway
         || ' with a backendRef not permitted by any ReferenceGrant (RefNotPermitted): ' || a.resolved_refs_message,
       r.location, a.source, a.run_id, a.artifact_sha256, a.collected_at
FROM analysed_attachments a
JOIN gateway_public p USING (cluster, gateway_namespace, gateway)
LEFT JOIN k8s_current r
  ON r.cluster = a.cluster AND r.kind = a.route_kind AND r.namespace = a.route_namespace AND r.name = a.route
WHERE a.accepted AND p.public AND a.resolved_refs_reason = 'RefNotPermitted'
UNION ALL
-- A route accepted on a public Gateway whose backend (backendRef or RequestMirror) is in another, regulated namespace
-- without the public_access_label: a Service there, directly or through ExternalName aliases (service_targets), or
-- a backend of another kind there (a ServiceImport stands for the Service of its name and namespace in every
-- cluster of the clusterset). The backend is published, whichever namespace the route is in.
SELECT b.cluster, split_part(split_part(b.route_ref, ' ', 2), '/', 1),
       split_part(b.route_ref, ' ', 1) || '/' || split_part(split_part(b.route_ref, ' ', 2), '/', 2),
       'attached to public Gateway ' || b.gateway_namespace || '/' || b.gateway || ', sends traffic (' || b.via
         || ') to ' || t.target || coalesce(' (through ' || t.via || ')', '') || ' of regulated namespace '
         || t.target_namespace || ', which is not labelled ' || getvariable('public_access_label'),
       b.location, b.source, b.run_id, b.artifact_sha256, b.collected_at
FROM hop_backends b
JOIN gateway_public p USING (cluster, gateway_namespace, gateway)
JOIN (SELECT h.cluster, h.backend, coalesce(a.target_namespace, h.namespace) AS target_namespace,
             CASE WHEN h.service IS NULL THEN h.backend
                  ELSE 'Service ' || coalesce(a.target_namespace, h.namespace) || '/'
                       || coalesce(a.target_service, h.service) END AS target, a.via
      FROM (SELECT DISTINCT cluster, namespace, service, backend FROM hop_backends) h
      LEFT JOIN service_targets a USING (cluster, namespace, service)) t
  ON t.cluster = b.cluster AND t.backend = b.backend
JOIN regulated_namespaces n ON n.cluster = b.cluster AND n.namespace = t.target_namespace
LEFT JOIN public_access_namespaces o ON o.cluster = b.cluster AND o.namespace = t.target_namespace
WHERE p.public AND o.namespace IS NULL
  AND t.target_namespace <> split_part(split_part(b.route_ref, ' ', 2), '/', 1)  -- a route of its own: the rule above
  AND EXISTS (SELECT 1 FROM analysed_attachments a
              WHERE a.cluster = b.cluster AND a.accepted AND a.gateway_namespace = b.gateway_namespace
                AND a.gateway = b.gateway AND a.route_kind || ' ' || a.route_namespace || '/' || a.route = b.route_ref)
UNION ALL
-- ... or a Service without a selector (service_blind): its endpoints are managed by hand and may be any pod, of any
-- namespace; the inventory does not show which.
SELECT b.cluster, split_part(split_part(b.route_ref, ' ', 2), '/', 1),
       split_part(b.route_ref, ' ', 1) || '/' || split_part(split_part(b.route_ref, ' ', 2), '/', 2),
       'attached to public Gateway ' || b.gateway_namespace || '/' || b.gateway || ', sends traffic (' || b.via
         || ') to Service ' || u.namespace || '/' || u.service || coalesce(' (through ' || u.via || ')', '')
         || ', which ' || u.why || ': whether it publishes a regulated workload is not judged',
       b.location, b.source, b.run_id, b.artifact_sha256, b.collected_at
FROM hop_backends b
JOIN gateway_public p USING (cluster, gateway_namespace, gateway)
JOIN service_blind u ON u.cluster = b.cluster AND u.backend_namespace = b.namespace AND u.backend = b.service
WHERE p.public
  AND EXISTS (SELECT 1 FROM analysed_attachments a
              WHERE a.cluster = b.cluster AND a.accepted AND a.gateway_namespace = b.gateway_namespace
                AND a.gateway = b.gateway AND a.route_kind || ' ' || a.route_namespace || '/' || a.route = b.route_ref)
UNION ALL
SELECT e.cluster, e.gateway_namespace, 'Gateway/' || e.gateway || ' listener ' || e.listener,
       'public listener has a certificateRef not permitted by any ReferenceGrant (RefNotPermitted): '
         || e.resolved_refs_message,
       l.location, e.source, e.run_id, e.artifact_sha256, e.collected_at
FROM analysed_exposure e
JOIN gateway_public p USING (cluster, gateway_namespace, gateway)
LEFT JOIN gateway_listeners l
  ON l.cluster = e.cluster AND l.namespace = e.gateway_namespace AND l.gateway = e.gateway AND l.listener = e.listener
WHERE p.public AND e.resolved_refs_reason = 'RefNotPermitted'
UNION ALL
-- Other clusters: the Gateway objects alone (a public listener admitting routes from All namespaces, or from an empty
-- selector) and every cross-namespace reference without a ReferenceGrant.
SELECT l.cluster, l.namespace, 'Gateway/' || l.gateway || ' listener ' || l.listener,
       'public listener admits routes from all namespaces (allowedRoutes.namespaces.from: All'
         || CASE WHEN l.routes_from = 'All' THEN ')' ELSE ' in effect: an empty selector)' END,
       l.location, l.source, l.run_id, l.artifact_sha256, l.collected_at
FROM gateway_listeners l
JOIN k8s_current g ON g.cluster = l.cluster AND g.kind = 'Gateway' AND g.namespace = l.namespace AND g.name = l.gateway
JOIN gateway_public p ON p.cluster = l.cluster AND p.gateway_namespace = l.namespace AND p.gateway = l.gateway
CROSS JOIN json_each(g.spec->'listeners') gl
WHERE p.public AND (gl.value->>'name') = l.listener AND l.cluster NOT IN (SELECT cluster FROM analysed_clusters)
  AND (l.routes_from = 'All'
       OR (l.routes_from = 'Selector'
           AND coalesce(len(json_keys(gl.value->'allowedRoutes'->'namespaces'->'selector'->'matchLabels')), 0) = 0
           AND coalesce(json_array_length(gl.value->'allowedRoutes'->'namespaces'->'selector'->'matchExpressions'),
                        0) = 0))
UNION ALL
SELECT cluster, from_namespace, from_kind || '/' || from_name,
       ref || ' to ' || to_kind || ' ' || to_namespace || '/' || to_name
         || ' is not permitted by any ReferenceGrant in ' || to_namespace,
       location, source, run_id, artifact_sha256, collected_at
FROM cross_namespace_refs_granted
WHERE granted_by IS NULL AND cluster NOT IN (SELECT cluster FROM analysed_clusters)
UNION ALL
-- Every cluster: a public Gateway that admits ListenerSets (spec.allowedListeners other than from: None, the
-- default): their listeners and the routes attached to them are neither inventoried nor analysed ...
SELECT g.cluster, g.namespace, 'Gateway/' || g.name,
       'public Gateway admits ListenerSets from ' || (g.spec->'allowedListeners'->'namespaces'->>'from')
         || ' namespaces (spec.allowedListeners): the listeners they add, and the routes attached to them, are not '
         || 'judged',
       g.location, g.source, g.run_id, g.artifact_sha256, g.collected_at
FROM k8s_current g
JOIN gateway_public p ON p.cluster = g.cluster AND p.gateway_namespace = g.namespace AND p.gateway = g.name
WHERE g.kind = 'Gateway' AND p.public
  AND coalesce(g.spec->'allowedListeners'->'namespaces'->>'from', 'None') <> 'None'
UNION ALL
-- ... evidence that contradicts itself (labelled or annotated internal, yet a public address, an
-- internet-facing Service, node ports) ...
SELECT cluster, namespace, replace(kind, '.networking.istio.io', ' (networking.istio.io)') || '/' || name,
       entry || ' entry point is public: ' || public_by || '; which contradicts: ' || internal_by,
       location, source, run_id, artifact_sha256, collected_at
FROM entry_points
WHERE contradicted
UNION ALL
-- ... a public Service entry point (load balancer, node ports, external IPs) that is no Gateway's: traffic reaches
-- the workloads outside every Gateway listener, its TLS and its route review ...
SELECT cluster, namespace, 'Service/' || name,
       'public ' || entry || ' entry point (' || detail || ') that is not the entry point of any Gateway: '
         || public_by || CASE WHEN ingresses IS NOT NULL THEN '; as an ingress controller''s entry point for '
         || ingresses || ' it also exposes the controller''s own ports (default backend, TCP and UDP services)'
         ELSE '' END,
       location, source, run_id, artifact_sha256, collected_at
FROM entry_points
WHERE kind = 'Service' AND public AND fronts IS NULL
UNION ALL
-- ... an Ingress judged internal whose ingress controller could not be looked for (a kind the link needs was not
-- collected): its exposure is not decided ...
SELECT e.cluster, e.namespace, 'Ingress/' || e.name,
       'Ingress entry point judged internal (' || e.internal_by || '), but whether its ingress controller''s load '
         || 'balancer is public cannot be decided: '
         || string_agg(n.kind || ' ' || coalesce(k.status, 'not listed'), ', ' ORDER BY n.kind)
         || ' in the Kubernetes inventory',
       e.location, e.source, e.run_id, e.artifact_sha256, e.collected_at
FROM entry_points e
CROSS JOIN (VALUES ('IngressClass'), ('Service'), ('Deployment'), ('DaemonSet'), ('StatefulSet'), ('Pod')) n(kind)
LEFT JOIN k8s_inventory_current k ON k.cluster = e.cluster AND k.kind = n.kind
WHERE e.kind = 'Ingress' AND NOT e.public AND k.status IS DISTINCT FROM 'collected'
GROUP BY e.cluster, e.namespace, e.name, e.internal_by, e.location, e.source, e.run_id, e.artifact_sha256,
         e.collected_at
UNION ALL
-- ... a public Ingress: its IngressClass admits Ingresses from every namespace (the Ingress API has no
-- allowedRoutes), and from a regulated namespace it also needs the public_access_label ...
SELECT e.cluster, e.namespace, 'Ingress/' || e.name,
       'public Ingress (' || e.detail || '; ' || e.public_by || '): an ingress class admits Ingresses from every '
         || 'namespace, as a listener with allowedRoutes from: All'
         || CASE WHEN (i.spec->'tls') IS NULL OR json_array_length(i.spec->'tls') = 0 THEN '; no TLS' ELSE '' END
         || CASE WHEN (i.spec->'defaultBackend') IS NOT NULL THEN '; a defaultBackend receives every host and path'
                 ELSE '' END
         || CASE WHEN n.namespace IS NOT NULL AND o.namespace IS NULL THEN '; from regulated namespace '
                 || e.namespace || ', which is not labelled ' || getvariable('public_access_label') ELSE '' END,
       e.location, e.source, e.run_id, e.artifact_sha256, e.collected_at
FROM entry_points e
JOIN k8s_current i ON i.cluster = e.cluster AND i.kind = 'Ingress' AND i.namespace = e.namespace AND i.name = e.name
LEFT JOIN regulated_namespaces n ON n.cluster = e.cluster AND n.namespace = e.namespace
LEFT JOIN public_access_namespaces o ON o.cluster = e.cluster AND o.namespace = e.namespace
WHERE e.kind = 'Ingress' AND e.public
UNION ALL
-- ... a public Istio Gateway server that admits VirtualServices from every namespace (a host without "ns/"), a
-- VirtualService bound to a public Istio Gateway from a regulated namespace without the public_access_label, or
-- routing to a Service of one ...
SELECT s.cluster, s.namespace, 'Gateway (networking.istio.io)/' || s.gateway || ' server ' || s.server,
       'public Istio Gateway server admits VirtualServices from every namespace for host ' || s.host
         || ' (no namespace/ prefix): ' || p.public_by,
       s.location, s.source, s.run_id, s.artifact_sha256, s.collected_at
FROM istio_gateway_servers s
JOIN entry_points p
  ON p.cluster = s.cluster AND p.kind = 'Gateway.networking.istio.io' AND p.namespace = s.namespace
     AND p.name = s.gateway
WHERE p.public AND s.admits = '*'
UNION ALL
SELECT b.cluster, b.namespace, 'VirtualService/' || b.virtual_service,
       'bound to public Istio Gateway ' || b.gateway_namespace || '/' || b.gateway || ' (server ' || b.server
         || ') from regulated namespace ' || b.namespace || ', which is not labelled '
         || getvariable('public_access_label'),
       b.location, b.source, b.run_id, b.artifact_sha256, b.collected_at
FROM istio_gateway_bindings b
JOIN entry_points p
  ON p.cluster = b.cluster AND p.kind = 'Gateway.networking.istio.io' AND p.namespace = b.gateway_namespace
     AND p.name = b.gateway
JOIN regulated_namespaces n ON n.cluster = b.cluster AND n.namespace = b.namespace
LEFT JOIN public_access_namespaces o ON o.cluster = b.cluster AND o.namespace = b.namespace
WHERE p.public AND o.namespace IS NULL
UNION ALL
SELECT d.cluster, d.namespace, 'VirtualService/' || d.virtual_service,
       'bound to public Istio Gateway ' || d.gateway_namespace || '/' || d.gateway || ' (server ' || d.server
         || '), routes to Service ' || t.target_namespace || '/' || t.target_service || ' (host ' || d.destination
         || coalesce(' through ' || t.via, '') || ') of regulated namespace ' || t.target_namespace
         || ', which is not labelled ' || getvariable('public_access_label'),
       d.location, d.source, d.run_id, d.artifact_sha256, d.collected_at
FROM istio_gateway_destinations d
JOIN entry_points p
  ON p.cluster = d.cluster AND p.kind = 'Gateway.networking.istio.io' AND p.namespace = d.gateway_namespace
     AND p.name = d.gateway
LEFT JOIN service_targets a ON a.cluster = d.cluster AND a.namespace = d.service_namespace AND a.service = d.service,
LATERAL (SELECT coalesce(a.target_namespace, d.service_namespace) AS target_namespace,
                coalesce(a.target_service, d.service) AS target_service, a.via) t
JOIN regulated_namespaces n ON n.cluster = d.cluster AND n.namespace = t.target_namespace
LEFT JOIN public_access_namespaces o ON o.cluster = d.cluster AND o.namespace = t.target_namespace
WHERE p.public AND o.namespace IS NULL AND t.target_namespace <> d.namespace  -- its own namespace: the rule above
UNION ALL
SELECT d.cluster, d.namespace, 'VirtualService/' || d.virtual_service,
       'bound to public Istio Gateway ' || d.gateway_namespace || '/' || d.gateway || ' (server ' || d.server
         || '), routes to Service ' || u.namespace || '/' || u.service || ' (host ' || d.destination
         || coalesce(' through ' || u.via, '') || '), which ' || u.why
         || ': whether it publishes a regulated workload is not judged',
       d.location, d.source, d.run_id, d.artifact_sha256, d.collected_at
FROM istio_gateway_destinations d
JOIN entry_points p
  ON p.cluster = d.cluster AND p.kind = 'Gateway.networking.istio.io' AND p.namespace = d.gateway_namespace
     AND p.name = d.gateway
JOIN service_blind u ON u.cluster = d.cluster AND u.backend_namespace = d.service_namespace AND u.backend = d.service
WHERE p.public
UNION ALL
-- ... and workloads that publish ports on their nodes' addresses: hostPort anywhere (as a node port), the host
-- network in a regulated namespace.
SELECT h.cluster, h.namespace, h.kind || '/' || h.name,
       CASE WHEN h.host_port THEN 'publishes hostPort(s) ' || h.ports || ' on the address of every node it runs on'
            ELSE 'runs in the host network of its nodes in regulated namespace ' || h.namespace
                 || CASE WHEN h.ports <> '' THEN ', listening on ' || h.ports ELSE '' END END,
       h.location, h.source, h.run_id, h.artifact_sha256, h.collected_at
FROM host_entries h
LEFT JOIN regulated_namespaces n ON n.cluster = h.cluster AND n.namespace = h.namespace
WHERE h.host_port OR n.namespace IS NOT NULL
UNION ALL
-- Objects the gateway analysis of an analysed cluster left out as malformed: not judged, so a gap each.
SELECT cluster, namespace, object, finding, location, source, run_id, artifact_sha256, collected_at
FROM analysis_errors_current
WHERE analysis = 'gateway'
