"""What the admin policies may decide that the result does not show: peers selecting Nodes or domainNames (not
evaluated: they match nothing), and networks, which may hold pod addresses (evaluated for external addresses only).

A Deny rule with such a peer can only make the real connections fewer than the result's; an Allow or Pass rule may
open connections the result does not show. ``risky_rules`` lists those per source workload; the evaluators turn
them into ``Uncertain`` connections: to each workload the peer may hold, what that workload's ingress side admits
beyond the result, and, for nodes and domainNames, to addresses outside the cluster.
"""

from __future__ import annotations

from collector.analysis.reachability.model import AdminPolicy, Inventory, Unresolved, Workload
from collector.analysis.reachability.result import Uncertain

Risky = tuple[AdminPolicy, Unresolved]


def unmodelled(inv: Inventory) -> list[str]:
    """The peers not evaluated, as ``Kind name spec.egress[i].to[j].field``."""
    return [
        u.peer
        for policy in [*inv.admin, *([inv.baseline] if inv.baseline else [])]
        for rule in policy.egress_rules
        for u in rule.unresolved
        if not u.evaluated
    ]


def risky_rules(inv: Inventory) -> list[tuple[int, list[Risky]]]:
    """(workload index, its Allow and Pass egress rule peers whose addresses are unknown), for the workloads that
    have some."""
    policies = [*inv.admin, *([inv.baseline] if inv.baseline else [])]
    risky = [(p, [u for r in p.egress_rules if r.action != "Deny" for u in r.unresolved]) for p in policies]
    risky = [(p, peers) for p, peers in risky if peers]
    out: list[tuple[int, list[Risky]]] = []
    for i, w in enumerate(inv.workloads):
        labels = inv.namespace_labels(w.namespace)
        found = [(p, u) for p, peers in risky if p.selects(w, labels) for u in peers]
        if found:
            out.append((i, found))
    return out


def may_hold(unresolved: Unresolved, dst: Workload) -> bool:
    """Whether the peer's unknown addresses may be those of ``dst``: any pod's for networks, the node's (hence
    hostNetwork and hostPort workloads) for nodes."""
    if unresolved.scope == "workloads":
        return True
    return unresolved.scope == "nodes" and (dst.host_network or bool(dst.host_ports))


def outside(src: Workload, risky: list[Risky]) -> list[Uncertain]:
    """The uncertain connections to addresses outside the cluster (nodes, domainNames)."""
    return [uncertain(src.id, "", p, u) for p, u in risky if u.scope in ("nodes", "addresses")]


def uncertain(src: str, dst: str, policy: AdminPolicy, unresolved: Unresolved, conn: str = "") -> Uncertain:
    return Uncertain(src, dst, conn, unresolved.scope, policy.label, unresolved.peer, unresolved.why)
