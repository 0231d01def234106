"""Commands that collect evidence: `sources`, `collect`, `demo`."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from collector.cli.common import (
    command,
    config_option,
    configured_store,
    err,
    fail,
    invoked_as,
    json_text,
    load_config,
    parse_assignments,
    quiet_option,
    store_option,
)
from collector.cli.group import example
from collector.cli.judging import print_bundle_summary, print_verdicts
from collector.demo.run import run_demo
from collector.inspect import (
    RunSummary,
    run_summary,
    summary_table,
)
from collector.plugins import SourceError, discover_sources, get_source
from collector.progress import step
from collector.runner import RunResult, run_source
from collector.scorecard import launch_gate
from collector.store import Store, StoreError

EXIT_PARTIAL = 3  # `collect`: a run is partial and --allow-partial was not given


@command(epilog=example("defensible sources", "defensible sources --store /srv/evidence/evidence.duckdb"))
@store_option
def sources(store: Path) -> None:
    """List installed source plugins with their status."""
    last: dict[str, dict] = {}
    if store.exists():
        with Store.open(store, read_only=True) as st:
            for run in st.runs():
                last[run["source"]] = run
    table = Table("source", "plugin", "status", "last run")
    for name, entry in discover_sources().items():
        status = "[green]ok[/]" if entry.source else f"[red]failed to load[/]: {entry.error}"
        run = last.get(name)
        table.add_row(
            name, entry.target, status, f"{run['status']} at {run['started_at']:%Y-%m-%d %H:%M:%SZ}" if run else "never"
        )
    Console().print(table)


@command(
    epilog=example(
        "defensible collect kubernetes --set paths=[manifests/] --set cluster=prod",
        "defensible collect logs --since 2026-11-01T00:00:00Z --format json",
        "kustomize build overlays/prod | defensible collect kubernetes --stdin --set cluster=prod",
        "defensible collect --config defensible.yaml --quiet",
    )
)
@click.argument("source_names", metavar="[SOURCE]...", nargs=-1)
@config_option
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help="Config value for the named source.")
@click.option("--since", metavar="TIME", help="Keep records from TIME (ISO 8601, e.g. 2026-11-01T00:00:00Z).")
@click.option("--until", metavar="TIME", help="Keep records before TIME (ISO 8601).")
@click.option(
    "--stdin",
    "from_stdin",
    is_flag=True,
    help="Also read the named source's input from standard input (rendered manifests).",
)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True, help="Summary format."
)
@click.option(
    "--allow-partial",
    is_flag=True,
    help=f"Exit 0 when a run is partial (its evidence is incomplete); without it such a run exits {EXIT_PARTIAL}.",
)
@quiet_option
@store_option
def collect(
    source_names: tuple[str, ...],
    config_path: Path | None,
    settings: tuple[str, ...],
    since: str | None,
    until: str | None,
    from_stdin: bool,
    fmt: str,
    allow_partial: bool,
    quiet: bool,
    store: Path,
) -> None:
    """Collect evidence from sources into the store. Exits 1 when a run failed, 3 when one is partial (what it
    collected is kept, and says what is missing) unless --allow-partial.

    Sources and their settings come from --config (default ./defensible.yaml, `sources: {name: {...}}`,
    see `defensible init`)
    and from --set KEY=VALUE for a single named source, e.g.
    `defensible collect kubernetes --set paths=[manifests/] --set cluster=prod`.
    --since/--until set the time window of the sources that read logs, e.g.
    `defensible collect logs --since 2026-11-01T00:00:00Z`.
    --stdin reads rendered manifests from standard input, e.g.
    `kustomize build overlays/prod | defensible collect kubernetes --stdin --set cluster=prod`.
    """
    config = load_config(config_path)
    store = configured_store(store, config)
    overrides = parse_assignments(settings, "--set")
    if overrides and len(source_names) != 1:
        fail("--set applies to exactly one named source")
    if from_stdin:
        if len(source_names) != 1:
            fail("--stdin applies to exactly one named source")
        overrides["stdin"] = True
    names = list(source_names) or list(config.sources)
    if not names:
        fail("nothing to collect: name a source or configure `sources` in defensible.yaml")
    window = {key: value for key, value in (("since", since), ("until", until)) if value is not None}
    try:
        configs = {name: {**config.sources.get(name, {}), **overrides} for name in names}
        if window:
            windowed = [name for name in names if "since" in get_source(name).config_schema.get("properties", {})]
            if not windowed:
                fail(f"--since/--until apply to sources that read logs; none of {', '.join(names)} does")
            for name in windowed:
                configs[name] |= window
        if from_stdin and "stdin" not in get_source(names[0]).config_schema.get("properties", {}):
            fail(f"--stdin: source {names[0]} reads no standard input")
        with Store.open(store, memory=config.memory_limit) as st:
            summaries = [run_summary(st, collect_one(st, name, configs[name], quiet)) for name in names]
    except (StoreError, SourceError) as exc:
        fail(str(exc))
    print_collected(summaries, "json" if fmt == "json" else "quiet" if quiet else "table")
    if any(s.status == "failed" for s in summaries):
        sys.exit(1)
    if not allow_partial and any(s.status == "partial" for s in summaries):
        sys.exit(EXIT_PARTIAL)


def print_collected(summaries: list[RunSummary], fmt: str) -> None:
    """The collection summary on stdout: a table, JSON, or nothing (quiet)."""
    if fmt == "json":
        click.echo(json_text([s.to_json() for s in summaries]))
    elif fmt == "table":
        Console().print(summary_table(summaries))


def collect_one(store: Store, name: str, config: dict, quiet: bool = False) -> RunResult:
    """Run one source, saying on stderr how it went (when ``quiet``: only why it failed or is partial, one
    line each, so that incomplete evidence is never hidden)."""
    source = get_source(name)
    with step(f"{name}: collecting"):
        result = run_source(store, source, config)
    if quiet and result.status == "partial":
        for reason in result.partial_reasons:
            err.print(f"{name}: partial: {reason}", highlight=False, markup=False)
    if quiet and result.status != "failed":
        return result
    counts = ", ".join(f"{n} {t}" for t, n in sorted(result.counts.items())) or "no rows"
    style = {"succeeded": "green", "partial": "yellow", "failed": "bold red"}[result.status]
    err.print(f"{name}: [{style}]{result.status}[/] (run {result.run_id}): {counts}", highlight=False)
    if result.error:
        err.print(f"  {result.error}", highlight=False, markup=False)
    if quiet:
        return result
    for reason in result.partial_reasons:
        err.print(f"  partial: {reason}", highlight=False, markup=False)
    for note in result.notes:
        err.print(f"  {note}", highlight=False, markup=False)
    return result


@command(epilog=example("defensible demo", "defensible demo --out /tmp/defensible-demo"))
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("defensible-demo"),
    show_default=True,
    help="Directory for the demo environment, store, keys and bundle.",
)
@click.option(
    "--engine",
    type=click.Choice(["duckdb", "spark"]),
    default="duckdb",
    show_default=True,
    help="Where the logs are parsed and judged: spark runs a local Spark (needs the spark extra and Java).",
)
def demo(out: Path, engine: str) -> None:
    """Build the embedded demo environment, collect it, check it and write a signed bundle."""
    collected: list[RunSummary] = []

    def collect(store: Store, name: str, config: dict) -> RunResult:
        result = collect_one(store, name, config)
        collected.append(run_summary(store, result))
        return result

    try:
        summary, public_key = run_demo(out, collect, engine)
    except (StoreError, SourceError) as exc:
        fail(str(exc))
    print_collected(collected, "table")
    print_verdicts(summary.results)
    print_bundle_summary(summary)
    gate = launch_gate(summary.results)
    click.echo(f"launch gate: {gate['status']}; " + ", ".join(f"{i['item']} {i['status']}" for i in gate["items"]))
    click.echo(f"report:      {summary.path / 'report.html'}")
    program = invoked_as()
    click.echo(f"verify with: {program} verify {summary.path} --pubkey {public_key}")
    click.echo(f"gate with:   {program} gate --store {out / 'evidence.duckdb'}")
