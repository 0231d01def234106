"""Run one source as one transaction: all of its rows land, or none do and the run is recorded failed.
A failed run leaves no artifact file behind that it placed."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import duckdb
from opentelemetry.trace import Status, StatusCode

from collector.plugins import CollectContext, Source, SourceError, validate_config
from collector.roots import portable_config, portable_text
from collector.store import Store, StoreError, no_space, utcnow
from collector.telemetry import tracer


@dataclass
class RunResult:
    run_id: str
    source: str
    status: str
    error: str | None
    counts: dict[str, int]
    partial_reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def new_run_id() -> str:
    return f"{utcnow():%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


def run_source(store: Store, source: Source, config: Mapping[str, Any]) -> RunResult:
    """Collect ``source`` into ``store``; failures are recorded on the run, never raised (but interrupts, and a
    store that cannot record the failure: StoreError)."""
    config = validate_config(source, config)
    store.migrate(source.name, source.migrations)
    run_id = new_run_id()
    started = utcnow()
    with tracer.start_as_current_span(f"source {source.name}") as span:
        span.set_attribute("defensible.source", source.name)
        span.set_attribute("defensible.run_id", run_id)
        store.begin_run(run_id, source.name, portable_config(config), started)  # no path of this machine
        ctx = CollectContext(store, source.name, run_id, config, started)
        store.con.begin()
        step = "collecting"
        try:
            source.collect(ctx)
            step = "loading the staged rows"
            counts = ctx.load_staged()
            status = "partial" if ctx.partial_reasons else "succeeded"
            reasons = portable_text("; ".join(ctx.partial_reasons) or None)  # the store keeps no path of this machine
            store.finish_run(run_id, status, reasons, counts)  # lands with the rows
            step = "committing the run"
            store.con.commit()
        except BaseException as exc:
            error = failure(source.name, step, exc)
            store.end_run(committed=False)  # first: the space its copies took may be what recording needs
            record_failure(store, run_id, portable_text(error) or error)
            span.set_status(Status(StatusCode.ERROR, error))
            span.set_attribute("defensible.status", "failed")
            if not isinstance(exc, Exception):
                raise
            return RunResult(run_id, source.name, "failed", error, {}, ctx.partial_reasons, ctx.notes)
        finally:
            ctx.discard()
        store.end_run(committed=True)
        span.set_attribute("defensible.status", status)
        for table, n in counts.items():
            span.set_attribute(f"defensible.records.{table}", n)
        return RunResult(run_id, source.name, status, None, counts, ctx.partial_reasons, ctx.notes)


def failure(source: str, step: str, exc: BaseException) -> str:
    """The one line telling why a run failed: a source's own message, a full disk with the file and the step it
    hit, or the exception."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, SourceError):
        return str(exc)
    if full := no_space(exc):
        return f"{source}: {step}: {full}"
    return f"{type(exc).__name__}: {exc}"


def record_failure(store: Store, run_id: str, error: str) -> None:
    """Roll the run's transaction back and record the run failed; a store that cannot (its disk is full, DuckDB
    invalidated it) raises StoreError, and the run is recorded failed when the store is next opened."""
    try:
        with contextlib.suppress(duckdb.TransactionException):  # a failed commit already ended the transaction
            store.con.rollback()
        store.finish_run(run_id, "failed", error, {})
    except duckdb.Error as exc:
        reason = no_space(exc) or str(exc).splitlines()[0]
        raise StoreError(
            f"{error}; the store cannot record the run as failed ({reason}): it will when next opened"
        ) from None
