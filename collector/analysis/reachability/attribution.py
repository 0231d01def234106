"""Why a source may connect to a workload: the AdminNetworkPolicies, NetworkPolicies and BaselineAdminNetworkPolicy
whose ingress rules admit it, or the reason the workload is open (no policy decides, hostNetwork, hostPorts).

Claims that find an unwanted connection must name the object that opens it; the engine answers *whether* a pair
may connect, this module *which objects* make it so. It evaluates the tiers of each side directly (the naive
evaluator's ``decide``), memoized per source and destination equivalence class.
"""

from __future__ import annotations

import ipaddress

from collector.analysis.reachability.addresses import Interval
from collector.analysis.reachability.conns import conn_text
from collector.analysis.reachability.model import Inventory, IPBlockPeer, Rule, Workload
from collector.analysis.reachability.naive import DEFAULT, decide

NOT_ISOLATED = "no NetworkPolicy selects it for ingress"  # nor does an admin policy decide
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
        self._selecting: dict[tuple, tuple[int, ...]] = {}
        self._cache: dict[tuple, tuple[str, ...]] = {}

    def ingress(self, src: str, dst: str) -> tuple[str, ...]:
        dst_key = self.dst_keys.get(dst)
        if dst_key is None:
            return ()
        target = self.by_id[dst]
        selecting = self._selecting.get(dst_key)
        if selecting is None:
            selecting = self._selecting[dst_key] = self.applying(target)
        # what admits a source depends on the policies applying to the destination and its ports, not its labels
        key = (self.src_keys.get(src, src), selecting, dst_key[2:])
        found = self._cache.get(key)
        if found is None:
            source = self.by_id.get(src)
            endpoint = source if source is not None else parse_interval(src)
            found = self._cache[key] = self._reasons(endpoint, target)
        return found

    def applying(self, dst: Workload) -> tuple[int, ...]:
        """The policies (ids) that apply to the ingress of ``dst``."""
        labels = self.inv.namespace_labels(dst.namespace)
        admin = [*self.inv.admin, *([self.inv.baseline] if self.inv.baseline else [])]
        return tuple(
            [id(p) for p in admin if p.selects(dst, labels)]
            + [
                id(p) for p in self.inv.policies
                if p.ingress and p.namespace == dst.namespace and p.selector.matches(dst.labels)
            ]
        )  # fmt: skip

    def _reasons(self, src: Workload | Interval | None, dst: Workload) -> tuple[str, ...]:
        reasons: list[str] = []
        if dst.host_network:
            reasons.append(HOST_NETWORK)
        elif dst.host_ports:
            reasons.append(f"hostPort {conn_text(dst.host_conn)} (forwarded from the node, outside NetworkPolicy)")
        if src is None:
            return tuple(reasons)
        for label, _ in decide(self.inv, dst, src, "ingress", matches):
            reason = NOT_ISOLATED if label == DEFAULT else label
            if reason not in reasons:
                reasons.append(reason)
        return tuple(reasons)


def matches(inv: Inventory, rule: Rule, src: Workload | Interval) -> bool:
    """Whether a rule's peers take in ``src`` (an interval of the result may span the blocks of several rules:
    one that shares an address with it admits part of it)."""
    if rule.peers is None:
        return True
    for peer in rule.peers:
        if isinstance(peer, IPBlockPeer):
            if not isinstance(src, Workload) and overlaps(peer.intervals, src):
                return True
        elif isinstance(src, Workload) and peer.matches(src, inv.namespace_labels(src.namespace)):
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
