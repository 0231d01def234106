"""Which inventory objects are Cilium or Calico policies (or Calico Tiers and network sets), and their parsing into
ordered policies."""

from __future__ import annotations

from collector.analysis.reachability.calico import (
    CALICO_GROUPS,
    POLICY_KINDS,
    SET_KINDS,
    Known,
    parse_calico,
    parse_network_set,
    parse_tier,
)
from collector.analysis.reachability.cilium import CILIUM_GROUPS, parse_cilium
from collector.analysis.reachability.cilium import KINDS as CILIUM_KINDS
from collector.analysis.reachability.model import namespace_of, object_name
from collector.analysis.reachability.ordered import OrderedPolicy

Tiers = dict[str, tuple[float, str]]  # Calico tier name -> (order, default action)


def cni_kind(obj: dict) -> str | None:
    """``cilium``, ``calico``, ``tier`` or ``set`` for the objects of this module, else None. The kind may be
    qualified by its group as the store keys it (``NetworkPolicy.projectcalico.org``)."""
    kind, _, qualifier = str(obj.get("kind") or "").partition(".")
    api_version = str(obj.get("apiVersion") or "")
    group = api_version.rsplit("/", 1)[0] if "/" in api_version else qualifier
    if kind in CILIUM_KINDS and group in CILIUM_GROUPS:
        return "cilium"
    if group in CALICO_GROUPS:
        return "calico" if kind in POLICY_KINDS else "tier" if kind == "Tier" else "set" if kind in SET_KINDS else None
    return None


def parse_cni(
    objects: list[tuple[int, dict, str]], namespaces: dict[str, dict[str, str]]
) -> tuple[list[OrderedPolicy], Tiers]:
    """The ordered policies and Calico tiers of ``(index, object, cni_kind)`` (``namespaces``: their labels); a
    later object of the same kind, namespace and name replaces an earlier one."""
    tiers = dict(parse_tier(obj, index) for index, obj, what in objects if what == "tier")
    sets = tuple(parse_network_set(obj, index) for index, obj, what in objects if what == "set")
    known = Known(frozenset(tiers), sets, namespaces)
    policies: dict[tuple[str, str, str], list[OrderedPolicy]] = {}
    for index, obj, what in objects:
        if what in ("cilium", "calico"):
            key = (str(obj["kind"]).split(".", 1)[0], namespace_of(obj), object_name(obj, index))
            policies[key] = parse_cilium(obj, index) if what == "cilium" else [parse_calico(obj, index, known)]
    return [p for group in policies.values() for p in group], tiers
