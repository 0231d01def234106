"""The naive evaluator: every policy's rules evaluated directly for every pair (no precomputation).

The reference the engine is checked against, and the baseline of benchmarks/reachability.py. Each side of a
connection (egress at the source, ingress at the destination) is decided in tiers: AdminNetworkPolicies by
priority (the first matching rule: Allow, Deny or Pass), then NetworkPolicy if one isolates the pod, else the
BaselineAdminNetworkPolicy (first matching rule: Allow or Deny), else allowed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import groupby

from collector.analysis.reachability.addresses import Interval, elementary_intervals, interval_text, merge_runs
from collector.analysis.reachability.conns import (
    ALL,
    EMPTY,
    Conn,
    conn_text,
    difference,
    intersection,
    union,
    union_all,
)
from collector.analysis.reachability.inventory import Inventory, all_rules
from collector.analysis.reachability.model import (
    NAME_LABEL,
    AdminPolicy,
    AdminRule,
    IPBlockPeer,
    NamedPort,
    Policy,
    Rule,
    Workload,
    resolve_ports,
)
from collector.analysis.reachability.ordered import ADMIN_UNAWARE, ALLOW, PASS, Tier, plan
from collector.analysis.reachability.result import Reachability
from collector.analysis.reachability.unmodelled import (
    Unmodelled,
    admin_pair,
    composed_pair,
    composed_why,
    may_hold,
    outside,
    risky_rules,
    unmodelled,
)

Endpoint = Workload | Interval  # a workload, or an elementary interval of external addresses
Matcher = Callable[[Inventory, Rule, Endpoint], bool]
DEFAULT = ""  # the reason of what no policy decided: allowed


def naive_analyze(inv: Inventory, workloads: Iterable[str] | None = None) -> Reachability:
    """Every pair; with ``workloads`` (ids), only pairs from those workloads and from external addresses to them."""
    chosen = set(workloads) if workloads is not None else None
    externals = elementary_intervals(
        [p.intervals for r in all_rules(inv) for p in r.peers or () if isinstance(p, IPBlockPeer)]
    )
    out: list[tuple[str, str, Conn]] = []
    unsure: list[Unmodelled] = []
    for src in inv.workloads:
        if chosen is not None and src.id not in chosen:
            continue
        for dst in inv.workloads:
            if dst is not src:
                (lo, uo), (li, ui) = egress_side(inv, src, dst), ingress_side(inv, dst, src)
                out.append((src.id, dst.id, intersection(lo, li)))
                for target, inward, beyond in (
                    (src, False, (uo, lo, union(li, ui))),
                    (dst, True, (ui, li, union(lo, uo))),
                ):
                    unsure.extend(composed(inv, src.id, dst.id, target, inward, *beyond))
        sides = [egress_side(inv, src, x) for x in externals]
        out.extend(
            (src.id, interval_text(iv), conn) for iv, conn in merge_runs(externals, [s for s, _ in sides], EMPTY)
        )
        for iv, conn in merge_runs(externals, [difference(u, s) for s, u in sides], EMPTY):
            unsure.extend(composed(inv, src.id, interval_text(iv), src, False, conn, EMPTY, ALL))
    for dst in inv.workloads:
        if chosen is None or dst.id in chosen:
            sides = [ingress_side(inv, dst, x) for x in externals]
            runs = merge_runs(externals, [s for s, _ in sides], EMPTY)
            out.extend((interval_text(iv), dst.id, conn) for iv, conn in runs)
            for iv, conn in merge_runs(externals, [difference(u, s) for s, u in sides], EMPTY):
                unsure.extend(composed(inv, interval_text(iv), dst.id, dst, True, conn, EMPTY, ALL))
    return Reachability(out, unmodelled(inv, out, possible(inv, chosen) + unsure))


def composed(
    inv: Inventory, src: str, dst: str, target: Workload, ingress: bool, unsure: Conn, line: Conn, other: Conn
) -> list[Unmodelled]:
    """The pair's entries when ``target``'s side may allow (``unsure``) beyond its ``line`` what the other side
    allows or may (``other``): the order between its admin and CNI policies decides."""
    conn = intersection(difference(unsure, line), other)
    return [] if conn == EMPTY else composed_pair(src, dst, composed_why(inv, target, ingress), conn_text(conn))


def possible(inv: Inventory, chosen: set[str] | None) -> list[Unmodelled]:
    """The uncertain connections from the workloads (``chosen``, or all) that risky rules apply to."""
    found: list[Unmodelled] = []
    for i, rules in risky_rules(inv):
        src = inv.workloads[i]
        if chosen is not None and src.id not in chosen:
            continue
        found.extend(outside(src, rules))
        for dst in inv.workloads:
            if dst is not src:
                admitted = union(*ingress_side(inv, dst, src))  # allowed, or may be where admin and CNI meet
                extra = difference(admitted, egress(inv, src, dst))
                if extra != EMPTY:
                    found.extend(
                        admin_pair(src.id, dst.id, p, u, conn_text(extra)) for p, u in rules if may_hold(u, dst)
                    )
    return found


def ingress(inv: Inventory, dst: Workload, src: Endpoint) -> Conn:
    """What ``dst``'s ingress side allows from ``src``."""
    return ingress_side(inv, dst, src)[0]


def egress(inv: Inventory, src: Workload, dst: Endpoint) -> Conn:
    """What ``src``'s egress side allows to ``dst``."""
    return egress_side(inv, src, dst)[0]


def ingress_side(inv: Inventory, dst: Workload, src: Endpoint) -> tuple[Conn, Conn]:
    """What ``dst``'s ingress side allows from ``src`` (its policies' verdicts, plus what reaches it outside the
    policies: everything under hostNetwork, its hostPorts), and what it may allow beyond (``kubernetes``)."""
    allowed, unsure = kubernetes(inv, dst, src, "ingress", dst.named_ports)
    return union(dst.host_conn, allowed), unsure


def egress_side(inv: Inventory, src: Workload, dst: Endpoint) -> tuple[Conn, Conn]:
    """What ``src``'s egress side allows to ``dst`` (named ports resolve against ``dst``; externals have none), and
    what it may allow beyond."""
    if src.host_network:
        return ALL, EMPTY
    return kubernetes(inv, src, dst, "egress", dst.named_ports if isinstance(dst, Workload) else ())


def kubernetes(
    inv: Inventory, pod: Workload, peer: Endpoint, direction: str, named: tuple[NamedPort, ...]
) -> tuple[Conn, Conn]:
    """What ``pod``'s ``direction`` side allows with ``peer``, and what it may allow beyond that. Without Cilium or
    Calico policies the Kubernetes tiers decide; with them, the enforcers' plans do. Where admin policies apply
    as well and a plan decides (a Cilium or Calico policy or a NetworkPolicy applies, or Cilium, which does not
    implement admin policies, enforces), what the plans allow and no admin policy denies is allowed, and what the
    admin policies allow and the plans drop, or the reverse, is unsure (the order between them is not modelled);
    where no plan decides, the Kubernetes tiers do."""
    policies = applying(inv, pod, direction)
    ingress = direction == "ingress"
    admin = admin_decides(policies, direction)
    labels = inv.namespace_labels(pod.namespace)
    planned = (  # a plan decides: a Cilium or Calico policy or a NetworkPolicy applies, or Cilium enforces
        policies.isolating
        or any(p.enforcer in ADMIN_UNAWARE for p in inv.ordered)
        or any(p.applies(pod, labels, ingress) for p in inv.ordered)
    )
    if not inv.ordered or (admin and not planned):
        return union_all(conn for _, conn in decide(inv, pod, peer, direction, policies=policies)), EMPTY
    enforced_conn = enforced(inv, pod, peer, ingress, named)
    if not admin:
        return enforced_conn, EMPTY
    allowed_by, undecided = admin_tiers(inv, pod, peer, direction, peer_matches, policies)
    allowed = union_all(conn for _, conn in allowed_by)
    passing = union(allowed, undecided)
    unsure = union(difference(allowed, enforced_conn), difference(enforced_conn, passing))
    return intersection(enforced_conn, passing), unsure


def admin_decides(policies: Applying, direction: str) -> bool:
    """Whether an admin policy with rules in ``direction`` applies."""
    admin = [*policies.admin, *([policies.baseline] if policies.baseline else [])]
    return any(admin_rules(p.ingress_rules, p.egress_rules, direction) for p in admin)


@dataclass(frozen=True)
class Applying:
    """The policies that apply to one side of a pod, per tier."""

    admin: tuple[AdminPolicy, ...]  # AdminNetworkPolicies, by priority
    isolating: tuple[Policy, ...]  # NetworkPolicies isolating the pod in that direction
    baseline: AdminPolicy | None


def applying(inv: Inventory, pod: Workload, direction: str) -> Applying:
    labels = inv.namespace_labels(pod.namespace)
    baseline = inv.baseline if inv.baseline is not None and inv.baseline.selects(pod, labels) else None
    return Applying(
        tuple(p for p in inv.admin if p.selects(pod, labels)),
        tuple(
            p
            for p in inv.policies_in(pod.namespace)
            if (p.ingress if direction == "ingress" else p.egress) and selects(p, pod)
        ),
        baseline,
    )


def decide(
    inv: Inventory,
    pod: Workload,
    peer: Endpoint,
    direction: str,
    matches: Matcher | None = None,
    policies: Applying | None = None,
) -> list[tuple[str, Conn]]:
    """The connections ``pod``'s ``direction`` side allows with ``peer``, each with the policy that allows it
    (``AdminNetworkPolicy name``, ``NetworkPolicy ns/name``, ``BaselineAdminNetworkPolicy default``) or
    ``DEFAULT``. AdminNetworkPolicies of equal priority are evaluated independently and their verdicts joined,
    Allow over Pass over Deny (the most permissive order). ``policies``: ``applying(inv, pod, direction)``."""
    matches = matches or peer_matches
    policies = policies or applying(inv, pod, direction)
    out, pending = admin_tiers(inv, pod, peer, direction, matches, policies)
    if policies.isolating:
        named = pod.named_ports if direction == "ingress" else peer.named_ports if isinstance(peer, Workload) else ()
        for policy in policies.isolating:
            for rule in policy.ingress_rules if direction == "ingress" else policy.egress_rules:
                if matches(inv, rule, peer):
                    matched = intersection(pending, resolve_ports(rule.ports, named))
                    if matched != EMPTY:
                        out.append((f"NetworkPolicy {policy.namespace}/{policy.name}", matched))
        return out
    if pending != EMPTY:
        out.append((DEFAULT, pending))
    return out


def admin_tiers(
    inv: Inventory, pod: Workload, peer: Endpoint, direction: str, matches: Matcher, policies: Applying
) -> tuple[list[tuple[str, Conn]], Conn]:
    """What the admin policies allow (each with its policy) and what they leave undecided: the
    AdminNetworkPolicies, then the baseline unless NetworkPolicies isolate the pod (they decide the rest then)."""
    named = pod.named_ports if direction == "ingress" else peer.named_ports if isinstance(peer, Workload) else ()
    out: list[tuple[str, Conn]] = []
    pending, passed = ALL, EMPTY  # not decided by an AdminNetworkPolicy yet; passed on to NetworkPolicy
    for _, group in groupby(policies.admin, key=lambda p: p.priority):
        verdicts: dict[str, Conn] = {"Allow": EMPTY, "Pass": EMPTY, "Deny": EMPTY}
        for policy in group:
            remaining = pending
            for rule in admin_rules(policy.ingress_rules, policy.egress_rules, direction):
                if matches(inv, rule, peer):
                    matched = intersection(remaining, resolve_ports(rule.ports, named))
                    verdicts[rule.action] = union(verdicts[rule.action], matched)
                    remaining = difference(remaining, matched)
                    if rule.action == "Allow" and matched != EMPTY:
                        out.append((policy.label, matched))
        allow = verdicts["Allow"]
        passed = union(passed, difference(verdicts["Pass"], allow))
        pending = difference(pending, union_all(verdicts.values()))
    pending = union(pending, passed)
    baseline = None if policies.isolating else policies.baseline
    if baseline is not None:
        for rule in admin_rules(baseline.ingress_rules, baseline.egress_rules, direction):
            if matches(inv, rule, peer):
                matched = intersection(pending, resolve_ports(rule.ports, named))
                if rule.action == "Allow" and matched != EMPTY:
                    out.append((baseline.label, matched))
                pending = difference(pending, matched)
    return out, pending


def admin_rules(
    ingress_rules: tuple[AdminRule, ...], egress_rules: tuple[AdminRule, ...], direction: str
) -> tuple[AdminRule, ...]:
    return ingress_rules if direction == "ingress" else egress_rules


def enforced(
    inv: Inventory, workload: Workload, peer: Endpoint, ingress: bool, named_ports: tuple[NamedPort, ...]
) -> Conn:
    """What each enforcer's plan for ``workload`` allows with ``peer`` (``named_ports``: the destination's); a
    connection must pass every enforcer present."""
    labels = inv.namespaces.get(workload.namespace) or {NAME_LABEL: workload.namespace}
    knps = [
        p for p in inv.policies_in(workload.namespace) if (p.ingress if ingress else p.egress) and selects(p, workload)
    ]
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
        elif isinstance(endpoint, Workload) and peer.matches(endpoint, inv.namespace_labels(endpoint.namespace)):
            return True
    return False
