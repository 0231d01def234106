"""The inventory the engine analyses: namespaces, workloads, NetworkPolicies, admin network policies, Cilium and
Calico policies."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from collector.analysis.reachability.cni import cni_kind, parse_cni
from collector.analysis.reachability.model import (
    ADMIN_ACTIONS,
    ADMIN_GROUPS,
    BASELINE_NAME,
    NAME_LABEL,
    NAMESPACE_GROUPS,
    POLICY_GROUPS,
    WORKLOAD_GROUPS,
    AdminPolicy,
    Policy,
    Rule,
    SelectorPeer,
    Workload,
    collapse,
    flatten,
    namespace_of,
    object_name,
    parse_admin_policy,
    parse_policy,
    selected_keys,
    served,
    string_map,
)
from collector.analysis.reachability.ordered import OrderedPolicy


@dataclass
class Inventory:
    namespaces: dict[str, dict[str, str]]  # every namespace (declared or holding a workload) -> labels
    workloads: list[Workload]  # sorted by id
    policies: list[Policy]
    admin: list[AdminPolicy] = field(default_factory=list)  # AdminNetworkPolicies by (priority, name)
    baseline: AdminPolicy | None = None  # the BaselineAdminNetworkPolicy
    ordered: list[OrderedPolicy] = field(default_factory=list)  # Cilium and Calico policies
    tiers: dict[str, tuple[float, str]] = field(default_factory=dict)  # Calico tiers: (order, default action)
    _by_namespace: dict[str, list[Policy]] | None = field(default=None, init=False, repr=False, compare=False)

    def policies_in(self, namespace: str) -> list[Policy]:
        """The NetworkPolicies of ``namespace``, in order (the only ones that may select its pods)."""
        if self._by_namespace is None:
            self._by_namespace = {}
            for p in self.policies:
                self._by_namespace.setdefault(p.namespace, []).append(p)
        return self._by_namespace.get(namespace, [])

    def namespace_labels(self, namespace: str) -> dict[str, str]:
        return self.namespaces.get(namespace) or {NAME_LABEL: namespace}

    def admin_policies(self) -> list[AdminPolicy]:
        """The AdminNetworkPolicies by priority, then the BaselineAdminNetworkPolicy."""
        return [*self.admin, *([self.baseline] if self.baseline else [])]

    @classmethod
    def from_objects(cls, objects: Iterable[Any]) -> Inventory:
        """Namespaces, workloads, NetworkPolicies, admin network policies, Cilium and Calico policies of Kubernetes
        objects (``List`` kinds are flattened)."""
        namespaces: dict[str, dict[str, str]] = {}
        controllers: dict[tuple[str, str, str], dict] = {}
        policies: dict[tuple[str, str], Policy] = {}
        admin: dict[tuple[str, str], AdminPolicy] = {}
        cni: list[tuple[int, dict, str]] = []
        for index, obj in enumerate(flatten(objects)):
            kind = obj.get("kind")
            if kind == "Namespace" and served(obj, NAMESPACE_GROUPS):
                name = object_name(obj, index)
                labels = string_map((obj.get("metadata") or {}).get("labels"), f"Namespace {name}")
                namespaces[name] = {**labels, NAME_LABEL: name}
            elif kind == "NetworkPolicy" and served(obj, POLICY_GROUPS):
                policy = parse_policy(obj, index)
                policies[(policy.namespace, policy.name)] = policy
            elif kind in ADMIN_ACTIONS and served(obj, ADMIN_GROUPS):
                admin_policy = parse_admin_policy(obj, index)
                admin[(admin_policy.kind, admin_policy.name)] = admin_policy
            elif kind in WORKLOAD_GROUPS and served(obj, WORKLOAD_GROUPS[kind]) and not template_elsewhere(obj):
                controllers[(namespace_of(obj), kind, object_name(obj, index))] = obj
            elif (what := cni_kind(obj)) is not None:
                cni.append((index, obj, what))
        ordered, tiers = parse_cni(cni, namespaces)
        anps = sorted((p for p in admin.values() if p.priority is not None), key=lambda p: (p.priority, p.name))
        baseline = admin.get(("BaselineAdminNetworkPolicy", BASELINE_NAME))
        keys = selected_keys(policies.values(), admin.values()) | ordered_keys(ordered)
        workloads = collapse(controllers, keys)
        for w in workloads:
            namespaces.setdefault(w.namespace, {NAME_LABEL: w.namespace})
        return cls(namespaces, workloads, list(policies.values()), anps, baseline, ordered, tiers)


def template_elsewhere(obj: dict) -> bool:
    """An Argo Rollout whose pods come from the Deployment its ``workloadRef`` names, not from a template of its own
    (that Deployment and the Rollout's ReplicaSets describe them)."""
    spec = obj.get("spec")
    return obj.get("kind") == "Rollout" and isinstance(spec, dict) and "template" not in spec and "workloadRef" in spec


def all_rules(inv: Inventory) -> list[Rule]:
    """The rules of every policy of the inventory."""
    rules = [r for p in [*inv.policies, *inv.admin_policies()] for r in p.ingress_rules + p.egress_rules]
    return rules + [r.rule for p in inv.ordered for r in p.ingress_rules + p.egress_rules]


def ordered_keys(policies: Iterable[OrderedPolicy]) -> frozenset[str]:
    """The pod label keys Cilium and Calico policies select on."""
    peers = [p.selects for p in policies] + [
        peer for p in policies for r in p.ingress_rules + p.egress_rules for peer in r.rule.peers or ()
    ]
    return frozenset(k for peer in peers if isinstance(peer, SelectorPeer) and peer.pods for k in peer.pods.keys)
