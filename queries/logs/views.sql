-- Helper views shared by the claims of this pack. Log rows count only when the run that loaded them landed
-- (succeeded or partial). Parameters are DuckDB variables set from pack.yaml (getvariable('name')).
-- IPv4 addresses are compared as integers (a.b.c.d = a*2^24 + b*2^16 + c*2^8 + d): no extension needed.
CREATE OR REPLACE TEMP MACRO logs_ipv4_int(address) AS
    TRY_CAST(split_part(address, '.', 1) AS BIGINT) * 16777216 + TRY_CAST(split_part(address, '.', 2) AS BIGINT) * 65536
    + TRY_CAST(split_part(address, '.', 3) AS BIGINT) * 256 + TRY_CAST(split_part(address, '.', 4) AS BIGINT);

-- The host and the port of an authority (host, host:port, [IPv6], [IPv6]:port), the host lower-cased.
CREATE OR REPLACE TEMP MACRO logs_host(authority) AS
    lower(CASE WHEN starts_with(authority, '[') THEN regexp_extract(authority, '^\[([^\]]*)\]', 1)
               WHEN regexp_full_match(authority, '[^:]*:[0-9]*') THEN split_part(authority, ':', 1)
               ELSE authority END);
CREATE OR REPLACE TEMP MACRO logs_port(authority) AS
    TRY_CAST(nullif(regexp_extract(authority, '^(\[[^\]]*\]|[^:]*):([0-9]+)$', 2), '') AS INTEGER);

-- The window the claims judge: each bound is a parameter, NULL = open.
CREATE VIEW logs_window AS
SELECT CAST(getvariable('window_since') AS TIMESTAMPTZ) AS since,
       CAST(getvariable('window_until') AS TIMESTAMPTZ) AS until;

CREATE VIEW logs_flows AS
SELECT f.*
FROM flows f JOIN runs r USING (run_id), logs_window w
WHERE r.status IN ('succeeded', 'partial')
  AND (w.since IS NULL OR f.ts >= w.since) AND (w.until IS NULL OR f.ts < w.until);

CREATE VIEW logs_http AS
SELECT h.*
FROM http_access h JOIN runs r USING (run_id), logs_window w
WHERE r.status IN ('succeeded', 'partial')
  AND (w.since IS NULL OR h.ts >= w.since) AND (w.until IS NULL OR h.ts < w.until);

-- The window with open bounds closed by the span of the flow records in it (all clusters).
CREATE VIEW logs_span AS
SELECT coalesce(w.since, (SELECT min(ts) FROM logs_flows)) AS since,
       coalesce(w.until, (SELECT max(ts) FROM logs_flows)) AS until
FROM logs_window w;

-- Where each log file came from, to cite as the location of its rows.
CREATE VIEW logs_origins AS
SELECT run_id, artifact_sha256, min(origin) AS origin FROM log_artifacts GROUP BY ALL;

-- gateways (incidents-traceable; egress-controlled reads egress gateways' access logs) ------------------

-- The gateways that must write access logs, per cluster: every Gateway API Gateway, every Istio Gateway but
-- egress gateways (selector istio=egressgateway, Istio's egress gateway), every IngressClass and every class
-- an Ingress names (spec.ingressClassName or the kubernetes.io/ingress.class annotation) that is not listed.
-- `gateway` is how access logs name it (namespace/name; an IngressClass by its name); `selector` the labels of
-- its proxies and `proxy_namespace` where they run (NULL: any namespace).
CREATE VIEW logs_gateways AS
WITH ingress_classes AS (
    SELECT *, coalesce(spec->>'ingressClassName', annotations->>'kubernetes.io/ingress.class') AS class
    FROM k8s_current WHERE kind = 'Ingress'
)
SELECT cluster, kind, namespace || '/' || name AS gateway, json_object('gateway.networking.k8s.io/gateway-name', name)
         AS selector, namespace AS proxy_namespace, false AS egress,
       location, source, run_id, artifact_sha256, collected_at
FROM k8s_current WHERE kind = 'Gateway'
UNION ALL
SELECT cluster, kind, namespace || '/' || name, spec->'selector', NULL, (spec->'selector'->>'istio') = 'egressgateway',
       location, source, run_id, artifact_sha256, collected_at
FROM k8s_current WHERE kind = 'Gateway.networking.istio.io'
UNION ALL
SELECT cluster, kind, name, NULL, NULL, false, location, source, run_id, artifact_sha256, collected_at
FROM k8s_current WHERE kind = 'IngressClass'
UNION ALL
SELECT cluster, 'IngressClass', class, NULL, NULL, false, location, source, run_id, artifact_sha256, collected_at
FROM ingress_classes i
WHERE class IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM k8s_current c WHERE c.kind = 'IngressClass' AND c.cluster = i.cluster AND c.name = i.class)
QUALIFY row_number() OVER (PARTITION BY cluster, class ORDER BY namespace, name) = 1;  -- cites its first Ingress

-- The names under which access logs may name each gateway: the gateway itself, and the Pods and workloads
-- (Deployment, DaemonSet, StatefulSet pod templates) carrying its selector: Gateway API proxies are labelled
-- gateway.networking.k8s.io/gateway-name in the Gateway's namespace (Istio and most implementations) or
-- gateway.envoyproxy.io/owning-gateway-name and -namespace (Envoy Gateway); Istio Gateways select by spec.selector.
CREATE VIEW logs_gateway_names AS
WITH proxies AS (
    SELECT cluster, namespace, name, labels FROM k8s_current WHERE kind = 'Pod'
    UNION ALL
    SELECT cluster, namespace, name, spec->'template'->'metadata'->'labels' FROM k8s_current
    WHERE kind IN ('Deployment', 'DaemonSet', 'StatefulSet')
), selectors AS (
    SELECT cluster, kind, gateway, selector, proxy_namespace FROM logs_gateways WHERE selector IS NOT NULL
    UNION ALL
    SELECT cluster, kind, gateway, json_object('gateway.envoyproxy.io/owning-gateway-name', split_part(gateway, '/', 2),
                                         'gateway.envoyproxy.io/owning-gateway-namespace', split_part(gateway, '/', 1)),
           NULL
    FROM logs_gateways WHERE kind = 'Gateway'
)
SELECT cluster, kind, gateway, gateway AS name FROM logs_gateways
UNION
SELECT s.cluster, s.kind, s.gateway, p.namespace || '/' || p.name
FROM selectors s JOIN proxies p ON p.cluster = s.cluster AND (s.proxy_namespace IS NULL OR p.namespace = s.proxy_namespace)
WHERE array_length(json_keys(s.selector)) > 0
  AND array_length(list_filter(json_keys(s.selector), lambda k: (p.labels->>k) IS DISTINCT FROM (s.selector->>k))) = 0;

-- Each gateway named by Envoy access log records (the input's `gateway`, or the pod of a kubelet log path):
-- by its own name, a proxy's, or a proxy's pod (the name without a ReplicaSet hash and random suffix, a
-- DaemonSet's random suffix or a StatefulSet's ordinal).
CREATE VIEW logs_http_gateways AS
SELECT DISTINCT v.cluster, v.value, g.gateway, g.kind, g.egress
FROM (SELECT DISTINCT cluster, gateway AS value FROM logs_http WHERE log_format = 'envoy' AND gateway IS NOT NULL) v
JOIN logs_gateway_names n
  ON n.cluster = v.cluster
 AND n.name IN (v.value, regexp_replace(v.value, '-[bcdfghjklmnpqrstvwxz2456789]{6,10}-[bcdfghjklmnpqrstvwxz2456789]{5}$'
                                                 || '|-[bcdfghjklmnpqrstvwxz2456789]{5}$|-[0-9]+$', ''))
JOIN logs_gateways g ON g.cluster = n.cluster AND g.kind = n.kind AND g.gateway = n.gateway;

-- egress-controlled ------------------------------------------------------------------------------------

CREATE VIEW logs_regulated_namespaces AS
SELECT cluster, name AS namespace
FROM k8s_current
WHERE kind = 'Namespace'
  AND (labels->>split_part(getvariable('regulated_label'), '=', 1)) = split_part(getvariable('regulated_label'), '=', 2);

-- Every Namespace of the inventory and whether it is regulated: a namespace the inventory does not hold (deleted
-- before the collection, or of a cluster whose Namespaces were not collected) may have been, so it is judged too.
CREATE VIEW logs_namespaces AS
SELECT k.cluster, k.name AS namespace, r.namespace IS NOT NULL AS regulated
FROM k8s_current k LEFT JOIN logs_regulated_namespaces r ON r.cluster = k.cluster AND r.namespace = k.name
WHERE k.kind = 'Namespace';

-- The addresses of the Pods of the inventory (status.podIP and status.podIPs), to attribute the requests of an
-- egress proxy's log (its client address) to them; `regulated` as their namespace's (unknown: true, `unlisted`).
CREATE VIEW logs_pod_addresses AS
WITH addresses AS (
    SELECT cluster, namespace, name, status->>'podIP' AS address FROM k8s_current WHERE kind = 'Pod'
    UNION
    SELECT p.cluster, p.namespace, p.name, a.value->>'ip'
    FROM k8s_current p, json_each(p.status->'podIPs') a
    WHERE p.kind = 'Pod'
)
SELECT a.*, coalesce(n.regulated, true) AS regulated, n.namespace IS NULL AS unlisted
FROM addresses a LEFT JOIN logs_namespaces n ON n.cluster = a.cluster AND n.namespace = a.namespace
WHERE coalesce(a.address, '') <> '';

-- Pods and workloads (pod templates) of regulated namespaces on the node's network (spec.hostNetwork): their
-- connections leave with the node's address and identity (Cilium's reserved:host), never with their namespace.
CREATE VIEW logs_regulated_host_network AS
SELECT c.*
FROM k8s_current c JOIN logs_regulated_namespaces n ON n.cluster = c.cluster AND n.namespace = c.namespace
WHERE c.kind IN ('Pod', 'Deployment', 'DaemonSet', 'StatefulSet', 'ReplicaSet', 'Job', 'CronJob')
  AND coalesce(c.spec->>'hostNetwork', c.spec->'template'->'spec'->>'hostNetwork',
               c.spec->'jobTemplate'->'spec'->'template'->'spec'->>'hostNetwork') = 'true';

-- ConfigMaps labelled defensible.io/egress-allowlist=true; only those in an egress_allowlist_owners namespace
-- are trusted (a team cannot allowlist its own egress).
CREATE VIEW logs_allowlist_configmaps AS
SELECT c.*, list_contains(CAST(getvariable('egress_allowlist_owners') AS VARCHAR[]), c.namespace) AS trusted
FROM k8s_current c
WHERE c.kind = 'ConfigMap' AND (c.labels->>'defensible.io/egress-allowlist') = 'true';

-- IPv4 CIDRs (a bare address is a /32) and DNS name globs: the egress_allowlist parameter (every cluster),
-- each line of the data values of trusted allowlist ConfigMaps (their cluster), and the internal_cidrs
-- parameter (list 'internal'). '#' starts a comment; case and a final dot are ignored. Each allowlist entry
-- has a `problem` (NULL: usable): covering every address or name, an IPv4 range wider than egress_allowlist_min_prefix, a
-- wildcard over a top-level domain or a public suffix (rules of the Public Suffix List in public_suffixes),
-- or neither a valid IPv4 CIDR nor a DNS name pattern. Entries with a problem match nothing.
CREATE VIEW logs_address_lists AS
WITH entries AS (
    SELECT 'allowlist' AS list, NULL::VARCHAR AS cluster, e AS entry, 'parameter egress_allowlist' AS origin,
           NULL::VARCHAR AS namespace, NULL::VARCHAR AS name, 'parameter egress_allowlist' AS location,
           NULL::VARCHAR AS source, NULL::VARCHAR AS run_id, NULL::VARCHAR AS artifact_sha256,
           NULL::TIMESTAMPTZ AS collected_at
    FROM unnest(CAST(getvariable('egress_allowlist') AS VARCHAR[])) AS t(e)
    UNION ALL
    SELECT 'allowlist', c.cluster, l, 'ConfigMap ' || c.namespace || '/' || c.name || ' data.' || d.key,
           c.namespace, c.name, c.location, c.source, c.run_id, c.artifact_sha256, c.collected_at
    FROM logs_allowlist_configmaps c, json_each(c.data) d, unnest(string_split(d.value->>'$', chr(10))) AS t(l)
    WHERE c.trusted
    UNION ALL
    SELECT 'internal', NULL, e, 'parameter internal_cidrs', NULL, NULL, NULL, NULL, NULL, NULL, NULL
    FROM unnest(CAST(getvariable('internal_cidrs') AS VARCHAR[])) AS t(e)
), cleaned AS (
    SELECT list, cluster, rtrim(lower(trim(split_part(entry, '#', 1))), '.') AS entry,  -- api.example.com.
           origin, namespace, name, location, source, run_id, artifact_sha256, collected_at
    FROM entries
), parsed AS (
    SELECT *,
           regexp_full_match(entry, '((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}'
                                    || '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(/(3[0-2]|[12]?[0-9]))?') AS is_cidr,
           regexp_full_match(entry, '(\*|[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*')
             AND NOT regexp_full_match(entry, '[0-9./]+') AS is_name,  -- digits and dots: a bad address
           split_part(entry, '/', 1) AS address,
           coalesce(TRY_CAST(nullif(split_part(entry, '/', 2), '') AS INTEGER), 32) AS prefix,
           CASE WHEN starts_with(entry, '*.') THEN substr(entry, 3) END AS wildcard_over
    FROM cleaned
    WHERE entry <> ''
), suffixes AS (
    SELECT DISTINCT rule FROM public_suffixes
), ranged AS (
    SELECT p.*,
           CASE WHEN is_cidr THEN logs_ipv4_int(address) END AS address_int,
           CASE WHEN is_cidr THEN CAST(1 AS BIGINT) << (32 - prefix) END AS size,
           exact.rule IS NOT NULL OR (wild.rule IS NOT NULL AND exception.rule IS NULL) AS over_public_suffix
    FROM parsed p
    LEFT JOIN suffixes exact ON exact.rule = p.wildcard_over
    LEFT JOIN suffixes wild  -- *.ck makes every x.ck public, but for the exceptions (!www.ck)
           ON strpos(p.wildcard_over, '.') > 0
              AND wild.rule = '*.' || substr(p.wildcard_over, strpos(p.wildcard_over, '.') + 1)
    LEFT JOIN suffixes exception ON exception.rule = '!' || p.wildcard_over
)
SELECT list, cluster, entry, origin, namespace, name, location, source, run_id, artifact_sha256, collected_at,
       CASE WHEN is_cidr THEN 'cidr' WHEN is_name THEN 'name' ELSE 'invalid' END AS kind,
       CASE WHEN list = 'internal' THEN NULL
            WHEN is_cidr AND prefix = 0 THEN 'covers every IPv4 address'
            WHEN is_cidr AND prefix < getvariable('egress_allowlist_min_prefix')
                THEN 'IPv4 range /' || prefix || ' is wider than egress_allowlist_min_prefix /'
                     || getvariable('egress_allowlist_min_prefix')
            WHEN is_cidr THEN NULL
            WHEN regexp_full_match(entry, '[0-9a-f:.]*:[0-9a-f:.]*/0+') THEN 'covers every IPv6 address'
            WHEN regexp_full_match(entry, '\*(\.\*)*') THEN 'covers every name'
            WHEN NOT is_name THEN 'neither an IPv4 CIDR nor a DNS name pattern (* only as the whole first label)'
            WHEN wildcard_over IS NULL THEN NULL
            WHEN strpos(wildcard_over, '.') = 0 THEN 'wildcard over the top-level domain ' || wildcard_over
            WHEN over_public_suffix
                THEN 'wildcard over the public suffix ' || wildcard_over || ' (anyone can register names under it)'
            WHEN (SELECT count(*) FROM suffixes) = 0
                THEN 'wildcard not judged: no Public Suffix List collected (kubernetes source, egress_allowlists)'
            END AS problem,
       CASE WHEN is_cidr THEN address_int - address_int % size END AS first_int,  -- host bits ignored
       CASE WHEN is_cidr THEN address_int - address_int % size + size - 1 END AS last_int
FROM ranged;

-- What makes the allowlist untrustworthy: each allowlist ConfigMap outside egress_allowlist_owners (none of
-- its entries is used) and each entry with a problem, naming the ConfigMap (or the parameter).
CREATE VIEW logs_allowlist_problems AS
SELECT cluster, namespace, 'ConfigMap/' || name AS object, NULL::VARCHAR AS entry,
       'egress allowlist ConfigMap ' || namespace || '/' || name || ' is outside its owners (egress_allowlist_owners: '
         || array_to_string(CAST(getvariable('egress_allowlist_owners') AS VARCHAR[]), ', ') || '): not trusted'
         AS finding,
       location, source, run_id, artifact_sha256, collected_at
FROM logs_allowlist_configmaps WHERE NOT trusted
UNION ALL
SELECT cluster, namespace, coalesce('ConfigMap/' || name, 'parameter egress_allowlist'), entry,
       'egress allowlist entry ' || entry || ' (' || origin || '): ' || problem || '; not used',
       location, source, run_id, artifact_sha256, collected_at
FROM logs_address_lists WHERE problem IS NOT NULL;

-- Allowed egress from regulated namespaces (and namespaces the inventory does not hold: `unlisted`) to
-- destinations outside the cluster, aggregated per source workload, destination address or name and port, with
-- the allowlist entry that admits it (NULL: none); a flow whose address maps to several names (Hubble's
-- destination_names) counts for each name. Outside the cluster: the flow names no destination namespace
-- and its destination is Cilium's world (labels reserved:world*, cidr:*, fqdn:*; identity 2, 9 or 10, or a
-- CIDR identity, 16777217-33554431), or, when the log gives neither labels nor identity, its IPv4 address is
-- not in internal_cidrs (IPv6: not ULA, link-local or loopback).
CREATE VIEW logs_regulated_egress AS
WITH pairs AS (  -- grouped on the columns read below first: each expression runs once per group, not per flow
    SELECT f.cluster, f.src_namespace, f.src_pod, f.src_ip, f.dst_fqdn, f.dst_ip, f.dst_port, f.dst_namespace,
           f.dst_labels, f.dst_identity, count(*) AS flows, min(f.ts) AS first_ts, max(f.ts) AS last_ts,
           min({'ts': f.ts, 'artifact_sha256': f.artifact_sha256, 'run_id': f.run_id, 'source': f.source,
                'collected_at': f.collected_at}) AS example, n.namespace IS NULL AS unlisted
    FROM logs_flows f
    LEFT JOIN logs_namespaces n ON n.cluster = f.cluster AND n.namespace = f.src_namespace
    WHERE f.verdict = 'allow' AND coalesce(f.direction, 'egress') = 'egress' AND f.src_namespace <> ''
      AND coalesce(n.regulated, true)
    GROUP BY ALL
), proxied AS (
    -- requests an egress proxy let through for a regulated Pod (told by the client address) or for a client no
    -- Pod of the inventory holds (a pod gone since may have been a regulated one)
    SELECT h.cluster, a.namespace AS src_namespace, a.name AS src_pod, h.src_ip,
           CASE WHEN NOT regexp_full_match(h.host, '[0-9.]+|[0-9a-f:.]*:[0-9a-f:.]*') THEN h.host END AS dst_fqdn,
           CASE WHEN regexp_full_match(h.host, '[0-9.]+|[0-9a-f:.]*:[0-9a-f:.]*') THEN h.host
                ELSE logs_host(nullif(h.upstream_host, '-')) END AS dst_ip,
           h.port AS dst_port, count(*) AS flows, min(h.ts) AS first_ts, max(h.ts) AS last_ts,
           min({'ts': h.ts, 'artifact_sha256': h.artifact_sha256, 'run_id': h.run_id, 'source': h.source,
                'collected_at': h.collected_at}) AS example, coalesce(a.unlisted, true) AS unlisted
    FROM (SELECT *, logs_host(target) AS host, logs_port(target) AS port
          FROM (SELECT ts, cluster, src_ip, upstream_host, verdict, source, run_id, artifact_sha256, collected_at,
                       authority AS target
                FROM logs_http WHERE log_format = 'squid'
                UNION ALL  -- an egress gateway's: the authority, else its upstream cluster's host and port
                SELECT ts, cluster, src_ip, upstream_host, verdict, source, run_id, artifact_sha256, collected_at,
                       coalesce(nullif(h.authority, '-'), nullif(split_part(h.upstream_cluster, '|', 4), '')
                                                            || ':' || split_part(h.upstream_cluster, '|', 2))
                FROM logs_http h
                WHERE h.log_format = 'envoy'
                  AND EXISTS (SELECT 1 FROM logs_http_gateways g
                              WHERE g.egress AND g.cluster = h.cluster AND g.value = h.gateway))
          WHERE verdict = 'allow' AND coalesce(target, '') NOT IN ('', '-')) h
    LEFT JOIN logs_pod_addresses a ON a.cluster = h.cluster AND a.address = h.src_ip
    WHERE coalesce(a.regulated, true)
    GROUP BY ALL
), judged AS (
    SELECT *, false AS via_proxy FROM pairs
    UNION ALL
    SELECT cluster, src_namespace, src_pod, src_ip, dst_fqdn, dst_ip, dst_port, NULL, NULL, NULL, flows, first_ts,
           last_ts, example, unlisted, true
    FROM proxied
), regulated AS (  -- one row per name of the destination (Hubble: every name its address maps to)
    SELECT f.*,
           coalesce(regexp_replace(f.src_pod, '-[bcdfghjklmnpqrstvwxz2456789]{6,10}-[bcdfghjklmnpqrstvwxz2456789]{5}$'
                                              || '|-[bcdfghjklmnpqrstvwxz2456789]{5}$', ''), f.src_ip) AS workload,
           nullif(rtrim(lower(trim(t.name)), '.'), '') AS fqdn,
           CASE WHEN regexp_full_match(f.dst_ip, '[0-9]{1,3}(\.[0-9]{1,3}){3}') THEN logs_ipv4_int(f.dst_ip) END AS dst_int,
           coalesce(f.dst_labels, []) AS labels
    FROM judged f, unnest(string_split(coalesce(f.dst_fqdn, ''), ',')) AS t(name)
), classified AS (
    SELECT *,
           CASE WHEN via_proxy  -- a cluster-local name (one label, or a Service's *.svc.*) or an internal address
                THEN NOT coalesce(regexp_matches(fqdn, '^[^.]*$|\.svc(\.|$)'), false)
                     AND NOT EXISTS (SELECT 1 FROM logs_address_lists i
                                     WHERE i.list = 'internal' AND i.kind = 'cidr' AND dst_int BETWEEN i.first_int AND i.last_int)
                WHEN dst_namespace IS NOT NULL THEN false
                WHEN array_length([l FOR l IN labels IF l LIKE 'reserved:world%' OR l LIKE 'cidr:%' OR l LIKE 'fqdn:%']) > 0
                  OR dst_identity IN ('2', '9', '10')
                  OR TRY_CAST(dst_identity AS BIGINT) BETWEEN 16777217 AND 33554431 THEN true  -- CIDR identities
                WHEN array_length(labels) > 0 OR dst_identity IS NOT NULL THEN false  -- host, remote-node, kube-apiserver…
                WHEN dst_int IS NOT NULL THEN NOT EXISTS (
                    SELECT 1 FROM logs_address_lists i
                    WHERE i.list = 'internal' AND i.kind = 'cidr' AND dst_int BETWEEN i.first_int AND i.last_int)
                WHEN dst_ip LIKE '%:%' THEN NOT regexp_matches(lower(dst_ip), '^(f[cd][0-9a-f]{0,2}:|fe[89ab][0-9a-f]:|::1$)')
                ELSE false END AS external
    FROM regulated
), grouped AS (
    SELECT cluster, src_namespace AS namespace, unlisted, workload, coalesce(fqdn, dst_ip) AS destination, fqdn, dst_ip,
           dst_int, dst_port AS port, CAST(sum(flows) AS BIGINT) AS flows, min(first_ts) AS first_ts,
           max(last_ts) AS last_ts, min(example) AS example
    FROM classified
    WHERE external
    GROUP BY ALL
)
SELECT g.*,
       (SELECT min(a.entry || ' (' || a.origin || ')') FROM logs_address_lists a
        WHERE a.list = 'allowlist' AND (a.cluster IS NULL OR a.cluster = g.cluster)
          AND a.problem IS NULL
          AND (a.kind = 'cidr' AND g.dst_int BETWEEN a.first_int AND a.last_int
               OR a.kind = 'name' AND g.fqdn GLOB a.entry)) AS allowed_by
FROM grouped g;

-- One row per source workload, destination and port, allowed or not, citing the earliest flow.
CREATE VIEW logs_regulated_egress_summary AS
SELECT e.cluster, e.namespace, e.unlisted, e.workload, e.destination, e.port, e.allowed,
       string_agg(DISTINCT e.dst_ip, ', ' ORDER BY e.dst_ip) AS addresses,
       sum(e.flows) AS flows, min(e.first_ts) AS first_ts, max(e.last_ts) AS last_ts,
       min(e.allowed_by) AS allowed_by, min(e.example) AS example
FROM (SELECT *, allowed_by IS NOT NULL AS allowed FROM logs_regulated_egress) e
GROUP BY e.cluster, e.namespace, e.unlisted, e.workload, e.destination, e.port, e.allowed;

-- policy-denies-visible --------------------------------------------------------------------------------

-- Clusters expected to log deny records: those in the Kubernetes inventory, those of log records (all
-- time), and those named by log files that loaded no record. Each cites where it was first seen.
CREATE VIEW logs_clusters AS
SELECT cluster, min({'location': location, 'source': source, 'run_id': run_id,
                     'artifact_sha256': artifact_sha256, 'collected_at': collected_at}) AS seen
FROM (SELECT cluster, location, source, run_id, artifact_sha256, collected_at FROM k8s_inventory_current
      UNION ALL
      SELECT r.cluster, a.origin, a.source, a.run_id, a.artifact_sha256, a.collected_at
      FROM (SELECT cluster, run_id, artifact_sha256 FROM flows
            UNION SELECT cluster, run_id, artifact_sha256 FROM http_access) r
      JOIN log_artifacts_ingested a USING (run_id, artifact_sha256)
      UNION ALL
      SELECT cluster, origin, source, run_id, artifact_sha256, collected_at FROM log_artifacts_ingested
      WHERE records = 0)
GROUP BY cluster;

-- The node that reported a Hubble flow (Hubble Relay writes "cluster/node"); NULL for other flow logs.
CREATE OR REPLACE TEMP MACRO logs_node(log_format, observer) AS
    CASE WHEN log_format <> 'hubble' THEN NULL
         WHEN contains(observer, '/') THEN nullif(regexp_extract(observer, '[^/]*$'), '')
         ELSE nullif(observer, '') END;

-- The nodes expected to report flows: the Node objects of a cluster whose Nodes were listed, else the nodes
-- its Pods run on (spec.nodeName) and the nodes that reported Hubble flows (any time). Each cites where it
-- was first seen.
CREATE VIEW logs_nodes AS
WITH listed AS (
    SELECT cluster FROM k8s_inventory_current WHERE kind = 'Node' AND status = 'collected'
), seen AS (
    SELECT cluster, name AS node, location, source, run_id, artifact_sha256, collected_at
    FROM k8s_current WHERE kind = 'Node'
    UNION ALL
    SELECT cluster, spec->>'nodeName', location, source, run_id, artifact_sha256, collected_at
    FROM k8s_current WHERE kind = 'Pod' AND cluster NOT IN (SELECT cluster FROM listed)
    UNION ALL
    SELECT f.cluster, logs_node('hubble', f.observer), a.origin, a.source, a.run_id, a.artifact_sha256, a.collected_at
    FROM (SELECT DISTINCT cluster, observer, run_id, artifact_sha256 FROM flows WHERE log_format = 'hubble') f
    JOIN log_artifacts_ingested a USING (run_id, artifact_sha256)
    WHERE f.cluster NOT IN (SELECT cluster FROM listed)
)
SELECT cluster, node, min({'location': location, 'source': source, 'run_id': run_id,
                           'artifact_sha256': artifact_sha256, 'collected_at': collected_at}) AS seen
FROM seen
WHERE coalesce(node, '') <> ''
GROUP BY cluster, node;

-- NetworkPolicy enforcement drops: Hubble flows DROPPED by policy (reason POLICY_DENIED / 133 "Policy
-- denied", POLICY_DENY / 181 "Policy denied by denylist", AUTH_REQUIRED / 189 "Authentication required").
-- Not: L7 denials in access logs, VPC Flow Logs REJECT (security groups, network ACLs), firewall drops.
CREATE VIEW logs_policy_drops AS
SELECT *, logs_node(log_format, observer) AS node
FROM logs_flows
WHERE verdict = 'deny' AND log_format = 'hubble'
  AND upper(replace(trim(reason), ' ', '_')) IN ('POLICY_DENIED', '133', 'POLICY_DENY', 'POLICY_DENIED_BY_DENYLIST', '181',
                                                 'AUTH_REQUIRED', 'AUTHENTICATION_REQUIRED', '189');

-- Silences between consecutive flow records of a node (Hubble) or of a cluster's other flow logs (node
-- NULL), and before the first and after the last record up to the window's bounds (the span of the records
-- when a bound is open). Each cites the record that ends it, or, after the last record, that record.
-- Set-based: records are grouped in buckets max_log_gap_minutes wide (whole microseconds, rounded down), so
-- two records of one bucket are never a longer silence than allowed; only the silences between the last
-- record of a bucket and the first of the next non-empty one are listed (shorter ones may be left out).
-- The first and last record of a bucket are found per bucket and provenance (few: one per log file) first, so
-- the comparisons of records (ts, then provenance) run over those groups, not over every flow.
CREATE VIEW logs_flow_silences AS
WITH p AS (
    SELECT cluster, logs_node(log_format, observer) AS node,
           epoch_us(ts) // greatest(1, CAST(floor(60e6 * CAST(getvariable('max_log_gap_minutes') AS DOUBLE)) AS BIGINT))
             AS bucket,
           artifact_sha256, run_id, source, collected_at, min(ts) AS first_ts, max(ts) AS last_ts
    FROM logs_flows
    GROUP BY ALL
), b AS (
    SELECT cluster, node, bucket,
           min({'ts': first_ts, 'artifact_sha256': artifact_sha256, 'run_id': run_id, 'source': source,
                'collected_at': collected_at}) AS first,
           max({'ts': last_ts, 'artifact_sha256': artifact_sha256, 'run_id': run_id, 'source': source,
                'collected_at': collected_at}) AS last
    FROM p
    GROUP BY ALL
), t AS (
    SELECT *, lag(last.ts) OVER w AS previous, lead(first.ts) OVER w AS next
    FROM b
    WINDOW w AS (PARTITION BY cluster, node ORDER BY bucket)
), s AS (
    SELECT cluster, node, previous AS silence_start, first.ts AS silence_end, first.source, first.run_id,
           first.artifact_sha256, first.collected_at
    FROM t WHERE previous IS NOT NULL
    UNION ALL
    SELECT cluster, node, span.since, first.ts, first.source, first.run_id, first.artifact_sha256, first.collected_at
    FROM t, logs_span span WHERE previous IS NULL
    UNION ALL
    SELECT cluster, node, last.ts, span.until, last.source, last.run_id, last.artifact_sha256, last.collected_at
    FROM t, logs_span span WHERE next IS NULL
)
SELECT *, round((epoch(silence_end) - epoch(silence_start)) / 60, 1) AS minutes FROM s;

-- Log files of landed runs with the span of the records they loaded (NULL when none); those whose
-- records overlap the window, and those without records, count.
CREATE VIEW logs_files AS
WITH spans AS (
    SELECT run_id, artifact_sha256, min(ts) AS first_ts, max(ts) AS last_ts
    FROM (SELECT run_id, artifact_sha256, ts FROM flows
          UNION ALL SELECT run_id, artifact_sha256, ts FROM http_access
          UNION ALL SELECT run_id, artifact_sha256, ts FROM dns_queries
          UNION ALL SELECT run_id, artifact_sha256, ts FROM audit_events)
    GROUP BY ALL
)
SELECT a.*, s.first_ts, s.last_ts
FROM log_artifacts_ingested a LEFT JOIN spans s USING (run_id, artifact_sha256), logs_window w
WHERE (w.since IS NULL OR s.last_ts IS NULL OR s.last_ts >= w.since)
  AND (w.until IS NULL OR s.first_ts IS NULL OR s.first_ts < w.until);

-- incidents-traceable ----------------------------------------------------------------------------------

-- Each Envoy access log record but an egress gateway's (Squid's and egress gateways' lines are egress
-- evidence only) and the fields it lacks. The route is its name, else the authority and path it was matched
-- on. A request the proxy answered without routing it (a deny, or the NR no-route or DPE
-- downstream-protocol-error flag) needs only a trace or request id.
CREATE VIEW logs_http_traceability AS
SELECT *, NOT (missing_route OR missing_backend OR missing_id) AS traceable
FROM (SELECT *,
             NOT unrouted AND coalesce(route, '') IN ('', '-')
               AND (coalesce(authority, '') IN ('', '-') OR coalesce(path, '') IN ('', '-')) AS missing_route,
             NOT unrouted AND coalesce(upstream_cluster, '') IN ('', '-') AND coalesce(upstream_host, '') IN ('', '-')
               AS missing_backend,
             coalesce(trace_id, '') IN ('', '-') AND coalesce(request_id, '') IN ('', '-') AS missing_id
      FROM (SELECT *, verdict = 'deny' OR list_has_any(string_split(coalesce(response_flags, ''), ','), ['NR', 'DPE'])
                        AS unrouted
            FROM logs_http h
            WHERE log_format = 'envoy'
              AND NOT EXISTS (SELECT 1 FROM logs_http_gateways g
                              WHERE g.egress AND g.cluster = h.cluster AND g.value = h.gateway)));

-- Each gateway that must write access logs, with its records in the window and the traceable ones, citing
-- the earliest traceable record (else the gateway's object).
CREATE VIEW logs_gateway_coverage AS
SELECT g.cluster, g.kind, g.gateway, g.location, g.source, g.run_id, g.artifact_sha256, g.collected_at,
       count(t.ts) AS requests, count(t.ts) FILTER (WHERE t.traceable) AS traceable,
       min(t.ts) FILTER (WHERE t.traceable) AS first_ts, max(t.ts) FILTER (WHERE t.traceable) AS last_ts,
       min({'ts': t.ts, 'artifact_sha256': t.artifact_sha256, 'run_id': t.run_id, 'source': t.source,
            'collected_at': t.collected_at}) FILTER (WHERE t.traceable) AS example
FROM logs_gateways g
LEFT JOIN logs_http_gateways a ON a.cluster = g.cluster AND a.kind = g.kind AND a.gateway = g.gateway
LEFT JOIN logs_http_traceability t ON t.cluster = a.cluster AND t.gateway = a.value
WHERE NOT g.egress
GROUP BY ALL;

-- Gateway kinds not listed for a cluster of the inventory or of Envoy access logs (neither collected nor
-- known absent: CRD not served), so that its gateways of that kind are unknown.
CREATE VIEW logs_gateway_kinds_unknown AS
SELECT c.cluster, k.kind, coalesce(i.status || coalesce(' (' || i.reason || ')', ''), 'not listed') AS status
FROM (SELECT cluster FROM k8s_inventory_current UNION SELECT cluster FROM logs_http WHERE log_format = 'envoy') c
CROSS JOIN (VALUES ('Gateway'), ('Gateway.networking.istio.io'), ('IngressClass'), ('Ingress')) k(kind)
LEFT JOIN k8s_inventory_current i ON i.cluster = c.cluster AND i.kind = k.kind
WHERE i.status IS DISTINCT FROM 'collected' AND i.reason IS DISTINCT FROM 'crd-absent';

-- logs-retained ----------------------------------------------------------------------------------------

-- How long each S3 or CloudWatch Logs destination of a log input keeps its logs, as read by the latest landed
-- run that read it (a destination no longer configured keeps its last reading).
CREATE VIEW logs_retention AS
SELECT t.* FROM log_retention t JOIN runs r USING (run_id)
WHERE r.status IN ('succeeded', 'partial')
QUALIFY row_number() OVER (PARTITION BY t.destination ORDER BY r.started_at DESC, t.run_id DESC) = 1;

-- The log files the claims read (logs_files), per destination whose origin_prefix begins their origin; files no
-- destination covers (local files, inputs read before retention was collected) are grouped by directory (a local
-- file's origin is ROOT:path, its directory ROOT:dir/), with `destination` NULL.
CREATE VIEW logs_retention_files AS
SELECT t.destination, CASE WHEN t.destination IS NULL THEN regexp_replace(f.origin, '[^/:]*$', '') END AS directory,
       count(DISTINCT f.origin) AS files, string_agg(DISTINCT f.log_format, ', ' ORDER BY f.log_format) AS log_formats,
       min({'origin': f.origin, 'source': f.source, 'run_id': f.run_id, 'artifact_sha256': f.artifact_sha256,
            'collected_at': f.collected_at}) AS example
FROM logs_files f LEFT JOIN logs_retention t ON starts_with(f.origin, t.origin_prefix)
GROUP BY ALL;

-- Each destination and each directory of uncovered files, with its retention in words and whether it meets
-- min_retention_days (status and meets NULL: no retention evidence for the files of a directory).
CREATE VIEW logs_retention_judged AS
SELECT t.destination AS object, t.service, t.status, coalesce(f.log_formats, '') AS log_formats,
       coalesce(f.files, 0) AS files,
       CASE WHEN t.status <> 'read' THEN 'unreadable: ' || t.error
            WHEN t.expires_after_days IS NULL THEN 'indefinite'
            ELSE t.expires_after_days || ' day(s) (' || t.expired_by || ')' END AS retention,
       t.expires_after_days, t.transitions, t.noncurrent_expiration_days, t.object_lock,
       t.status = 'read' AND coalesce(t.expires_after_days >= getvariable('min_retention_days'), true) AS meets,
       t.destination AS location, t.source, t.run_id, t.artifact_sha256, t.collected_at
FROM logs_retention t LEFT JOIN logs_retention_files f USING (destination)
UNION ALL
SELECT f.directory, CASE WHEN f.directory LIKE 's3://%' THEN 's3' WHEN f.directory LIKE 'cloudwatch://%' THEN 'cloudwatch'
                         ELSE 'local' END,
       NULL, f.log_formats, f.files, 'not evidenced', NULL, NULL, NULL, NULL, NULL,
       f.example.origin, f.example.source, f.example.run_id, f.example.artifact_sha256, f.example.collected_at
FROM logs_retention_files f
WHERE f.destination IS NULL;
