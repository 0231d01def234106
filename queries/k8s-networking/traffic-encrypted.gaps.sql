SELECT cluster, namespace, 'Namespace/' || namespace AS object,
       'mesh mTLS is ' || effective_mode || ', not STRICT (decided by ' || decided_by || ')' AS finding,
       location, source, run_id, artifact_sha256, collected_at
FROM namespace_mtls
WHERE effective_mode <> 'STRICT'
UNION ALL
SELECT p.cluster, p.namespace, 'PeerAuthentication/' || p.name,
       CASE WHEN p.mode NOT IN ('STRICT', 'UNSET') THEN 'workload override weakens mTLS to ' || p.mode
            ELSE 'port-level override weakens mTLS' END,
       p.location, p.source, p.run_id, p.artifact_sha256, p.collected_at
FROM peer_authentications p
JOIN regulated_namespaces n USING (cluster, namespace)
WHERE (p.workload_scoped AND p.mode NOT IN ('STRICT', 'UNSET'))
   OR EXISTS (SELECT 1 FROM json_each(p.port_level) pl
              WHERE coalesce(pl.value->>'mode', 'UNSET') NOT IN ('STRICT', 'UNSET'))
UNION ALL
SELECT cluster, namespace, 'Gateway/' || gateway || ' listener ' || listener,
       protocol || ' listener terminates TLS without certificateRefs',
       location, source, run_id, artifact_sha256, collected_at
FROM gateway_listeners
WHERE protocol IN ('HTTPS', 'TLS') AND tls_mode = 'Terminate' AND certificate_refs = 0
