-- Connections from workloads of regulated namespaces to external addresses outside the egress allowlist, what the
-- analysis does not model on pairs from them to outside the cluster (DNS names, L7 rules, ... of Cilium and Calico
-- policies; admin network policy Allow or Pass rules to nodes or domainNames), and regulated namespaces of clusters
-- without an up-to-date analysis.
SELECT cluster, src_namespace AS namespace, src_kind || '/' || src_workload AS object, src, external, conn,
       src || ' can connect to ' || external || ' (' || conn || '), outside the egress allowlist'
         || CASE WHEN contains(external, ':') THEN ' (an IPv6 range: the allowlist holds IPv4 CIDRs only)' ELSE '' END
         || coalesce('; opened by: ' || admitted_by, '') AS finding,
       location, source, run_id, artifact_sha256, collected_at
FROM reach_regulated_egress
WHERE allowed_by IS NULL
UNION ALL
SELECT w.cluster, w.namespace, u.policy_kind || '/' || u.policy_name, w.id, u.dst, NULL,
       w.id || ' => ' || coalesce(u.dst, 'every destination') || ': not modelled by the reachability analysis ('
         || u.policy || ': ' || u.why || '), so its connections are neither proven allowed nor denied',
       coalesce(u.policy_location, w.location), u.source, u.run_id, u.artifact_sha256, u.collected_at
FROM reach_unmodelled u
JOIN reach_regulated_workloads w ON w.cluster = u.cluster AND (u.src = w.id OR (u.src IS NULL AND u.dst IS NULL))
WHERE u.dst IS NULL OR u.dst NOT LIKE '%[%]%'
UNION ALL
SELECT cluster, namespace, object, NULL, NULL, NULL, finding, location, source, run_id, artifact_sha256, collected_at
FROM reach_unanalysed
