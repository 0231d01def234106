"""Render the bundle's human reports (self-contained HTML and Markdown) from the claims document."""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

ROWS_SHOWN = 50

_env = Environment(
    loader=PackageLoader("bundles", "templates"),
    autoescape=select_autoescape(["html", "html.j2"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


ISO_INSTANT = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.\d+([+-]\d\d:\d\d|Z)?")


def display(value: Any) -> str:
    """A value as a reader wants it in a table: lists as comma-separated items (``none`` when empty), objects as
    JSON, instants to the second, NULL empty."""
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(display(v) for v in value) if value else "none"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    return ISO_INSTANT.sub(lambda m: m.group(1) + (m.group(2) or ""), str(value))


def _md_cell(value: Any) -> str:
    return display(value).replace("|", "\\|").replace("\n", " ")


_env.filters["md"] = _md_cell
_env.filters["display"] = display
_env.filters["json"] = lambda value: json.dumps(value, ensure_ascii=False)


def records(query: Any) -> list[dict[str, Any]]:
    return [dict(zip(query.columns, row, strict=True)) for row in query.rows]


_env.filters["records"] = records


def _headline(result: Any) -> str:
    """The first gap row in words (its object and finding), and how many more there are."""
    if not result.gaps.rows:
        return ""
    row = dict(zip(result.gaps.columns, result.gaps.rows[0], strict=True))
    what = row.get("finding") or row.get("reason") or ""
    named = next((row[c] for c in ("object", "src", "commit", "namespace") if row.get(c)), None)
    text = f"{named}: {what}" if named and what else str(named or what)
    more = len(result.gaps.rows) - 1
    return text + (f" (+{more} more)" if more else "")


_env.filters["headline"] = _headline
_env.globals["provenance_columns"] = ("source", "run_id", "artifact_sha256", "collected_at")


def evaluation_scope(doc: dict, inventories: dict) -> dict[str, Any]:
    """What the claims were judged over, for the report's scope section: the clusters the claims judged, the
    regulated namespaces (the regulated-scope inventory), the labels that mark them, the log window and the
    parameters changed from the packs' defaults."""
    claims = [c for pack in doc["packs"] for c in pack["claims"]]
    parameters = [(pack["id"], pack.get("parameters") or {}) for pack in doc["packs"]]
    regulated = inventories.get("k8s-networking", {}).get("regulated-scope")
    windows = {(p.get("window_since"), p.get("window_until")) for _, p in parameters if "window_since" in p}
    return {
        "clusters": sorted({name for c in claims for name in c.get("clusters") or {}}),
        "regulated": None if regulated is None else records(regulated),
        "labels": sorted({str(p["regulated_label"]) for _, p in parameters if p.get("regulated_label")}),
        "windows": sorted(windows, key=str),
        "changed": [
            (pack["id"], name, change)
            for pack in doc["packs"]
            for name, change in (pack.get("changed_parameters") or {}).items()
        ],
    }


def render_html(context: dict) -> str:
    scope = evaluation_scope(context["doc"], context["inventories"])
    return _env.get_template("report.html.j2").render(rows_shown=ROWS_SHOWN, evaluation=scope, **context)


def render_markdown(context: dict) -> str:
    scope = evaluation_scope(context["doc"], context["inventories"])
    return _env.get_template("report.md.j2").render(rows_shown=ROWS_SHOWN, evaluation=scope, **context)
