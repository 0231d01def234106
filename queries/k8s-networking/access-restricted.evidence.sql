-- Regulated namespaces that deny ingress by default, and the connections the current reachability analysis allows
-- into their workloads, each from a source the claim admits (the regulated scope or a declared caller).
SELECT p.cluster, p.namespace, 'NetworkPolicy/' || p.policy AS object,
       'default deny of ingress' || CASE WHEN p.denies_egress THEN ' and egress' ELSE '' END
         || ' for all pods of regulated namespace ' || p.namespace AS detail,
       p.location, p.source, p.run_id, p.artifact_sha256, p.collected_at
FROM default_deny_policies p
JOIN regulated_namespaces n USING (cluster, namespace)
WHERE p.denies_ingress
UNION ALL
SELECT cluster, dst_namespace, dst_kind || '/' || dst_workload,
       src || ' can connect to ' || dst || ' (' || conn || '), admitted by ' || coalesce(admitted_by, '(unknown)')
         || ': allowed as ' || allowed_by,
       location, source, run_id, artifact_sha256, collected_at
FROM access_ingress
WHERE allowed_by IS NOT NULL
UNION ALL
SELECT cluster, namespace, kind || '/' || workload,
       'no workload or external address can connect to ' || id,
       location, source, run_id, artifact_sha256, collected_at
FROM access_workloads w
WHERE NOT EXISTS (SELECT 1 FROM access_ingress i WHERE i.cluster = w.cluster AND i.dst = w.id)
