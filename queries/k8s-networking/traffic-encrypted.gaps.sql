-- Hops not shown to be encrypted: listeners, Ingress hosts, route and Ingress backends, regulated workload ports
-- and outbound traffic, and clusters whose mesh was not analysed.
SELECT cluster, namespace, 'Gateway/' || gateway || ' listener ' || listener AS object, 'client->gateway' AS hop,
       CASE WHEN protocol IN ('HTTPS', 'TLS') THEN protocol || ' listener terminates TLS without certificateRefs'
            ELSE coalesce(protocol, 'listener without protocol') || ' listener accepts unencrypted traffic'
       END || ' (routes: ' || routes || ')' AS finding,
       location, source, run_id, artifact_sha256, collected_at
FROM hop_client_gateway
WHERE NOT encrypted
UNION ALL
SELECT h.cluster, h.namespace, 'Ingress/' || h.ingress, 'client->ingress',
       'Ingress ' || h.namespace || '/' || h.ingress || ' serves host ' || h.host || ' over plaintext HTTP: '
         || CASE WHEN h.tls_secret IS NULL THEN 'no spec.tls entry covers it' ELSE p.plaintext END,
       h.location, h.source, h.run_id, h.artifact_sha256, h.collected_at
FROM hop_ingress_hosts h
LEFT JOIN ingress_plaintext_http p USING (cluster, namespace, ingress)
WHERE h.tls_secret IS NULL OR p.plaintext IS NOT NULL
UNION ALL
SELECT b.cluster, b.namespace, coalesce('Service/' || b.service, b.backend), 'gateway->backend',
       CASE WHEN b.service IS NULL THEN 'backend ' || b.backend || ' (' || b.via || ' of ' || b.route_ref
              || ') is not a Service: its encryption cannot be judged'
            ELSE 'Service ' || b.namespace || '/' || b.service || ' port ' || coalesce(CAST(b.port AS VARCHAR), '?')
              || ' (' || b.via || ' of ' || b.route_ref || ' through Gateway ' || b.gateway_namespace || '/'
              || b.gateway || ') is reached without TLS: ' || b.why_not || '; mesh: '
              || coalesce(m.decided_by, CASE WHEN b.cluster IN (SELECT cluster FROM analysed_clusters)
                                        THEN 'the Service port is not in the inventory' ELSE 'not analysed' END) END,
       b.location, b.source, b.run_id, b.artifact_sha256, b.collected_at
FROM hop_backend_tls b
LEFT JOIN mesh_services m
  ON m.cluster = b.cluster AND m.namespace = b.namespace AND m.service = b.service AND m.port = b.port
WHERE b.service IS NULL OR (b.covered_by IS NULL AND NOT coalesce(m.encrypted, false))
UNION ALL
SELECT b.cluster, b.namespace, coalesce('Service/' || b.service, b.route_ref), 'ingress->backend',
       coalesce(b.other_backend || ' of ' || b.route_ref || ': its encryption cannot be judged',
                'Service ' || b.namespace || '/' || b.service || ' port ' || coalesce(CAST(b.port AS VARCHAR), b.port_name)
                || ' (backend of ' || b.route_ref || ') is reached without TLS: the ingress controller sends what it '
                || 'receives unless the mesh encrypts it; mesh: ' || coalesce(
                    (SELECT string_agg(m.decided_by, '; ') FROM mesh_services m
                     WHERE m.cluster = b.cluster AND m.namespace = b.namespace AND m.service = b.service
                       AND (m.port = b.port OR m.port_name = b.port_name)), 'not analysed')),
       b.location, b.source, b.run_id, b.artifact_sha256, b.collected_at
FROM hop_ingress_backends b
WHERE b.other_backend IS NOT NULL
   OR NOT EXISTS (SELECT 1 FROM mesh_services m
                  WHERE m.cluster = b.cluster AND m.namespace = b.namespace AND m.service = b.service
                    AND (m.port = b.port OR m.port_name = b.port_name) AND m.encrypted)
UNION ALL
SELECT m.cluster, m.namespace, m.kind || '/' || m.workload, 'workload<->workload',
       CASE WHEN m.direction = 'outbound' THEN 'outbound: '
            ELSE 'port ' || coalesce(CAST(m.port AS VARCHAR), '(none declared)') || ' not encrypted: ' END
         || m.decided_by,
       w.location, m.source, m.run_id, m.artifact_sha256, m.collected_at
FROM mesh_ports m
JOIN regulated_namespaces n USING (cluster, namespace)
LEFT JOIN k8s_current w  -- the workload's manifest: where to look
  ON w.cluster = m.cluster AND w.kind = m.kind AND w.namespace = m.namespace AND w.name = m.workload
WHERE NOT m.encrypted
UNION ALL
SELECT n.cluster, n.namespace, 'Namespace/' || n.namespace, 'workload<->workload',
       'mesh enrollment of the workloads of regulated Namespace ' || n.namespace
         || ' was not analysed from the current inventory: run `defensible collect analysis`',
       n.location, n.source, n.run_id, n.artifact_sha256, n.collected_at
FROM regulated_namespaces n
JOIN mesh_unanalysed_clusters USING (cluster)
UNION ALL
-- Objects the mesh and BackendTLSPolicy analyses of an analysed cluster left out as malformed: a gap each.
SELECT cluster, namespace, object, 'analysis', finding, location, source, run_id, artifact_sha256, collected_at
FROM analysis_errors_current
WHERE analysis IN ('mesh', 'backend-tls')
