"""Label selectors (matchLabels, matchExpressions with In, NotIn, Exists, DoesNotExist)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from collector.analysis.reachability.errors import ReachabilityError

OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


@dataclass(frozen=True)
class Expression:
    key: str
    operator: str
    values: frozenset[str]


@dataclass(frozen=True)
class Selector:
    """A parsed label selector; the empty selector matches every label set."""

    labels: tuple[tuple[str, str], ...] = ()
    expressions: tuple[Expression, ...] = ()

    @classmethod
    def parse(cls, raw: Any, where: str) -> Selector:
        if raw is None:
            return cls()
        if not isinstance(raw, dict):
            raise ReachabilityError(f"{where}: a label selector must be a mapping, got {raw!r}")
        labels = raw.get("matchLabels") or {}
        if not isinstance(labels, dict):
            raise ReachabilityError(f"{where}: matchLabels must be a mapping")
        expressions = []
        for expr in raw.get("matchExpressions") or []:
            if not isinstance(expr, dict) or expr.get("operator") not in OPERATORS or not expr.get("key"):
                raise ReachabilityError(f"{where}: unsupported matchExpression {expr!r} (operators: {OPERATORS})")
            values = expr.get("values") or []
            if not isinstance(values, list):
                raise ReachabilityError(f"{where}: matchExpression values must be a list, got {values!r}")
            expressions.append(Expression(str(expr["key"]), expr["operator"], frozenset(str(v) for v in values)))
        pairs = tuple(sorted((str(k), str(v)) for k, v in labels.items()))
        return cls(pairs, tuple(sorted(expressions, key=lambda e: (e.key, e.operator, sorted(e.values)))))

    @property
    def keys(self) -> frozenset[str]:
        """The label keys the selector looks at."""
        return frozenset(k for k, _ in self.labels) | {e.key for e in self.expressions}

    def matches(self, labels: Mapping[str, str]) -> bool:
        if any(labels.get(k) != v for k, v in self.labels):
            return False
        for e in self.expressions:
            present = e.key in labels
            if e.operator == "In" and not (present and labels[e.key] in e.values):
                return False
            if e.operator == "NotIn" and present and labels[e.key] in e.values:
                return False
            if e.operator == "Exists" and not present:
                return False
            if e.operator == "DoesNotExist" and present:
                return False
        return True
