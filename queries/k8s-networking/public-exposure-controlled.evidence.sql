-- Clusters with an up-to-date Gateway API attachment analysis: the public listeners that only some namespaces can
-- attach routes to (and which ones), and the routes accepted on public listeners.
SELECT e.cluster, e.gateway_namespace AS namespace, 'Gateway/' || e.gateway || ' listener ' || e.listener AS object,
       'public listener admits routes from ' || e.routes_from || ' namespaces only: '
         || coalesce(nullif(e.namespaces, ''), 'none in the inventory') AS detail,
       l.location, e.source, e.run_id, e.artifact_sha256, e.collected_at
FROM analysed_exposure e
JOIN gateway_public p USING (cluster, gateway_namespace, gateway)
LEFT JOIN gateway_listeners l
  ON l.cluster = e.cluster AND l.namespace = e.gateway_namespace AND l.gateway = e.gateway AND l.listener = e.listener
WHERE p.public AND NOT e.any_namespace
UNION ALL
SELECT a.cluster, a.route_namespace, a.route_kind || '/' || a.route,
       'accepted on public listener ' || a.listener || ' of Gateway ' || a.gateway_namespace || '/' || a.gateway
         || CASE a.hostnames WHEN '' THEN '' WHEN '*' THEN ' for any host' ELSE ' for ' || a.hostnames END,
       r.location, a.source, a.run_id, a.artifact_sha256, a.collected_at
FROM analysed_attachments a
JOIN gateway_public p USING (cluster, gateway_namespace, gateway)
LEFT JOIN k8s_current r
  ON r.cluster = a.cluster AND r.kind = a.route_kind AND r.namespace = a.route_namespace AND r.name = a.route
WHERE a.accepted AND p.public
UNION ALL
-- Other clusters: public listeners not open to All namespaces, cross-namespace references with a ReferenceGrant.
SELECT l.cluster, l.namespace, 'Gateway/' || l.gateway || ' listener ' || l.listener,
       'public listener admits routes from ' || l.routes_from || ' namespaces only',
       l.location, l.source, l.run_id, l.artifact_sha256, l.collected_at
FROM gateway_listeners l
JOIN gateway_public p ON p.cluster = l.cluster AND p.gateway_namespace = l.namespace AND p.gateway = l.gateway
WHERE p.public AND l.routes_from <> 'All' AND l.cluster NOT IN (SELECT cluster FROM analysed_clusters)
UNION ALL
SELECT cluster, from_namespace, from_kind || '/' || from_name,
       ref || ' to ' || to_kind || ' ' || to_namespace || '/' || to_name
         || ' permitted by ReferenceGrant ' || to_namespace || '/' || granted_by,
       location, source, run_id, artifact_sha256, collected_at
FROM cross_namespace_refs_granted
WHERE granted_by IS NOT NULL AND cluster NOT IN (SELECT cluster FROM analysed_clusters)
UNION ALL
-- Every cluster: every entry point (Gateways, Istio Gateways, Ingresses, Service load balancers, node ports and
-- external IPs) with the evidence that decides whether it is public, and hostPort / host-network workloads.
SELECT cluster, namespace, replace(kind, '.networking.istio.io', ' (networking.istio.io)') || '/' || name,
       entry || ' entry point (' || coalesce(nullif(detail, ''), 'no ports') || ') is '
         || CASE WHEN public THEN 'public: ' || public_by ELSE 'internal: ' || internal_by END
         || CASE WHEN fronts IS NOT NULL THEN '; the entry point of ' || fronts ELSE '' END
         || CASE WHEN ingresses IS NOT NULL THEN '; the ingress controller''s entry point for ' || ingresses
                 ELSE '' END,
       location, source, run_id, artifact_sha256, collected_at
FROM entry_points
UNION ALL
SELECT cluster, namespace, kind || '/' || name,
       CASE WHEN host_port THEN 'publishes hostPort(s) ' || ports
            ELSE 'runs in the host network' || CASE WHEN ports <> '' THEN ', listening on ' || ports ELSE '' END END,
       location, source, run_id, artifact_sha256, collected_at
FROM host_entries
