-- Helper views shared by the claims of this pack. Log rows count only when the run that loaded them landed
-- (succeeded or partial). Parameters are DuckDB variables set from pack.yaml (getvariable('name')).
-- IPv4 addresses are compared as integers (a.b.c.d = a*2^24 + b*2^16 + c*2^8 + d): no extension needed.
CREATE OR REPLACE TEMP MACRO logs_ipv4_int(address) AS
    TRY_CAST(split_part(address, '.', 1) AS BIGINT) * 16777216 + TRY_CAST(split_part(address, '.', 2) AS BIGINT) * 65536
    + TRY_CAST(split_part(address, '.', 3) AS BIGINT) * 256 + TRY_CAST(split_part(address, '.', 4) AS BIGINT);

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

-- egress-controlled ------------------------------------------------------------------------------------

CREATE VIEW logs_regulated_namespaces AS
SELECT cluster, name AS namespace
FROM k8s_current
WHERE kind = 'Namespace'
  AND (labels->>split_part(getvariable('regulated_label'), '=', 1)) = split_part(getvariable('regulated_label'), '=', 2);

-- IPv4 CIDRs (a bare address is a /32) and DNS name globs: the egress_allowlist parameter (every cluster),
-- each line of the data values of ConfigMaps labelled defensible.io/egress-allowlist=true (their cluster),
-- and the internal_cidrs parameter (list 'internal'). '#' starts a comment; case is ignored.
-- Entries that are neither a valid IPv4 CIDR nor a DNS name pattern are kept as 'invalid' and match nothing.
CREATE VIEW logs_address_lists AS
WITH entries AS (
    SELECT 'allowlist' AS list, NULL::VARCHAR AS cluster, e AS entry, 'parameter egress_allowlist' AS origin
    FROM unnest(CAST(getvariable('egress_allowlist') AS VARCHAR[])) AS t(e)
    UNION ALL
    SELECT 'allowlist', c.cluster, l, 'ConfigMap ' || c.namespace || '/' || c.name || ' data.' || d.key
    FROM k8s_current c, json_each(c.data) d, unnest(string_split(d.value->>'$', chr(10))) AS t(l)
    WHERE c.kind = 'ConfigMap' AND (c.labels->>'defensible.io/egress-allowlist') = 'true'
    UNION ALL
    SELECT 'internal', NULL, e, 'parameter internal_cidrs'
    FROM unnest(CAST(getvariable('internal_cidrs') AS VARCHAR[])) AS t(e)
), cleaned AS (
    SELECT list, cluster, lower(trim(split_part(entry, '#', 1))) AS entry, origin FROM entries
), parsed AS (
    SELECT *,
           regexp_full_match(entry, '((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}'
                                    || '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(/(3[0-2]|[12]?[0-9]))?') AS is_cidr,
           split_part(entry, '/', 1) AS address,
           coalesce(TRY_CAST(nullif(split_part(entry, '/', 2), '') AS INTEGER), 32) AS prefix
    FROM cleaned
    WHERE entry <> ''
), ranged AS (
    SELECT *,
           CASE WHEN is_cidr THEN logs_ipv4_int(address) END AS address_int,
           CASE WHEN is_cidr THEN CAST(1 AS BIGINT) << (32 - prefix) END AS size
    FROM parsed
)
SELECT list, cluster, entry, origin,
       CASE WHEN is_cidr THEN 'cidr'
            WHEN regexp_full_match(entry, '[0-9./]+') THEN 'invalid'  -- looks like an address but is not one
            WHEN regexp_full_match(entry, '(\*|[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*')
                 THEN 'name'
            ELSE 'invalid' END AS kind,
       CASE WHEN is_cidr THEN address_int - address_int % size END AS first_int,  -- host bits ignored
       CASE WHEN is_cidr THEN address_int - address_int % size + size - 1 END AS last_int
FROM ranged;

-- Allowed egress from regulated namespaces to destinations outside the cluster, aggregated per source
-- workload, destination address or name and port, with the allowlist entry that admits it (NULL: none).
-- Outside the cluster: the flow names no destination namespace and its destination is Cilium's world
-- (labels reserved:world*, cidr:*, fqdn:*; identity 2, 9 or 10), or, when the log gives neither labels
-- nor identity, its IPv4 address is not in internal_cidrs (IPv6: not ULA, link-local or loopback).
CREATE VIEW logs_regulated_egress AS
WITH regulated AS (
    SELECT f.*,
           coalesce(regexp_replace(f.src_pod, '-[bcdfghjklmnpqrstvwxz2456789]{6,10}-[bcdfghjklmnpqrstvwxz2456789]{5}$'
                                              || '|-[bcdfghjklmnpqrstvwxz2456789]{5}$', ''), f.src_ip) AS workload,
           nullif(rtrim(lower(f.dst_fqdn), '.'), '') AS fqdn,
           CASE WHEN regexp_full_match(f.dst_ip, '[0-9]{1,3}(\.[0-9]{1,3}){3}') THEN logs_ipv4_int(f.dst_ip) END AS dst_int,
           coalesce(f.dst_labels, []) AS labels
    FROM logs_flows f
    JOIN logs_regulated_namespaces n ON n.cluster = f.cluster AND n.namespace = f.src_namespace
    WHERE f.verdict = 'allow' AND coalesce(f.direction, 'egress') = 'egress'
), classified AS (
    SELECT *,
           CASE WHEN dst_namespace IS NOT NULL THEN false
                WHEN array_length([l FOR l IN labels IF l LIKE 'reserved:world%' OR l LIKE 'cidr:%' OR l LIKE 'fqdn:%']) > 0
                  OR dst_identity IN ('2', '9', '10') THEN true
                WHEN array_length(labels) > 0 OR dst_identity IS NOT NULL THEN false  -- host, remote-node, kube-apiserver…
                WHEN dst_int IS NOT NULL THEN NOT EXISTS (
                    SELECT 1 FROM logs_address_lists i
                    WHERE i.list = 'internal' AND i.kind = 'cidr' AND dst_int BETWEEN i.first_int AND i.last_int)
                WHEN dst_ip LIKE '%:%' THEN NOT regexp_matches(lower(dst_ip), '^(f[cd][0-9a-f]{0,2}:|fe[89ab][0-9a-f]:|::1$)')
                ELSE false END AS external
    FROM regulated
), grouped AS (
    SELECT cluster, src_namespace AS namespace, workload, coalesce(fqdn, dst_ip) AS destination, fqdn, dst_ip,
           dst_int, dst_port AS port, count(*) AS flows, min(ts) AS first_ts, max(ts) AS last_ts,
           min({'ts': ts, 'artifact_sha256': artifact_sha256, 'run_id': run_id, 'source': source,
                'collected_at': collected_at}) AS example
    FROM classified
    WHERE external
    GROUP BY ALL
)
SELECT g.*,
       (SELECT min(a.entry || ' (' || a.origin || ')') FROM logs_address_lists a
        WHERE a.list = 'allowlist' AND (a.cluster IS NULL OR a.cluster = g.cluster)
          AND (a.kind = 'cidr' AND g.dst_int BETWEEN a.first_int AND a.last_int
               OR a.kind = 'name' AND g.fqdn GLOB a.entry)) AS allowed_by
FROM grouped g;

-- One row per source workload, destination and port, allowed or not, citing the earliest flow.
CREATE VIEW logs_regulated_egress_summary AS
SELECT e.cluster, e.namespace, e.workload, e.destination, e.port, e.allowed,
       string_agg(DISTINCT e.dst_ip, ', ' ORDER BY e.dst_ip) AS addresses,
       sum(e.flows) AS flows, min(e.first_ts) AS first_ts, max(e.last_ts) AS last_ts,
       min(e.allowed_by) AS allowed_by, min(e.example) AS example
FROM (SELECT *, allowed_by IS NOT NULL AS allowed FROM logs_regulated_egress) e
GROUP BY e.cluster, e.namespace, e.workload, e.destination, e.port, e.allowed;

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

CREATE VIEW logs_denies AS
SELECT cluster, 'flows' AS log, ts, source, run_id, artifact_sha256, collected_at
FROM logs_flows WHERE verdict = 'deny'
UNION ALL
SELECT cluster, 'access log', ts, source, run_id, artifact_sha256, collected_at
FROM logs_http WHERE verdict = 'deny';

-- Silences between consecutive flow records of a cluster, and before its first and after its last record
-- up to the window's bounds (the span of the records when a bound is open). Each cites the record
-- that ends it, or, after the last record, that record.
CREATE VIEW logs_flow_silences AS
WITH t AS (
    SELECT cluster, ts, lag(ts) OVER w AS previous, lead(ts) OVER w AS next,
           source, run_id, artifact_sha256, collected_at
    FROM logs_flows
    WINDOW w AS (PARTITION BY cluster ORDER BY ts, artifact_sha256)
), s AS (
    SELECT cluster, previous AS silence_start, ts AS silence_end, source, run_id, artifact_sha256, collected_at
    FROM t WHERE previous IS NOT NULL
    UNION ALL
    SELECT cluster, span.since, ts, source, run_id, artifact_sha256, collected_at
    FROM t, logs_span span WHERE previous IS NULL
    UNION ALL
    SELECT cluster, ts, span.until, source, run_id, artifact_sha256, collected_at
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

-- Each access log record and the fields it lacks. A request the proxy answered without routing it (a deny,
-- or the NR no-route or DPE downstream-protocol-error flag) needs only a trace or request id.
CREATE VIEW logs_http_traceability AS
SELECT *,
       NOT unrouted AND coalesce(route, '') IN ('', '-') AS missing_route,
       NOT unrouted AND coalesce(upstream_cluster, '') IN ('', '-') AND coalesce(upstream_host, '') IN ('', '-')
         AS missing_backend,
       coalesce(trace_id, '') IN ('', '-') AND coalesce(request_id, '') IN ('', '-') AS missing_id
FROM (SELECT *, verdict = 'deny' OR list_has_any(string_split(coalesce(response_flags, ''), ','), ['NR', 'DPE'])
                  AS unrouted
      FROM logs_http);
