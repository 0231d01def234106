-- Unencrypted hops: one row per listener, route backend, workload or weak port override.
SELECT cluster, namespace, 'Gateway/' || gateway || ' listener ' || listener AS object, 'client->gateway' AS hop,
       CASE WHEN protocol IN ('HTTPS', 'TLS') THEN protocol || ' listener terminates TLS without certificateRefs'
            ELSE coalesce(protocol, 'listener without protocol') || ' listener accepts unencrypted traffic'
       END || ' (routes: ' || routes || ')' AS finding,
       location, source, run_id, artifact_sha256, collected_at
FROM client_gateway_hops
WHERE NOT encrypted
UNION ALL
SELECT b.cluster, b.namespace, 'Service/' || b.service, 'gateway->backend',
       'backend of ' || b.route_ref || ' is reached without TLS: no BackendTLSPolicy or TLS DestinationRule, and '
         || CASE WHEN m.service IS NULL THEN 'the Service is not in the inventory (mesh mTLS unknown)'
                 WHEN m.mode <> 'STRICT' THEN 'mesh mTLS is ' || m.mode || ' (decided by ' || m.decided_by || ')'
                 ELSE 'a port-level override weakens its mesh mTLS' END,
       b.location, b.source, b.run_id, b.artifact_sha256, b.collected_at
FROM route_backend_tls b
LEFT JOIN service_mtls m USING (cluster, namespace, service)
WHERE b.covered_by IS NULL AND NOT coalesce(m.strict, false)
UNION ALL
SELECT m.cluster, m.namespace, 'Service/' || m.service, 'workload<->workload',
       'mesh mTLS is ' || m.mode || ', not STRICT (decided by ' || m.decided_by || ')',
       m.location, m.source, m.run_id, m.artifact_sha256, m.collected_at
FROM service_mtls m
JOIN regulated_namespaces n USING (cluster, namespace)
WHERE m.mode <> 'STRICT'
UNION ALL
SELECT w.cluster, w.namespace, 'Service/' || w.service, 'workload<->workload',
       'port ' || w.port || ' mTLS weakened to ' || w.mode || ' by workload PeerAuthentication '
         || w.namespace || '/' || w.policy,
       w.location, w.source, w.run_id, w.artifact_sha256, w.collected_at
FROM service_weak_ports w
JOIN regulated_namespaces n USING (cluster, namespace)
