-- Regulated backends of attached routes (mirrors included), per Gateway and port, and of Ingresses, per IngressClass,
-- and what re-encrypts them.
SELECT b.cluster, b.namespace, 'Service/' || b.service AS object, b.route_ref AS route,
       'port ' || b.port || ' (' || b.via || ' through Gateway ' || b.gateway_namespace || '/' || b.gateway
         || '): the gateway re-encrypts with ' || b.covered_by AS detail,
       b.location, b.source, b.run_id, b.artifact_sha256, b.collected_at
FROM hop_backend_tls b
JOIN regulated_namespaces n USING (cluster, namespace)
WHERE b.covered_by IS NOT NULL
UNION ALL
SELECT b.cluster, b.namespace, 'Service/' || b.service, b.route_ref,
       'port ' || coalesce(CAST(b.port AS VARCHAR), b.port_name) || ' (backend of ' || b.route_ref
         || '): the ingress controller re-encrypts with ' || b.covered_by,
       b.location, b.source, b.run_id, b.artifact_sha256, b.collected_at
FROM hop_ingress_backend_tls b
JOIN regulated_namespaces n USING (cluster, namespace)
WHERE b.covered_by IS NOT NULL
