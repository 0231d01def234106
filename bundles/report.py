"""Render the bundle's human reports (self-contained HTML and Markdown) from the claims document."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

ROWS_SHOWN = 50

_env = Environment(
    loader=PackageLoader("bundles", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def _md_cell(value: Any) -> str:
    return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")


_env.filters["md"] = _md_cell
_env.filters["records"] = lambda query: [dict(zip(query.columns, row, strict=True)) for row in query.rows]
_env.globals["provenance_columns"] = ("source", "run_id", "artifact_sha256", "collected_at")


def render_html(context: dict) -> str:
    return _env.get_template("report.html.j2").render(rows_shown=ROWS_SHOWN, **context)


def render_markdown(context: dict) -> str:
    return _env.get_template("report.md.j2").render(rows_shown=ROWS_SHOWN, **context)
