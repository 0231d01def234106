"""Commands that look into the store: `status`, `query`, `shell`."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click
import duckdb
from rich.console import Console
from rich.markup import escape

from collector.claims import (
    PackError,
    builtin_pack_dirs,
    load_pack,
    prepare_pack,
)
from collector.cli.common import (
    INSTANT,
    command,
    config_option,
    configured_store,
    err,
    fail,
    json_text,
    load_config,
    load_packs,
    quiet_option,
    store_option,
)
from collector.cli.group import example
from collector.inspect import (
    TABLE_ROWS,
    Refused,
    Shell,
    execute,
    freshness_limits,
    interactive,
    print_result,
    status_tables,
    store_status,
    write_csv,
    write_json,
)
from collector.store import Store, StoreError


@command(
    epilog=example(
        "defensible status",
        "defensible status --format json | jq '.sources[] | {source, freshness}'",
    )
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@quiet_option
@config_option
@store_option
def status(fmt: str, quiet: bool, config_path: Path | None, store: Path) -> None:
    """Show what the store holds: per source its last run, rows per table, the time they cover and how fresh
    they are against the packs' freshness."""
    store = configured_store(store, load_config(config_path))
    try:
        limits = freshness_limits(load_pack(path) for path in builtin_pack_dirs().values())
        with Store.open(store, read_only=True) as st:
            statuses = store_status(st, limits)
    except (StoreError, PackError) as exc:
        fail(str(exc))
    now = datetime.now(UTC)
    if fmt == "json":
        doc = {"store": str(store), "as_of": now.isoformat(), "sources": [s.to_json(now) for s in statuses]}
        click.echo(json_text(doc))
    elif statuses:
        Console().print(*status_tables(statuses, now, store))
    elif not quiet:
        err.print(f"{store} holds no evidence yet: run `defensible collect` (or `defensible demo`)", highlight=False)


@command(
    epilog=example(
        'defensible query "SELECT source, status, count(*) AS runs FROM runs GROUP BY ALL"',
        "defensible query \"SELECT * FROM flows WHERE verdict = 'deny'\" --format csv > denied.csv",
        'defensible query "FROM k8s_current SELECT kind, count(*) GROUP BY kind" --format json',
        'defensible query --pack k8s-networking "FROM regulated_namespaces SELECT cluster, namespace"',
    )
)
@click.argument("sql")
@click.option(
    "--pack",
    "packs",
    multiple=True,
    help="Create this pack's views first, with its parameters, as `check` does (built-in name or directory; "
    "repeatable), e.g. to find which rows a claim's gaps query returns.",
)
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="Parameter of a --pack (YAML value of the type the pack declares; repeatable).",
)
@click.option("--as-of", type=INSTANT, help="The instant the pack views judge (default: the latest collection run).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help=f"table shows the first {TABLE_ROWS} rows; csv and json print every row.",
)
@quiet_option
@config_option
@store_option
def query(
    sql: str,
    packs: tuple[str, ...],
    params: tuple[str, ...],
    as_of: datetime | None,
    fmt: str,
    quiet: bool,
    config_path: Path | None,
    store: Path,
) -> None:
    """Run SQL over the store, read-only: only SELECT-like statements and EXPLAIN run, and no file but the store
    is read or written. With --pack, the pack's views (docs/packs.md) can be queried too. A refused statement or
    a DuckDB error prints its message and exits 2."""
    config = load_config(config_path)
    store = configured_store(store, config)
    judging = load_packs(packs, params, (), as_of, config=config) if packs else None
    out = sys.stdout
    try:
        with Store.open(store, locked=True) as st:
            for pack in judging.packs if judging else []:
                for error in prepare_pack(st, pack, judging.settings)[1].values():
                    if not quiet:
                        err.print(f"note: {error}", highlight=False, markup=False)
            result = execute(st.con, sql)
            if not result.columns:
                return
            if fmt == "csv":
                write_csv(result, out)
            elif fmt == "json":
                write_json(result, out)
            elif print_result(Console(), result) and not quiet:
                err.print(f"first {TABLE_ROWS} rows shown; --format csv or json prints every row", highlight=False)
    except (StoreError, Refused) as exc:
        fail(str(exc))
    except duckdb.Error as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        sys.exit(2)


@command(
    epilog=example(
        "defensible shell --store defensible-demo/evidence.duckdb",
        "echo 'SELECT kind, count(*) FROM k8s_current GROUP BY kind;' | defensible shell",
    )
)
@config_option
@store_option
def shell(config_path: Path | None, store: Path) -> None:
    """An interactive read-only SQL prompt over the store, with the limits of `query`. Statements end with ';';
    .tables lists the tables, .schema TABLE shows one, .quit leaves. Piped input runs as a script (exit 2 if a
    statement was refused, else 1 if one failed)."""
    store = configured_store(store, load_config(config_path))
    try:
        st = Store.open(store, locked=True)
    except StoreError as exc:
        fail(str(exc))
    with st:
        prompt = Shell(st.con, Console(), err)
        stdin = sys.stdin
        if stdin.isatty():
            interactive(prompt)
        else:
            prompt.run(stdin)
            if prompt.failed:
                sys.exit(2 if prompt.refused else 1)
