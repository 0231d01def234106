"""Helpers shared by the tests (importable as `helpers`: pytest puts tests/ on sys.path)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from collector.cli import main
from collector.runner import RunResult, run_source
from collector.store import Store
from sources.kubernetes.source import KubernetesSource
from sources.logs.source import LogsSource


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def write_lines(path: Path, *lines: str) -> Path:
    """Write each line to ``path``, newline-terminated, as is (no dedent)."""
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def collect_manifests(store: Store, *paths: Path, cluster: str = "test") -> RunResult:
    return run_source(store, KubernetesSource(), {"paths": [str(p) for p in paths], "cluster": cluster})


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def collect_logs(
    store: Store, *paths: Path | str, log_format: str, source_config: dict[str, Any] | None = None, **input_spec: Any
) -> RunResult:
    """Run the logs source with ``source_config`` on one ``log_format`` input: ``paths`` (if any) and ``input_spec``."""
    given = {"paths": [str(p) for p in paths]} if paths else {}
    config = {"inputs": [{"format": log_format, **given, **input_spec}], **(source_config or {})}
    result = run_source(store, LogsSource(), config)
    assert_every_line_accounted(store, result.run_id)
    return result


def assert_every_line_accounted(store: Store, run_id: str) -> None:
    """Each file the run loaded accounts for all its lines: records, outside the window, skipped, rejected (a
    k8s-audit line may hold a batch: each of its events counts, so there may be more)."""
    cur = store.con.execute(
        "SELECT origin, log_format, lines, records, outside_window, skipped, rejected FROM log_artifacts "
        "WHERE run_id = ?",
        [run_id],
    )
    for origin, log_format, lines, records, outside, skipped, rejected in cur.fetchall():
        accounted = records + outside + sum(json.loads(skipped).values()) + rejected
        assert accounted >= lines if log_format == "k8s-audit" else accounted == lines, (origin, lines, accounted)


def table_rows(
    store: Store, where: str = "true", *, table: str, columns: tuple[str, ...], order: str = "ts"
) -> list[dict[str, Any]]:
    """``columns`` of ``table``'s rows matching ``where`` as dicts keyed by column name (SQL quotes dropped)."""
    cur = store.con.execute(f"SELECT {', '.join(columns)} FROM {table} WHERE {where} ORDER BY {order}")
    return [dict(zip([c.strip('"') for c in columns], row, strict=True)) for row in cur.fetchall()]


def named(path: Path) -> str:
    """How the store names a file outside any Git working tree: its directory's name and its own (``logs:a.log``)."""
    return f"{path.parent.name}:{path.name}"
