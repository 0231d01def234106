"""Query results as the claim engine, scopes, reports and the CLI share them, and their values as JSON data."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple]


def cell(value: Any) -> Any:
    """A query value as JSON-compatible data, stable across runs and machines."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple):
        return [cell(v) for v in value]
    if isinstance(value, dict):
        return {str(k): cell(v) for k, v in value.items()}
    return value


def json_default(value: Any) -> str:
    """What a JSON encoder given query values writes for the ones JSON has no type for (Decimal, bytes), as ``cell``."""
    if isinstance(value, Decimal | bytes):
        return cell(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def csv_cell(value: Any) -> str:
    """A query value as a CSV cell: text and timestamps as they are, NULL empty, numbers, lists and objects as
    JSON."""
    data = cell(value)
    return "" if data is None else data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
