"""Why a source may connect to a workload: the AdminNetworkPolicies, NetworkPolicies and BaselineAdminNetworkPolicy
(and Cilium and Calico policies) whose ingress rules admit it, or the reason the workload is open (no policy
decides, hostNetwork, hostPorts); and why a workload may connect to external addresses (the Kubernetes policies
whose egress rules allow it, or none decides).

Claims that find an unwanted connection must name the object that opens it; the engine answers *whether* a pair
may connect, this module *which objects* make it so. It evaluates the tiers of each side directly (the naive
evaluator's ``decide``), memoized per source and destination equivalence class.
"""

from __future__ import annotations

from collector.analysis.reachability.addresses import Interval
from collector.analysis.reachability.admitting import (
    HOST_NETWORK,
    NOT_ISOLATED,
    NOT_ISOLATED_EGRESS,
    host_reasons,
    overlaps,
    parse_interval,
)
from collector.analysis.reachability.conns import EMPTY
from collector.analysis.reachability.inventory import Inventory
from collector.analysis.reachability.model import IPBlockPeer, Rule, Workload, resolve_ports
from collector.analysis.reachability.naive import DEFAULT, Applying, applying, decide
from collector.analysis.reachability.ordered import ALLOW, ActionRule, OrderedPolicy

NOT_DENIED = "no rule denies it (a Cilium policy without default deny, or a Calico Pass out of the last tier)"


class Attribution:
    """``ingress(src, dst)``: the reasons ``src`` (a workload id or an address interval ``first-last``) may
    connect to the workload ``dst``, as texts naming their objects (``NetworkPolicy ns/name``)."""

    def __init__(self, inv: Inventory) -> None:
        self.inv = inv
        self.by_id = {w.id: w for w in inv.workloads}
        self.src_keys = {w.id: (w.namespace, frozenset(w.labels.items()), w.host_network) for w in inv.workloads}
        self.dst_keys = {w.id: (*self.src_keys[w.id], w.named_ports, w.host_ports) for w in inv.workloads}
        self._applying: dict[tuple, tuple[Applying, tuple[int, ...]]] = {}
        self._ordered: dict[tuple, tuple[OrderedPolicy, ...]] = {}
        self._cache: dict[tuple, tuple[str, ...]] = {}

    def ingress(self, src: str, dst: str) -> tuple[str, ...]:
        dst_key = self.dst_keys.get(dst)
        if dst_key is None:
            return ()
        target = self.by_id[dst]
        policies, ids = self.applying(target, "ingress", dst_key)
        ordered = self._ordered.get(dst_key)
        if ordered is None:
            labels = self.inv.namespace_labels(target.namespace)
            ordered = self._ordered[dst_key] = tuple(p for p in self.inv.ordered if p.applies(target, labels, True))
        # what admits a source depends on the policies applying to the destination and its ports, not its labels
        key = (self.src_keys.get(src, src), ids, tuple(map(id, ordered)), dst_key[2:])
        found = self._cache.get(key)
        if found is None:
            source = self.by_id.get(src)
            endpoint = source if source is not None else parse_interval(src)
            found = self._cache[key] = self._reasons(endpoint, target, policies, ordered)
        return found

    def egress(self, src: str, dst: str) -> tuple[str, ...]:
        """The reasons the workload ``src`` may connect to the external addresses ``dst`` (``first-last``)."""
        source, interval = self.by_id.get(src), parse_interval(dst)
        if source is None or interval is None:
            return ()
        if source.host_network:
            return (HOST_NETWORK,)
        policies, ids = self.applying(source, "egress", self.src_keys[src])
        key = ("egress", ids, interval)  # to external addresses, only the policies applying to the source count
        found = self._cache.get(key)
        if found is None:
            reasons = decide(self.inv, source, interval, "egress", matches, policies)
            found = self._cache[key] = tuple(
                dict.fromkeys(NOT_ISOLATED_EGRESS if r == DEFAULT else r for r, _ in reasons)
            )
        return found

    def applying(self, pod: Workload, direction: str, key: tuple) -> tuple[Applying, tuple[int, ...]]:
        """The policies applying to the pod's side (memoized on ``key``, the pod's class) and their ids."""
        found = self._applying.get((direction, key))
        if found is None:
            policies = applying(self.inv, pod, direction)
            ids = tuple(map(id, (*policies.admin, *policies.isolating, policies.baseline)))
            found = self._applying[(direction, key)] = (policies, ids)
        return found

    def _reasons(
        self, src: Workload | Interval | None, dst: Workload, policies: Applying, ordered: tuple[OrderedPolicy, ...]
    ) -> tuple[str, ...]:
        reasons = list(host_reasons(dst.host_network, dst.host_conn))
        if src is None:
            return tuple(reasons)
        for label, _ in decide(self.inv, dst, src, "ingress", matches, policies):
            if label == DEFAULT and ordered:  # the Cilium or Calico policies decide
                continue
            reason = NOT_ISOLATED if label == DEFAULT else label
            if reason not in reasons:
                reasons.append(reason)
        admitting = [p.title for p in ordered if any(self._allows(r, src, dst) for r in p.ingress_rules)]
        if ordered and not admitting:
            admitting.append(NOT_DENIED)
        return (*reasons, *admitting)

    def _allows(self, rule: ActionRule, src: Workload | Interval, dst: Workload) -> bool:
        """Whether a Cilium or Calico Allow rule (its local selectors applying to ``dst``) admits ``src``."""
        local = rule.local is None or rule.local.matches(dst, self.inv.namespace_labels(dst.namespace))
        ports = resolve_ports(rule.rule.ports, dst.named_ports)
        return rule.action == ALLOW and local and ports != EMPTY and matches(self.inv, rule.rule, src)


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
