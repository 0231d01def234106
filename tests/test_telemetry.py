"""Spans around each command and each source run, checked with the SDK's in-memory exporter."""

from __future__ import annotations

from pathlib import Path

from helpers import cli, write
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

EXPORTER = InMemorySpanExporter()


def setup_module() -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
    trace.set_tracer_provider(provider)


def test_command_and_source_spans(tmp_path: Path) -> None:
    EXPORTER.clear()
    manifests = write(tmp_path / "m" / "ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n").parent
    store = str(tmp_path / "e.duckdb")
    assert cli("collect", "kubernetes", "--set", f"paths=[{manifests}]", "--store", store).exit_code == 0
    cli("check", "--store", store)
    spans = {s.name: s for s in EXPORTER.get_finished_spans()}
    assert {"defensible collect", "source kubernetes", "defensible check"} <= set(spans)
    source = spans["source kubernetes"]
    assert source.parent is not None and source.parent.span_id == spans["defensible collect"].context.span_id
    assert source.attributes is not None
    assert source.attributes["defensible.status"] == "succeeded"
    assert source.attributes["defensible.records.k8s_objects"] == 1


def test_failed_source_run_span_has_error_status(tmp_path: Path) -> None:
    EXPORTER.clear()
    cli("collect", "kubernetes", "--set", f"paths=[{tmp_path / 'missing'}]", "--store", str(tmp_path / "e.duckdb"))
    [source] = [s for s in EXPORTER.get_finished_spans() if s.name == "source kubernetes"]
    assert source.status.status_code == trace.StatusCode.ERROR
    assert "does not exist" in (source.status.description or "")
