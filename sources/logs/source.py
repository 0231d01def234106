"""Deny and egress logs: Hubble, VPC Flow Logs, Envoy/Istio, Squid, Route 53 Resolver, Network Firewall and
Kubernetes audit events, normalised into ``flows``, ``http_access``, ``dns_queries`` and ``audit_events``.

Each input names a format and where its files are: local paths (plain or gzip), S3 objects or CloudWatch
Logs groups; for S3 and CloudWatch Logs, how long the destination keeps them (``sources.logs.retention``).
Every file is kept as an artifact and parsed by DuckDB (``sources.logs.ingest``); malformed
lines are counted and sampled in ``ingest_rejects`` and make the run partial. A file whose digest was
already ingested for a window covering this run's is skipped.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from collector.plugins import CollectContext, SourceError
from collector.store import PROVENANCE_COLUMNS
from sources.logs.fetch import CLOUDWATCH_SCHEMA, S3_SCHEMA, AwsClients, fetch_input
from sources.logs.formats import FORMATS
from sources.logs.ingest import Window, already_read, ingest_file
from sources.logs.retention import MIGRATION as RETENTION_MIGRATION
from sources.logs.retention import collect_retention
from sources.logs.spark import ENGINE_SCHEMA, collect_on_spark

# Per-format storage (issue 19): each format's rows in its own table with only the columns it fills and the
# load's id (log_artifacts.load_id, dense from 1) instead of the provenance repeated on every row; the tables
# of before keep their rows (<view>_v1) and the views under the old names union them all, taking each row's
# provenance from its load by position in one list read once per query (a join would not keep store order).
LOAD = (
    "(SELECT list({'cluster': cluster, 'source': source, 'run_id': run_id, 'artifact_sha256': artifact_sha256, "
    "'collected_at': collected_at} ORDER BY load_id) FROM log_artifacts WHERE load_id IS NOT NULL)[load_id]"
)
PER_FORMAT_STORAGE = f"""
    ALTER TABLE flows RENAME TO flows_v1;
    ALTER TABLE http_access RENAME TO http_access_v1;
    ALTER TABLE dns_queries RENAME TO dns_queries_v1;
    ALTER TABLE audit_events RENAME TO audit_events_v1;
    ALTER TABLE log_artifacts ADD COLUMN load_id INTEGER;  -- the load's rows in the per-format tables
    CREATE OR REPLACE VIEW log_artifacts_ingested AS
        SELECT a.* FROM log_artifacts a JOIN runs r USING (run_id) WHERE r.status IN ('succeeded', 'partial');
    CREATE TABLE flows_hubble (
        load_id INTEGER NOT NULL, ts TIMESTAMPTZ NOT NULL,
        cluster VARCHAR,              -- the record's cluster when the input names none, else the load's
        observer VARCHAR, src_ip VARCHAR, src_port INTEGER, dst_ip VARCHAR, dst_port INTEGER, protocol VARCHAR,
        src_namespace VARCHAR, src_pod VARCHAR, src_identity VARCHAR, src_labels VARCHAR[],
        dst_namespace VARCHAR, dst_pod VARCHAR, dst_identity VARCHAR, dst_labels VARCHAR[],
        dst_fqdn VARCHAR, direction VARCHAR, verdict VARCHAR NOT NULL, reason VARCHAR, policy VARCHAR
    );
    CREATE TABLE flows_vpcflow (
        load_id INTEGER NOT NULL, ts TIMESTAMPTZ NOT NULL,
        observer VARCHAR, src_ip VARCHAR, src_port INTEGER, dst_ip VARCHAR, dst_port INTEGER, protocol VARCHAR,
        verdict VARCHAR NOT NULL, direction VARCHAR, reason VARCHAR, bytes BIGINT, packets BIGINT
    );
    CREATE TABLE flows_network_firewall (
        load_id INTEGER NOT NULL, ts TIMESTAMPTZ NOT NULL,
        observer VARCHAR, src_ip VARCHAR, src_port INTEGER, dst_ip VARCHAR, dst_port INTEGER, protocol VARCHAR,
        dst_fqdn VARCHAR, verdict VARCHAR NOT NULL, reason VARCHAR, policy VARCHAR, bytes BIGINT, packets BIGINT
    );
    CREATE TABLE http_access_envoy (
        load_id INTEGER NOT NULL, ts TIMESTAMPTZ NOT NULL,
        gateway VARCHAR, route VARCHAR, upstream_cluster VARCHAR, upstream_host VARCHAR,
        authority VARCHAR, method VARCHAR, path VARCHAR, protocol VARCHAR, status INTEGER,
        response_flags VARCHAR, response_details VARCHAR,
        duration_ms BIGINT, bytes_received BIGINT, bytes_sent BIGINT,
        src_ip VARCHAR, src_principal VARCHAR, dst_principal VARCHAR, mtls BOOLEAN,
        trace_id VARCHAR, request_id VARCHAR, user_agent VARCHAR, verdict VARCHAR NOT NULL
    );
    CREATE TABLE http_access_squid (
        load_id INTEGER NOT NULL, ts TIMESTAMPTZ NOT NULL,
        authority VARCHAR, method VARCHAR, path VARCHAR, status INTEGER, response_flags VARCHAR,
        duration_ms BIGINT, bytes_sent BIGINT, src_ip VARCHAR, src_principal VARCHAR, upstream_host VARCHAR,
        verdict VARCHAR NOT NULL
    );
    CREATE TABLE dns_queries_route53_resolver (
        load_id INTEGER NOT NULL, ts TIMESTAMPTZ NOT NULL,
        vpc_id VARCHAR, src_ip VARCHAR, src_port INTEGER, src_id VARCHAR,
        qname VARCHAR NOT NULL, qtype VARCHAR, rcode VARCHAR, answers VARCHAR[], transport VARCHAR,
        firewall_action VARCHAR, firewall_rule VARCHAR
    );
    CREATE TABLE audit_events_k8s_audit (
        load_id INTEGER NOT NULL, ts TIMESTAMPTZ NOT NULL,
        audit_id VARCHAR NOT NULL, stage VARCHAR NOT NULL, level VARCHAR,
        "user" VARCHAR, groups VARCHAR[], impersonated_user VARCHAR, source_ips VARCHAR[], user_agent VARCHAR,
        verb VARCHAR, api_group VARCHAR, api_version VARCHAR, resource VARCHAR, subresource VARCHAR,
        namespace VARCHAR, name VARCHAR, request_uri VARCHAR, decision VARCHAR, reason VARCHAR, code INTEGER
    );
    CREATE VIEW flows AS
        SELECT * FROM flows_v1
        UNION ALL BY NAME
        SELECT * EXCLUDE (load_id, p, cluster), 'hubble' AS log_format, coalesce(cluster, p.cluster) AS cluster,
               p.source, p.run_id, p.artifact_sha256, p.collected_at
        FROM (SELECT *, {LOAD} AS p FROM flows_hubble)
        UNION ALL BY NAME
        SELECT * EXCLUDE (load_id, p), 'vpcflow' AS log_format, p.cluster AS cluster,
               p.source, p.run_id, p.artifact_sha256, p.collected_at
        FROM (SELECT *, {LOAD} AS p FROM flows_vpcflow)
        UNION ALL BY NAME
        SELECT * EXCLUDE (load_id, p), 'network-firewall' AS log_format, p.cluster AS cluster,
               p.source, p.run_id, p.artifact_sha256, p.collected_at
        FROM (SELECT *, {LOAD} AS p FROM flows_network_firewall);
    CREATE VIEW http_access AS
        SELECT * FROM http_access_v1
        UNION ALL BY NAME
        SELECT * EXCLUDE (load_id, p), 'envoy' AS log_format, p.cluster AS cluster,
               p.source, p.run_id, p.artifact_sha256, p.collected_at
        FROM (SELECT *, {LOAD} AS p FROM http_access_envoy)
        UNION ALL BY NAME
        SELECT * EXCLUDE (load_id, p), 'squid' AS log_format, p.cluster AS cluster,
               p.source, p.run_id, p.artifact_sha256, p.collected_at
        FROM (SELECT *, {LOAD} AS p FROM http_access_squid);
    CREATE VIEW dns_queries AS
        SELECT * FROM dns_queries_v1
        UNION ALL BY NAME
        SELECT * EXCLUDE (load_id, p), 'route53-resolver' AS log_format, p.cluster AS cluster,
               p.source, p.run_id, p.artifact_sha256, p.collected_at
        FROM (SELECT *, {LOAD} AS p FROM dns_queries_route53_resolver);
    CREATE VIEW audit_events AS
        SELECT * FROM audit_events_v1
        UNION ALL BY NAME
        SELECT * EXCLUDE (load_id, p), 'k8s-audit' AS log_format, p.cluster AS cluster,
               p.source, p.run_id, p.artifact_sha256, p.collected_at
        FROM (SELECT *, {LOAD} AS p FROM audit_events_k8s_audit);
    INSERT INTO view_storage VALUES
        ('flows', 'flows_v1'),
        ('flows', 'flows_hubble'),
        ('flows', 'flows_vpcflow'),
        ('flows', 'flows_network_firewall'),
        ('http_access', 'http_access_v1'),
        ('http_access', 'http_access_envoy'),
        ('http_access', 'http_access_squid'),
        ('dns_queries', 'dns_queries_v1'),
        ('dns_queries', 'dns_queries_route53_resolver'),
        ('audit_events', 'audit_events_v1'),
        ('audit_events', 'audit_events_k8s_audit');
"""

MIGRATIONS = (
    f"""
    CREATE TABLE flows (
        ts TIMESTAMPTZ NOT NULL,
        log_format VARCHAR NOT NULL,  -- hubble | vpcflow | network-firewall
        cluster VARCHAR NOT NULL,
        observer VARCHAR,             -- node, network interface or firewall that reported the flow
        src_ip VARCHAR, src_port INTEGER,
        dst_ip VARCHAR, dst_port INTEGER,
        protocol VARCHAR,             -- TCP | UDP | ICMP | ICMPv6 | SCTP | IANA number
        src_namespace VARCHAR, src_pod VARCHAR, src_identity VARCHAR, src_labels VARCHAR[],
        dst_namespace VARCHAR, dst_pod VARCHAR, dst_identity VARCHAR, dst_labels VARCHAR[],
        dst_fqdn VARCHAR,             -- destination name when the log knows it
        direction VARCHAR,            -- ingress | egress
        verdict VARCHAR NOT NULL,     -- allow | deny
        reason VARCHAR,               -- drop reason, rule signature, log status
        policy VARCHAR,               -- policy or rule that decided, when given
        bytes BIGINT, packets BIGINT,
        {PROVENANCE_COLUMNS}
    );
    CREATE TABLE http_access (
        ts TIMESTAMPTZ NOT NULL,
        log_format VARCHAR NOT NULL,  -- envoy | squid
        cluster VARCHAR NOT NULL,
        gateway VARCHAR,              -- envoy: namespace/name of the gateway or proxy pod that logged the request
        route VARCHAR,                -- route name
        upstream_cluster VARCHAR, upstream_host VARCHAR,
        authority VARCHAR, method VARCHAR, path VARCHAR, protocol VARCHAR,
        status INTEGER,
        response_flags VARCHAR, response_details VARCHAR,
        duration_ms BIGINT, bytes_received BIGINT, bytes_sent BIGINT,
        src_ip VARCHAR, src_principal VARCHAR, dst_principal VARCHAR,
        mtls BOOLEAN,                 -- the downstream connection presented a verified peer certificate
        verdict VARCHAR NOT NULL,     -- allow | deny (RBAC denial, proxy TCP_DENIED)
        trace_id VARCHAR, request_id VARCHAR, user_agent VARCHAR,
        {PROVENANCE_COLUMNS}
    );
    CREATE TABLE dns_queries (
        ts TIMESTAMPTZ NOT NULL,
        log_format VARCHAR NOT NULL,  -- route53-resolver
        cluster VARCHAR NOT NULL,
        vpc_id VARCHAR,
        src_ip VARCHAR, src_port INTEGER, src_id VARCHAR,
        qname VARCHAR NOT NULL, qtype VARCHAR, rcode VARCHAR,
        answers VARCHAR[],
        firewall_action VARCHAR,      -- BLOCK | ALERT | ALLOW when a DNS Firewall rule matched
        firewall_rule VARCHAR,
        transport VARCHAR,
        {PROVENANCE_COLUMNS}
    );
    CREATE TABLE audit_events (
        ts TIMESTAMPTZ NOT NULL,
        log_format VARCHAR NOT NULL,  -- k8s-audit
        cluster VARCHAR NOT NULL,
        audit_id VARCHAR NOT NULL, stage VARCHAR NOT NULL, level VARCHAR,
        "user" VARCHAR, groups VARCHAR[], impersonated_user VARCHAR,
        source_ips VARCHAR[], user_agent VARCHAR,
        verb VARCHAR, api_group VARCHAR, api_version VARCHAR, resource VARCHAR, subresource VARCHAR,
        namespace VARCHAR, name VARCHAR, request_uri VARCHAR,
        decision VARCHAR,             -- allow | forbid (authorization.k8s.io/decision)
        reason VARCHAR,
        code INTEGER,
        {PROVENANCE_COLUMNS}
    );
    -- One row per log file ingested: what it held and the window it was read for.
    CREATE TABLE log_artifacts (
        origin VARCHAR NOT NULL,      -- the file ingested is the row's artifact
        origin_version VARCHAR,       -- S3: the object's ETag, so an unchanged object is not downloaded again
        log_format VARCHAR NOT NULL,
        cluster VARCHAR NOT NULL,
        compression VARCHAR NOT NULL,  -- none | gzip
        wrapper VARCHAR NOT NULL,      -- plain | message (CloudWatch) | docker | cri
        options VARCHAR NOT NULL,      -- the input's settings that change the rows (cluster, fields), as JSON
        window_since TIMESTAMPTZ, window_until TIMESTAMPTZ,
        records BIGINT NOT NULL,       -- rows loaded
        rejected BIGINT NOT NULL,      -- malformed lines (see ingest_rejects)
        skipped JSON NOT NULL,         -- lines not loaded, by reason (headers, lost events, NODATA, duplicate)
        outside_window BIGINT NOT NULL,
        {PROVENANCE_COLUMNS}
    );
    -- Malformed lines per file and reason, with a sample.
    CREATE TABLE ingest_rejects (
        origin VARCHAR NOT NULL,
        log_format VARCHAR NOT NULL,
        reason VARCHAR NOT NULL,
        count BIGINT NOT NULL,
        samples STRUCT(line BIGINT, text VARCHAR)[] NOT NULL,  -- line is NULL when the parser cannot tell it
        {PROVENANCE_COLUMNS}
    );
    CREATE VIEW log_artifacts_ingested AS
        SELECT a.* FROM log_artifacts a JOIN runs r USING (run_id) WHERE r.status IN ('succeeded', 'partial');
    """,
    """
    -- lines = records + outside_window + skipped + rejected (NULL for files loaded before it was recorded)
    ALTER TABLE log_artifacts ADD COLUMN lines BIGINT;
    CREATE OR REPLACE VIEW log_artifacts_ingested AS
        SELECT a.* FROM log_artifacts a JOIN runs r USING (run_id) WHERE r.status IN ('succeeded', 'partial');
    """,
    RETENTION_MIGRATION,
    f"""
    -- Runs on another engine (sources/logs/spark.py): each claim query as run there, and the rows it returned.
    CREATE TABLE engine_results (
        pack VARCHAR NOT NULL, claim VARCHAR NOT NULL, query VARCHAR NOT NULL,  -- gaps | evidence
        engine VARCHAR NOT NULL, engine_version VARCHAR NOT NULL, application_id VARCHAR,
        sql_sha256 VARCHAR NOT NULL,  -- digest of the transpiled SQL run
        parameters JSON NOT NULL,     -- the pack parameters judged with
        columns JSON,                 -- [[name, Spark type], ...]; NULL when the query failed
        total BIGINT, kept BIGINT,    -- rows returned there, rows kept here (max_rows)
        error VARCHAR,
        {PROVENANCE_COLUMNS}
    );
    CREATE TABLE engine_rows (
        pack VARCHAR NOT NULL, claim VARCHAR NOT NULL, query VARCHAR NOT NULL, position BIGINT NOT NULL,
        value JSON NOT NULL,          -- the row's values, a JSON array in the order of engine_results.columns
        {PROVENANCE_COLUMNS}
    );
    -- Records per cluster, format, day and verdict of the logs an engine read where they are.
    CREATE TABLE log_aggregates (
        cluster VARCHAR NOT NULL, log_format VARCHAR NOT NULL, date DATE, verdict VARCHAR,
        records BIGINT NOT NULL, first_ts TIMESTAMPTZ, last_ts TIMESTAMPTZ,
        {PROVENANCE_COLUMNS}
    );
    """,
    PER_FORMAT_STORAGE,
)

INPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["format"],
    "properties": {
        "format": {"enum": sorted(FORMATS)},
        "cluster": {"type": "string", "description": "cluster of the rows (default: from the log, else the source's)"},
        "paths": {"type": "array", "items": {"type": "string"}, "description": "files, directories or glob patterns"},
        "s3": S3_SCHEMA,
        "cloudwatch": CLOUDWATCH_SCHEMA,
        "fields": {
            "type": "array",
            "items": {"type": "string"},
            "description": "vpcflow: field order of files without a header line (custom format)",
        },
        "gateway": {
            "type": "string",
            "pattern": "^([a-z0-9]([-a-z0-9]*[a-z0-9])?/)?[a-z0-9]([-.a-z0-9]*[a-z0-9])?$",
            "description": "envoy: the gateway that wrote these access logs: namespace/name of a Gateway (Gateway "
            "API or Istio) or of its proxy's Pod or workload, or an IngressClass name (default: kubelet pod-log paths)",
        },
    },
    "oneOf": [{"required": ["paths"]}, {"required": ["s3"]}, {"required": ["cloudwatch"]}],
}


class LogsSource:
    name = "logs"
    description = "Deny and egress logs: Hubble, VPC Flow Logs, Envoy/Istio, Squid, Route 53, Network Firewall, audit"
    config_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["inputs"],
        "properties": {
            "inputs": {"type": "array", "minItems": 1, "items": INPUT_SCHEMA},
            "cluster": {"type": "string", "default": "default", "description": "cluster for rows that name none"},
            "since": {"type": ["string", "null"], "default": None, "description": "keep records from (ISO 8601)"},
            "until": {"type": ["string", "null"], "default": None, "description": "keep records before (ISO 8601)"},
            "max_line_bytes": {"type": "integer", "minimum": 1024, "maximum": 16777216, "default": 1048576},
            "memory_limit": {"type": "string", "pattern": "^[0-9.]+ ?[KMGT]i?B$", "default": "512MB"},
            "engine": ENGINE_SCHEMA,
        },
    }
    migrations = MIGRATIONS

    def collect(self, ctx: CollectContext) -> None:
        cfg = ctx.config
        window = Window(parse_time(cfg["since"], "since"), parse_time(cfg["until"], "until"))
        if window.since and window.until and window.since >= window.until:
            raise SourceError(f"logs: since ({cfg['since']}) must be before until ({cfg['until']})")
        if cfg.get("engine", {}).get("name") == "spark":
            collect_on_spark(ctx, window)
            return
        # rows need no order; DuckDB loads in parallel and spills to disk beyond the memory limit
        ctx.set_duckdb("preserve_insertion_order", "false")
        ctx.set_duckdb("memory_limit", f"'{cfg['memory_limit']}'")
        this_run: set[tuple[str, str, str]] = set()
        clients = AwsClients()
        for number, spec in enumerate(cfg["inputs"], start=1):
            collect_input(ctx, number, spec, window, this_run, clients)


def collect_input(
    ctx: CollectContext,
    number: int,
    spec: dict[str, Any],
    window: Window,
    this_run: set[tuple[str, str, str]],
    clients: AwsClients,
) -> None:
    fmt = FORMATS[spec["format"]]
    if "fields" in spec and fmt.name != "vpcflow":
        raise SourceError(f"logs: input {number} ({fmt.name}): `fields` applies to vpcflow only")
    if "gateway" in spec and fmt.name != "envoy":
        raise SourceError(f"logs: input {number} ({fmt.name}): `gateway` applies to envoy only")
    collect_retention(ctx, spec, clients)
    found = 0  # files fetched, or remote objects known unchanged and not fetched

    def unchanged(origin: str, version: str) -> bool:
        nonlocal found
        known = already_read(ctx, fmt, spec, origin, version, window)
        found += known
        return known

    with ctx.progress(f"input {number} ({fmt.name})", unit="records") as progress:
        fetched_files = fetch_input(spec, window, number, unchanged, clients, ctx.store, fmt.batch_marker)
        for files, fetched in enumerate(fetched_files, start=1):
            found += 1
            progress.advance(ingest_file(ctx, fmt, fetched, spec, window, this_run))
            progress.update(detail=f"{files} file(s)")
    if not found:
        ctx.partial(f"logs: input {number} ({fmt.name}): no files found")


def parse_time(value: str | None, key: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise SourceError(f"logs: {key}: {value!r} is not an ISO 8601 time (e.g. 2026-11-01T00:00:00Z)") from None
    if parsed.tzinfo is None:
        raise SourceError(f"logs: {key}: {value!r} has no time zone (add Z or +00:00)")
    return parsed
