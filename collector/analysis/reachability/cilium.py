"""CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy (cilium.io/v2) at L3/L4, parsed into ordered policies.

Endpoint selectors are label selectors over a pod's labels plus its namespace (``io.kubernetes.pod.namespace``)
and its namespace's labels (``io.cilium.k8s.namespace.labels.<key>``); source prefixes (``k8s:``, ``any:``) are
dropped. In a CiliumNetworkPolicy a selector without a namespace term is confined to the policy's namespace.
Entities: ``world`` is every external address, ``cluster`` every pod, ``all`` both; the others (``host``,
``remote-node``, ``kube-apiserver``, ``health``, ``init``, ``ingress``, ``unmanaged``) are no workload or external
address of the analysis and match nothing. What is not modelled (L7 ``rules``, ``toFQDNs``, ``toServices``,
``toGroups``, ``fromRequires``, CIDR groups, service-account selectors, ``nodeSelector``) is reported: an allow
rule then matches every peer it could (FQDNs: every external address), a deny rule with such a part matches nothing.
"""

from __future__ import annotations

from typing import Any

from collector.analysis.reachability.addresses import SPACES, ipblock_intervals
from collector.analysis.reachability.conns import MAX_PORT, MIN_PORT, PROTOCOLS
from collector.analysis.reachability.errors import ReachabilityError
from collector.analysis.reachability.model import (
    NAME_LABEL,
    IPBlockPeer,
    Peer,
    PortSpec,
    Rule,
    SelectorPeer,
    namespace_of,
    number,
    object_name,
)
from collector.analysis.reachability.ordered import ALLOW, CILIUM, DENY, ActionRule, OrderedPolicy
from collector.analysis.reachability.selectors import Selector

CILIUM_GROUPS = ("cilium.io",)
KINDS = ("CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy")
NAMESPACE_KEY = "io.kubernetes.pod.namespace"
NAMESPACE_LABELS = "io.cilium.k8s.namespace.labels."
# labels Cilium gives an endpoint that the inventory does not know; other prefixed keys (``reserved:host``) are no
# pod label, so they match no pod
UNKNOWN_KEYS = ("io.cilium.k8s.policy.serviceaccount", "io.cilium.k8s.policy.cluster")
WORLD = IPBlockPeer(SPACES)
EVERY_POD = SelectorPeer("", None, Selector())
ENTITIES: dict[str, tuple[Peer, ...]] = {
    "world": (WORLD,), "world-ipv4": (IPBlockPeer(SPACES[:1]),), "world-ipv6": (IPBlockPeer(SPACES[1:]),),
    "cluster": (EVERY_POD,), "all": (EVERY_POD, WORLD),
    **{e: () for e in ("host", "remote-node", "kube-apiserver", "health", "init", "ingress", "unmanaged")},
}  # fmt: skip
L3_FIELDS = ("Endpoints", "CIDR", "CIDRSet", "Entities", "FQDNs", "Services", "Groups", "Requires", "Nodes")


def parse_cilium(obj: dict, index: int) -> list[OrderedPolicy]:
    """The policies of a Cilium policy object (``spec`` and each of ``specs``)."""
    kind = obj["kind"].split(".", 1)[0]
    clusterwide = kind == "CiliumClusterwideNetworkPolicy"
    namespace = None if clusterwide else namespace_of(obj)
    name = object_name(obj, index)
    where = f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"
    spec = obj.get("spec") or {}
    if not isinstance(spec, dict):
        raise ReachabilityError(f"{where}: spec must be a mapping")
    extra = obj.get("specs") or spec.get("specs") or []  # the store keeps ``specs`` in the spec
    if not isinstance(extra, list):
        raise ReachabilityError(f"{where}: specs must be a list")
    own = {k: v for k, v in spec.items() if k != "specs"}
    specs = ([("spec", own)] if own else []) + [(f"specs[{i}]", s) for i, s in enumerate(extra)]
    return [parse_spec(kind, namespace, name, spec, f"{where} {at}") for at, spec in specs]


def parse_spec(kind: str, namespace: str | None, name: str, spec: Any, where: str) -> OrderedPolicy:
    if not isinstance(spec, dict):
        raise ReachabilityError(f"{where}: must be a mapping")
    notes: list[str] = []
    selects: SelectorPeer | None = None
    if spec.get("nodeSelector") is not None:
        notes.append("nodeSelector (host policy: selects nodes, not pods)")
    else:
        selects = endpoints(spec.get("endpointSelector"), namespace, f"{where}.endpointSelector", notes)
    sections = {s: rules(spec, s, namespace, where) for s in ("ingress", "ingressDeny", "egress", "egressDeny")}
    default_deny = spec.get("enableDefaultDeny") or {}
    if not isinstance(default_deny, dict):
        raise ReachabilityError(f"{where}.enableDefaultDeny: must be a mapping")
    has_in = bool(spec.get("ingress") or spec.get("ingressDeny"))
    has_out = bool(spec.get("egress") or spec.get("egressDeny"))
    return OrderedPolicy(
        kind, namespace, name, CILIUM, selects, has_in, has_out,
        sections["ingressDeny"] + sections["ingress"], sections["egressDeny"] + sections["egress"],
        default_deny.get("ingress", True) is not False, default_deny.get("egress", True) is not False,
        unmodelled="; ".join(notes),
    )  # fmt: skip


def rules(spec: dict, section: str, namespace: str | None, where: str) -> tuple[ActionRule, ...]:
    raw = spec.get(section) or []
    if not isinstance(raw, list):
        raise ReachabilityError(f"{where}.{section}: must be a list")
    deny = section.endswith("Deny")
    direction = "from" if section.startswith("ingress") else "to"
    return tuple(
        parse_rule(r, DENY if deny else ALLOW, direction, namespace, f"{where}.{section}[{i}]")
        for i, r in enumerate(raw)
    )


def parse_rule(raw: Any, action: str, direction: str, namespace: str | None, where: str) -> ActionRule:
    """One rule: its peers are the union of its L3 fields; a rule with ports but no L3 field matches every peer,
    a rule with neither matches none (Cilium's ``- {}``)."""
    raw = raw or {}
    if not isinstance(raw, dict):
        raise ReachabilityError(f"{where}: a rule must be a mapping")
    notes: list[str] = []
    peers: list[Peer] = []
    unknown_peers = False
    for field in (direction + f for f in L3_FIELDS):
        value = raw.get(field)
        if value is None:
            continue
        if not isinstance(value, list):
            raise ReachabilityError(f"{where}.{field}: must be a list")
        at = f"{where}.{field}"
        if field.endswith("Endpoints"):
            peers.extend(endpoints(s, namespace, f"{at}[{i}]", notes) for i, s in enumerate(value))
        elif field.endswith("CIDR"):
            peers.extend(IPBlockPeer(tuple(ipblock_intervals(c, None, at))) for c in value)
        elif field.endswith("CIDRSet"):
            blocks = [cidr_set(c, f"{at}[{i}]") for i, c in enumerate(value)]
            peers.extend(b for b in blocks if b is not None)
            if None in blocks:
                unknown_peers = True
                notes.append(f"{field} cidrGroupRef (peers not modelled)")
        elif field.endswith("Entities"):
            for entity in value:
                if entity not in ENTITIES:
                    raise ReachabilityError(f"{at}: unknown entity {entity!r} (known: {', '.join(ENTITIES)})")
                peers.extend(ENTITIES[entity])
        elif field.endswith("Nodes"):
            continue  # nodes are no workload or external address of the analysis
        elif field.endswith("FQDNs") and action == ALLOW:
            peers.append(WORLD)
            notes.append(f"{field} (DNS names: every external address assumed)")
        else:
            unknown_peers = True
            notes.append(f"{field} (peers not modelled)")
    ports, l7 = to_ports(raw.get("toPorts"), f"{where}.toPorts")
    notes.extend(l7)
    if ports is None and raw.get("icmps"):
        ports = ()  # ICMP only: no TCP, UDP or SCTP connection
    has_l3 = any(raw.get(direction + f) is not None for f in L3_FIELDS)
    if action == DENY and (notes or raw.get(direction + "Requires")):
        rule_peers: tuple[Peer, ...] | None = ()  # a deny only where it is fully modelled
    elif unknown_peers:
        rule_peers = None  # an allow matches every peer it could
    elif has_l3:
        rule_peers = tuple(peers)
    else:
        rule_peers = None if ports is not None else ()
    return ActionRule(action, Rule(rule_peers, ports), why(notes, where))


def why(notes: list[str], where: str) -> str:
    """A rule's unmodelled parts, after its path in the policy (``spec.ingress[0]: ...``); "" when none."""
    path = where.split(" ", 2)[-1]
    return f"{path}: {'; '.join(dict.fromkeys(notes))}" if notes else ""


def endpoints(raw: Any, namespace: str | None, where: str, notes: list[str]) -> SelectorPeer:
    """An endpoint selector as pod and namespace selectors."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ReachabilityError(f"{where}: a label selector must be a mapping, got {raw!r}")
    pods: dict[str, list] = {"matchLabels": [], "matchExpressions": []}
    spaces: dict[str, list] = {"matchLabels": [], "matchExpressions": []}
    labels = raw.get("matchLabels") or {}
    if not isinstance(labels, dict):
        raise ReachabilityError(f"{where}: matchLabels must be a mapping")
    terms = [("matchLabels", str(k), v) for k, v in labels.items()]
    terms += [("matchExpressions", str((e or {}).get("key", "")), e) for e in raw.get("matchExpressions") or []]
    for part, key, term in terms:
        key = key.split(":", 1)[1] if key.split(":", 1)[0] in ("k8s", "any") and ":" in key else key
        if key == NAMESPACE_KEY or key.startswith(NAMESPACE_LABELS):
            target, key = spaces, NAME_LABEL if key == NAMESPACE_KEY else key[len(NAMESPACE_LABELS) :]
        elif key in UNKNOWN_KEYS:
            notes.append(f"selector on {key} (not modelled: ignored)")
            continue
        else:
            target = pods
        target[part].append((key, term) if part == "matchLabels" else {**term, "key": key})
    pod_selector = Selector.parse(
        {"matchLabels": dict(pods["matchLabels"]), "matchExpressions": pods["matchExpressions"]}, where
    )
    if not spaces["matchLabels"] and not spaces["matchExpressions"]:
        return SelectorPeer(namespace or "", pod_selector, None if namespace else Selector())
    ns_selector = Selector.parse(
        {"matchLabels": dict(spaces["matchLabels"]), "matchExpressions": spaces["matchExpressions"]}, where
    )
    return SelectorPeer(namespace or "", pod_selector, ns_selector)


def cidr_set(raw: Any, where: str) -> IPBlockPeer | None:
    """A ``cidr`` minus its ``except``; None for a CIDR group reference."""
    if not isinstance(raw, dict):
        raise ReachabilityError(f"{where}: must be a mapping")
    if raw.get("cidr") is None:
        return None
    return IPBlockPeer(tuple(ipblock_intervals(raw.get("cidr"), raw.get("except"), where)))


def to_ports(raw: Any, where: str) -> tuple[tuple[PortSpec, ...] | None, list[str]]:
    """The ports of ``toPorts`` (None: every port) and what of it is not modelled (L7 rules)."""
    if raw is None:
        return None, []
    if not isinstance(raw, list):
        raise ReachabilityError(f"{where}: must be a list")
    specs: list[PortSpec] = []
    notes: list[str] = []
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict):
            raise ReachabilityError(f"{where}[{i}]: must be a mapping")
        entry_ports = [port_specs(p, f"{where}[{i}].ports[{j}]") for j, p in enumerate(entry.get("ports") or [])]
        specs.extend(s for group in entry_ports for s in group)
        if not entry_ports:
            specs.extend(PortSpec(p) for p in PROTOCOLS)
        l7 = [k for k, v in (entry.get("rules") or {}).items() if v]
        if l7:
            notes.append(f"L7 rules ({', '.join(sorted(l7))}) on toPorts[{i}] (only L4 modelled)")
        if entry.get("serverNames") or entry.get("listener") or entry.get("terminatingTLS"):
            notes.append(f"TLS/listener settings on toPorts[{i}] (only L4 modelled)")
    return tuple(specs), notes


def port_specs(raw: Any, where: str) -> list[PortSpec]:
    if not isinstance(raw, dict):
        raise ReachabilityError(f"{where}: a port must be a mapping")
    protocol = str(raw.get("protocol") or "ANY").upper()
    if protocol not in (*PROTOCOLS, "ANY", "ICMP", "ICMPV6"):
        raise ReachabilityError(f"{where}: unsupported protocol {protocol!r}")
    protocols = PROTOCOLS if protocol == "ANY" else tuple(p for p in PROTOCOLS if p == protocol)
    port, end = raw.get("port"), raw.get("endPort")
    if isinstance(port, str) and port and not port.isdigit():
        return [PortSpec(p, name=port) for p in protocols]
    lo = 0 if port in (None, "") else number(port, where)
    if lo == 0:
        return [PortSpec(p) for p in protocols]
    hi = lo if end in (None, 0) else number(end, where)
    if not MIN_PORT <= lo <= hi <= MAX_PORT:
        raise ReachabilityError(f"{where}: invalid port range {lo}-{hi}")
    return [PortSpec(p, lo, hi) for p in protocols]
