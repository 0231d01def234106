"""What the admin policies may decide that the result does not show: peers selecting Nodes or domainNames (not
evaluated: they match nothing), and networks, which may hold pod addresses (evaluated for external addresses only).

A Deny rule with such a peer can only make the real connections fewer than the result's; an Allow or Pass rule may
open connections the result does not show: those are ``uncertain`` for each workload the policy applies to.
"""

from __future__ import annotations

from collector.analysis.reachability.model import Inventory
from collector.analysis.reachability.result import Uncertain


def unmodelled(inv: Inventory) -> list[str]:
    """The peers not evaluated, as ``Kind name spec.egress[i].to[j].field``."""
    return [
        u.peer
        for policy in [*inv.admin, *([inv.baseline] if inv.baseline else [])]
        for rule in policy.egress_rules
        for u in rule.unresolved
        if not u.evaluated
    ]


def uncertain(inv: Inventory) -> list[Uncertain]:
    """Per workload, the Allow and Pass egress rules applying to it whose peers may match unknown addresses."""
    policies = [*inv.admin, *([inv.baseline] if inv.baseline else [])]
    risky = [(p, [r for r in p.egress_rules if r.unresolved and r.action != "Deny"]) for p in policies]
    risky = [(p, rules) for p, rules in risky if rules]
    out: list[Uncertain] = []
    for w in inv.workloads:
        labels = inv.namespace_labels(w.namespace)
        for policy, rules in risky:
            if policy.selects(w, labels):
                out.extend(Uncertain(w.id, u.scope, policy.label, u.peer, u.why) for r in rules for u in r.unresolved)
    return out
