"""What the analysis does not model, on the pairs it concerns: Cilium and Calico rules or policies with parts
beyond L3/L4 (L7 rules, DNS names, service accounts, host policies, ...), and admin network policy Allow or Pass
egress rules whose peers' addresses are unknown (``nodes``, ``domainNames``; ``networks`` may hold pod addresses).
Claims turn these into gaps: the connections of such a pair are neither proven allowed nor proven denied. A rule's
pair whose result holds none of the rule's connections (denied at L3/L4 anyway) is decided, and not listed; an
admin rule's pair is listed when the destination's ingress side admits something the result does not show (a Deny
rule with such a peer can only make the real connections fewer)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from collector.analysis.reachability.addresses import Interval, interval_text
from collector.analysis.reachability.conns import EMPTY, Conn, intersection
from collector.analysis.reachability.inventory import Inventory
from collector.analysis.reachability.model import (
    NAME_LABEL,
    AdminPolicy,
    IPBlockPeer,
    SelectorPeer,
    Unresolved,
    Workload,
    resolve_ports,
)
from collector.analysis.reachability.ordered import ActionRule, OrderedPolicy


@dataclass(frozen=True, order=True)
class Unmodelled:
    src: str | None  # a workload id or an external interval first-last; None: every source
    dst: str | None  # None: every destination
    policy_kind: str  # the policy object: CiliumNetworkPolicy, GlobalNetworkPolicy, AdminNetworkPolicy, ...
    policy_namespace: str | None  # None: cluster-wide
    policy_name: str
    why: str


def unmodelled(
    inv: Inventory, triples: Iterable[tuple[str, str, Conn]], admin: Iterable[Unmodelled] = ()
) -> list[Unmodelled]:
    """Every unmodelled part of the inventory's Cilium and Calico policies, on the pairs it concerns that the
    result (``triples``, read only when some part is unmodelled) connects on some of the part's connections, and
    the ``admin`` rules' pairs."""
    found: set[Unmodelled] = set(admin)
    concerned = [p for p in inv.ordered if p.unmodelled or any(r.unmodelled for r in p.ingress_rules + p.egress_rules)]
    result = Result(triples if concerned else ())
    labels = {ns: inv.namespaces.get(ns) or {NAME_LABEL: ns} for ns in {w.namespace for w in inv.workloads}}
    for policy in concerned:
        if policy.selects is None:
            if policy.unmodelled:
                found.add(Unmodelled(None, None, *object_of(policy), policy.unmodelled))
            continue
        for ingress in (True, False):
            targets = [w for w in inv.workloads if policy.applies(w, labels[w.namespace], ingress)]
            for target in targets if policy.unmodelled else ():
                found.add(pair(None, target.id, ingress, policy, policy.unmodelled))
            for rule in policy.rules(ingress):
                if not rule.unmodelled:
                    continue
                for target in targets:
                    if rule.local is not None and not rule.local.matches(target, labels[target.namespace]):
                        continue
                    for peer in peers(inv, rule, labels):
                        if peer is not None and peer[0] == target.id:
                            continue
                        dst = target if ingress else peer[1] if peer is not None else None
                        conn = resolve_ports(rule.rule.ports, dst.named_ports if isinstance(dst, Workload) else ())
                        text = None if peer is None else peer[0]
                        src_dst = (text, target.id) if ingress else (target.id, text)
                        if peer is None or result.connects(*src_dst, conn):
                            found.add(pair(text, target.id, ingress, policy, rule.unmodelled))
    return sorted(found, key=lambda u: (u.src or "", u.dst or "", u.policy_kind, u.policy_name, u.why))


class Result:
    """The result's connections by pair of workloads, and per workload and direction its external intervals."""

    def __init__(self, triples: Iterable[tuple[str, str, Conn]]) -> None:
        self.pairs: dict[tuple[str, str], Conn] = {}
        self.external: dict[tuple[str, bool], list[tuple[Interval, Conn]]] = {}  # (workload, ingress)
        for src, dst, conn in triples:
            if "[" in src and "[" in dst:
                self.pairs[(src, dst)] = conn
            else:
                workload, ingress, other = (dst, True, src) if "[" in dst else (src, False, dst)
                self.external.setdefault((workload, ingress), []).append((parse(other), conn))

    def connects(self, src: str, dst: str, conn: Conn) -> bool:
        """Whether ``src`` reaches ``dst`` on some of ``conn``; an external side (an interval) counts when some
        result interval overlapping it does."""
        if "[" in src and "[" in dst:
            return intersection(self.pairs.get((src, dst), EMPTY), conn) != EMPTY
        workload, ingress, other = (dst, True, src) if "[" in dst else (src, False, dst)
        version, lo, hi = parse(other)
        return any(
            v == version and a <= hi and lo <= b and intersection(c, conn) != EMPTY
            for (v, a, b), c in self.external.get((workload, ingress), [])
        )


def parse(text: str) -> Interval:
    first, last = (ipaddress.ip_address(a) for a in text.split("-"))
    return (first.version, int(first), int(last))


def object_of(policy: OrderedPolicy) -> tuple[str, str | None, str]:
    return policy.kind, policy.namespace, policy.name


def pair(peer: str | None, target: str, ingress: bool, policy: OrderedPolicy, why: str) -> Unmodelled:
    src, dst = (peer, target) if ingress else (target, peer)
    return Unmodelled(src, dst, *object_of(policy), why)


def peers(
    inv: Inventory, rule: ActionRule, labels: dict[str, dict[str, str]]
) -> list[tuple[str, Workload | Interval] | None]:
    """The endpoints a rule's peers name, as (text, workload or interval); None: every peer."""
    if rule.rule.peers is None:
        return [None]
    out: list[tuple[str, Workload | Interval] | None] = []
    for peer in rule.rule.peers:
        if isinstance(peer, IPBlockPeer):
            out.extend((interval_text(iv), iv) for iv in peer.intervals)
        elif isinstance(peer, SelectorPeer):
            out.extend((w.id, w) for w in inv.workloads if peer.matches(w, labels[w.namespace]))
    return out


# admin network policy peers with unknown addresses ------------------------------------------------------------

Risky = tuple[AdminPolicy, Unresolved]
OUTSIDE = (interval_text((4, 0, 2**32 - 1)), interval_text((6, 0, 2**128 - 1)))  # every external address


def risky_rules(inv: Inventory) -> list[tuple[int, list[Risky]]]:
    """(workload index, its Allow and Pass egress rule peers whose addresses are unknown), for the workloads that
    have some."""
    risky = [(p, [u for r in p.egress_rules if r.action != "Deny" for u in r.unresolved]) for p in inv.admin_policies()]
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


def outside(src: Workload, risky: list[Risky]) -> list[Unmodelled]:
    """The pairs to addresses outside the cluster (nodes, domainNames): every external address."""
    return [admin_pair(src.id, dst, p, u) for p, u in risky if u.scope in ("nodes", "addresses") for dst in OUTSIDE]


def admin_pair(src: str, dst: str, policy: AdminPolicy, unresolved: Unresolved, conn: str = "") -> Unmodelled:
    """An admin rule's pair: ``conn`` is what ``dst``'s ingress side admits beyond the result."""
    beyond = f"; may open {conn}" if conn else ""
    where = unresolved.peer.removeprefix(f"{policy.label} ")
    why = f"{where} ({unresolved.scope}): {unresolved.why}{beyond}"
    return Unmodelled(src, dst, policy.kind, None, policy.name, why)


# admin network policies beside Cilium or Calico policies --------------------------------------------------------

ENFORCERS = {"cilium": "Cilium", "calico": "Calico"}


def composed_why(inv: Inventory, target: Workload, ingress: bool) -> list[tuple[AdminPolicy, str]]:
    """The admin policies with rules in that direction applying to ``target``, each with the text naming it and the
    Cilium, Calico and Kubernetes NetworkPolicies applying there: whether the CNI enforces admin policies, and in
    which order against its own tiers, is not modelled."""
    labels = inv.namespace_labels(target.namespace)
    cni = sorted(p.title for p in inv.ordered if p.applies(target, labels, ingress))
    cni += sorted(
        f"NetworkPolicy {p.namespace}/{p.name}"
        for p in inv.policies
        if (p.ingress if ingress else p.egress)
        and p.namespace == target.namespace
        and p.selector.matches(target.labels)
    )
    enforcers = " and ".join(ENFORCERS[e] for e in sorted({p.enforcer for p in inv.ordered}))
    what = ", ".join(cni) or f"no {enforcers} policy"
    side = "ingress" if ingress else "egress"
    admin = [p for p in inv.admin_policies() if (p.ingress_rules if ingress else p.egress_rules)]
    return [
        (p, f"{p.label} vs {what} ({side}): order between admin policies and {enforcers} not modelled")
        for p in admin
        if p.selects(target, labels)
    ]


def composed_pair(src: str, dst: str, why: list[tuple[AdminPolicy, str]], conn: str) -> list[Unmodelled]:
    """A pair whose ``conn`` the order between admin and CNI policies (``composed_why``) may open."""
    return [Unmodelled(src, dst, p.kind, None, p.name, f"{text}; may open {conn}") for p, text in why]
