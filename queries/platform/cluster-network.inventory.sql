-- Per cluster: its pod and service ranges as counted, its CNIs and whether each enforces NetworkPolicy, kube-proxy's
-- mode or Cilium's replacement of it, its DNS servers and NodeLocal DNSCache. Compared across bundles by `diff`.
SELECT c.cluster,
       (SELECT string_agg(DISTINCT r.cidr, ', ' ORDER BY r.cidr) FROM platform_ranges r
        WHERE r.cluster = c.cluster AND r.role = 'pod' AND r.origin <> 'Node spec.podCIDRs') AS pod_ranges,
       (SELECT count(*) FROM platform_ranges r WHERE r.cluster = c.cluster AND r.origin = 'Node spec.podCIDRs')
         AS node_pod_cidrs,
       (SELECT string_agg(DISTINCT r.cidr, ', ' ORDER BY r.cidr) FROM platform_ranges r
        WHERE r.cluster = c.cluster AND r.role = 'service') AS service_ranges,
       (SELECT string_agg(n.cni || ' (' || n.namespace || '/' || n.name || ', enforces NetworkPolicy: '
                          || coalesce(n.enforces::VARCHAR, 'unknown') || ')', '; ' ORDER BY n.name)
        FROM platform_cni n WHERE n.cluster = c.cluster) AS cni,
       (SELECT mode FROM platform_proxy_mode m WHERE m.cluster = c.cluster) AS proxy_mode,
       (SELECT string_agg(d.name || ' ' || d.replicas || ' replicas', '; ' ORDER BY d.name) FROM platform_dns d
        WHERE d.cluster = c.cluster) AS dns,
       c.cluster IN (SELECT cluster FROM platform_nodelocal_dns) AS nodelocal_dns
FROM platform_clusters c
