-- Multi-cluster Services (MCS API, multicluster.x-k8s.io): ServiceExports and ServiceImports with their type and
-- status conditions. Compared across bundles by `diff`.
SELECT cluster, namespace, kind || '/' || name AS object, spec->>'type' AS type,
       (SELECT string_agg((c->>'type') || '=' || (c->>'status'), ', ' ORDER BY c->>'type')
        FROM (SELECT unnest(from_json(coalesce(status->'conditions', '[]'), '["JSON"]')) AS c)) AS conditions
FROM k8s_current
WHERE kind IN ('ServiceExport', 'ServiceImport')
