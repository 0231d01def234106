-- Helper views shared by the claims of this pack. They read the `analysis` source's tables: the latest analysis
-- of each cluster counts, and only while the Kubernetes listings it read are the current ones.
-- Note: DuckDB's -> and ->> bind looser than comparisons; parenthesise them in predicates.

-- IPv4 addresses as integers (a.b.c.d = a*2^24 + b*2^16 + c*2^8 + d), as in the logs pack.
CREATE OR REPLACE TEMP MACRO reach_ipv4_int(address) AS
    TRY_CAST(split_part(address, '.', 1) AS BIGINT) * 16777216 + TRY_CAST(split_part(address, '.', 2) AS BIGINT) * 65536
    + TRY_CAST(split_part(address, '.', 3) AS BIGINT) * 256 + TRY_CAST(split_part(address, '.', 4) AS BIGINT);
-- Whether text is an IPv4 CIDR (a bare address is a /32), and the first and last address of the block (host bits
-- ignored).
CREATE OR REPLACE TEMP MACRO reach_is_cidr(text) AS
    regexp_full_match(text, '((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}'
                            || '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(/(3[0-2]|[12]?[0-9]))?');
CREATE OR REPLACE TEMP MACRO reach_cidr_size(text) AS
    CAST(1 AS BIGINT) << (32 - coalesce(TRY_CAST(nullif(split_part(text, '/', 2), '') AS INTEGER), 32));
CREATE OR REPLACE TEMP MACRO reach_cidr_first(text) AS
    reach_ipv4_int(split_part(text, '/', 1)) - reach_ipv4_int(split_part(text, '/', 1)) % reach_cidr_size(text);
CREATE OR REPLACE TEMP MACRO reach_cidr_last(text) AS reach_cidr_first(text) + reach_cidr_size(text) - 1;
-- The first and last address of an IPv4 interval `first-last` of the analysis (NULL for IPv6).
CREATE OR REPLACE TEMP MACRO reach_interval_first(interval) AS
    CASE WHEN NOT contains(interval, ':') THEN reach_ipv4_int(split_part(interval, '-', 1)) END;
CREATE OR REPLACE TEMP MACRO reach_interval_last(interval) AS
    CASE WHEN NOT contains(interval, ':') THEN reach_ipv4_int(split_part(interval, '-', 2)) END;

CREATE VIEW reach_regulated_namespaces AS
SELECT cluster, name AS namespace, annotations, location, source, run_id, artifact_sha256, collected_at
FROM k8s_current
WHERE kind = 'Namespace'
  AND ((labels->>split_part(getvariable('regulated_label'), '=', 1)) = split_part(getvariable('regulated_label'), '=', 2)
       OR list_contains(CAST(getvariable('regulated_namespace_names') AS VARCHAR[]), name));

-- The latest landed analysis of each cluster; up_to_date: every listing it read (or found missing) is still the
-- current listing of that kind, and its reachability is stored per class (an analysis made before, without
-- reach_classes, must be run again).
CREATE VIEW reach_analyses AS
SELECT i.cluster, i.run_id, r.started_at,
       bool_and(i.input_run_id IS NOT DISTINCT FROM k.run_id AND i.reach_classes IS NOT NULL) AS up_to_date
FROM analysis_inputs i
JOIN runs r USING (run_id)
LEFT JOIN k8s_inventory_current k ON k.cluster = i.cluster AND k.kind = i.kind AND k.status = 'collected'
WHERE r.status IN ('succeeded', 'partial')
GROUP BY i.cluster, i.run_id, r.started_at
QUALIFY row_number() OVER (PARTITION BY i.cluster ORDER BY r.started_at DESC, i.run_id DESC) = 1;

-- What the up-to-date analyses do not model, per pair (src/dst NULL: every source/destination), with the policy's
-- location where the inventory has it: parts of Cilium and Calico policies (L7 rules, DNS names, ...), and admin
-- network policy Allow or Pass rules whose peers' addresses are unknown (nodes, domainNames, pods inside networks).
CREATE VIEW reach_unmodelled AS
SELECT u.cluster, u.src, u.dst, u.policy_kind, u.policy_namespace, u.policy_name, u.why,
       u.policy_kind || ' ' || coalesce(u.policy_namespace || '/', '') || u.policy_name AS policy,
       p.location AS policy_location, u.source, u.run_id, u.artifact_sha256, u.collected_at
FROM reachability_unmodelled u
JOIN reach_analyses a ON a.cluster = u.cluster AND a.run_id = u.run_id AND a.up_to_date
LEFT JOIN k8s_current p
  ON p.cluster = u.cluster AND p.kind = u.policy_kind AND p.name = u.policy_name
     AND p.namespace IS NOT DISTINCT FROM u.policy_namespace;


-- Objects the up-to-date reachability analysis of a cluster left out as malformed (no object: the analysis is
-- missing): what they would change is not judged, so each is a gap of every claim of this pack.
CREATE VIEW reach_errors AS
SELECT e.cluster, e.namespace, coalesce(e.kind || '/' || e.name, 'analysis/reachability') AS object,
       CASE WHEN e.name IS NULL THEN 'the reachability analysis of cluster ' || e.cluster
                 || ' is missing (nothing of it can be judged): '
            ELSE 'left out of the reachability analysis of cluster ' || e.cluster
                 || ' as malformed (what it would change is not judged): ' END || e.error AS finding,
       o.location, e.source, e.run_id, e.artifact_sha256, e.collected_at
FROM analysis_errors e
JOIN reach_analyses a USING (cluster, run_id)
LEFT JOIN k8s_current o
  ON o.cluster = e.cluster AND o.kind = e.kind AND o.namespace IS NOT DISTINCT FROM e.namespace AND o.name = e.name
WHERE a.up_to_date AND e.analysis = 'reachability';
CREATE TEMP VIEW IF NOT EXISTS reach_errors AS
SELECT NULL::VARCHAR AS cluster, NULL::VARCHAR AS namespace, NULL::VARCHAR AS object, NULL::VARCHAR AS finding,
       NULL::VARCHAR AS location, NULL::VARCHAR AS source, NULL::VARCHAR AS run_id, NULL::VARCHAR AS artifact_sha256,
       NULL::TIMESTAMPTZ AS collected_at
WHERE false;


-- Regulated namespaces whose cluster has no up-to-date analysis, or whose admin network policies it may have missed
-- (the kind was forbidden to list or never listed; a kind whose CRD is absent has no objects): the claims cannot be
-- judged there; each ClusterNetworkPolicy (the admin policies' successor, not analysed) beside each regulated
-- namespace of its cluster; and the objects the analysis left out.
CREATE VIEW reach_unanalysed AS
SELECT n.cluster, n.namespace, 'Namespace/' || n.namespace AS object,
       CASE WHEN a.run_id IS NULL THEN 'no reachability analysis of cluster ' || n.cluster
            ELSE 'the latest reachability analysis of cluster ' || n.cluster || ' (run ' || a.run_id
                 || ') read Kubernetes listings that are no longer current'
       END || ': run `defensible collect analysis`' AS finding,
       n.location, n.source, n.run_id, n.artifact_sha256, n.collected_at
FROM reach_regulated_namespaces n
LEFT JOIN reach_analyses a USING (cluster)
WHERE a.run_id IS NULL OR NOT a.up_to_date
UNION ALL
SELECT cluster, namespace, object, finding, location, source, run_id, artifact_sha256, collected_at
FROM reach_errors
UNION ALL
SELECT n.cluster, n.namespace, 'Namespace/' || n.namespace,
       'the ' || k.kind || ' objects of cluster ' || n.cluster
         || CASE WHEN i.kind IS NULL THEN ' were never listed' ELSE ' could not be listed (' || i.reason || ')' END
         || ': the reachability analysis may miss policies that open connections; list them with `defensible collect '
         || 'kubernetes` (the kind served and readable) and run `defensible collect analysis`',
       n.location, n.source, n.run_id, n.artifact_sha256, n.collected_at
FROM reach_regulated_namespaces n
JOIN reach_analyses a ON a.cluster = n.cluster AND a.up_to_date
CROSS JOIN (VALUES ('AdminNetworkPolicy'), ('BaselineAdminNetworkPolicy'), ('ClusterNetworkPolicy')) AS k(kind)
LEFT JOIN k8s_inventory_current i ON i.cluster = n.cluster AND i.kind = k.kind
WHERE i.kind IS NULL OR (i.status <> 'collected' AND i.reason IS DISTINCT FROM 'crd-absent')
UNION ALL
SELECT n.cluster, n.namespace, 'ClusterNetworkPolicy/' || p.name,
       'ClusterNetworkPolicy ' || p.name || ' (tier ' || coalesce(p.spec->>'tier', '?') || ') is not analysed: its '
         || 'Accept, Deny and Pass rules decide before (Admin tier) or after (Baseline tier) the NetworkPolicies, so '
         || 'the connections into and out of namespace ' || n.namespace || ' are neither proven allowed nor denied',
       p.location, p.source, p.run_id, p.artifact_sha256, p.collected_at
FROM reach_regulated_namespaces n
JOIN reach_analyses a ON a.cluster = n.cluster AND a.up_to_date
JOIN k8s_current p ON p.cluster = n.cluster AND p.kind = 'ClusterNetworkPolicy';

-- The workloads of regulated namespaces, each with its declared callers: the annotation
-- defensible.io/allowed-callers of the workload's object (its top owner), or else of its Namespace.
-- location: the object holding the declaration, else the workload's object, else its Namespace.
CREATE VIEW reach_regulated_workloads AS
WITH annotated AS (
    SELECT w.cluster, w.namespace, w.name AS workload, w.kind, w.namespace || '/' || w.name || '[' || w.kind || ']' || coalesce('{' || w.label_group || '}', '') AS id,
           w.reach_class,
           o.annotations->>'defensible.io/allowed-callers' AS on_workload,
           n.annotations->>'defensible.io/allowed-callers' AS on_namespace,
           o.location AS workload_location, n.location AS namespace_location,
           w.source, w.run_id, w.artifact_sha256, w.collected_at
    FROM analysis_workloads w
    JOIN reach_analyses a ON a.cluster = w.cluster AND a.run_id = w.run_id AND a.up_to_date
    JOIN reach_regulated_namespaces n ON n.cluster = w.cluster AND n.namespace = w.namespace
    LEFT JOIN k8s_current o ON o.cluster = w.cluster AND o.kind = w.kind AND o.namespace = w.namespace AND o.name = w.name
)
SELECT cluster, namespace, workload, kind, id, reach_class,
       coalesce(on_workload, on_namespace) AS declared,
       CASE WHEN on_workload IS NOT NULL THEN kind || ' ' || namespace || '/' || workload
            WHEN on_namespace IS NOT NULL THEN 'Namespace ' || namespace END AS declared_in,
       CASE WHEN on_workload IS NULL AND on_namespace IS NOT NULL THEN namespace_location
            ELSE coalesce(workload_location, namespace_location) END AS location,
       source, run_id, artifact_sha256, collected_at
FROM annotated;

-- One row per comma-separated pattern of each declaration: 'workload' (ns/name or ns/*), 'cidr' (IPv4), or
-- 'invalid'.
CREATE VIEW reach_caller_patterns AS
WITH patterns AS (
    SELECT w.*, trim(p) AS pattern
    FROM reach_regulated_workloads w, unnest(string_split(w.declared, ',')) AS t(p)
)
SELECT *,
       CASE WHEN reach_is_cidr(pattern) THEN 'cidr'
            WHEN regexp_full_match(pattern, '[a-z0-9]([-a-z0-9]*[a-z0-9])?/(\*|[a-z0-9]([-.a-z0-9]*[a-z0-9])?)')
                 THEN 'workload'
            ELSE 'invalid' END AS pattern_kind,
       split_part(pattern, '/', 1) AS pattern_namespace, split_part(pattern, '/', 2) AS pattern_name,
       CASE WHEN reach_is_cidr(pattern) THEN reach_cidr_first(pattern) END AS first_int,
       CASE WHEN reach_is_cidr(pattern) THEN reach_cidr_last(pattern) END AS last_int
FROM patterns
WHERE pattern <> '';

-- The IPv4 ranges of the egress allowlist: the egress_allowlist parameter (every cluster) and each line of the
-- data values of ConfigMaps labelled defensible.io/egress-allowlist=true in an egress_allowlist_owners namespace
-- (their cluster), as in the logs pack, which reports the others. '#' starts a comment; entries that are not IPv4
-- CIDRs (DNS names) or are wider than egress_allowlist_min_prefix (0.0.0.0/0) are left out.
CREATE VIEW reach_allowlist AS
WITH entries AS (
    SELECT NULL::VARCHAR AS cluster, e AS entry, 'parameter egress_allowlist' AS origin
    FROM unnest(CAST(getvariable('egress_allowlist') AS VARCHAR[])) AS t(e)
    UNION ALL
    SELECT c.cluster, l, 'ConfigMap ' || c.namespace || '/' || c.name || ' data.' || d.key
    FROM k8s_current c, json_each(c.data) d, unnest(string_split(d.value->>'$', chr(10))) AS t(l)
    WHERE c.kind = 'ConfigMap' AND (c.labels->>'defensible.io/egress-allowlist') = 'true'
      AND list_contains(CAST(getvariable('egress_allowlist_owners') AS VARCHAR[]), c.namespace)
), cleaned AS (
    SELECT cluster, trim(split_part(entry, '#', 1)) AS entry, origin FROM entries
)
SELECT cluster, entry, origin, reach_cidr_first(entry) AS first_int, reach_cidr_last(entry) AS last_int
FROM cleaned
WHERE reach_is_cidr(entry)
  AND coalesce(TRY_CAST(nullif(split_part(entry, '/', 2), '') AS INTEGER), 32) >= getvariable('egress_allowlist_min_prefix');

-- IPv4 ranges merged into disjoint, non-adjacent ranges (overlapping and adjacent CIDRs joined), so that an interval is
-- covered by a set of CIDRs iff it lies inside one merged range: per analysed cluster, its egress allowlist
-- (purpose 'egress', id NULL); per regulated workload, the CIDRs of its declared callers (purpose 'callers').
CREATE VIEW reach_ranges AS
WITH ranges AS (
    SELECT 'egress' AS purpose, a.cluster, NULL::VARCHAR AS id, l.entry || ' (' || l.origin || ')' AS entry,
           l.first_int, l.last_int
    FROM reach_analyses a JOIN reach_allowlist l ON l.cluster IS NULL OR l.cluster = a.cluster
    UNION ALL
    SELECT 'callers', cluster, id, pattern, first_int, last_int FROM reach_caller_patterns WHERE pattern_kind = 'cidr'
), ordered AS (
    SELECT *, max(last_int) OVER (PARTITION BY purpose, cluster, id ORDER BY first_int, last_int, entry
                                  ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS covered_to
    FROM ranges
), numbered AS (
    SELECT *, sum(CASE WHEN covered_to IS NULL OR first_int > covered_to + 1 THEN 1 ELSE 0 END)
                  OVER (PARTITION BY purpose, cluster, id ORDER BY first_int, last_int, entry ROWS UNBOUNDED PRECEDING)
                  AS range_no
    FROM ordered
)
SELECT purpose, cluster, id, range_no, min(first_int) AS first_int, max(last_int) AS last_int,
       string_agg(DISTINCT entry, ', ' ORDER BY entry) AS entries
FROM numbered
GROUP BY purpose, cluster, id, range_no;

-- IPv4 ranges of each analysed cluster that may hold the source address of one of its own workloads, which a
-- NetworkPolicy ipBlock may then match (the Kubernetes docs leave matching cluster-internal traffic to the network
-- plugin; the analysis matches ipBlocks with external addresses only). Pod addresses: every pod range recorded (the
-- Nodes' spec.podCIDRs or spec.podCIDR, enabled Calico IPPools, Cilium's cluster-pool-ipv4-cidr); where none is, or
-- a CNI gives pods addresses from ranges not in the inventory (the AWS VPC CNI's aws-node, Weave Net), the private
-- ranges (RFC 1918, RFC 6598). When a host-network workload runs (its address is its node's): the Nodes' status
-- addresses, or the private ranges when none is recorded.
CREATE VIEW reach_cluster_ranges AS
WITH clusters AS (
    SELECT a.cluster, bool_or(coalesce(w.host_network, false)) AS host_network,
           (SELECT string_agg(DISTINCT d.name, ', ') FROM k8s_current d
            WHERE d.cluster = a.cluster AND d.kind = 'DaemonSet' AND d.name IN ('aws-node', 'weave-net')) AS own_ipam
    FROM reach_analyses a
    LEFT JOIN analysis_workloads w ON w.cluster = a.cluster AND w.run_id = a.run_id
    WHERE a.up_to_date
    GROUP BY a.cluster
), pods AS (
    SELECT c.cluster, unnest(coalesce(from_json(n.spec->'podCIDRs', '["VARCHAR"]'), [n.spec->>'podCIDR'])) AS cidr,
           'pod range of Node ' || n.name AS origin
    FROM clusters c JOIN k8s_current n ON n.cluster = c.cluster AND n.kind = 'Node'
    UNION ALL
    SELECT c.cluster, p.spec->>'cidr', 'pod range of IPPool ' || p.name
    FROM clusters c
    JOIN k8s_current p ON p.cluster = c.cluster AND p.kind LIKE 'IPPool%'
                          AND coalesce(p.spec->>'disabled', 'false') <> 'true'
    UNION ALL
    SELECT c.cluster, unnest(regexp_split_to_array(trim(m.data->>'cluster-pool-ipv4-cidr'), '[\s,]+')),
           'pod range of cilium-config cluster-pool-ipv4-cidr'
    FROM clusters c
    JOIN k8s_current m ON m.cluster = c.cluster AND m.kind IN ('PlatformConfigMap', 'ConfigMap')
                          AND m.namespace = 'kube-system' AND m.name = 'cilium-config'
), nodes AS (
    SELECT c.cluster, a->>'address' AS cidr, 'address of Node ' || n.name || ', where host-network pods run' AS origin
    FROM clusters c
    JOIN k8s_current n ON n.cluster = c.cluster AND n.kind = 'Node' AND c.host_network,
         unnest(coalesce(from_json(n.status->'addresses', '["JSON"]'), [])) AS t(a)
), private AS (
    SELECT * FROM (VALUES ('10.0.0.0/8'), ('100.64.0.0/10'), ('172.16.0.0/12'), ('192.168.0.0/16')) AS p(cidr)
), ranges AS (
    SELECT * FROM pods WHERE reach_is_cidr(cidr)
    UNION ALL
    SELECT * FROM nodes WHERE reach_is_cidr(cidr)
    UNION ALL
    SELECT c.cluster, p.cidr,
           'private range: ' || coalesce(c.own_ipam || ' gives pods addresses not in the inventory',
                                         'no pod range recorded')
    FROM clusters c, private p
    WHERE c.own_ipam IS NOT NULL OR c.cluster NOT IN (SELECT cluster FROM pods WHERE reach_is_cidr(cidr))
    UNION ALL
    SELECT c.cluster, p.cidr, 'private range: host-network pods run and no Node address is recorded'
    FROM clusters c, private p
    WHERE c.host_network AND c.cluster NOT IN (SELECT cluster FROM nodes WHERE reach_is_cidr(cidr))
)
SELECT DISTINCT cluster, cidr, origin, reach_cidr_first(cidr) AS first_int, reach_cidr_last(cidr) AS last_int
FROM ranges;

-- The workloads of the current analyses, with their reachability class: the sources and destinations of lines.
CREATE VIEW reach_members AS
SELECT w.cluster, w.run_id, w.reach_class, w.namespace, w.name AS workload, w.kind,
       w.namespace || '/' || w.name || '[' || w.kind || ']' || coalesce('{' || w.label_group || '}', '') AS id
FROM analysis_workloads w
JOIN reach_analyses a ON a.cluster = w.cluster AND a.run_id = w.run_id AND a.up_to_date;

-- Every connection into a workload of a regulated namespace (one line per source workload or external interval,
-- expanded from the analysis's class-level connections; a workload is no source of its own), with what admits it
-- (admitted_by) and the declared patterns that cover its source (allowed_by NULL: none): a workload pattern naming
-- it, or CIDRs whose merged range holds its whole interval.
CREATE VIEW reach_regulated_ingress AS
WITH lines AS (
    SELECT c.cluster, coalesce(s.id, c.external) AS src, w.id AS dst, s.namespace AS src_namespace,
           s.workload AS src_workload, w.namespace AS dst_namespace, w.workload AS dst_workload, w.kind AS dst_kind,
           c.external, c.conn, c.admitted_by, w.declared, w.declared_in, w.location,
           c.source, c.run_id, c.artifact_sha256, c.collected_at
    FROM reach_regulated_workloads w
    JOIN reach_class_conns c ON c.cluster = w.cluster AND c.run_id = w.run_id AND c.dst_class = w.reach_class
    LEFT JOIN reach_members s ON s.cluster = c.cluster AND s.run_id = c.run_id AND s.reach_class = c.src_class
    WHERE c.src_class IS NULL OR s.id <> w.id
)
SELECT l.cluster, l.src, l.dst, l.src_namespace, l.dst_namespace, l.dst_workload, l.dst_kind, l.external, l.conn,
       l.admitted_by, l.declared, l.declared_in, l.location,
       coalesce(
           (SELECT min(p.pattern) FROM reach_caller_patterns p
            WHERE p.cluster = l.cluster AND p.id = l.dst AND p.pattern_kind = 'workload'
              AND p.pattern_namespace = l.src_namespace AND (p.pattern_name = '*' OR p.pattern_name = l.src_workload)),
           (SELECT min(r.entries) FROM reach_ranges r
            WHERE r.purpose = 'callers' AND r.cluster = l.cluster AND r.id = l.dst
              AND reach_interval_first(l.src) >= r.first_int AND reach_interval_last(l.src) <= r.last_int)
       ) AS allowed_by,
       l.source, l.run_id, l.artifact_sha256, l.collected_at
FROM lines l;

-- Every connection from a workload of a regulated namespace to an external interval, with what lets it out
-- (admitted_by) and the allowlist entries whose merged range holds the whole interval (allowed_by NULL: not inside
-- the allowlist; IPv6 never is).
CREATE VIEW reach_regulated_egress AS
SELECT c.cluster, w.id AS src, c.external AS dst, w.namespace AS src_namespace, w.workload AS src_workload,
       w.kind AS src_kind, c.external, c.conn, c.admitted_by,
       r.entries AS allowed_by,
       w.location, c.source, c.run_id, c.artifact_sha256, c.collected_at
FROM reach_regulated_workloads w
JOIN reach_class_conns c
  ON c.cluster = w.cluster AND c.run_id = w.run_id AND c.src_class = w.reach_class AND c.dst_class IS NULL
LEFT JOIN reach_ranges r
  ON r.purpose = 'egress' AND r.cluster = c.cluster
     AND reach_interval_first(c.external) >= r.first_int AND reach_interval_last(c.external) <= r.last_int;

-- dns-exceptions-modelled: each workload of a namespace where a NetworkPolicy isolates egress, and whether it
-- reaches cluster DNS (the analysis source's dns_resolution, collector/analysis/reachability/dns.py), in clusters
-- whose analysis is up to date; location: the workload's object, else its Namespace.
CREATE VIEW reach_dns AS
SELECT d.cluster, d.namespace, d.kind || '/' || d.workload AS object,
       d.namespace || '/' || d.workload || '[' || d.kind || ']' AS id, d.resolves, d.via, d.blocked,
       coalesce(o.location, n.location, 'analysis of cluster ' || d.cluster) AS location,
       d.source, d.run_id, d.artifact_sha256, d.collected_at
FROM dns_resolution d
JOIN reach_analyses a ON a.cluster = d.cluster AND a.run_id = d.run_id AND a.up_to_date
LEFT JOIN k8s_current o ON o.cluster = d.cluster AND o.kind = d.kind AND o.namespace = d.namespace AND o.name = d.workload
LEFT JOIN k8s_current n ON n.cluster = d.cluster AND n.kind = 'Namespace' AND n.name = d.namespace;

-- Namespaces with a NetworkPolicy that isolates egress (policyTypes lists Egress, or it has egress rules) in clusters
-- without an up-to-date analysis: whether their workloads reach DNS cannot be judged there.
CREATE VIEW reach_dns_unanalysed AS
SELECT p.cluster, p.namespace, 'NetworkPolicy/' || p.name AS object,
       CASE WHEN a.run_id IS NULL THEN 'no reachability analysis of cluster ' || p.cluster
            ELSE 'the latest reachability analysis of cluster ' || p.cluster || ' (run ' || a.run_id
                 || ') read Kubernetes listings that are no longer current'
       END || ': whether namespace ' || p.namespace || ' (egress isolated by NetworkPolicy ' || p.name
           || ') reaches cluster DNS is not judged; run `defensible collect analysis`' AS finding,
       p.location, p.source, p.run_id, p.artifact_sha256, p.collected_at
FROM k8s_current p
LEFT JOIN reach_analyses a USING (cluster)
WHERE p.kind = 'NetworkPolicy'
  AND (list_contains(CAST(p.spec->'policyTypes' AS VARCHAR[]), 'Egress') OR json_array_length(p.spec->'egress') > 0)
  AND (a.run_id IS NULL OR NOT a.up_to_date);
