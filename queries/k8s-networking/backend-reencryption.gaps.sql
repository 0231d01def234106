-- Regulated backends of attached routes (mirrors included) that the gateway does not re-encrypt: no
-- BackendTLSPolicy for the port, no TLS passthrough, and the DestinationRule the gateway's proxy applies (istiod's
-- lookup: exportTo, host, workloadSelector) does not originate TLS on the port, or could not be judged.
SELECT b.cluster, b.namespace, coalesce('Service/' || b.service, b.backend) AS object, b.route_ref AS route,
       CASE WHEN b.service IS NULL THEN 'backend ' || b.backend || ' (' || b.via || ' of ' || b.route_ref
              || ') is not a Service: its re-encryption cannot be judged'
            ELSE 'backend Service ' || b.namespace || '/' || b.service || ' port '
              || coalesce(CAST(b.port AS VARCHAR), '?') || ' (' || b.via || ' of ' || b.route_ref
              || ' through Gateway ' || b.gateway_namespace || '/' || b.gateway || ') is not re-encrypted: '
              || b.why_not END AS finding,
       b.location, b.source, b.run_id, b.artifact_sha256, b.collected_at
FROM hop_backend_tls b
JOIN regulated_namespaces n USING (cluster, namespace)
WHERE b.covered_by IS NULL
UNION ALL
-- Regulated backends of Ingresses that the ingress controller does not re-encrypt: no annotation of the controller of
-- the Ingress's class asks for TLS to the backend (an Ingress without a known class or controller cannot show it).
SELECT b.cluster, b.namespace, coalesce('Service/' || b.service, b.route_ref), b.route_ref,
       CASE WHEN b.service IS NULL THEN b.why_not
            ELSE 'backend Service ' || b.namespace || '/' || b.service || ' port '
              || coalesce(CAST(b.port AS VARCHAR), b.port_name, '?') || ' (backend of ' || b.route_ref
              || ') is not re-encrypted: ' || b.why_not END,
       b.location, b.source, b.run_id, b.artifact_sha256, b.collected_at
FROM hop_ingress_backend_tls b
JOIN regulated_namespaces n USING (cluster, namespace)
WHERE b.covered_by IS NULL
UNION ALL
-- Objects the mesh and BackendTLSPolicy analyses of an analysed cluster left out as malformed: a gap each.
SELECT cluster, namespace, object, NULL, finding, location, source, run_id, artifact_sha256, collected_at
FROM analysis_errors_current
WHERE analysis IN ('mesh', 'backend-tls')
