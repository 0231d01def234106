"""Re-performance: the store's tables as Parquet and, per pack, the SQL that rebuilds the claims' inputs.

An auditor re-runs any claim with plain DuckDB from the bundle's root, without defensible or the cluster::

    duckdb -bail -c ".read reperform/k8s-networking.sql" -c ".read packs/k8s-networking/access-restricted.gaps.sql"

The script needs DuckDB 2.0 or later (``REQUIRED_DUCKDB``; the packs' SQL uses its list functions): its header
says so and its first statement fails, naming the version found, on an older one. ``reperform/<pack>.sql`` then
creates a view over ``data/<relation>.parquet`` for every table and view of the store
(JSON columns restored), sets the pack's parameters and the instant judged as DuckDB variables, and creates the
pack's views exactly as the engine does. The claim queries in ``packs/`` then return the rows of the bundle's
evidence files (before the incident scope and waivers, which the report states).
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

from bundles.files import hash_regular
from collector.claims import Pack, create_views
from collector.scope import Scope
from collector.store import Store

DATA_DIR = "data"
REQUIRED_DUCKDB = 2  # major version: the store's engine (pyproject pins duckdb>=2.0)
# DuckDB's memory limit while it writes the Parquet files, when the store's is higher: more lets its writer queue
# more row groups (the peak grows with the limit), not write faster (docs/performance.md).
EXPORT_MEMORY = "1GB"


def store_relations(store: Store) -> list[tuple[str, list[str], bool, bool]]:
    """(name, JSON columns, has a ts column, is a view) of every table and view of the store's main schema, but
    the views whose rows are stored in other tables (``Store.view_storage``): those tables are exported and the
    view is re-created from its definition (``stored_views``)."""
    stored = list(store.view_storage())
    rows = store.con.execute(
        """
        SELECT c.table_name, list(c.column_name ORDER BY c.column_index) FILTER (WHERE c.data_type = 'JSON'),
               bool_or(c.column_name = 'ts'), v.view_name IS NOT NULL
        FROM duckdb_columns() c
        LEFT JOIN duckdb_views() v
               ON v.database_name = c.database_name AND v.schema_name = c.schema_name AND v.view_name = c.table_name
        WHERE c.database_name = current_database() AND c.schema_name = 'main' AND NOT c.internal
          AND NOT list_contains($stored, c.table_name)
        GROUP BY ALL ORDER BY c.table_name
        """,
        {"stored": stored},
    ).fetchall()
    return [(name, list(json_columns or []), bool(has_ts), view) for name, json_columns, has_ts, view in rows]


def export_parquet(store: Store, scope: Scope | None, root: Path) -> dict[str, str]:
    """Write every relation as ``root/data/<name>.parquet`` and return bundle name -> sha256. In an incident
    export, relations with a ``ts`` column keep only the rows of the scope's window.

    The bytes depend only on the store: a table's rows are written in the store's order (DuckDB preserves it
    through the scan, the filter and its Parquet writer, whatever the number of threads), without sorting; a
    view, whose order DuckDB does not fix, is sorted on all its columns (views are inventory-sized). DuckDB
    writes within its memory limit (at most EXPORT_MEMORY), spilling to disk."""
    (root / DATA_DIR).mkdir(parents=True, exist_ok=True)
    store.con.execute("SET preserve_insertion_order = true")  # DuckDB's default, which the bytes depend on
    digests = {}
    with store.memory_capped(EXPORT_MEMORY):
        for name, _, has_ts, view in store_relations(store):
            where, params = window_filter(scope) if has_ts and scope else ("", [])
            bundle_name = f"{DATA_DIR}/{name}.parquet"
            target = root / bundle_name
            query = f'SELECT * FROM "{name}" {where}' + (" ORDER BY ALL" if view else "")
            store.con.execute(f"COPY ({query}) TO '{target}' (FORMAT parquet)", params)
            digests[bundle_name] = hash_regular(target)
    return digests


def window_filter(scope: Scope) -> tuple[str, list[Any]]:
    clauses, params = [], []
    if scope.since:
        clauses.append("ts >= ?")
        params.append(scope.since)
    if scope.until:
        clauses.append("ts < ?")
        params.append(scope.until)
    return ("WHERE " + " AND ".join(clauses), params) if clauses else ("", [])


def reperform_script(store: Store, pack: Pack, parameters: dict[str, Any], as_of: datetime) -> bytes:
    lines = [
        f"-- Re-perform the claims of pack {pack.id!r} with plain DuckDB, from the bundle's root directory:",
        f'--   duckdb -bail -c ".read reperform/{pack.id}.sql" -c ".read packs/{pack.id}/<claim>.gaps.sql"',
        f"-- Requires DuckDB {REQUIRED_DUCKDB}.0 or later; the next statement stops on an older one.",
        version_check(REQUIRED_DUCKDB),
        "-- The store's relations, read from the Parquet files of this bundle:",
    ]
    for name, json_columns, _, _ in store_relations(store):
        replace = ", ".join(f'CAST("{c}" AS JSON) AS "{c}"' for c in json_columns)
        star = f"* REPLACE ({replace})" if replace else "*"
        source = f"read_parquet('{DATA_DIR}/{name}.parquet')"
        lines.append(f'CREATE OR REPLACE VIEW "{name}" AS SELECT {star} FROM {source};')
    if stored := stored_views(store):
        lines.append("-- The views whose rows the files above store, as the store defines them:")
        lines += stored
    lines.append("-- The instant judged and the pack's parameters:")
    lines.append(f"SET VARIABLE as_of = {sql_literal(as_of)};")
    lines += [f"SET VARIABLE {name} = {sql_literal(value)};" for name, value in parameters.items()]
    if pack.views_sql:
        lines.append(f"-- The pack's views (packs/{pack.id}/views.sql), created as the engine creates them:")
        lines += pack_views(store, pack)
    return ("\n".join(lines) + "\n").encode()


def stored_views(store: Store) -> list[str]:
    """The definitions of the views whose rows are stored in other tables (see ``store_relations``)."""
    rows = store.con.execute(
        "SELECT sql FROM duckdb_views() WHERE database_name = current_database() AND schema_name = 'main' "
        "AND list_contains($stored, view_name) ORDER BY view_name",
        {"stored": list(store.view_storage())},
    ).fetchall()
    return [re.sub(r"^CREATE VIEW ", "CREATE OR REPLACE VIEW ", sql) for (sql,) in rows]


def version_check(major: int) -> str:
    """A statement that fails, naming the version found, on a DuckDB older than ``major``.0."""
    message = f"'this script needs DuckDB {major}.0 or later, not ' || version()"
    return (
        f"SELECT CASE WHEN TRY_CAST(split_part(ltrim(version(), 'v'), '.', 1) AS INTEGER) < {major} "
        f"THEN error({message}) ELSE version() END AS duckdb_version;"
    )


def pack_views(store: Store, pack: Pack) -> list[str]:
    """The pack's view statements as the engine runs them; one the store cannot create (over evidence not
    collected) is left out, as the engine left it out, so the script runs through."""
    return [
        f"{view.sql};" if view.error is None else f"-- not created, as in the evaluation: {view.error.splitlines()[0]}"
        for view in create_views(store.con, pack)
    ]


def sql_literal(value: Any) -> str:
    """A DuckDB literal for a parameter value (YAML scalars and lists) or the instant judged."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        return f"TIMESTAMPTZ '{value.isoformat()}'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(sql_literal(v) for v in value) + "]"
    raise TypeError(f"parameter value {value!r} cannot be written as SQL")
