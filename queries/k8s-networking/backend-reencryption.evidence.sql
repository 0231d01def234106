-- Regulated backends of attached routes and the object that re-encrypts traffic to them.
SELECT b.cluster, b.namespace, 'Service/' || b.service AS object, b.route_ref AS route,
       'gateway re-encrypts to the backend: ' || b.covered_by AS detail,
       b.location, b.source, b.run_id, b.artifact_sha256, b.collected_at
FROM route_backend_tls b
JOIN regulated_namespaces n USING (cluster, namespace)
WHERE b.covered_by IS NOT NULL
