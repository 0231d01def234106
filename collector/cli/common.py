"""The command group, its shared options and helpers (errors, packs and settings from options and config)."""

from __future__ import annotations

import functools
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import orjson
from rich.console import Console
from rich.markup import escape

from collector.claims import (
    Pack,
    PackError,
    Settings,
    load_pack,
    resolve_pack,
)
from collector.config import Config, ConfigError
from collector.config import load_config as read_config
from collector.progress import Reporter, reporting
from collector.query_results import json_default
from collector.safe_yaml import InputError, TextTimesLoader, load
from collector.scope import Scope
from collector.store import DEFAULT_STORE
from collector.telemetry import tracer
from collector.waivers import WaiverError, load_waivers

DEFAULT_CONFIG = Path("defensible.yaml")


VERDICT_STYLES = {
    "satisfied": "green",
    "waived": "cyan",
    "gap": "bold red",
    "stale": "dark_orange",
    "no-evidence": "yellow",
    "error": "bold magenta",
}


err = Console(stderr=True, soft_wrap=True)


class TracedCommand(click.Command):
    """Every command runs inside a ``defensible <command>`` span."""

    def invoke(self, ctx: click.Context) -> Any:
        with tracer.start_as_current_span(f"defensible {self.name}") as span:
            span.set_attribute("defensible.command", self.name or "")
            with reporting(Reporter(err, enabled=err.is_terminal and not ctx.params.get("quiet"))):
                return super().invoke(ctx)


command = functools.partial(click.command, cls=TracedCommand)
"""``@command(...)``: a command of the group, run inside its ``defensible <command>`` span."""


def store_option(fn: Callable) -> Callable:
    return click.option(
        "--store",
        type=click.Path(path_type=Path, dir_okay=False),
        default=DEFAULT_STORE,
        show_default=True,
        envvar="DEFENSIBLE_STORE",
        help="Evidence store (DuckDB file).",
    )(fn)


def config_option(fn: Callable) -> Callable:
    return click.option(
        "--config",
        "config_path",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Configuration file (default: ./defensible.yaml if present); see docs/configuration.md.",
    )(fn)


def configured_store(store: Path, config: Config) -> Path:
    """--store (or $DEFENSIBLE_STORE) beats the configuration's `store`, which beats the default."""
    given = click.get_current_context().get_parameter_source("store") != click.core.ParameterSource.DEFAULT
    return store if given or config.store is None else config.store


def quiet_option(fn: Callable) -> Callable:
    return click.option(
        "--quiet",
        "-q",
        is_flag=True,
        help="No progress, summaries or notes: only errors and warnings (and the data asked for).",
    )(fn)


def pack_options(fn: Callable) -> Callable:
    """--pack, --param and --enable: which packs to evaluate and how."""
    fn = click.option(
        "--enable",
        multiple=True,
        metavar="PACK/CLAIM",
        help="Evaluate a claim that is off by default, e.g. git-changes/signed-commits (repeatable).",
    )(fn)
    fn = click.option(
        "--param",
        "params",
        multiple=True,
        metavar="NAME=VALUE",
        help="Pack parameter (YAML value of the type the pack declares), e.g. --param min_approvals=2 (repeatable).",
    )(fn)
    fn = click.option(
        "--as-of",
        type=INSTANT,
        help="Judge the claims as of this instant (ISO 8601; default: the end of the latest collection run).",
    )(fn)
    fn = click.option(
        "--waivers",
        "waivers_path",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Waivers file (YAML: claim, scope, justification, approver, ticket, expires); see docs/waivers.md.",
    )(fn)
    return click.option(
        "--pack",
        "packs",
        multiple=True,
        help="Query pack: built-in name or directory (repeatable; default: every built-in pack).",
    )(fn)


class Instant(click.ParamType):
    """An ISO 8601 instant; without a zone it is UTC."""

    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            parsed = datetime.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 time (e.g. 2026-11-20T08:00:00Z)", param, ctx)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


INSTANT = Instant()


@dataclass(frozen=True)
class Judging:
    """What `check` and `bundle` evaluate, and how: packs, settings, and the waivers file as read."""

    packs: list[Pack]
    settings: Settings
    waivers_file: bytes | None


def json_text(doc: Any) -> str:
    """``doc`` as JSON indented by two spaces, by orjson: the standard library indents with its pure-Python encoder,
    seconds for the gap rows of a large store. Query values may be given as DuckDB returns them: times as ISO 8601,
    as ``cell`` writes them, the rest by ``json_default``."""
    return orjson.dumps(doc, default=json_default, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()


def fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, markup=True)
    sys.exit(code)


def load_config(path: Path | None) -> Config:
    """The configuration of --config, else of ./defensible.yaml if present, else the empty one."""
    try:
        return read_config(path if path is not None else DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None)
    except ConfigError as exc:
        fail(str(exc))
        raise  # unreachable: fail exits


def parse_assignments(items: tuple[str, ...], option: str) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            fail(f"{option} expects KEY=VALUE, got {item!r}")
        try:
            parsed[key] = load(value, f"{option} {key}", TextTimesLoader)
        except InputError as exc:
            fail(str(exc))
    return parsed


def load_packs(
    refs: tuple[str, ...],
    params: tuple[str, ...],
    enable: tuple[str, ...],
    as_of: datetime | None = None,
    waivers_path: Path | None = None,
    scope: Scope | None = None,
    config: Config | None = None,
) -> Judging:
    """Packs and settings from the command line, else the configuration (--param beats its `parameters`)."""
    config = config or Config()
    try:
        waivers_path = waivers_path or config.waivers
        waivers, raw = load_waivers(waivers_path) if waivers_path else ([], None)
        packs = [load_pack(d) for d in ([resolve_pack(ref) for ref in refs] if refs else config.pack_dirs())]
        configured, enabled = config.for_packs(packs, narrowed=bool(refs))
        parameters = configured | parse_assignments(params, "--param")
        settings = Settings(
            parameters, enabled | frozenset(enable), as_of, tuple(waivers), scope, freshness=config.freshness
        )
        settings.validate(packs)
    except (PackError, WaiverError, ConfigError) as exc:
        fail(str(exc))
        raise  # unreachable: fail exits
    return Judging(packs, settings, raw)


def kms_options(multiple: bool) -> Callable[[Callable], Callable]:
    """--kms-key (ARN, key id or alias) and --kms-region. Credentials and endpoint come from the AWS configuration."""

    def decorate(fn: Callable) -> Callable:
        fn = click.option("--kms-region", metavar="REGION", help="AWS region of --kms-key (default: the ARN's).")(fn)
        return click.option(
            "--kms-key",
            "kms_keys" if multiple else "kms_key",
            metavar="ARN",
            multiple=multiple,
            required=not multiple,
            help="AWS KMS key (ECC_NIST_P256, SIGN_VERIFY)" + ("; repeat to add signatures." if multiple else "."),
        )(fn)

    return decorate


def invoked_as() -> str:
    """How to run defensible again, as typed: ``defensible`` when that is on PATH and is this program, else the
    path this program was run by (``.venv/bin/defensible`` when the venv is not activated)."""
    program = Path(sys.argv[0])
    if program.name != "defensible":
        return "defensible"  # not the installed script (python -m, a test runner)
    on_path = shutil.which("defensible")
    return "defensible" if on_path and Path(on_path).resolve() == program.resolve() else str(program)
