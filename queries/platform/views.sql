-- Helper views of the platform pack: the cluster's address ranges, its CNI and kube-proxy mode, its DNS servers
-- and the Istio trust roots, read from the kubernetes inventory (k8s_current).
-- Note: DuckDB's -> and ->> bind looser than comparisons; parenthesise them in predicates.

-- Address ranges as bit strings: a CIDR becomes the first prefix-length bits of its address ('0'/'1' text), so two
-- ranges of one family overlap exactly when one's bits start with the other's. NULL when the text is not a CIDR.
CREATE OR REPLACE TEMP MACRO platform_v4_bits(addr) AS CASE
  WHEN regexp_full_match(addr, '\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}')
   AND list_max(list_transform(string_split(addr, '.'), lambda o: o::INTEGER)) <= 255
  THEN array_to_string(list_transform(string_split(addr, '.'), lambda o: lpad(bin(o::INTEGER), 8, '0')), '') END;
CREATE OR REPLACE TEMP MACRO platform_v6_groups(addr) AS CASE
  WHEN NOT contains(addr, '::') THEN string_split(addr, ':')
  WHEN length(addr) - length(replace(addr, '::', '')) = 2 THEN list_concat(
    list_filter(string_split(split_part(addr, '::', 1), ':'), lambda g: g <> ''),
    list_transform(range(8 - len(list_filter(string_split(addr, ':'), lambda g: g <> ''))), lambda x: '0'),
    list_filter(string_split(split_part(addr, '::', 2), ':'), lambda g: g <> '')) END;
CREATE OR REPLACE TEMP MACRO platform_v6_bits(groups) AS CASE
  WHEN len(groups) = 8 AND len(list_filter(groups, lambda g: regexp_full_match(g, '[0-9A-Fa-f]{1,4}'))) = 8
  THEN array_to_string(list_transform(groups, lambda g: lpad(bin(('0x' || g)::INTEGER), 16, '0')), '') END;
CREATE OR REPLACE TEMP MACRO platform_address_bits(addr) AS
  CASE WHEN contains(addr, '.') THEN platform_v4_bits(addr) ELSE platform_v6_bits(platform_v6_groups(addr)) END;
CREATE OR REPLACE TEMP MACRO platform_cidr_bits(cidr) AS CASE
  WHEN regexp_full_match(cidr, '[^/]+/\d{1,3}')
   AND split_part(cidr, '/', 2)::INTEGER <= length(platform_address_bits(split_part(cidr, '/', 1)))
  THEN left(platform_address_bits(split_part(cidr, '/', 1)), split_part(cidr, '/', 2)::INTEGER) END;

-- A resource quantity that is set and not zero ("0", "0m", "0.0Gi" and "" request nothing), else NULL.
CREATE OR REPLACE TEMP MACRO platform_nonzero_quantity(q) AS CASE
  WHEN NOT regexp_full_match(trim(q), '\+?0*\.?0*([eE][+-]?[0-9]+)?[A-Za-z]*') THEN q END;

-- The clusters judged: every cluster whose Nodes were listed.
CREATE VIEW platform_clusters AS
SELECT cluster, location, source, run_id, artifact_sha256, collected_at
FROM k8s_inventory_current
WHERE kind = 'Node' AND status = 'collected';

-- Whether more than one cluster was collected (the multi-cluster claims judge nothing otherwise).
CREATE VIEW platform_multi_cluster AS
SELECT count(*) > 1 AS multi FROM platform_clusters;

-- Containers of Pods (static Pods of kube-system included) and of DaemonSet and Deployment pod templates.
CREATE VIEW platform_containers AS
SELECT cluster, kind, namespace, name, c->>'name' AS container,
       list_concat(coalesce(from_json(c->'command', '["VARCHAR"]'), []),
                   coalesce(from_json(c->'args', '["VARCHAR"]'), [])) AS words,
       c->'resources' AS resources, location, source, run_id, artifact_sha256, collected_at
FROM (SELECT *, unnest(from_json(coalesce(CASE WHEN kind = 'Pod' THEN spec->'containers'
                                               ELSE spec->'template'->'spec'->'containers' END, '[]'), '["JSON"]')) AS c
      FROM k8s_current
      WHERE kind IN ('Pod', 'DaemonSet', 'Deployment'));

-- The CNI DaemonSets, by the names their upstream manifests and charts give them, with whether each enforces
-- NetworkPolicy: yes, no, or NULL (undetermined). Cilium enforces unless the cilium-config of its own namespace says
-- enable-policy never, in any case, or policy-audit-mode true (it then only logs what policy would drop;
-- undetermined without that ConfigMap collected); Calico (calico-node, canal) and
-- Antrea always; the AWS VPC CNI only when the last --enable-network-policy of a container of its node agent is true
-- (Go flags: the last one given wins; a bare flag, 1, t, T, true, True, TRUE); Weave Net with its weave-npc
-- container; flannel never.
CREATE VIEW platform_cni AS
WITH ds AS (
    SELECT d.*,
           CASE WHEN d.name = 'cilium' THEN 'Cilium'
                WHEN d.name IN ('calico-node', 'canal') THEN 'Calico'
                WHEN d.name = 'aws-node' THEN 'AWS VPC CNI'
                WHEN d.name IN ('kube-flannel-ds', 'kube-flannel') THEN 'flannel'
                WHEN d.name = 'weave-net' THEN 'Weave Net'
                WHEN d.name = 'antrea-agent' THEN 'Antrea' END AS cni,
           EXISTS (SELECT 1 FROM platform_containers c
                   WHERE c.cluster = d.cluster AND c.kind = 'DaemonSet' AND c.namespace = d.namespace
                     AND c.name = d.name
                     AND list_last(list_filter(c.words, lambda w: w = '--enable-network-policy'
                                                                  OR starts_with(w, '--enable-network-policy=')))
                         IN ('--enable-network-policy', '--enable-network-policy=1', '--enable-network-policy=t',
                             '--enable-network-policy=T', '--enable-network-policy=true',
                             '--enable-network-policy=True', '--enable-network-policy=TRUE')) AS policy_agent,
           EXISTS (SELECT 1 FROM platform_containers c
                   WHERE c.cluster = d.cluster AND c.kind = 'DaemonSet' AND c.namespace = d.namespace
                     AND c.name = d.name AND c.container = 'weave-npc') AS weave_npc
    FROM k8s_current d
    WHERE d.kind = 'DaemonSet'
)
SELECT ds.cluster, ds.namespace, ds.name, ds.cni,
       CASE ds.cni
           WHEN 'Cilium' THEN CASE WHEN cfg.name IS NOT NULL
                                   THEN lower(trim(coalesce(cfg.data->>'enable-policy', 'default'))) <> 'never'
                                        AND lower(trim(coalesce(cfg.data->>'policy-audit-mode', 'false')))
                                            NOT IN ('true', '1', 't') END
           WHEN 'AWS VPC CNI' THEN ds.policy_agent
           WHEN 'Weave Net' THEN ds.weave_npc
           WHEN 'flannel' THEN false
           ELSE true END AS enforces,
       CASE ds.cni
           WHEN 'Cilium' THEN CASE WHEN cfg.name IS NULL
                                   THEN 'no cilium-config ConfigMap in ' || ds.namespace || ' collected'
                                   ELSE 'cilium-config enable-policy: '
                                        || coalesce(cfg.data->>'enable-policy', 'default (unset)')
                                        || coalesce(', policy-audit-mode: ' || (cfg.data->>'policy-audit-mode'), '')
                                        END
           WHEN 'AWS VPC CNI' THEN 'node agent --enable-network-policy=true '
                                   || CASE WHEN ds.policy_agent THEN 'set' ELSE 'not set' END
           WHEN 'Weave Net' THEN CASE WHEN ds.weave_npc THEN 'weave-npc container present'
                                      ELSE 'no weave-npc container' END
           WHEN 'flannel' THEN 'flannel does not implement NetworkPolicy'
           ELSE ds.cni || ' implements NetworkPolicy' END AS basis,
       TRY_CAST(ds.status->>'desiredNumberScheduled' AS INTEGER) AS desired,
       TRY_CAST(ds.status->>'numberReady' AS INTEGER) AS ready,
       TRY_CAST(ds.status->>'updatedNumberScheduled' AS INTEGER) AS updated,
       (SELECT count(*) FROM k8s_current n WHERE n.cluster = ds.cluster AND n.kind = 'Node') AS nodes,
       ds.location, ds.source, ds.run_id, ds.artifact_sha256, ds.collected_at
FROM ds
LEFT JOIN k8s_current cfg
  ON cfg.cluster = ds.cluster AND cfg.kind = 'PlatformConfigMap' AND cfg.namespace = ds.namespace
     AND cfg.name = 'cilium-config'
WHERE ds.cni IS NOT NULL;

-- Whether a CNI DaemonSet runs ready on every Node (desired = ready >= the Nodes listed), its Pods on the current
-- template (status.updatedNumberScheduled, when recorded, reaching desired: a rollout not done still runs the old
-- spec, whose enforcement the collected spec does not tell).
CREATE VIEW platform_cni_running AS
SELECT *, coalesce(desired > 0 AND ready >= desired AND desired >= nodes AND coalesce(updated, desired) >= desired,
                   false) AS running
FROM platform_cni;

-- kube-proxy's mode (kube-proxy ConfigMap config.conf; empty: the platform default, iptables on Linux) and
-- Cilium's kube-proxy replacement, per cluster.
CREATE VIEW platform_proxy_mode AS
SELECT c.cluster,
       string_agg(CASE WHEN m.name = 'kube-proxy'
                       THEN 'kube-proxy mode ' || coalesce(nullif(regexp_extract(m.data->>'config.conf',
                                                     '(?m)^mode:[ \t]*"?([A-Za-z]*)', 1), ''), 'iptables (default)')
                       ELSE 'Cilium kube-proxy-replacement ' || coalesce(m.data->>'kube-proxy-replacement', 'unset') END,
                  '; ' ORDER BY m.name) AS mode
FROM platform_clusters c
JOIN k8s_current m
  ON m.cluster = c.cluster AND m.kind = 'PlatformConfigMap' AND m.namespace = 'kube-system'
     AND m.name IN ('kube-proxy', 'cilium-config')
GROUP BY c.cluster;

-- Where a cluster's pod addresses come from, which must be recorded for its pod ranges to count as determined:
-- Cilium's IPAM (read from the cilium-config of its namespace; cluster-pool: the pool in cilium-config; kubernetes: the Nodes' podCIDRs; chained on another CNI
-- or any other mode: undetermined), the AWS VPC CNI without Cilium (VPC subnets: undetermined), Calico IPAM (its
-- enabled IPPools, when any is collected), Weave Net (its own range: undetermined), else the Nodes' podCIDRs with
-- the --cluster-cidr flags and kube-proxy's clusterCIDR.
CREATE VIEW platform_pod_authority AS
SELECT c.cluster,
       CASE WHEN cil.cluster IS NOT NULL AND coalesce(cil.chaining, 'none') <> 'none'
                THEN 'undetermined: Cilium is chained on ' || cil.chaining || ', whose IPAM is not in the inventory'
            WHEN cil.cluster IS NOT NULL AND NOT cil.configured
                THEN 'undetermined: Cilium runs without a collected cilium-config'
            WHEN cil.cluster IS NOT NULL AND coalesce(cil.ipam, 'cluster-pool') = 'cluster-pool' THEN 'cilium-pool'
            WHEN cil.cluster IS NOT NULL AND cil.ipam = 'kubernetes' THEN 'nodes'
            WHEN cil.cluster IS NOT NULL THEN 'undetermined: Cilium IPAM mode ' || cil.ipam
            WHEN EXISTS (SELECT 1 FROM platform_cni n WHERE n.cluster = c.cluster AND n.cni = 'AWS VPC CNI')
                THEN 'undetermined: the AWS VPC CNI gives pods VPC subnet addresses (not in the inventory)'
            WHEN EXISTS (SELECT 1 FROM platform_cni n WHERE n.cluster = c.cluster AND n.name = 'calico-node')
                 AND EXISTS (SELECT 1 FROM k8s_current p WHERE p.cluster = c.cluster AND p.kind LIKE 'IPPool%')
                THEN 'calico-ippools'
            WHEN EXISTS (SELECT 1 FROM platform_cni n WHERE n.cluster = c.cluster AND n.cni = 'Weave Net')
                THEN 'undetermined: Weave Net allocates pod addresses from its own range (not in the inventory)'
            ELSE 'nodes' END AS authority
FROM platform_clusters c
LEFT JOIN (SELECT DISTINCT n.cluster, m.name IS NOT NULL AS configured, m.data->>'ipam' AS ipam,
                           m.data->>'cni-chaining-mode' AS chaining
           FROM platform_cni n
           LEFT JOIN k8s_current m
             ON m.cluster = n.cluster AND m.kind = 'PlatformConfigMap' AND m.namespace = n.namespace
                AND m.name = 'cilium-config'
           WHERE n.cni = 'Cilium') cil ON cil.cluster = c.cluster;

-- Every address range recorded per cluster: role pod or service, the CIDR as written, its family and bits (NULL:
-- not a CIDR), and the object and field it comes from.
CREATE VIEW platform_ranges_recorded AS
WITH flags AS (  -- an option given as two words (--cluster-cidr 10.0.0.0/8) read as --cluster-cidr=10.0.0.0/8
    SELECT cluster, namespace, 'Pod/' || name AS object, container,
           unnest(list_filter(list_transform(range(1, len(words) + 1), lambda i: CASE
                      WHEN words[i] IN ('--service-cluster-ip-range', '--cluster-cidr')
                      THEN words[i] || '=' || CASE WHEN i < len(words) AND NOT starts_with(words[i + 1], '--')
                                                   THEN words[i + 1] ELSE '(no value kept)' END
                      ELSE words[i] END),
                  lambda w: starts_with(w, '--service-cluster-ip-range=') OR starts_with(w, '--cluster-cidr='))) AS word,
           location, source, run_id, artifact_sha256, collected_at
    FROM platform_containers
    WHERE kind = 'Pod' AND namespace = 'kube-system'
),
raw AS (
    SELECT cluster, 'pod' AS role, NULL AS namespace, 'Node/' || name AS object, 'Node spec.podCIDRs' AS origin,
           unnest(coalesce(from_json(spec->'podCIDRs', '["VARCHAR"]'), [spec->>'podCIDR'])) AS cidr,
           location, source, run_id, artifact_sha256, collected_at
    FROM k8s_current WHERE kind = 'Node'
    UNION ALL
    SELECT cluster, 'pod', NULL, kind || '/' || name,
           kind || ' spec.cidr' || CASE WHEN (spec->>'disabled') = 'true' THEN ' (disabled)' ELSE '' END, spec->>'cidr',
           location, source, run_id, artifact_sha256, collected_at
    FROM k8s_current WHERE kind LIKE 'IPPool%'
    UNION ALL
    SELECT cluster, 'service', NULL, 'ServiceCIDR/' || name, 'ServiceCIDR spec.cidrs',
           unnest(from_json(spec->'cidrs', '["VARCHAR"]')), location, source, run_id, artifact_sha256, collected_at
    FROM k8s_current WHERE kind = 'ServiceCIDR'
    UNION ALL
    SELECT cluster, CASE WHEN starts_with(word, '--cluster-cidr=') THEN 'pod' ELSE 'service' END, namespace, object,
           split_part(word, '=', 1) || ' of container ' || container,
           unnest(string_split(split_part(word, '=', 2), ',')), location, source, run_id, artifact_sha256, collected_at
    FROM flags
    UNION ALL
    SELECT cluster, 'pod', namespace, 'ConfigMap/' || name, 'kube-proxy config.conf clusterCIDR',
           unnest(string_split(regexp_extract(data->>'config.conf', '(?m)^clusterCIDR:[ \t]*"?([0-9A-Fa-f.:/,]+)', 1), ',')),
           location, source, run_id, artifact_sha256, collected_at
    FROM k8s_current WHERE kind = 'PlatformConfigMap' AND namespace = 'kube-system' AND name = 'kube-proxy'
    UNION ALL
    SELECT cluster, 'pod', namespace, 'ConfigMap/' || name, 'cilium-config ' || k,
           unnest(regexp_split_to_array(trim(data->>k), '[\s,]+')), location, source, run_id, artifact_sha256,
           collected_at
    FROM k8s_current, (VALUES ('cluster-pool-ipv4-cidr'), ('cluster-pool-ipv6-cidr')) AS keys(k)
    WHERE kind = 'PlatformConfigMap' AND namespace = 'kube-system' AND name = 'cilium-config'
      AND trim(coalesce(data->>k, '')) <> ''
)
SELECT cluster, role, namespace, object, origin, trim(cidr) AS cidr,
       CASE WHEN contains(cidr, ':') THEN 'IPv6' ELSE 'IPv4' END AS family, platform_cidr_bits(trim(cidr)) AS bits,
       location, source, run_id, artifact_sha256, collected_at
FROM raw
WHERE nullif(trim(cidr), '') IS NOT NULL;

-- The ranges compared: every range recorded (a source the CNI does not use only adds ranges, never hides an
-- overlap), with whether it comes from the cluster's pod address authority.
CREATE VIEW platform_ranges AS
SELECT r.*,
       r.role = 'service'
       OR (a.authority = 'nodes' AND (r.origin IN ('Node spec.podCIDRs', 'kube-proxy config.conf clusterCIDR')
                                      OR starts_with(r.origin, '--cluster-cidr')))
       OR (a.authority = 'cilium-pool' AND starts_with(r.origin, 'cilium-config'))
       OR (a.authority = 'calico-ippools' AND r.origin LIKE 'IPPool% spec.cidr') AS authoritative
FROM platform_ranges_recorded r
JOIN platform_pod_authority a USING (cluster);

-- Pairs of overlapping ranges: of two clusters (any roles), or a pod and a service range of one cluster.
CREATE VIEW platform_overlaps AS
SELECT a.cluster, a.role, a.cidr, a.object, a.origin, b.cluster AS other_cluster, b.role AS other_role,
       b.cidr AS other_cidr, b.object AS other_object, b.origin AS other_origin,
       a.location, a.source, a.run_id, a.artifact_sha256, a.collected_at
FROM platform_ranges a
JOIN platform_ranges b
  ON a.family = b.family AND (starts_with(a.bits, b.bits) OR starts_with(b.bits, a.bits))
 AND (a.cluster < b.cluster OR (a.cluster = b.cluster AND a.role = 'pod' AND b.role = 'service'));

-- What is missing to judge a cluster's ranges: pod or service ranges not determined, a range that is no CIDR.
CREATE VIEW platform_range_gaps AS
SELECT c.cluster, NULL AS namespace, 'cluster ' || c.cluster AS object,
       'pod address ranges not determined: '
         || CASE WHEN starts_with(a.authority, 'undetermined: ') THEN substr(a.authority, 15)
                 ELSE 'no ' || CASE a.authority WHEN 'cilium-pool' THEN 'cluster-pool CIDR in cilium-config'
                                                WHEN 'calico-ippools' THEN 'enabled Calico IPPool'
                                                ELSE 'Node spec.podCIDRs, --cluster-cidr flag nor kube-proxy clusterCIDR' END
                         || ' collected' END AS finding,
       c.location, c.source, c.run_id, c.artifact_sha256, c.collected_at
FROM platform_clusters c JOIN platform_pod_authority a USING (cluster)
WHERE starts_with(a.authority, 'undetermined: ')
   OR NOT EXISTS (SELECT 1 FROM platform_ranges r WHERE r.cluster = c.cluster AND r.role = 'pod' AND r.authoritative)
UNION ALL
SELECT c.cluster, NULL, 'cluster ' || c.cluster,
       'service address ranges not determined: no ServiceCIDR object (networking.k8s.io) nor kube-apiserver '
         || '--service-cluster-ip-range flag collected',
       c.location, c.source, c.run_id, c.artifact_sha256, c.collected_at
FROM platform_clusters c
WHERE NOT EXISTS (SELECT 1 FROM platform_ranges r WHERE r.cluster = c.cluster AND r.role = 'service')
UNION ALL
SELECT c.cluster, NULL, 'cluster ' || c.cluster,
       'ServiceCIDR objects not listed (' || coalesce(i.status || coalesce(' ' || i.reason, ''), 'kind not collected')
         || '): service ranges beyond the flags unknown',
       c.location, c.source, c.run_id, c.artifact_sha256, c.collected_at
FROM platform_clusters c
LEFT JOIN k8s_inventory_current i ON i.cluster = c.cluster AND i.kind = 'ServiceCIDR'
WHERE i.cluster IS NULL OR (i.status <> 'collected' AND coalesce(i.reason, '') <> 'crd-absent')
UNION ALL
SELECT cluster, namespace, object, origin || ' ' || cidr || ' is not a CIDR: ranges not compared',
       location, source, run_id, artifact_sha256, collected_at
FROM platform_ranges WHERE bits IS NULL;

-- The cluster DNS servers: kube-system Deployments coredns or kube-dns (or labelled k8s-app=kube-dns).
CREATE VIEW platform_dns AS
SELECT d.cluster, d.namespace, d.name,
       coalesce(TRY_CAST(d.spec->>'replicas' AS INTEGER), 1) AS replicas,
       TRY_CAST(d.status->>'readyReplicas' AS INTEGER) AS ready,
       d.location, d.source, d.run_id, d.artifact_sha256, d.collected_at
FROM k8s_current d
WHERE d.kind = 'Deployment' AND d.namespace = 'kube-system'
  AND (d.name IN ('coredns', 'kube-dns') OR (d.spec->'template'->'metadata'->'labels'->>'k8s-app') = 'kube-dns');

-- Istio trust roots: each certificate of istio-system/istio-ca-root-cert root-cert.pem, by its SHA-256 fingerprint
-- (of the DER), and the trust domain of the mesh config (istio-system/istio ConfigMap; default cluster.local).
CREATE VIEW platform_trust_roots AS
SELECT r.cluster, r.namespace, r.name,
       sha256(try(from_base64(regexp_replace(split_part(cert, '-----END CERTIFICATE-----', 1), '\s', '', 'g'))))
         AS fingerprint,
       coalesce(nullif(regexp_extract(m.data->>'mesh', '(?m)^trustDomain:[ \t]*"?([^"\s]+)', 1), ''),
                'cluster.local') AS trust_domain,
       r.location, r.source, r.run_id, r.artifact_sha256, r.collected_at
FROM (SELECT *, unnest(string_split(data->>'root-cert.pem', '-----BEGIN CERTIFICATE-----')[2:]) AS cert
      FROM k8s_current
      WHERE kind = 'PlatformConfigMap' AND namespace = 'istio-system' AND name = 'istio-ca-root-cert') r
LEFT JOIN k8s_current m
  ON m.cluster = r.cluster AND m.kind = 'PlatformConfigMap' AND m.namespace = 'istio-system' AND m.name = 'istio';

-- The clusters running Istio: an istiod Deployment, or an Istio root certificate collected.
CREATE VIEW platform_istio_clusters AS
SELECT DISTINCT cluster FROM k8s_current
WHERE (kind = 'Deployment' AND (name = 'istiod' OR starts_with(name, 'istiod-')))
   OR (kind = 'PlatformConfigMap' AND name = 'istio-ca-root-cert');

-- What may scale the cluster DNS below two replicas: a HorizontalPodAutoscaler targeting it (minReplicas, default
-- 1), or the cluster-proportional-autoscaler (kube-system Deployment dns-autoscaler, kube-dns-autoscaler or AKS's
-- coredns-autoscaler, whose ConfigMap of the same name holds its linear or ladder parameters). ok: its floor is two
-- replicas.
CREATE VIEW platform_dns_scaling AS
SELECT d.cluster, d.namespace, d.name AS dns, 'HorizontalPodAutoscaler/' || h.name AS scaler,
       coalesce(TRY_CAST(h.spec->>'minReplicas' AS INTEGER), 1) >= 2 AS ok,
       'HorizontalPodAutoscaler ' || h.name || ' minReplicas '
         || coalesce(h.spec->>'minReplicas', '1 (default)') || ', maxReplicas ' || coalesce(h.spec->>'maxReplicas', '?')
         AS detail,
       h.location, h.source, h.run_id, h.artifact_sha256, h.collected_at
FROM platform_dns d
JOIN k8s_current h
  ON h.cluster = d.cluster AND h.kind = 'HorizontalPodAutoscaler' AND h.namespace = d.namespace
     AND (h.spec->'scaleTargetRef'->>'kind') = 'Deployment' AND (h.spec->'scaleTargetRef'->>'name') = d.name
UNION ALL
SELECT d.cluster, d.namespace, d.name, 'Deployment/' || a.name,
       coalesce(TRY_CAST(json_extract_string(m.data->>'linear', '$.min') AS INTEGER) >= 2
                OR (json_extract_string(m.data->>'linear', '$.preventSinglePointFailure') = 'true'
                    AND (SELECT count(*) FROM k8s_current n WHERE n.cluster = d.cluster AND n.kind = 'Node') > 1),
                false),
       'cluster-proportional-autoscaler ' || a.name || ': '
         || CASE WHEN m.name IS NULL THEN 'no ConfigMap kube-system/' || a.name || ' collected, scaling floor unknown'
                 WHEN m.data->>'linear' IS NOT NULL THEN 'linear ' || (m.data->>'linear')
                 ELSE 'ladder parameters (their floor is not judged)' END,
       a.location, a.source, a.run_id, a.artifact_sha256, a.collected_at
FROM platform_dns d
JOIN k8s_current a
  ON a.cluster = d.cluster AND a.kind = 'Deployment' AND a.namespace = 'kube-system'
     AND a.name IN ('dns-autoscaler', 'kube-dns-autoscaler', 'coredns-autoscaler')
LEFT JOIN k8s_current m
  ON m.cluster = a.cluster AND m.kind = 'PlatformConfigMap' AND m.namespace = 'kube-system' AND m.name = a.name;

-- NodeLocal DNSCache per cluster (a DaemonSet node-local-dns).
CREATE VIEW platform_nodelocal_dns AS
SELECT DISTINCT cluster FROM k8s_current WHERE kind = 'DaemonSet' AND name = 'node-local-dns';

-- Whether more than one cluster runs Istio (the trust roots are compared only then).
CREATE VIEW platform_multi_mesh AS
SELECT count(*) > 1 AS multi FROM platform_istio_clusters;

-- The workloads serving each Gateway API Gateway, as the in-cluster implementations label them: Istio and others
-- (gateway.networking.k8s.io/gateway-name, istio.io/gateway-name: the Gateway's namespace), Envoy Gateway
-- (gateway.envoyproxy.io/owning-gateway-name and -namespace, in its own namespace).
CREATE VIEW platform_gateway_workloads AS
SELECT g.cluster, g.namespace AS gateway_namespace, g.name AS gateway, w.kind, w.namespace, w.name, w.spec,
       w.location, w.source, w.run_id, w.artifact_sha256, w.collected_at
FROM k8s_current g
JOIN k8s_current w
  ON w.cluster = g.cluster AND w.kind IN ('Deployment', 'StatefulSet', 'DaemonSet')
 AND ((w.namespace = g.namespace
       AND g.name IN (w.spec->'template'->'metadata'->'labels'->>'gateway.networking.k8s.io/gateway-name',
                      w.spec->'template'->'metadata'->'labels'->>'istio.io/gateway-name'))
      OR ((w.spec->'template'->'metadata'->'labels'->>'gateway.envoyproxy.io/owning-gateway-name') = g.name
          AND (w.spec->'template'->'metadata'->'labels'->>'gateway.envoyproxy.io/owning-gateway-namespace')
              = g.namespace))
WHERE g.kind = 'Gateway';

-- What leaves a Gateway's capacity unbounded or unknown: no workload found for it, a container of its workload (init
-- containers included: a native sidecar runs beside the others) without CPU or memory requests or a memory limit. A
-- missing request takes the container's limit (the API server's defaulting); a zero quantity is none.
CREATE VIEW platform_gateway_capacity_gaps AS
SELECT g.cluster, g.namespace, 'Gateway/' || g.name AS object,
       'no in-cluster workload found serving Gateway ' || g.namespace || '/' || g.name
         || ' (class ' || coalesce(g.spec->>'gatewayClassName', '?') || '): its capacity is not evidenced' AS finding,
       g.location, g.source, g.run_id, g.artifact_sha256, g.collected_at
FROM k8s_current g
WHERE g.kind = 'Gateway'
  AND NOT EXISTS (SELECT 1 FROM platform_gateway_workloads w
                  WHERE w.cluster = g.cluster AND w.gateway_namespace = g.namespace AND w.gateway = g.name)
UNION ALL
SELECT w.cluster, w.namespace, w.kind || '/' || w.name,
       w.kind || ' ' || w.name || ' serving Gateway ' || w.gateway_namespace || '/' || w.gateway
         || ': no HorizontalPodAutoscaler bounds its replicas (minReplicas, maxReplicas)',
       w.location, w.source, w.run_id, w.artifact_sha256, w.collected_at
FROM platform_gateway_workloads w
WHERE w.kind <> 'DaemonSet'
  AND NOT EXISTS (SELECT 1 FROM k8s_current h
                  WHERE h.cluster = w.cluster AND h.kind = 'HorizontalPodAutoscaler' AND h.namespace = w.namespace
                    AND (h.spec->'scaleTargetRef'->>'kind') = w.kind AND (h.spec->'scaleTargetRef'->>'name') = w.name)
UNION ALL
SELECT w.cluster, w.namespace, w.kind || '/' || w.name,
       'container ' || (c->>'name') || ' of the workload serving Gateway ' || w.gateway_namespace || '/' || w.gateway
         || ' has no ' || concat_ws(', ',
             CASE WHEN cpu_request IS NULL THEN 'CPU request' END,
             CASE WHEN memory_request IS NULL THEN 'memory request' END,
             CASE WHEN memory_limit IS NULL THEN 'memory limit' END),
       w.location, w.source, w.run_id, w.artifact_sha256, w.collected_at
FROM (SELECT *,
             platform_nonzero_quantity(coalesce(c->'resources'->'requests'->>'cpu', c->'resources'->'limits'->>'cpu'))
               AS cpu_request,
             platform_nonzero_quantity(coalesce(c->'resources'->'requests'->>'memory',
                                                c->'resources'->'limits'->>'memory')) AS memory_request,
             platform_nonzero_quantity(c->'resources'->'limits'->>'memory') AS memory_limit
      FROM (SELECT *, unnest(list_concat(
                          from_json(coalesce(spec->'template'->'spec'->'initContainers', '[]'), '["JSON"]'),
                          from_json(coalesce(spec->'template'->'spec'->'containers', '[]'), '["JSON"]'))) AS c
            FROM platform_gateway_workloads)) w
WHERE cpu_request IS NULL OR memory_request IS NULL OR memory_limit IS NULL;
