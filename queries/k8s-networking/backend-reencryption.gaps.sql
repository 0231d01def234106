-- Regulated backends of attached routes that no BackendTLSPolicy or TLS DestinationRule covers.
SELECT b.cluster, b.namespace, 'Service/' || b.service AS object, b.route_ref AS route,
       'backend Service ' || b.namespace || '/' || b.service || ' of ' || b.route_ref
         || ' has no BackendTLSPolicy and no DestinationRule with tls.mode ISTIO_MUTUAL, SIMPLE or MUTUAL' AS finding,
       b.location, b.source, b.run_id, b.artifact_sha256, b.collected_at
FROM route_backend_tls b
JOIN regulated_namespaces n USING (cluster, namespace)
WHERE b.covered_by IS NULL
