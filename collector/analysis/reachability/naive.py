"""The naive evaluator: every policy's rules evaluated directly for every pair (no precomputation).

The reference the engine is checked against, and the baseline of benchmarks/reachability.py.
"""

from __future__ import annotations

from collections.abc import Iterable

from collector.analysis.reachability.addresses import Interval, elementary_intervals, interval_text, merge_runs
from collector.analysis.reachability.conns import ALL, EMPTY, Conn, difference, intersection, union
from collector.analysis.reachability.inventory import Inventory, all_rules
from collector.analysis.reachability.model import (
    NAME_LABEL,
    IPBlockPeer,
    NamedPort,
    Policy,
    Rule,
    Workload,
    resolve_ports,
)
from collector.analysis.reachability.ordered import ALLOW, PASS, Tier, plan
from collector.analysis.reachability.result import Reachability
from collector.analysis.reachability.unmodelled import unmodelled

Endpoint = Workload | Interval  # a workload, or an elementary interval of external addresses


def naive_analyze(inv: Inventory, workloads: Iterable[str] | None = None) -> Reachability:
    """Every pair; with ``workloads`` (ids), only pairs from those workloads and from external addresses to them."""
    chosen = set(workloads) if workloads is not None else None
    externals = elementary_intervals(
        [p.intervals for r in all_rules(inv) for p in r.peers or () if isinstance(p, IPBlockPeer)]
    )
    out: list[tuple[str, str, Conn]] = []
    for src in inv.workloads:
        if chosen is not None and src.id not in chosen:
            continue
        for dst in inv.workloads:
            if dst is not src:
                out.append((src.id, dst.id, intersection(egress(inv, src, dst), ingress(inv, dst, src))))
        runs = merge_runs(externals, [egress(inv, src, x) for x in externals], EMPTY)
        out.extend((src.id, interval_text(iv), conn) for iv, conn in runs)
    for dst in inv.workloads:
        if chosen is None or dst.id in chosen:
            runs = merge_runs(externals, [ingress(inv, dst, x) for x in externals], EMPTY)
            out.extend((interval_text(iv), dst.id, conn) for iv, conn in runs)
    return Reachability(out, unmodelled(inv, out))


def ingress(inv: Inventory, dst: Workload, src: Endpoint) -> Conn:
    """What ``dst``'s ingress side allows from ``src``: its policies' rules, plus what reaches it outside
    NetworkPolicy (everything under hostNetwork, its hostPorts)."""
    if inv.ordered:
        return union(enforced(inv, dst, src, True, dst.named_ports), dst.host_conn)
    selecting = [p for p in inv.policies if p.ingress and selects(p, dst)]
    if not selecting:
        return ALL
    allowed = dst.host_conn
    for policy in selecting:
        for rule in policy.ingress_rules:
            if peer_matches(inv, rule, src):
                allowed = union(allowed, resolve_ports(rule.ports, dst.named_ports))
    return allowed


def egress(inv: Inventory, src: Workload, dst: Endpoint) -> Conn:
    """What ``src``'s egress side allows to ``dst`` (named ports resolve against ``dst``; externals have none)."""
    if src.host_network:
        return ALL
    if inv.ordered:
        return enforced(inv, src, dst, False, dst.named_ports if isinstance(dst, Workload) else ())
    selecting = [p for p in inv.policies if p.egress and selects(p, src)]
    if not selecting:
        return ALL
    allowed = EMPTY
    for policy in selecting:
        for rule in policy.egress_rules:
            if peer_matches(inv, rule, dst):
                named_ports = dst.named_ports if isinstance(dst, Workload) else ()
                allowed = union(allowed, resolve_ports(rule.ports, named_ports))
    return allowed


def enforced(
    inv: Inventory, workload: Workload, peer: Endpoint, ingress: bool, named_ports: tuple[NamedPort, ...]
) -> Conn:
    """What each enforcer's plan for ``workload`` allows with ``peer`` (``named_ports``: the destination's); a
    connection must pass every enforcer present."""
    labels = inv.namespaces.get(workload.namespace) or {NAME_LABEL: workload.namespace}
    knps = [p for p in inv.policies if (p.ingress if ingress else p.egress) and selects(p, workload)]
    allowed = ALL
    for enforcer in sorted({p.enforcer for p in inv.ordered}):
        mine = [p for p in inv.ordered if p.enforcer == enforcer and p.applies(workload, labels, ingress)]
        tiers = plan(enforcer, knps, mine, ingress, inv.tiers, lambda sel: sel.matches(workload, labels))
        allowed = intersection(allowed, first_match(inv, tiers, peer, named_ports))
    return allowed


def first_match(inv: Inventory, tiers: list[Tier], peer: Endpoint, named_ports: tuple[NamedPort, ...]) -> Conn:
    """A plan walked rule by rule for one peer: each rule decides the connections no earlier rule decided."""
    allowed, pending = EMPTY, ALL
    for rules, default in tiers:
        passed = EMPTY
        for r in rules:
            if not peer_matches(inv, r.rule, peer):
                continue
            ports = resolve_ports(r.rule.ports, named_ports)
            hit = intersection(pending, ports)
            pending = difference(pending, ports)
            if r.action == ALLOW:
                allowed = union(allowed, hit)
            elif r.action == PASS:
                passed = union(passed, hit)
        pending = union(passed, pending) if default == PASS else passed
    return union(allowed, pending)


def selects(policy: Policy, workload: Workload) -> bool:
    return policy.namespace == workload.namespace and policy.selector.matches(workload.labels)


def peer_matches(inv: Inventory, rule: Rule, endpoint: Endpoint) -> bool:
    if rule.peers is None:
        return True
    for peer in rule.peers:
        if isinstance(peer, IPBlockPeer):
            if not isinstance(endpoint, Workload) and peer.contains(endpoint):
                return True
        elif isinstance(endpoint, Workload):
            labels = inv.namespaces.get(endpoint.namespace) or {NAME_LABEL: endpoint.namespace}
            if peer.matches(endpoint, labels):
                return True
    return False
