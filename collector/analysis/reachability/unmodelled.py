"""What the analysis does not model, on the pairs it concerns: Cilium and Calico rules or policies with parts
beyond L3/L4 (L7 rules, DNS names, service accounts, host policies, ...). Claims turn these into gaps: the
connections of such a pair are neither proven allowed nor proven denied."""

from __future__ import annotations

from dataclasses import dataclass

from collector.analysis.reachability.addresses import interval_text
from collector.analysis.reachability.inventory import Inventory
from collector.analysis.reachability.model import NAME_LABEL, IPBlockPeer, SelectorPeer, Workload
from collector.analysis.reachability.ordered import ActionRule, OrderedPolicy


@dataclass(frozen=True, order=True)
class Unmodelled:
    src: str | None  # a workload id or an external interval first-last; None: every source
    dst: str | None  # None: every destination
    policy_kind: str  # the policy object: CiliumNetworkPolicy, GlobalNetworkPolicy, ...
    policy_namespace: str | None  # None: cluster-wide
    policy_name: str
    why: str


def unmodelled(inv: Inventory) -> list[Unmodelled]:
    """Every unmodelled part of the inventory's Cilium and Calico policies, on the pairs it concerns."""
    found: set[Unmodelled] = set()
    labels = {ns: inv.namespaces.get(ns) or {NAME_LABEL: ns} for ns in {w.namespace for w in inv.workloads}}
    for policy in inv.ordered:
        if policy.selects is None:
            if policy.unmodelled:
                found.add(Unmodelled(None, None, *object_of(policy), policy.unmodelled))
            continue
        for ingress in (True, False):
            targets = [w.id for w in inv.workloads if policy.applies(w, labels[w.namespace], ingress)]
            for target in targets if policy.unmodelled else ():
                found.add(pair(None, target, ingress, policy, policy.unmodelled))
            for rule in policy.rules(ingress):
                if rule.unmodelled and targets:
                    for peer in peers(inv, rule, labels):
                        found.update(pair(peer, t, ingress, policy, rule.unmodelled) for t in targets if t != peer)
    return sorted(found, key=lambda u: (u.src or "", u.dst or "", u.policy_kind, u.policy_name, u.why))


def object_of(policy: OrderedPolicy) -> tuple[str, str | None, str]:
    return policy.kind, policy.namespace, policy.name


def pair(peer: str | None, target: str, ingress: bool, policy: OrderedPolicy, why: str) -> Unmodelled:
    src, dst = (peer, target) if ingress else (target, peer)
    return Unmodelled(src, dst, *object_of(policy), why)


def peers(inv: Inventory, rule: ActionRule, labels: dict[str, dict[str, str]]) -> list[str | None]:
    """The endpoints a rule's peers name (None: every peer)."""
    if rule.rule.peers is None:
        return [None]
    out: list[str | None] = []
    for peer in rule.rule.peers:
        if isinstance(peer, IPBlockPeer):
            out.extend(interval_text(iv) for iv in peer.intervals)
        elif isinstance(peer, SelectorPeer):
            out.extend(w.id for w in inv.workloads if matches(peer, w, labels))
    return out


def matches(peer: SelectorPeer, workload: Workload, labels: dict[str, dict[str, str]]) -> bool:
    return peer.matches(workload, labels[workload.namespace])
