-- Connections into workloads of regulated namespaces from declared callers, and regulated workloads that
-- nothing can connect to.
SELECT cluster, dst_namespace AS namespace, dst_kind || '/' || dst_workload AS object, src, dst, src_namespace, conn,
       declared_in,
       src || ' can connect to ' || dst || ' (' || conn || '), declared by "' || allowed_by
         || '" in defensible.io/allowed-callers of ' || declared_in AS detail,
       location, source, run_id, artifact_sha256, collected_at
FROM reach_regulated_ingress
WHERE allowed_by IS NOT NULL
UNION ALL
SELECT w.cluster, w.namespace, w.kind || '/' || w.workload, NULL, w.id, NULL, NULL, w.declared_in,
       'no workload or external address can connect to ' || w.id,
       w.location, w.source, w.run_id, w.artifact_sha256, w.collected_at
FROM reach_regulated_workloads w
WHERE NOT EXISTS (SELECT 1 FROM reach_regulated_ingress l WHERE l.cluster = w.cluster AND l.dst = w.id)
  AND NOT EXISTS (SELECT 1 FROM reach_unmodelled u WHERE u.cluster = w.cluster AND (u.dst = w.id OR u.dst IS NULL))
