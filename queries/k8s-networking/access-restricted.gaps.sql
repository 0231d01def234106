-- Regulated namespaces without a default-deny ingress policy; connections into regulated workloads from sources
-- outside the regulated scope that are not declared callers, naming the objects that open them; pairs into
-- regulated workloads that the analysis does not model (Cilium and Calico L7 rules, DNS names, ...); regulated
-- workloads outside NetworkPolicy (hostNetwork, hostPort); descoped namespaces; invalid caller declarations; and
-- regulated namespaces whose cluster has no reachability analysis of its current inventory.
SELECT n.cluster, n.namespace, 'Namespace/' || n.namespace AS object,
       'regulated namespace has no default-deny ingress NetworkPolicy' AS finding,
       n.location, n.source, n.run_id, n.artifact_sha256, n.collected_at
FROM regulated_namespaces n
WHERE NOT EXISTS (
    SELECT 1 FROM default_deny_policies p
    WHERE p.cluster = n.cluster AND p.namespace = n.namespace AND p.denies_ingress)
UNION ALL
SELECT cluster, dst_namespace, dst_kind || '/' || dst_workload,
       src || ' can connect to ' || dst || ' (' || conn || ') but is outside the regulated scope and not a declared '
         || 'caller (' || CASE WHEN declared_in IS NULL
                              THEN 'no defensible.io/allowed-callers on the workload or its namespace'
                              ELSE 'defensible.io/allowed-callers of ' || declared_in || ' is "' || declared || '"' END
         || '); admitted by ' || coalesce(admitted_by, '(unknown: analysis without attribution)'),
       location, source, run_id, artifact_sha256, collected_at
FROM access_ingress
WHERE allowed_by IS NULL
UNION ALL
SELECT cluster, namespace, policy_kind || '/' || policy_name,
       coalesce(src, 'every source') || ' => ' || id || ': not modelled by the reachability analysis (' || policy
         || ': ' || why || '), so its connections are neither proven allowed nor denied',
       location, source, run_id, artifact_sha256, collected_at
FROM access_unmodelled
UNION ALL
SELECT cluster, namespace, kind || '/' || workload,
       CASE WHEN host_network
            THEN kind || ' ' || namespace || '/' || workload || ' runs with hostNetwork: its pods use the node''s '
                 || 'network namespace, which NetworkPolicy does not isolate'
            ELSE kind || ' ' || namespace || '/' || workload || ' publishes hostPort ' || host_ports
                 || ' on the node''s addresses, a path outside NetworkPolicy' END,
       location, source, run_id, artifact_sha256, collected_at
FROM access_workloads
WHERE host_network OR host_ports IS NOT NULL
UNION ALL
SELECT cluster, namespace, 'Namespace/' || namespace,
       'descoped: namespace ' || namespace || ' was regulated (' || regulated_by || ') and is not now',
       location, source, run_id, artifact_sha256, collected_at
FROM regulated_scope
WHERE status = 'descoped'
UNION ALL
SELECT w.cluster, w.namespace, w.kind || '/' || w.workload,
       'defensible.io/allowed-callers of ' || w.declared_in || ': "' || p.pattern
         || '" is not a pattern (ns/name, ns/* or an IPv4 CIDR)',
       w.location, w.source, w.run_id, w.artifact_sha256, w.collected_at
FROM access_caller_patterns p
JOIN access_workloads w USING (cluster, id)
WHERE p.pattern_kind = 'invalid'
UNION ALL
SELECT cluster, namespace, object, finding, location, source, run_id, artifact_sha256, collected_at
FROM access_unanalysed
