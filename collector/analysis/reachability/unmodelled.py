"""What the admin policies may decide that the engine does not model: rules whose peers select Nodes, networks
(which may hold pod addresses) or domain names, and AdminNetworkPolicies of equal priority (their order is
undefined) that apply to the same workload."""

from __future__ import annotations

from collections import defaultdict

from collector.analysis.reachability.model import AdminPolicy, Inventory, Workload
from collector.analysis.reachability.result import Unmodelled


def unmodelled(inv: Inventory) -> list[Unmodelled]:
    out: list[Unmodelled] = []
    policies = [*inv.admin, *([inv.baseline] if inv.baseline else [])]
    for w in inv.workloads:
        labels = inv.namespace_labels(w.namespace)
        applying = [p for p in policies if p.selects(w, labels)]
        for policy in applying:
            for rule in policy.egress_rules:
                out.extend(Unmodelled(w.id, "egress", u.scope, policy.label, u.why) for u in rule.unresolved)
        out.extend(ties(w, [p for p in applying if p.priority is not None]))
    return out


def ties(w: Workload, applying: list[AdminPolicy]) -> list[Unmodelled]:
    """AdminNetworkPolicies of one priority with rules in the same direction for the workload."""
    out = []
    for direction in ("ingress", "egress"):
        by_priority: dict[int | None, list[str]] = defaultdict(list)
        for p in applying:
            if p.ingress_rules if direction == "ingress" else p.egress_rules:
                by_priority[p.priority].append(p.label)
        for priority, labels in by_priority.items():
            if len(labels) > 1:
                why = (
                    f"{len(labels)} AdminNetworkPolicies have priority {priority}: their order is undefined "
                    "(the analysis allows what any order may allow)"
                )
                out.append(Unmodelled(w.id, direction, "all", ", ".join(labels), why))
    return out
