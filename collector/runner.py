"""Run one source as one transaction: all of its rows land, or none do and the run is recorded failed."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.trace import Status, StatusCode

from collector.plugins import CollectContext, Source, SourceError, validate_config
from collector.store import Store, utcnow
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
    """Collect ``source`` into ``store``; failures are recorded on the run, never raised (but interrupts)."""
    config = validate_config(source, config)
    store.migrate(source.name, source.migrations)
    run_id = new_run_id()
    started = utcnow()
    with tracer.start_as_current_span(f"source {source.name}") as span:
        span.set_attribute("defensible.source", source.name)
        span.set_attribute("defensible.run_id", run_id)
        store.begin_run(run_id, source.name, dict(config), started)
        ctx = CollectContext(store, source.name, run_id, config, started)
        store.con.begin()
        try:
            source.collect(ctx)
            counts = ctx.load_staged()
            store.con.commit()
        except BaseException as exc:
            store.con.rollback()
            error = str(exc) if isinstance(exc, SourceError) else f"{type(exc).__name__}: {exc}"
            if isinstance(exc, KeyboardInterrupt):
                error = "interrupted"
            store.finish_run(run_id, "failed", error, {})
            span.set_status(Status(StatusCode.ERROR, error))
            span.set_attribute("defensible.status", "failed")
            if not isinstance(exc, Exception):
                raise
            return RunResult(run_id, source.name, "failed", error, {}, ctx.partial_reasons, ctx.notes)
        finally:
            ctx.discard()
        status = "partial" if ctx.partial_reasons else "succeeded"
        store.finish_run(run_id, status, "; ".join(ctx.partial_reasons) or None, counts)
        span.set_attribute("defensible.status", status)
        for table, n in counts.items():
            span.set_attribute(f"defensible.records.{table}", n)
        return RunResult(run_id, source.name, status, None, counts, ctx.partial_reasons, ctx.notes)
