"""The logs source on Apache Spark: normalise on the cluster, judge the logs claims there, bring back evidence.

The inputs' files are read by Spark as lines, parsed by the formats' own SQL and the pack's claims run, both
transpiled from DuckDB SQL (``collector.transpile``), and the records are written as Parquet partitioned by date
and cluster under the ``output`` the user names. Only these come back to the store, as rows of this run: one
``log_artifacts`` row per input object (lines loaded, rejected and skipped by reason), the per-day aggregates of
the records (``log_aggregates``), and each claim's gap and evidence rows (at most ``max_rows`` each, counted
when capped) with the engine's version, the Spark application id and the digest of the SQL run
(``engine_results``, ``engine_rows``). The manifest of every input object (path, size, modification time,
sha256) is the run's artifact, cited by every row.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from collector.claims import load_pack, resolve_pack
from collector.plugins import CollectContext, SourceError
from collector.roots import Roots
from collector.transpile import SparkPack, to_spark
from sources.logs.formats import FORMATS
from sources.logs.ingest import UNWRAP, Window, is_gzip, required_columns, sniff, status_sql, unwrap_first

PROVENANCE = ("source", "run_id", "artifact_sha256", "collected_at")
SPARK_FORMATS = ("vpcflow", "hubble", "envoy")
LOG_TABLES = ("flows", "http_access", "dns_queries", "audit_events")
DUCKDB_TYPES = {
    "VARCHAR": "string", "INTEGER": "int", "BIGINT": "bigint", "BOOLEAN": "boolean", "DOUBLE": "double",
    "TIMESTAMP WITH TIME ZONE": "timestamp", "TIMESTAMP": "timestamp", "JSON": "string", "VARCHAR[]": "array<string>",
    "DATE": "date", "UBIGINT": "decimal(20,0)", "HUGEINT": "decimal(38,0)",
}  # fmt: skip
ENGINE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        "name": {"enum": ["duckdb", "spark"]},
        "master": {"type": "string", "description": "Spark master URL (local[2], spark://…, k8s://…) or sc://…"},
        "output": {"type": "string", "description": "where the normalised Parquet goes (a path, s3a://…)"},
        "max_rows": {"type": "integer", "minimum": 1, "default": 10000, "description": "rows kept per query"},
        "conf": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Spark settings"},
        "parameters": {"type": "object", "description": "logs pack parameters the claims are judged with"},
    },
}


JVM_SETTINGS = {"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false"}  # a driver started here
DEFAULT_PORTS = {"spark": 7077, "sc": 15002}
CONNECT_TIMEOUT = 10  # seconds for a TCP connection to a spark:// master or an sc:// endpoint
CONNECT_RETRIES = {"max_retries": 4, "initial_backoff": 500, "max_backoff": 4000}  # about 10 s in all


class SparkFailure(SourceError):
    """Spark could not be reached or a stage failed; the message is the Spark error in one line."""


def spark_session(engine: Mapping[str, Any]) -> Any:
    """A Spark session for ``engine``: its master URL, or a new session on the Spark Connect endpoint ``sc://…``.
    An endpoint that does not accept a TCP connection within ``CONNECT_TIMEOUT`` seconds fails at once."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise SourceError(
            "logs: engine spark needs pyspark: install the spark extra (pip install 'defensible[spark]')"
        ) from None
    master = engine.get("master", "local[2]")
    settings = {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.ansi.enabled": "false",  # DuckDB's TRY semantics: a failing cast gives NULL
        "spark.sql.shuffle.partitions": "4",
        **engine.get("conf", {}),
    }
    try:
        check_reachable(master)
    except OSError as exc:
        raise SparkFailure(f"logs: Spark at {master} unreachable: {exc}") from None
    try:
        if master.startswith("sc://"):
            return connect_session(SparkSession, master, settings)
        builder = SparkSession.builder.appName("defensible-logs").master(master)
        for key, value in {**JVM_SETTINGS, **settings}.items():
            builder = builder.config(key, value)
        spark = builder.getOrCreate()
        spark.sparkContext.setLogLevel("OFF")  # failures are reported, in one line
        return spark
    except Exception as exc:
        raise SparkFailure(f"logs: Spark at {master} gave no session: {one_line(exc)}") from None


def connect_session(session_class: Any, url: str, settings: Mapping[str, str]) -> Any:
    """A new Spark Connect session on ``url`` retrying briefly (pyspark's default retries for ten minutes), with
    ``settings`` set in it (a static setting the server does not take is an error)."""
    from pyspark.sql.connect.client.retries import DefaultPolicy

    spark = session_class.builder.remote(url).create()
    spark.client.set_retry_policies([DefaultPolicy(**CONNECT_RETRIES)])
    for key, value in settings.items():
        spark.conf.set(key, value)
    return spark


def check_reachable(master: str) -> None:
    """Raise ``OSError`` when no endpoint of a ``spark://`` master (any of its standby masters) or of an ``sc://``
    Spark Connect URL accepts a TCP connection: Spark's standalone client would retry for a minute."""
    scheme, _, rest = master.partition("://")
    if scheme not in DEFAULT_PORTS:
        return
    refusals = []
    for endpoint in rest.split("/")[0].split(","):
        address = urlsplit(f"//{endpoint}")
        try:
            host, port = address.hostname or "localhost", address.port or DEFAULT_PORTS[scheme]
        except ValueError:  # a port that is not a number
            raise OSError(f"{endpoint}: not host:port") from None
        try:
            socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
            return
        except OSError as exc:
            refusals.append(f"{host}:{port}: {exc.strerror or exc}")
    raise OSError("; ".join(refusals))


def one_line(exc: BaseException) -> str:
    """The error's message in one line of at most 300 characters, without the JVM stack trace it may carry."""
    text = str(exc)
    for trace in ("JVM stacktrace:", "\n\tat "):
        text = text.split(trace, 1)[0]
    text = " ".join(text.split())
    return text[:300] + ("…" if len(text) > 300 else "")


def collect_on_spark(ctx: CollectContext, window: Window) -> None:
    """The logs source's run on Spark (see the module's docstring)."""
    cfg, engine = ctx.config, ctx.config["engine"]
    if "output" not in engine:
        raise SourceError("logs: engine spark needs `output` (a path or s3a:// location for the Parquet)")
    pack = load_pack(resolve_pack("logs"))
    parameters = {**pack.parameters, **engine.get("parameters", {})}
    for name, value in engine.get("parameters", {}).items():
        if name not in pack.parameters:
            raise SourceError(f"logs: engine parameters: the logs pack has no parameter {name}")
        pack.check_parameter(name, value)
    for number, spec in enumerate(cfg["inputs"], start=1):
        if spec["format"] not in SPARK_FORMATS or "paths" not in spec:
            raise SourceError(
                f"logs: input {number} ({spec['format']}): engine spark reads `paths` of {', '.join(SPARK_FORMATS)}"
            )
    spark_pack = to_spark(pack, parameters)  # constructs that do not transpile fail here, before any Spark job
    spark = spark_session(engine)
    try:
        manifest = input_manifest(spark, cfg)
        artifact = ctx.add_artifact(
            json.dumps(list(map(recorded, manifest)), indent=1, sort_keys=True).encode(),
            "spark input manifest",
            "application/json",
        )
        for entry in manifest:  # each object's entry: the artifact its records cite, with the object's digest
            entry["artifact"] = ctx.add_artifact(
                json.dumps(recorded(entry), sort_keys=True).encode(),
                entry["origin"],
                "application/json",
                entry["sha256"],
            )
        files = normalise(ctx, spark, cfg, engine, window, manifest)
        judge(ctx, spark, spark_pack, engine, parameters, artifact, files)
    except SourceError:
        raise
    except Exception as exc:
        raise SparkFailure(f"logs: Spark failed: {one_line(exc)}") from exc
    finally:
        if str(engine.get("master", "")).startswith("sc://"):  # the Spark Connect session this run opened
            with contextlib.suppress(Exception):  # a server gone already: the run's own error says why
                spark.stop()


def input_manifest(spark: Any, cfg: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every input object: input number, format, path (Spark's, to read it), origin (a local file named by its root:
    ``logs:hubble-flows.json``), size, modification time and sha256 (read by Spark)."""
    out = []
    for number, spec in enumerate(cfg["inputs"], start=1):
        roots = Roots("logs", spec["paths"])
        files = (
            spark.read.format("binaryFile")
            .load(spec["paths"])
            .selectExpr("path", "length", "modificationTime", "sha2(content, 256) AS sha256")
        )
        for row in files.orderBy("path").collect():
            out.append(
                {
                    "input": number,
                    "format": spec["format"],
                    "path": row.path,
                    "origin": origin_of(row.path, roots),
                    "size": row.length,
                    "mtime": row.modificationTime.astimezone(UTC).isoformat(),  # naive: local time
                    "sha256": row.sha256,
                }
            )
    return out


def recorded(entry: dict[str, Any]) -> dict[str, Any]:
    """A manifest entry as artifacts keep it: without Spark's path of the file (this machine's)."""
    return {k: v for k, v in entry.items() if k != "path"}


def origin_of(path: str, roots: Roots) -> str:
    """Where an input object came from: a remote URI as Spark names it, a local file by its root."""
    local = path.removeprefix("file:")
    return roots.label(local) if local.startswith("/") else path


def table_types(ctx: CollectContext, table: str) -> list[tuple[str, str]]:
    rows = ctx.store.con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ? AND database_name <> 'temp' "
        "ORDER BY column_index",
        [table],
    ).fetchall()
    return [(name, DUCKDB_TYPES.get(kind, "string")) for name, kind in rows]


def normalise(
    ctx: CollectContext,
    spark: Any,
    cfg: Mapping[str, Any],
    engine: Mapping[str, Any],
    window: Window,
    manifest: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Parse every input object on Spark into its table's Parquet (this run's rows); return its ``log_artifacts``
    rows (also stored)."""
    from pyspark.sql import functions as F

    files = []
    for entry in manifest:
        spec = cfg["inputs"][entry["input"] - 1]
        fmt = FORMATS[spec["format"]]
        origin = entry["origin"]
        compression = "gzip" if origin.endswith(".gz") else "none"
        wrapper, first_line = first_line_of(spark, entry["path"], cfg["max_line_bytes"])
        sql = spark_select(fmt, wrapper, first_line, spec, required_columns(ctx.store.con, fmt.storage))
        lines = spark.read.text(entry["path"]).withColumnRenamed("value", "raw").where("raw <> ''")
        lines.createOrReplaceTempView("spark_lines")
        parsed = spark.sql(sql).drop("_status").withColumnRenamed("_final", "_status").cache()
        bounds = (
            " AND ".join(
                ([f"ts >= TIMESTAMP '{window.since.isoformat()}'"] if window.since else [])
                + ([f"ts < TIMESTAMP '{window.until.isoformat()}'"] if window.until else [])
            )
            or "true"
        )
        status = f"CASE WHEN _status = 'ok' AND NOT ({bounds}) THEN 'outside-window' ELSE _status END"
        counts = {r["status"]: r["n"] for r in parsed.groupBy(F.expr(status).alias("status")).agg(
            F.count("*").alias("n")).collect()}  # fmt: skip
        columns = table_types(ctx, fmt.table)
        extra = {
            "cluster": F.coalesce(F.lit(spec.get("cluster")).cast("string"), F.col("cluster"), F.lit(cfg["cluster"])),
            "log_format": F.lit(fmt.name), "source": F.lit(ctx.source), "run_id": F.lit(ctx.run_id),
            "artifact_sha256": F.lit(entry["artifact"]), "collected_at": F.lit(ctx.collected_at),
        }  # fmt: skip
        rows = parsed.where(f"_status = 'ok' AND {bounds}").select(
            *[
                (extra[n] if n in extra else F.col(n) if n in parsed.columns else F.lit(None)).cast(t).alias(n)
                for n, t in columns
            ],
            F.to_date("ts").alias("date"),
        )
        rows.write.mode("append").partitionBy("date", "cluster").parquet(f"{engine['output']}/{fmt.table}")
        parsed.unpersist()
        rejected = sum(c for s, c in counts.items() if s.startswith("reject:"))
        skipped = {s.removeprefix("skip:"): c for s, c in counts.items() if s.startswith("skip:")}
        files.append({
            "origin": origin, "origin_version": entry["mtime"], "log_format": fmt.name,
            "cluster": spec.get("cluster") or cfg["cluster"],
            "compression": compression, "wrapper": wrapper, "options": json.dumps({"engine": "spark"}),
            "window_since": window.since, "window_until": window.until, "records": counts.get("ok", 0),
            "rejected": rejected, "skipped": skipped, "outside_window": counts.get("outside-window", 0),
            "lines": sum(counts.values()),
            "source": ctx.source, "run_id": ctx.run_id, "artifact_sha256": entry["artifact"],
            "collected_at": ctx.collected_at,
        })  # fmt: skip
        ctx.emit("log_artifacts", {k: v for k, v in files[-1].items() if k not in PROVENANCE}, entry["artifact"])
        for key, count in sorted(counts.items()):
            if key.startswith("reject:"):
                reason = key.removeprefix("reject:")
                ctx.emit(
                    "ingest_rejects",
                    {"origin": origin, "log_format": fmt.name, "reason": reason, "count": count, "samples": []},
                    entry["artifact"],
                )
        if rejected:
            ctx.partial(f"logs: {origin} ({fmt.name}): {rejected} line(s) rejected")
    return files


def first_line_of(spark: Any, path: str, max_line: int) -> tuple[str, str | None]:
    """The envelope of an input object's lines and its first non-blank line, unwrapped: read here when the object
    is a local plain file, else by Spark (which inflates .gz files)."""
    local = Path(path.removeprefix("file:"))
    if path.startswith("file:") and not is_gzip(local):
        wrapper, line, _ = sniff(local, max_line)
        return wrapper, line
    row = spark.read.text(path).where("trim(value) <> ''").first()
    return unwrap_first(row.value.strip()) if row else ("plain", None)


def spark_select(fmt: Any, wrapper: str, first_line: str | None, spec: Mapping[str, Any], required: list[str]) -> str:
    """The format's DuckDB SELECT over ``spark_lines(raw)`` with its final status, in Spark SQL."""
    from collector.transpile import transpile_query

    duckdb_sql = f"""
    WITH lines AS (SELECT raw, {UNWRAP[wrapper]} AS line FROM spark_lines),
    parsed AS ({fmt.select(first_line, spec)})
    SELECT *, {status_sql(wrapper, required)} AS _final FROM parsed
    """
    return transpile_query(duckdb_sql, f"format {fmt.name}")


def judge(
    ctx: CollectContext,
    spark: Any,
    pack: SparkPack,
    engine: Mapping[str, Any],
    parameters: Mapping[str, Any],
    artifact: str,
    files: list[dict[str, Any]],
) -> None:
    """Run the pack's views and claims on Spark over this run's records; store the rows that come back."""
    output, written = engine["output"], {FORMATS[f["log_format"]].table for f in files}
    for table in LOG_TABLES:
        columns = table_types(ctx, table)
        schema = ", ".join(f"`{n}` {t}" for n, t in columns)
        if table in written:
            df = spark.read.schema(f"{schema}, date date").parquet(f"{output}/{table}")
        else:  # no input of this run is of this table
            df = spark.createDataFrame([], schema)
        df.where(f"run_id = '{ctx.run_id}'").select([n for n, _ in columns]).createOrReplaceTempView(table)
    columns = table_types(ctx, "log_artifacts")
    artifacts = frame(spark, [[f.get(n) for n, _ in columns] for f in files], columns)
    artifacts.createOrReplaceTempView("log_artifacts")
    artifacts.createOrReplaceTempView("log_artifacts_ingested")
    # the store's runs, this one landed: the records above are this run's, the store's tables cite earlier ones
    runs = "SELECT run_id, source, started_at, finished_at, CASE WHEN run_id = ? THEN 'succeeded' ELSE status END "
    store_frame(ctx, spark, runs + "AS status FROM runs", "runs", [ctx.run_id]).createOrReplaceTempView("runs")
    produced = {*LOG_TABLES, "log_artifacts", "log_artifacts_ingested", "runs"}
    for table in sorted(pack.inputs - produced):  # what else the pack reads lives in the store: sent, small
        if ctx.store.has_table(table):
            store_frame(ctx, spark, f"SELECT * FROM {table}", table).createOrReplaceTempView(table)
    failed: dict[str, str] = {}
    for view in pack.views:
        try:
            spark.sql(view.sql).createOrReplaceTempView(view.name)
        except Exception as exc:
            failed[view.name] = f"{view.file}:{view.line}: view {view.name} failed on Spark: {one_line(exc)}"
    version, app_id = spark.version, spark.conf.get("spark.app.id")  # also on Spark Connect
    max_rows = engine.get("max_rows", 10000)
    for claim, queries in pack.claims.items():
        for statement in queries:
            query = statement.name.rsplit(" ", 1)[1]
            digest = hashlib.sha256(statement.sql.encode()).hexdigest()
            row = {"pack": "logs", "claim": claim, "query": query, "engine": "spark", "engine_version": version,
                   "application_id": app_id, "sql_sha256": digest, "parameters": parameters,
                   "columns": None, "total": None, "kept": None, "error": None}  # fmt: skip
            try:
                df = spark.sql(statement.sql)
                kept = df.limit(max_rows + 1).collect()
                total = df.count() if len(kept) > max_rows else len(kept)  # counted only when capped
                kept = kept[:max_rows]
            except Exception as exc:
                views = "".join(f"; {e}" for name, e in failed.items() if name in statement.sql)
                row["error"] = f"{statement.file}: query failed on Spark: {one_line(exc)}{views}"
                ctx.emit("engine_results", row, artifact)
                continue
            row.update(
                columns=[[f.name, f.dataType.simpleString()] for f in df.schema.fields], total=total, kept=len(kept)
            )
            ctx.emit("engine_results", row, artifact)
            for position, values in enumerate(kept):
                ctx.emit(
                    "engine_rows",
                    {
                        "pack": "logs",
                        "claim": claim,
                        "query": query,
                        "position": position,
                        "value": json.loads(json.dumps(list(values), default=json_value)),
                    },
                    artifact,
                )
            if total > len(kept):
                ctx.partial(f"logs: claim {claim} {query}: {total} rows on Spark, {len(kept)} kept (max_rows)")
    aggregates = spark.sql(
        "SELECT cluster, log_format, to_date(ts) AS date, verdict, count(*) AS records, min(ts) AS first_ts, "
        "max(ts) AS last_ts FROM flows GROUP BY ALL UNION ALL SELECT cluster, log_format, to_date(ts), verdict, "
        "count(*), min(ts), max(ts) FROM http_access GROUP BY ALL"
    ).collect()
    for agg in aggregates:
        ctx.emit("log_aggregates", agg.asDict(), artifact)


def json_value(value: Any) -> Any:
    if isinstance(value, datetime):  # pyspark gives naive local times
        return value.astimezone(UTC).isoformat()
    if hasattr(value, "asDict"):
        return value.asDict()
    return str(value)


def store_frame(ctx: CollectContext, spark: Any, sql: str, table: str, params: list[Any] | None = None) -> Any:
    """A small table of the store (an inventory) as a Spark DataFrame of the same columns."""
    cur = ctx.store.con.execute(sql, params or [])
    names, rows = [d[0] for d in cur.description], cur.fetchall()
    types = dict(table_types(ctx, table))
    return frame(spark, rows, [(n, types.get(n, "string")) for n in names])


def frame(spark: Any, rows: list[Any], columns: list[tuple[str, str]]) -> Any:
    """Rows as a Spark DataFrame of ``columns`` (name, Spark type); a JSON value of a text column as JSON text."""
    data = [
        tuple(
            json.dumps(v) if t == "string" and isinstance(v, dict | list) else v
            for v, (_, t) in zip(r, columns, strict=True)
        )
        for r in rows
    ]
    return spark.createDataFrame(data, ", ".join(f"`{n}` {t}" for n, t in columns))
