SELECT cluster, namespace, 'Gateway/' || gateway || ' listener ' || listener AS object,
       'public listener admits routes from ' || routes_from || ' namespaces only' AS detail,
       location, source, run_id, artifact_sha256, collected_at
FROM gateway_listeners
WHERE public AND routes_from <> 'All'
UNION ALL
SELECT cluster, from_namespace, from_kind || '/' || from_name,
       ref || ' to ' || to_kind || ' ' || to_namespace || '/' || to_name
         || ' permitted by ReferenceGrant ' || to_namespace || '/' || granted_by,
       location, source, run_id, artifact_sha256, collected_at
FROM cross_namespace_refs_granted
WHERE granted_by IS NOT NULL
