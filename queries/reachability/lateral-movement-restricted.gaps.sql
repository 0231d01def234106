-- Connections into workloads of regulated namespaces from sources that are not declared callers, what the analysis
-- does not model on pairs into them (L7 rules, DNS names, ... of Cilium and Calico policies; admin network policy
-- Allow or Pass rules whose peers' addresses are unknown; admin network policies whose verdict a Cilium or Calico
-- plan contradicts, their order being unknown), connections from declared external ranges that overlap the
-- cluster's own addresses (reach_cluster_ranges), invalid patterns in declarations, and regulated
-- namespaces of clusters without an up-to-date analysis.
SELECT cluster, dst_namespace AS namespace, dst_kind || '/' || dst_workload AS object, src, dst, src_namespace, conn,
       declared_in,
       src || ' can connect to ' || dst || ' (' || conn || ') but is not a declared caller: '
         || CASE WHEN declared_in IS NULL
                 THEN 'no defensible.io/allowed-callers annotation on the workload or its namespace'
                 ELSE 'defensible.io/allowed-callers of ' || declared_in || ' is "' || declared || '"' END
         || coalesce('; opened by: ' || admitted_by, '') AS finding,
       location, source, run_id, artifact_sha256, collected_at
FROM reach_regulated_ingress
WHERE allowed_by IS NULL
UNION ALL
SELECT cluster, dst_namespace, dst_kind || '/' || dst_workload, src, dst, NULL, conn, declared_in,
       src || ' can connect to ' || dst || ' (' || conn || '), declared by "' || allowed_by || '", but the range holds '
         || held || ': whether an ipBlock matches the cluster''s own pods is up to the network plugin, so undeclared '
         || 'workloads may connect through it' || coalesce('; opened by: ' || admitted_by, ''),
       location, source, run_id, artifact_sha256, collected_at
FROM (
    SELECT i.*,
           (SELECT string_agg(r.cidr || ' (' || r.origin || ')', ', ' ORDER BY r.cidr, r.origin)
            FROM reach_cluster_ranges r
            WHERE r.cluster = i.cluster AND reach_interval_first(i.external) <= r.last_int
              AND reach_interval_last(i.external) >= r.first_int) AS held
    FROM reach_regulated_ingress i
    WHERE i.external IS NOT NULL AND i.allowed_by IS NOT NULL
)
WHERE held IS NOT NULL
UNION ALL
SELECT w.cluster, w.namespace, u.policy_kind || '/' || u.policy_name, u.src, w.id, NULL, NULL, w.declared_in,
       coalesce(u.src, 'every source') || ' => ' || w.id || ': not modelled by the reachability analysis ('
         || u.policy || ': ' || u.why || '), so its connections are neither proven allowed nor denied',
       coalesce(u.policy_location, w.location), u.source, u.run_id, u.artifact_sha256, u.collected_at
FROM reach_unmodelled u
JOIN reach_regulated_workloads w ON w.cluster = u.cluster AND (u.dst = w.id OR u.dst IS NULL)
UNION ALL
SELECT cluster, namespace, kind || '/' || workload, NULL, id, NULL, NULL, declared_in,
       'defensible.io/allowed-callers of ' || declared_in || ': "' || pattern
         || '" is not a pattern (ns/name, ns/* or an IPv4 CIDR)',
       location, source, run_id, artifact_sha256, collected_at
FROM reach_caller_patterns
WHERE pattern_kind = 'invalid'
UNION ALL
SELECT cluster, namespace, object, NULL, NULL, NULL, NULL, NULL, finding,
       location, source, run_id, artifact_sha256, collected_at
FROM reach_unanalysed
