-- Clusters where no CNI DaemonSet is identified, or none of those identified is known to enforce NetworkPolicy and
-- run ready on every Node; each such CNI DaemonSet says why.
SELECT c.cluster, NULL AS namespace, 'cluster ' || c.cluster AS object,
       'no CNI identified: no DaemonSet cilium, calico-node, canal, aws-node, kube-flannel-ds, weave-net or '
         || 'antrea-agent collected, NetworkPolicy enforcement unknown' AS finding,
       c.location, c.source, c.run_id, c.artifact_sha256, c.collected_at
FROM platform_clusters c
WHERE NOT EXISTS (SELECT 1 FROM platform_cni n WHERE n.cluster = c.cluster)
UNION ALL
SELECT n.cluster, n.namespace, 'DaemonSet/' || n.name,
       n.cni || ' ' || CASE WHEN n.enforces IS NULL THEN 'NetworkPolicy enforcement not determined'
                             WHEN NOT n.enforces THEN 'does not enforce NetworkPolicy'
                             ELSE 'enforces NetworkPolicy but is not ready on every Node' END
         || ' (' || n.basis || '; ready ' || coalesce(n.ready::VARCHAR, '?') || ' of '
         || coalesce(n.desired::VARCHAR, '?') || ' scheduled, ' || coalesce(n.updated || ' updated, ', '')
         || n.nodes || ' Node(s))'
         || ' and no other CNI of the cluster enforces it',
       n.location, n.source, n.run_id, n.artifact_sha256, n.collected_at
FROM platform_cni_running n
WHERE NOT EXISTS (SELECT 1 FROM platform_cni_running e WHERE e.cluster = n.cluster AND e.enforces AND e.running)
