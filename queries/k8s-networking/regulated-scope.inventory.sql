-- The regulated scope: each namespace in it and why (the label, the regulated_namespace_names parameter), the
-- namespaces descoped since an earlier collection, and listed names no cluster holds.
SELECT cluster, namespace, status, regulated_by
FROM regulated_scope
ORDER BY cluster NULLS LAST, namespace
