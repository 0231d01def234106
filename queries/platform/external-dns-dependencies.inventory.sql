-- Names resolved outside the cluster's Services: ExternalName Services and Istio ServiceEntries (hosts, location
-- MESH_EXTERNAL or MESH_INTERNAL, resolution). Compared across bundles by `diff`.
SELECT cluster, namespace, 'Service/' || name AS object, spec->>'externalName' AS hosts, 'ExternalName' AS location,
       NULL AS resolution
FROM k8s_current
WHERE kind = 'Service' AND (spec->>'type') = 'ExternalName'
UNION ALL
SELECT cluster, namespace, 'ServiceEntry/' || name,
       array_to_string(from_json(coalesce(spec->'hosts', '[]'), '["VARCHAR"]'), ', '),
       coalesce(spec->>'location', 'MESH_EXTERNAL'), coalesce(spec->>'resolution', 'NONE')
FROM k8s_current
WHERE kind = 'ServiceEntry'
