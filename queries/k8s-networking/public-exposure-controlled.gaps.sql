SELECT cluster, namespace, 'Gateway/' || gateway || ' listener ' || listener AS object,
       'public listener admits routes from all namespaces (allowedRoutes.namespaces.from: All)' AS finding,
       location, source, run_id, artifact_sha256, collected_at
FROM gateway_listeners
WHERE public AND routes_from = 'All'
UNION ALL
SELECT cluster, from_namespace, from_kind || '/' || from_name AS object,
       ref || ' to ' || to_kind || ' ' || to_namespace || '/' || to_name
         || ' is not permitted by any ReferenceGrant in ' || to_namespace AS finding,
       location, source, run_id, artifact_sha256, collected_at
FROM cross_namespace_refs_granted
WHERE granted_by IS NULL
