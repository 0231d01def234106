"""CNI policies with actions and order (Cilium, Calico), and how an endpoint's policies form its verdict plan.

A *plan* is what one enforcer (the CNI that implements the policies) evaluates for one endpoint and direction:
a list of tiers, each an ordered list of rules with an action, ending in the tier's default action. A connection
is decided by the first rule of a tier that matches it (Allow, Deny; Pass goes on to the next tier); what no rule
of a tier matches gets the tier's default; what passes the last tier, or meets no tier, is allowed. Kubernetes
NetworkPolicies join each enforcer's plan as it implements them:

- **Cilium**: one tier. Deny rules (``ingressDeny``/``egressDeny``) come first, since they take precedence over
  every allow; then the allow rules of every Cilium policy and NetworkPolicy; the default is deny when a policy
  with default deny enabled (``enableDefaultDeny``, true for a direction the policy has rules for) or a
  NetworkPolicy isolating the endpoint selects it, and allow otherwise.
- **Calico**: its tiers by ``order`` (unset: last), the policies of a tier that select the endpoint by ``order``
  (unset: last) then name; NetworkPolicies are in the ``default`` tier as ``knp.default.<name>`` with order 1000.
  A tier no policy of which applies to the endpoint is skipped.

The engine and the naive evaluator both evaluate these plans, each its own way.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from collector.analysis.reachability.model import Policy, Rule, SelectorPeer, Workload

ALLOW, DENY, PASS = "Allow", "Deny", "Pass"
CILIUM, CALICO = "cilium", "calico"
DEFAULT_TIER = "default"
DEFAULT_TIER_ORDER = 1_000_000.0  # Calico's default tier
KNP_ORDER = 1000.0  # Kubernetes NetworkPolicies in Calico's default tier
ADMIN_UNAWARE = frozenset({CILIUM})  # enforcers that do not implement AdminNetworkPolicy: they decide every endpoint


@dataclass(frozen=True)
class ActionRule:
    action: str  # Allow | Deny | Pass
    rule: Rule  # peers and ports; rule.peers == (): no peer (an empty Cilium rule)
    unmodelled: str = ""  # what of the rule is not modelled (L7, FQDN, ...); reported on its pairs
    local: SelectorPeer | None = None  # Calico: the endpoints of the policy it applies to (None: all)


@dataclass(frozen=True)
class OrderedPolicy:
    kind: str  # CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy, NetworkPolicy.projectcalico.org, ...
    namespace: str | None  # None: cluster-wide
    name: str
    enforcer: str  # cilium | calico
    selects: SelectorPeer | None  # the pods it applies to (as a peer: namespaces None = its namespace); None: none
    ingress: bool  # applies to ingress (Cilium: has ingress or ingressDeny rules; Calico: types)
    egress: bool
    ingress_rules: tuple[ActionRule, ...]
    egress_rules: tuple[ActionRule, ...]
    default_deny_ingress: bool = True  # Cilium enableDefaultDeny
    default_deny_egress: bool = True
    tier: str = DEFAULT_TIER  # Calico
    order: float = math.inf  # Calico; unset: last
    unmodelled: str = ""  # what of the whole policy is not modelled (a nodeSelector, an unknown tier)

    @property
    def title(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"

    def applies(self, workload: Workload, namespace_labels: dict[str, str], ingress: bool) -> bool:
        return (
            (self.ingress if ingress else self.egress)
            and self.selects is not None
            and self.selects.matches(workload, namespace_labels)
        )

    def rules(self, ingress: bool) -> tuple[ActionRule, ...]:
        return self.ingress_rules if ingress else self.egress_rules


Tier = tuple[tuple[ActionRule, ...], str]  # the rules in order, the default action
Local = Callable[[SelectorPeer], bool]  # whether the endpoint matches a rule's local selectors


def knp_rules(policy: Policy, ingress: bool) -> tuple[ActionRule, ...]:
    return tuple(ActionRule(ALLOW, r) for r in (policy.ingress_rules if ingress else policy.egress_rules))


def plan(
    enforcer: str,
    knps: list[Policy],
    policies: list[OrderedPolicy],
    ingress: bool,
    tiers: dict[str, tuple[float, str]],
    local: Local,
) -> list[Tier]:
    """The plan of an endpoint that ``knps`` and ``policies`` (of ``enforcer``) select for this direction;
    ``local`` tells which rules with local selectors apply to it."""
    if enforcer == CILIUM:
        return cilium_plan(knps, policies, ingress)
    return calico_plan(knps, policies, ingress, tiers, local)


def cilium_plan(knps: list[Policy], policies: list[OrderedPolicy], ingress: bool) -> list[Tier]:
    """The Cilium tier of an endpoint selected for this direction by ``knps`` and Cilium ``policies``."""
    if not knps and not policies:
        return []
    denies = tuple(r for p in policies for r in p.rules(ingress) if r.action == DENY)
    allows = tuple(r for p in policies for r in p.rules(ingress) if r.action == ALLOW)
    isolated = bool(knps) or any(p.default_deny_ingress if ingress else p.default_deny_egress for p in policies)
    rules = denies + tuple(r for p in knps for r in knp_rules(p, ingress)) + allows
    if not isolated:
        rules += (ActionRule(ALLOW, Rule(None, None)),)
    return [(rules, DENY)]


def calico_plan(
    knps: list[Policy],
    policies: list[OrderedPolicy],
    ingress: bool,
    tiers: dict[str, tuple[float, str]],
    local: Local,
) -> list[Tier]:
    """The Calico tiers of an endpoint selected for this direction by ``knps`` and Calico ``policies``;
    ``tiers``: tier name -> (order, default action)."""
    entries = [(DEFAULT_TIER, KNP_ORDER, f"knp.default.{p.name}", knp_rules(p, ingress)) for p in knps]
    entries += [
        (p.tier, p.order, p.name, tuple(r for r in p.rules(ingress) if r.local is None or local(r.local)))
        for p in policies
    ]
    by_tier: dict[str, list[tuple[float, str, tuple[ActionRule, ...]]]] = {}
    for tier, order, name, rules in entries:
        by_tier.setdefault(tier, []).append((order, name, rules))
    plan = []
    for tier in sorted(by_tier, key=lambda t: (tier_of(tiers, t)[0], t)):
        rules = tuple(r for _, _, rs in sorted(by_tier[tier], key=lambda e: (e[0], e[1])) for r in rs)
        plan.append((rules, tier_of(tiers, tier)[1]))
    return plan


def tier_of(tiers: dict[str, tuple[float, str]], name: str) -> tuple[float, str]:
    """(order, default action) of a Calico tier; the default tier when not declared; unknown tiers last."""
    if name in tiers:
        return tiers[name]
    return (DEFAULT_TIER_ORDER, DENY) if name == DEFAULT_TIER else (math.inf, DENY)
