"""The scope of an incident export: a time window and a namespace (optionally one service).

Claims are evaluated as usual (packs with ``window_since``/``window_until`` parameters read only that window);
then only the evidence and gap rows in scope are kept:

- window: a row with a ``ts`` column is kept when ``since <= ts < until``; rows without one describe state
  (inventory, configuration) and are kept;
- namespace: a row is kept when one of its namespace columns (``namespace``, ``src_namespace``,
  ``dst_namespace``, ``from_namespace``, ``to_namespace``, ``secret_namespace``, ``gateway_namespace``) equals
  it; rows with no namespace column are not in scope;
- service: a row is kept when some text value of it is the service's name, or ends with ``/name`` or
  ``/name <detail>`` (``Service/shop``, ``shop/api``, ``Gateway infra/edge listener https``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from collector.query_results import QueryResult

NAMESPACE_COLUMNS = (
    "namespace", "src_namespace", "dst_namespace", "from_namespace", "to_namespace", "secret_namespace",
    "gateway_namespace",
)  # fmt: skip


class ScopeError(ValueError):
    """A scope option is malformed."""


@dataclass(frozen=True)
class Scope:
    since: datetime | None = None
    until: datetime | None = None
    namespace: str | None = None
    service: str | None = None

    @classmethod
    def parse(cls, since: datetime | None, until: datetime | None, selector: str | None) -> Scope:
        """``selector`` is ``namespace=X[,service=Y]``."""
        fields: dict[str, str] = {}
        for part in (selector or "").split(","):
            if not part.strip():
                continue
            key, sep, value = part.partition("=")
            if not sep or key.strip() not in ("namespace", "service") or not value.strip():
                raise ScopeError(f"--scope {selector!r}: expected namespace=X[,service=Y]")
            fields[key.strip()] = value.strip()
        if "service" in fields and "namespace" not in fields:
            raise ScopeError(f"--scope {selector!r}: a service is named within a namespace (namespace=X,service=Y)")
        if since and until and since >= until:
            raise ScopeError("--since must be before --until")
        return cls(since, until, fields.get("namespace"), fields.get("service"))

    def window_parameters(self) -> dict[str, str]:
        bounds = {"window_since": self.since, "window_until": self.until}
        return {name: value.isoformat() for name, value in bounds.items() if value}

    def describe(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "namespace": self.namespace,
            "service": self.service,
        }

    def select(self, result: QueryResult) -> QueryResult:
        """The rows of ``result`` in scope."""
        kept = [row for row in result.rows if self.holds(dict(zip(result.columns, row, strict=True)))]
        return type(result)(result.columns, kept)

    def holds(self, row: dict[str, Any]) -> bool:
        ts = row.get("ts")
        if isinstance(ts, datetime) and ((self.since and ts < self.since) or (self.until and ts >= self.until)):
            return False
        if self.namespace and not any(row.get(c) == self.namespace for c in NAMESPACE_COLUMNS):
            return False
        return not self.service or any(self.names_service(v) for v in row.values() if isinstance(v, str))

    def names_service(self, value: str) -> bool:
        return value == self.service or re.search(rf"/{re.escape(self.service or '')}(\s|$)", value) is not None
