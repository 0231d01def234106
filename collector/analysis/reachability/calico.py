"""Calico NetworkPolicy, GlobalNetworkPolicy, Tier, NetworkSet and GlobalNetworkSet (projectcalico.org/v3,
crd.projectcalico.org/v1) at L3/L4.

A rule matches a peer by its ``selector`` (pods; in a namespaced policy those of its namespace unless
``namespaceSelector`` is set), ``namespaceSelector`` (pods of matching namespaces), ``notSelector`` and ``nets``
(external addresses); a rule without them matches every peer. Ports are ``destination.ports`` (numbers,
``"a:b"`` ranges, named ports) under ``protocol`` (none: every protocol). ``Log`` rules change nothing.
What is not modelled (``http``, ``serviceAccounts``, ``services``, ``notNets``, ``notPorts``, source ports,
``notProtocol``, ``nets`` together with a selector, selectors on ``projectcalico.org/`` pod labels, an unknown
tier) is reported: an Allow rule then matches every peer it could, a Deny or Pass rule with such a part matches
nothing. ``ipVersion`` restricts a rule's external addresses to that IP version.
Policies with ``doNotTrack`` or ``preDNAT`` apply to host endpoints only and select no pod.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from collector.analysis.reachability.addresses import SPACES, Interval, ipblock_intervals
from collector.analysis.reachability.calico_selectors import CalicoSelector
from collector.analysis.reachability.cilium import why
from collector.analysis.reachability.conns import MAX_PORT, MIN_PORT, PROTOCOLS, difference
from collector.analysis.reachability.errors import ReachabilityError
from collector.analysis.reachability.model import (
    NAME_LABEL,
    IPBlockPeer,
    Peer,
    PortSpec,
    Rule,
    SelectorPeer,
    namespace_of,
    object_name,
    resolve_ports,
    string_map,
)
from collector.analysis.reachability.ordered import ALLOW, CALICO, DEFAULT_TIER, DENY, PASS, ActionRule, OrderedPolicy

CALICO_GROUPS = ("projectcalico.org", "crd.projectcalico.org")
POLICY_KINDS = ("NetworkPolicy", "GlobalNetworkPolicy")
SET_KINDS = ("NetworkSet", "GlobalNetworkSet")
PROTOCOL_NUMBERS = {6: "TCP", 17: "UDP", 132: "SCTP"}
ACTIONS = (ALLOW, DENY, PASS, "Log")
UNMODELLED_FIELDS = {"http": "http match (L7)"}
SELECTOR_FIELDS = ("selector", "namespaceSelector", "notSelector")
UNMODELLED_PEER = ("serviceAccounts", "services")


@dataclass(frozen=True)
class NetworkSet:
    """A NetworkSet (namespaced) or GlobalNetworkSet: labelled external addresses that rule selectors match."""

    namespace: str | None  # None: a GlobalNetworkSet
    labels: dict[str, str] = field(hash=False)
    intervals: tuple[Interval, ...]


@dataclass(frozen=True)
class Known:
    """What Calico policies are resolved against: the inventory's Tiers, network sets and namespace labels."""

    tiers: frozenset[str]
    sets: tuple[NetworkSet, ...]
    namespaces: dict[str, dict[str, str]] = field(hash=False)


def parse_network_set(obj: dict, index: int) -> NetworkSet:
    kind = obj["kind"].split(".", 1)[0]
    name = object_name(obj, index)
    namespace = None if kind == "GlobalNetworkSet" else namespace_of(obj)
    where = f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"
    nets = (obj.get("spec") or {}).get("nets") or []
    if not isinstance(nets, list):
        raise ReachabilityError(f"{where} spec.nets: must be a list")
    labels = string_map((obj.get("metadata") or {}).get("labels"), where)
    return NetworkSet(namespace, labels, tuple(iv for n in nets for iv in ipblock_intervals(n, None, where)))


def parse_tier(obj: dict, index: int) -> tuple[str, tuple[float, str]]:
    """A Tier's name, order (unset: last) and default action."""
    name = object_name(obj, index)
    spec = obj.get("spec") or {}
    order = spec.get("order")
    action = spec.get("defaultAction") or DENY
    if action not in (DENY, PASS):
        raise ReachabilityError(f"Tier {name} spec.defaultAction: must be Deny or Pass, got {action!r}")
    return name, (math.inf if order is None else float(order), action)


def parse_calico(obj: dict, index: int, known: Known) -> OrderedPolicy:
    """A Calico NetworkPolicy or GlobalNetworkPolicy."""
    kind = obj["kind"].split(".", 1)[0]
    cluster_wide = kind == "GlobalNetworkPolicy"
    namespace = None if cluster_wide else namespace_of(obj)
    name = object_name(obj, index)
    where = f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"
    spec = obj.get("spec") or {}
    if not isinstance(spec, dict):
        raise ReachabilityError(f"{where}: spec must be a mapping")
    notes: list[str] = []
    tier = spec.get("tier") or DEFAULT_TIER
    if tier != DEFAULT_TIER and tier not in known.tiers:
        notes.append(f"tier {tier} (no such Tier in the inventory: its order is unknown, evaluated last)")
    if spec.get("serviceAccountSelector"):
        notes.append("serviceAccountSelector (not modelled: ignored)")
    pods = selector(spec.get("selector"), f"{where} spec.selector", notes)
    selects: SelectorPeer | None = None
    if not spec.get("doNotTrack") and not spec.get("preDNAT"):
        if cluster_wide:
            spaces = CalicoSelector.parse(spec.get("namespaceSelector"), f"{where} spec.namespaceSelector", True)
            selects = SelectorPeer("", pods, spaces)
        else:
            selects = SelectorPeer(namespace or "", pods, None)
    ingress_raw, egress_raw = spec.get("ingress") or [], spec.get("egress") or []
    types = spec.get("types") or []
    if not isinstance(types, list) or any(t not in ("Ingress", "Egress") for t in types):
        raise ReachabilityError(f"{where} spec.types: must list Ingress and/or Egress, got {types!r}")
    if types:
        ingress, egress = "Ingress" in types, "Egress" in types
    else:  # Calico's defaulting: Egress if there are egress rules, Ingress if there are ingress rules or no egress
        ingress, egress = bool(ingress_raw) or not egress_raw, bool(egress_raw)
    order = spec.get("order")
    return OrderedPolicy(
        f"{kind}.projectcalico.org" if kind == "NetworkPolicy" else kind, namespace, name, CALICO, selects,
        ingress, egress,
        rules(ingress_raw, True, namespace, known, f"{where} spec.ingress"),
        rules(egress_raw, False, namespace, known, f"{where} spec.egress"),
        tier=tier, order=math.inf if order is None else float(order), unmodelled="; ".join(notes),
    )  # fmt: skip


def selector(raw: Any, where: str, notes: list[str]) -> CalicoSelector:
    parsed = CalicoSelector.parse(raw, where)
    calico_keys = sorted(k for k in parsed.keys if k.startswith("projectcalico.org/"))
    if calico_keys:
        notes.append(f"selector on {', '.join(calico_keys)} (Calico's own labels are not modelled)")
    return parsed


def rules(raw: Any, ingress: bool, namespace: str | None, known: Known, where: str) -> tuple[ActionRule, ...]:
    if not isinstance(raw, list):
        raise ReachabilityError(f"{where}: must be a list")
    out = []
    for i, rule in enumerate(raw):
        parsed = parse_rule(rule, ingress, namespace, known, f"{where}[{i}]")
        if parsed is not None:
            out.append(parsed)
    return tuple(out)


def parse_rule(raw: Any, ingress: bool, namespace: str | None, known: Known, where: str) -> ActionRule | None:
    """One rule (None for a Log rule, which decides nothing). Its peer side (``source`` of an ingress rule,
    ``destination`` of an egress rule) gives its peers; the selectors of its local side restrict the endpoints of
    the policy it applies to."""
    if not isinstance(raw, dict):
        raise ReachabilityError(f"{where}: a rule must be a mapping")
    action = raw.get("action")
    if action not in ACTIONS:
        raise ReachabilityError(f"{where}.action: must be one of {', '.join(ACTIONS)}, got {action!r}")
    if action == "Log":
        return None
    notes = [note for field, note in UNMODELLED_FIELDS.items() if raw.get(field)]
    source, destination = raw.get("source") or {}, raw.get("destination") or {}
    if not isinstance(source, dict) or not isinstance(destination, dict):
        raise ReachabilityError(f"{where}: source and destination must be mappings")
    peer_name, local_name = ("source", "destination") if ingress else ("destination", "source")
    peer_side, local_side = (source, destination) if ingress else (destination, source)
    if local_side.get("nets") or local_side.get("notNets"):
        notes.append(f"{local_name} nets of an {'ingress' if ingress else 'egress'} rule (pod addresses are unknown)")
    if source.get("ports") or source.get("notPorts"):
        notes.append("source ports")
    notes.extend(f for f in UNMODELLED_PEER if peer_side.get(f))
    peers = parse_peers(peer_side, namespace, known, f"{where}.{peer_name}", notes)
    local = None
    if any(local_side.get(f) is not None for f in SELECTOR_FIELDS):
        [local] = endpoints(local_side, None, f"{where}.{local_name}", notes)
    mixed = peer_side.get("nets") and any(peer_side.get(f) is not None for f in SELECTOR_FIELDS)
    ports = parse_ports(raw, destination, where, notes)
    if action != ALLOW and notes:
        peers = ()  # a Deny or Pass only where it is fully modelled
    elif mixed or any(peer_side.get(f) for f in UNMODELLED_PEER):
        peers = None  # a peer criterion not modelled: an Allow matches every peer it could
    version = raw.get("ipVersion")
    if version is not None:
        if version not in (4, 6):
            raise ReachabilityError(f"{where}.ipVersion: must be 4 or 6, got {version!r}")
        peers = of_version(peers, version)
    return ActionRule(action, Rule(peers, ports), why(notes, where), local)


def parse_peers(
    side: dict, namespace: str | None, known: Known, where: str, notes: list[str]
) -> tuple[Peer, ...] | None:
    """The peers of a rule's peer side (None: every peer). Its criteria must all hold: pods and network sets are
    matched by the selectors (an endpoint matching ``notSelector`` never; a positive ``selector`` of a namespaced
    policy looks in its namespace unless ``namespaceSelector`` is set; GlobalNetworkSets are matched by a
    GlobalNetworkPolicy's selectors and by ``namespaceSelector: global()``), external addresses by ``nets`` minus
    ``notNets`` when no positive selector is set (pod addresses are unknown: ``nets`` match no pod, ``notNets``
    exclude none)."""
    nets, not_nets = side.get("nets"), side.get("notNets")
    for name, value in (("nets", nets), ("notNets", not_nets)):
        if value is not None and not isinstance(value, list):
            raise ReachabilityError(f"{where}.{name}: must be a list")
    selected = [side.get(f) is not None for f in SELECTOR_FIELDS]
    if not any(selected) and not nets and not not_nets:
        return None
    if nets and (selected[0] or selected[1]):
        notes.append("nets together with a selector (pod addresses are unknown)")
    peers: list[Peer] = []
    if not nets or selected[0] or selected[1]:
        [pods] = endpoints(side, namespace, where, notes)
        peers.append(pods)
        if selected[0] or selected[1]:
            peers.extend(network_sets(pods, side.get("namespaceSelector"), namespace, known))
    if not selected[0] and not selected[1]:
        blocks = nets or ["0.0.0.0/0", "::/0"]
        peers.extend(IPBlockPeer(tuple(ipblock_intervals(n, not_nets, f"{where}.nets"))) for n in blocks)
    return tuple(peers)


def endpoints(side: dict, namespace: str | None, where: str, notes: list[str]) -> list[SelectorPeer]:
    """The pods an entity rule's selectors match (a namespaced policy's positive ``selector`` looks in its
    namespace unless ``namespaceSelector`` is set)."""
    pods_raw, spaces_raw, not_raw = (side.get(f) for f in SELECTOR_FIELDS)
    pods = selector(pods_raw, f"{where}.selector", notes)
    if not_raw is not None:
        pods = pods.but_not(selector(not_raw, f"{where}.notSelector", notes))
    if spaces_raw is not None:
        spaces: CalicoSelector | None = CalicoSelector.parse(spaces_raw, f"{where}.namespaceSelector", True)
    else:
        spaces = None if namespace and pods_raw is not None else CalicoSelector.parse(None, where, True)
    return [SelectorPeer(namespace or "", pods, spaces)]


def network_sets(pods: SelectorPeer, spaces_raw: Any, namespace: str | None, known: Known) -> list[IPBlockPeer]:
    """The addresses of the network sets a rule's selectors match, as they match pods."""
    global_scope = (namespace is None and spaces_raw is None) or (
        isinstance(pods.namespaces, CalicoSelector) and pods.namespaces.tree == ("global",)
    )
    out = []
    for s in known.sets:
        if pods.pods is not None and not pods.pods.matches(s.labels):
            continue
        if s.namespace is None:
            in_scope = global_scope
        elif pods.namespaces is None:
            in_scope = s.namespace == pods.namespace
        else:
            in_scope = pods.namespaces.matches(known.namespaces.get(s.namespace) or {NAME_LABEL: s.namespace})
        if in_scope:
            out.append(IPBlockPeer(s.intervals))
    return out


def of_version(peers: tuple[Peer, ...] | None, version: int) -> tuple[Peer, ...]:
    """The peers restricted to external addresses of one IP version (pods have addresses of both)."""
    space = tuple(s for s in SPACES if s[0] == version)
    if peers is None:
        return (SelectorPeer("", None, CalicoSelector.parse(None, "ipVersion", True)), IPBlockPeer(space))
    return tuple(
        IPBlockPeer(tuple(iv for iv in p.intervals if iv[0] == version)) if isinstance(p, IPBlockPeer) else p
        for p in peers
    )


def parse_ports(raw: dict, destination: dict, where: str, notes: list[str]) -> tuple[PortSpec, ...] | None:
    """The ports of a rule (None: every port of every protocol): ``protocol`` (none: every protocol) minus
    ``notProtocol``, ``destination.ports`` (none: every port) minus ``destination.notPorts``; ICMP and other
    protocols have no port the result shows."""
    protocol, not_protocol = (protocol_name(raw.get(f)) for f in ("protocol", "notProtocol"))
    ports, not_ports = destination.get("ports"), destination.get("notPorts")
    if (ports or not_ports) and protocol not in PROTOCOLS:
        raise ReachabilityError(f"{where}: destination.ports and notPorts need protocol TCP, UDP or SCTP")
    protocols = [p for p in (PROTOCOLS if protocol is None else (protocol,)) if p != not_protocol and p in PROTOCOLS]
    if protocol is None and not_protocol is None:
        return None
    specs = [s for p in protocols for s in port_specs(p, ports, f"{where}.destination.ports")]
    excluded = [s for p in protocols for s in port_specs(p, not_ports, f"{where}.destination.notPorts")]
    if not not_ports:
        return tuple(specs)
    if any(s.name is not None for s in specs + excluded):
        notes.append("named ports with notPorts")
        return tuple(specs)
    kept = difference(resolve_ports(tuple(specs), ()), resolve_ports(tuple(excluded), ()))
    return tuple(PortSpec(p, lo, hi) for p, ranges in zip(PROTOCOLS, kept, strict=True) for lo, hi in ranges)


def protocol_name(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return PROTOCOL_NUMBERS.get(value, "other")
    return None if value is None else str(value).upper()


def port_specs(protocol: str, ports: Any, where: str) -> list[PortSpec]:
    """One protocol's ports: numbers, ``"a:b"`` ranges and names; none: every port."""
    if not ports:
        return [PortSpec(protocol)]
    if not isinstance(ports, list):
        raise ReachabilityError(f"{where}: must be a list")
    out = []
    for port in ports:
        text = str(port)
        if isinstance(port, str) and not text.replace(":", "").isdigit():
            out.append(PortSpec(protocol, name=port))
            continue
        lo_text, _, hi_text = text.partition(":")
        lo, hi = int(lo_text), int(hi_text or lo_text)
        if not MIN_PORT <= lo <= hi <= MAX_PORT:
            raise ReachabilityError(f"{where}: invalid port range {port!r}")
        out.append(PortSpec(protocol, lo, hi))
    return out
