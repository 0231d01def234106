"""Why a source may connect to a workload: the NetworkPolicies whose ingress rules admit it, or the reason the
workload is not isolated (no policy selects it for ingress, hostNetwork, hostPorts).

Claims that find an unwanted connection must name the object that opens it; the engine answers *whether* a pair
may connect, this module *which objects* make it so. It evaluates each policy rule directly (as the naive
evaluator does), memoized per source and destination equivalence class.
"""

from __future__ import annotations

import ipaddress

from collector.analysis.reachability.addresses import Interval
from collector.analysis.reachability.conns import EMPTY, conn_text
from collector.analysis.reachability.model import (
    NAME_LABEL,
    Inventory,
    IPBlockPeer,
    Policy,
    Rule,
    Workload,
    resolve_ports,
)

NOT_ISOLATED = "no NetworkPolicy selects it for ingress"
HOST_NETWORK = "hostNetwork (NetworkPolicy does not isolate host-network pods)"


class Attribution:
    """``ingress(src, dst)``: the reasons ``src`` (a workload id or an address interval ``first-last``) may
    connect to the workload ``dst``, as texts naming their objects (``NetworkPolicy ns/name``)."""

    def __init__(self, inv: Inventory) -> None:
        self.inv = inv
        self.by_id = {w.id: w for w in inv.workloads}
        self.src_keys = {w.id: (w.namespace, frozenset(w.labels.items())) for w in inv.workloads}
        self.dst_keys = {
            w.id: (*self.src_keys[w.id], w.named_ports, w.host_network, w.host_ports) for w in inv.workloads
        }
        self.by_namespace: dict[str, list[Policy]] = {}
        for p in inv.policies:
            if p.ingress:
                self.by_namespace.setdefault(p.namespace, []).append(p)
        self._selecting: dict[tuple, tuple[Policy, ...]] = {}
        self._cache: dict[tuple, tuple[str, ...]] = {}
        self._ports: dict[tuple, bool] = {}  # (rule ports, named ports) -> whether they allow any connection

    def ingress(self, src: str, dst: str) -> tuple[str, ...]:
        dst_key = self.dst_keys.get(dst)
        if dst_key is None:
            return ()
        target = self.by_id[dst]
        selecting = self._selecting.get(dst_key)
        if selecting is None:
            selecting = self._selecting[dst_key] = tuple(
                p for p in self.by_namespace.get(target.namespace, ()) if p.selector.matches(target.labels)
            )
        # what admits a source depends on the policies selecting the destination and its ports, not its labels
        key = (self.src_keys.get(src, src), tuple(map(id, selecting)), dst_key[2:])
        found = self._cache.get(key)
        if found is None:
            source = self.by_id.get(src)
            endpoint = source if source is not None else parse_interval(src)
            found = self._cache[key] = self._reasons(endpoint, target, selecting)
        return found

    def _reasons(
        self, src: Workload | Interval | None, dst: Workload, selecting: tuple[Policy, ...]
    ) -> tuple[str, ...]:
        reasons: list[str] = []
        if dst.host_network:
            reasons.append(HOST_NETWORK)
        elif dst.host_ports:
            reasons.append(f"hostPort {conn_text(dst.host_conn)} (forwarded from the node, outside NetworkPolicy)")
        if not selecting:
            return (*reasons, NOT_ISOLATED)
        if src is None:
            return tuple(reasons)
        for policy in selecting:
            if any(self._admits(rule, src, dst) for rule in policy.ingress_rules):
                reasons.append(f"NetworkPolicy {policy.namespace}/{policy.name}")
        return tuple(reasons)

    def _admits(self, rule: Rule, src: Workload | Interval, dst: Workload) -> bool:
        key = (rule.ports, dst.named_ports)
        ports = self._ports.get(key)
        if ports is None:
            ports = self._ports[key] = resolve_ports(rule.ports, dst.named_ports) != EMPTY
        if not ports:
            return False
        if rule.peers is None:
            return True
        for peer in rule.peers:
            if isinstance(peer, IPBlockPeer):
                if not isinstance(src, Workload) and overlaps(peer.intervals, src):
                    return True
            elif isinstance(src, Workload):
                labels = self.inv.namespaces.get(src.namespace) or {NAME_LABEL: src.namespace}
                if peer.matches(src, labels):
                    return True
        return False


def parse_interval(text: str) -> Interval | None:
    """The interval of ``first-last`` (as the result writes external addresses); None if it is not one."""
    first, sep, last = text.partition("-")
    if not sep:
        return None
    try:
        lo, hi = ipaddress.ip_address(first), ipaddress.ip_address(last)
    except ValueError:
        return None
    return (lo.version, int(lo), int(hi))


def overlaps(intervals: tuple[Interval, ...], interval: Interval) -> bool:
    """Whether any of ``intervals`` shares an address with ``interval`` (a merged run of the result may span the
    blocks of several policies, each admitting part of it)."""
    version, lo, hi = interval
    return any(v == version and a <= hi and lo <= b for v, a, b in intervals)
