"""Render the bundle's human reports (self-contained HTML and Markdown) from the claims document."""

from __future__ import annotations

import json
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


def _md_cell(value: Any) -> str:
    return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")


_env.filters["md"] = _md_cell
_env.filters["json"] = lambda value: json.dumps(value, ensure_ascii=False)
_env.filters["records"] = lambda query: [dict(zip(query.columns, row, strict=True)) for row in query.rows]


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


def render_html(context: dict) -> str:
    return _env.get_template("report.html.j2").render(rows_shown=ROWS_SHOWN, **context)


def render_markdown(context: dict) -> str:
    return _env.get_template("report.md.j2").render(rows_shown=ROWS_SHOWN, **context)
