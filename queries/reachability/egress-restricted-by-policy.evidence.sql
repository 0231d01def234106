-- Connections from workloads of regulated namespaces to external addresses inside the egress allowlist, and
-- regulated workloads that cannot connect outside the cluster at all.
SELECT cluster, src_namespace AS namespace, src_kind || '/' || src_workload AS object, src, external, conn, allowed_by,
       src || ' can connect to ' || external || ' (' || conn || '), inside the egress allowlist: ' || allowed_by
         AS detail,
       location, source, run_id, artifact_sha256, collected_at
FROM reach_regulated_egress
WHERE allowed_by IS NOT NULL
UNION ALL
SELECT w.cluster, w.namespace, w.kind || '/' || w.workload, w.id, NULL, NULL, NULL,
       w.id || ' cannot connect to any address outside the cluster',
       w.location, w.source, w.run_id, w.artifact_sha256, w.collected_at
FROM reach_regulated_workloads w
WHERE NOT EXISTS (SELECT 1 FROM reach_regulated_egress l WHERE l.cluster = w.cluster AND l.src = w.id)
  AND NOT EXISTS (SELECT 1 FROM reach_unmodelled u WHERE u.cluster = w.cluster AND u.src = w.id)
