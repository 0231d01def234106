-- Encrypted hops, each with what encrypts it.
SELECT cluster, namespace, 'Gateway/' || gateway || ' listener ' || listener AS object, 'client->gateway' AS hop,
       CASE WHEN tls_mode = 'Passthrough' THEN protocol || ' listener passes TLS through'
            ELSE protocol || ' listener terminates TLS with ' || certificate_refs || ' certificate reference(s)'
       END || ' (routes: ' || routes || ')' AS detail,
       location, source, run_id, artifact_sha256, collected_at
FROM client_gateway_hops
WHERE encrypted
UNION ALL
SELECT cluster, namespace, 'Service/' || service, 'gateway->backend',
       'backend of ' || route_ref || ' encrypted by ' || covered_by,
       location, source, run_id, artifact_sha256, collected_at
FROM route_backend_tls
WHERE covered_by IS NOT NULL
UNION ALL
SELECT b.cluster, b.namespace, 'Service/' || b.service, 'gateway->backend',
       'backend of ' || b.route_ref || ' encrypted by mesh mTLS STRICT (decided by ' || m.decided_by || ')',
       m.location, m.source, m.run_id, m.artifact_sha256, m.collected_at
FROM route_backends b
JOIN service_mtls m USING (cluster, namespace, service)
WHERE m.strict
UNION ALL
SELECT m.cluster, m.namespace, 'Service/' || m.service, 'workload<->workload',
       'mesh mTLS STRICT (decided by ' || m.decided_by || ')',
       m.location, m.source, m.run_id, m.artifact_sha256, m.collected_at
FROM service_mtls m
JOIN regulated_namespaces n USING (cluster, namespace)
WHERE m.strict
