SELECT cluster, namespace, 'Namespace/' || namespace AS object,
       'mesh mTLS STRICT (decided by ' || decided_by || ')' AS detail,
       location, source, run_id, artifact_sha256, collected_at
FROM namespace_mtls
WHERE effective_mode = 'STRICT'
UNION ALL
SELECT cluster, namespace, 'Gateway/' || gateway || ' listener ' || listener,
       protocol || ' listener terminates TLS with ' || certificate_refs || ' certificate reference(s)',
       location, source, run_id, artifact_sha256, collected_at
FROM gateway_listeners
WHERE protocol IN ('HTTPS', 'TLS') AND tls_mode = 'Terminate' AND certificate_refs > 0
