-- Encrypted hops, each with what encrypts it.
SELECT cluster, namespace, 'Gateway/' || gateway || ' listener ' || listener AS object, 'client->gateway' AS hop,
       CASE WHEN tls_mode = 'Passthrough' THEN protocol || ' listener passes TLS through'
            ELSE protocol || ' listener terminates TLS with ' || certificate_refs || ' certificate reference(s)'
       END || ' (routes: ' || routes || ')' AS detail,
       location, source, run_id, artifact_sha256, collected_at
FROM hop_client_gateway
WHERE encrypted
UNION ALL
SELECT h.cluster, h.namespace, 'Ingress/' || h.ingress, 'client->ingress',
       'host ' || h.host || ' served with TLS (spec.tls secret ' || h.tls_secret || ')',
       h.location, h.source, h.run_id, h.artifact_sha256, h.collected_at
FROM hop_ingress_hosts h
LEFT JOIN ingress_plaintext_http p USING (cluster, namespace, ingress)
WHERE h.tls_secret IS NOT NULL AND p.plaintext IS NULL
UNION ALL
SELECT b.cluster, b.namespace, 'Service/' || b.service, 'gateway->backend',
       'port ' || b.port || ' (' || b.via || ' of ' || b.route_ref || ' through Gateway ' || b.gateway_namespace || '/'
         || b.gateway || ') encrypted by '
         || coalesce(b.covered_by, 'mesh mTLS STRICT: ' || m.decided_by),
       b.location, b.source, b.run_id, b.artifact_sha256, b.collected_at
FROM hop_backend_tls b
LEFT JOIN mesh_services m
  ON m.cluster = b.cluster AND m.namespace = b.namespace AND m.service = b.service AND m.port = b.port
WHERE b.service IS NOT NULL AND (b.covered_by IS NOT NULL OR coalesce(m.encrypted, false))
UNION ALL
SELECT b.cluster, b.namespace, 'Service/' || b.service, 'ingress->backend',
       'port ' || coalesce(CAST(b.port AS VARCHAR), b.port_name) || ' (backend of ' || b.route_ref
         || ') encrypted by mesh mTLS STRICT: ' || m.decided_by,
       b.location, b.source, b.run_id, b.artifact_sha256, b.collected_at
FROM hop_ingress_backends b
JOIN mesh_services m
  ON m.cluster = b.cluster AND m.namespace = b.namespace AND m.service = b.service
     AND (m.port = b.port OR m.port_name = b.port_name)
WHERE m.encrypted
UNION ALL
SELECT m.cluster, m.namespace, m.kind || '/' || m.workload, 'workload<->workload',
       'port ' || m.port || ': ' || m.decided_by,
       w.location, m.source, m.run_id, m.artifact_sha256, m.collected_at
FROM mesh_ports m
JOIN regulated_namespaces n USING (cluster, namespace)
LEFT JOIN k8s_current w  -- the workload's manifest: where to look
  ON w.cluster = m.cluster AND w.kind = m.kind AND w.namespace = m.namespace AND w.name = m.workload
WHERE m.encrypted
