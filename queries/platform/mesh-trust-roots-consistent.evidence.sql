-- With Istio in more than one cluster: each cluster's root certificates and trust domain.
SELECT cluster, namespace, 'ConfigMap/' || name AS object,
       'Istio root certificate SHA-256 ' || coalesce(fingerprint, 'unreadable') || ', trust domain ' || trust_domain
         AS detail,
       location, source, run_id, artifact_sha256, collected_at
FROM platform_trust_roots
WHERE (SELECT multi FROM platform_multi_mesh)
