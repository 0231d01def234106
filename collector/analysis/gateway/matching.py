"""Hostname intersection and Kubernetes label selectors, as the Gateway API spec defines them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def _within(pattern: str, name: str) -> bool:
    """Whether every host `name` (precise or wildcard) matches is matched by `pattern`."""
    # A wildcard label matches one or more labels: *.example.com covers a.b.example.com, not example.com.
    return pattern == name or (pattern.startswith("*.") and name.endswith(pattern[1:]))


def intersect_hostname(listener: str | None, route: str) -> str | None:
    """The intersection of a listener hostname (None: any) and a route hostname, or None if they do not overlap."""
    lh, rh = (listener or "*").lower(), route.lower()
    if lh == "*" or _within(lh, rh):
        return rh
    if rh == "*" or _within(rh, lh):
        return lh
    return None


def effective_hostnames(listener: str | None, route_hostnames: Iterable[str]) -> tuple[str, ...]:
    """Route hostnames intersected with the listener's; a route without hostnames inherits the listener's."""
    names = list(route_hostnames)
    if not names:
        return ((listener or "*").lower(),)
    return tuple(sorted({h for n in names if (h := intersect_hostname(listener, n)) is not None}))


# label selectors ------------------------------------------------------------------------------------------------


OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


def check_selector(selector: Any, where: str) -> None:
    """ValueError naming `where` unless `selector` (None allowed) is a well-formed LabelSelector."""
    if selector is None:
        return
    if not isinstance(selector, dict) or not isinstance(selector.get("matchLabels") or {}, dict):
        raise ValueError(f"{where} is not a LabelSelector")
    expressions = selector.get("matchExpressions") or []
    if not isinstance(expressions, list) or not all(isinstance(e, dict) for e in expressions):
        raise ValueError(f"{where}: matchExpressions is not a list of mappings")
    for expr in expressions:
        if expr.get("operator") not in OPERATORS:
            raise ValueError(f"{where}: unknown matchExpressions operator {expr.get('operator')!r}")


def selector_matches(selector: dict[str, Any] | None, labels: dict[str, str], where: str = "selector") -> bool:
    """Kubernetes LabelSelector semantics; a missing selector selects nothing, an empty one everything."""
    if selector is None:
        return False
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In":
            ok = key in labels and labels[key] in values
        elif op == "NotIn":
            ok = key not in labels or labels[key] not in values
        elif op == "Exists":
            ok = key in labels
        elif op == "DoesNotExist":
            ok = key not in labels
        else:
            raise ValueError(f"{where}: unknown matchExpressions operator {op!r}")
        if not ok:
            return False
    return True
