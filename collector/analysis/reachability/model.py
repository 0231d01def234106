"""What the engine analyses: workloads (pods collapsed to their top owner), NetworkPolicies, their peers and rules."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from collector.analysis.objects import ListError, typed_items
from collector.analysis.reachability.addresses import Interval, ipblock_intervals
from collector.analysis.reachability.conns import ALL, EMPTY, MAX_PORT, MIN_PORT, PROTOCOLS, Conn, conn_of, union_all
from collector.analysis.reachability.errors import ReachabilityError
from collector.analysis.reachability.selectors import Matcher, Selector

NAME_LABEL = "kubernetes.io/metadata.name"
# Workload kinds and the API groups they are served from ("" is the core group); in preference order for
# picking the object whose pod template describes a workload whose top owner is not in the inventory. An Argo
# Rollout has its pod template where a Deployment has it (one with a workloadRef instead has none: left out).
WORKLOAD_GROUPS = {
    "Deployment": ("apps", "extensions"),
    "Rollout": ("argoproj.io",),
    "StatefulSet": ("apps",),
    "DaemonSet": ("apps", "extensions"),
    "CronJob": ("batch",),
    "Job": ("batch",),
    "ReplicaSet": ("apps", "extensions"),
    "ReplicationController": ("",),
    "Pod": ("",),
}
KIND_RANK = {kind: rank for rank, kind in enumerate(WORKLOAD_GROUPS)}
NAMESPACE_GROUPS = ("",)
POLICY_GROUPS = ("networking.k8s.io", "extensions")
ADMIN_GROUPS = ("policy.networking.k8s.io",)  # AdminNetworkPolicy, BaselineAdminNetworkPolicy (SIG Network)
ADMIN_ACTIONS = {"AdminNetworkPolicy": ("Allow", "Deny", "Pass"), "BaselineAdminNetworkPolicy": ("Allow", "Deny")}
BASELINE_NAME = "default"  # the BaselineAdminNetworkPolicy is a singleton with this name
NOT_OWNERS = frozenset({"Node"})  # static (mirror) pods stay pods

NamedPort = tuple[str, int, str]  # (name, containerPort, protocol)
HostPort = tuple[int, str]  # (hostPort, protocol)


@dataclass(frozen=True)
class Workload:
    namespace: str
    name: str
    kind: str
    labels: dict[str, str] = field(hash=False, compare=False)
    named_ports: tuple[NamedPort, ...] = ()
    # spec.hostNetwork: the pods use the node's network namespace, so NetworkPolicy (which selects pods by their
    # pod IPs) does not isolate them: reachable from everything and to everything (their own policies aside)
    host_network: bool = False
    # container hostPorts: the node's address forwards them to the pod (portmap), a path NetworkPolicy does not
    # cover, so they are reachable from every source
    host_ports: tuple[HostPort, ...] = ()
    # pods of one workload whose labels differ (an operator's primary and replicas) are analysed per label group:
    # the labels that tell the groups apart, as a selector (``role=primary``, ``!role``); "" when there is one
    group: str = ""

    @property
    def id(self) -> str:
        return f"{self.namespace}/{self.name}[{self.kind}]" + (f"{{{self.group}}}" if self.group else "")

    @property
    def host_conn(self) -> Conn:
        """The connections every source has to the workload outside NetworkPolicy (hostNetwork, hostPorts)."""
        if self.host_network:
            return ALL
        return union_all(conn_of(protocol, port, port) for port, protocol in self.host_ports)


@dataclass(frozen=True)
class PortSpec:
    protocol: str | None  # None: a named port of any protocol (an AdminNetworkPolicy namedPort)
    lo: int = MIN_PORT
    hi: int = MAX_PORT
    name: str | None = None  # a named port, resolved against the destination pod's container ports


@dataclass(frozen=True)
class SelectorPeer:
    namespace: str  # the policy's namespace (used when ``namespaces`` is None)
    pods: Matcher | None
    namespaces: Matcher | None
    host_network: bool = True  # matches hostNetwork pods (admin policy peers and subjects do not)

    def matches(self, workload: Workload, namespace_labels: dict[str, str]) -> bool:
        if workload.host_network and not self.host_network:
            return False
        if self.namespaces is None:
            in_scope = workload.namespace == self.namespace
        else:
            in_scope = self.namespaces.matches(namespace_labels)
        return in_scope and (self.pods is None or self.pods.matches(workload.labels))


@dataclass(frozen=True)
class IPBlockPeer:
    intervals: tuple[Interval, ...]

    def contains(self, interval: Interval) -> bool:
        version, lo, hi = interval
        return any(v == version and a <= lo and hi <= b for v, a, b in self.intervals)


Peer = SelectorPeer | IPBlockPeer


@dataclass(frozen=True)
class Rule:
    peers: tuple[Peer, ...] | None  # None: every source/destination
    ports: tuple[PortSpec, ...] | None  # None: every port and protocol

    @property
    def has_named_ports(self) -> bool:
        return self.ports is not None and any(p.name is not None for p in self.ports)


@dataclass(frozen=True)
class Policy:
    namespace: str
    name: str
    selector: Selector
    ingress: bool  # has Ingress in its effective policyTypes
    egress: bool
    ingress_rules: tuple[Rule, ...]
    egress_rules: tuple[Rule, ...]


@dataclass(frozen=True)
class Unresolved:
    """What an egress peer may match that the inventory cannot tell: ``nodes`` (node addresses, hence also
    hostNetwork and hostPort workloads) for a ``nodes`` peer, ``addresses`` for ``domainNames`` (neither is
    evaluated: they match nothing in the result), ``workloads`` for ``networks`` (evaluated for external addresses;
    pod addresses inside are unknown)."""

    scope: str
    peer: str  # Kind name spec.egress[i].to[j].field
    why: str

    @property
    def evaluated(self) -> bool:
        return self.scope == "workloads"


@dataclass(frozen=True)
class AdminRule(Rule):
    """A rule of an AdminNetworkPolicy or BaselineAdminNetworkPolicy: the first matching rule decides."""

    action: str = "Allow"  # Allow | Deny | Pass
    unresolved: tuple[Unresolved, ...] = ()


@dataclass(frozen=True)
class AdminPolicy:
    """An AdminNetworkPolicy (``priority`` 0 is evaluated first) or the BaselineAdminNetworkPolicy (priority None)."""

    kind: str
    name: str
    priority: int | None
    subject: SelectorPeer  # namespaces (pods None) or pods in namespaces
    ingress_rules: tuple[AdminRule, ...]
    egress_rules: tuple[AdminRule, ...]

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name}"

    def selects(self, workload: Workload, namespace_labels: dict[str, str]) -> bool:
        """Whether the policy applies to the workload (hostNetwork pods are never subjects)."""
        return self.subject.matches(workload, namespace_labels)


@lru_cache(maxsize=4096)
def resolve_ports(ports: tuple[PortSpec, ...] | None, named_ports: tuple[NamedPort, ...]) -> Conn:
    """The connections a rule's ``ports`` allow to a destination with these named container ports."""
    if ports is None:
        return ALL
    conns: list[Conn] = []
    for p in ports:
        if p.name is None:
            conns.append(conn_of(p.protocol, p.lo, p.hi))
        else:
            conns.extend(
                conn_of(proto, num, num)
                for name, num, proto in named_ports
                if name == p.name and p.protocol in (None, proto)
            )
    return union_all(conns) if conns else EMPTY


# objects -----------------------------------------------------------------------------------------------


def flatten(objects: Iterable[Any]) -> Iterator[dict]:
    """The objects, lists unwrapped (the items of a typed list such as ``PodList`` take its kind)."""
    for index, obj in enumerate(objects):
        if obj is None:
            continue
        try:
            items = list(typed_items(obj, f"object #{index}"))
        except ListError as exc:
            raise ReachabilityError(str(exc)) from None
        for where, item in items:
            if not isinstance(item, dict):
                raise ReachabilityError(f"{where}: expected a Kubernetes object (mapping), got {type(item).__name__}")
            yield item


def served(obj: dict, groups: tuple[str, ...]) -> bool:
    """Whether the object's apiVersion is in one of ``groups`` (no apiVersion: assume so)."""
    api_version = obj.get("apiVersion")
    if not api_version:
        return True
    group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
    return group in groups


def object_name(obj: dict, index: int) -> str:
    name = (obj.get("metadata") or {}).get("name")
    if not isinstance(name, str) or not name:
        raise ReachabilityError(f"{obj.get('kind')} (object #{index}): metadata.name is missing")
    return name


def namespace_of(obj: dict) -> str:
    return (obj.get("metadata") or {}).get("namespace") or "default"


def string_map(raw: Any, where: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ReachabilityError(f"{where}: labels must be a mapping, got {raw!r}")
    return {str(k): str(v) for k, v in raw.items()}


# workloads ---------------------------------------------------------------------------------------------

Key = tuple[str, str, str]  # (namespace, kind, name)


def controller_of(key: Key, obj: dict) -> Key | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller") is True and ref.get("kind") and ref.get("name"):
            return None if ref["kind"] in NOT_OWNERS else (key[0], str(ref["kind"]), str(ref["name"]))
    return None


def selected_keys(policies: Iterable[Policy], admin: Iterable[AdminPolicy] = ()) -> frozenset[str]:
    """The pod label keys some policy selects on (its podSelector or subject, its peers' podSelectors)."""
    keys: set[str] = set()
    rules: list[Rule] = []
    for policy in policies:
        keys |= policy.selector.keys
        rules.extend(policy.ingress_rules + policy.egress_rules)
    for admin_policy in admin:
        keys |= admin_policy.subject.pods.keys if admin_policy.subject.pods else frozenset()
        rules.extend(admin_policy.ingress_rules + admin_policy.egress_rules)
    for rule in rules:
        keys.update(
            k for peer in rule.peers or () if isinstance(peer, SelectorPeer) and peer.pods for k in peer.pods.keys
        )
    return frozenset(keys)


def collapse(objects: dict[Key, dict], selected: frozenset[str] = frozenset()) -> list[Workload]:
    """One workload per top owner (following controller ownerReferences).

    A top owner whose Pods are in the inventory is described by its Pods, one workload per group of pods that
    agree on the ``selected`` label keys (``label_groups``), so that no connection of a differently labelled pod
    is hidden; without Pods, by its pod template, or, when the top owner is not in the inventory, by the highest
    owned object present (by kind preference, then name).
    """
    described_by: dict[Key, Key] = {}
    pods: dict[Key, list[Key]] = {}
    for key in objects:
        current, seen = key, {key}
        while (owner := controller_of(current, objects[current])) is not None and owner in objects:
            if owner in seen:  # an ownership cycle: stop where it closes
                owner = None
                break
            seen.add(owner)
            current = owner
        top = current if owner is None else owner
        if key[1] == "Pod":
            pods.setdefault(top, []).append(key)
        if top in objects:
            described_by[top] = top
        elif top not in described_by or rank(current) < rank(described_by[top]):
            described_by[top] = current
    workloads = []
    for top, source in described_by.items():
        if top in pods:
            workloads.extend(label_groups(top, [workload(top, key, objects[key]) for key in pods[top]], selected))
        else:
            workloads.append(workload(top, source, objects[source]))
    return sorted(workloads, key=lambda w: w.id)


def label_groups(top: Key, pods: list[Workload], selected: frozenset[str]) -> list[Workload]:
    """The pods of one top owner as one workload per group of pods with the same values of the ``selected`` label
    keys (labels no policy looks at, such as pod-template-hash, do not split it); the ports of the pods of a group
    are united (what any of them publishes is reachable)."""
    groups: dict[frozenset[tuple[str, str]], list[Workload]] = {}
    for pod in pods:
        groups.setdefault(frozenset((k, v) for k, v in pod.labels.items() if k in selected), []).append(pod)
    keys = {key for labels in groups for key, _ in labels}
    differing = sorted(k for k in keys if len({dict(labels).get(k) for labels in groups}) > 1)
    workloads = []
    for members in groups.values():
        labels = members[0].labels
        group = ",".join(f"{k}={labels[k]}" if k in labels else f"!{k}" for k in differing) if len(groups) > 1 else ""
        workloads.append(
            Workload(
                top[0], top[2], top[1], labels,
                tuple(sorted({p for m in members for p in m.named_ports})),
                any(m.host_network for m in members),
                tuple(sorted({p for m in members for p in m.host_ports})),
                group,
            )
        )  # fmt: skip
    return workloads


def rank(key: Key) -> tuple[int, str]:
    return (KIND_RANK.get(key[1], len(KIND_RANK)), key[2])


def workload(top: Key, source: Key, obj: dict) -> Workload:
    where = f"{source[1]} {source[0]}/{source[2]}"
    spec = obj.get("spec") or {}
    if source[1] == "Pod":
        meta, pod_spec = obj.get("metadata") or {}, spec
    else:
        template = ((spec.get("jobTemplate") or {}).get("spec") or {}) if source[1] == "CronJob" else spec
        template = template.get("template") or {}
        meta, pod_spec = template.get("metadata") or {}, template.get("spec") or {}
    labels = string_map(meta.get("labels"), where)
    host_network = pod_spec.get("hostNetwork") is True
    return Workload(
        top[0], top[2], top[1], labels, named_ports(pod_spec, where), host_network, host_ports(pod_spec, where)
    )


def containers(pod_spec: dict) -> Iterator[dict]:
    """Containers and init containers (a restartable init container, a sidecar, may publish ports)."""
    for field_name in ("initContainers", "containers"):
        for container in pod_spec.get(field_name) or []:
            if isinstance(container, dict):
                yield container


def host_ports(pod_spec: dict, where: str) -> tuple[HostPort, ...]:
    """The container ports published on the node (``hostPort``; under hostNetwork every containerPort is)."""
    found: set[HostPort] = set()
    for container in containers(pod_spec):
        for port in container.get("ports") or []:
            if not isinstance(port, dict) or port.get("hostPort") in (None, 0):
                continue
            number, protocol = port.get("hostPort"), port.get("protocol") or "TCP"
            if (
                not isinstance(number, int)
                or isinstance(number, bool)
                or not MIN_PORT <= number <= MAX_PORT
                or protocol not in PROTOCOLS
            ):
                raise ReachabilityError(f"{where}: invalid host port {port!r}")
            found.add((number, protocol))
    return tuple(sorted(found))


def named_ports(pod_spec: dict, where: str) -> tuple[NamedPort, ...]:
    found: set[NamedPort] = set()
    for container in containers(pod_spec):
        for port in container.get("ports") or []:
            if not isinstance(port, dict) or not port.get("name"):
                continue
            number, protocol = port.get("containerPort"), port.get("protocol") or "TCP"
            if not isinstance(number, int) or isinstance(number, bool) or protocol not in PROTOCOLS:
                raise ReachabilityError(f"{where}: invalid container port {port!r}")
            found.add((str(port["name"]), number, protocol))
    return tuple(sorted(found))


# policies ----------------------------------------------------------------------------------------------


def parse_policy(obj: dict, index: int) -> Policy:
    namespace, name = namespace_of(obj), object_name(obj, index)
    where = f"NetworkPolicy {namespace}/{name}"
    spec = obj.get("spec") or {}
    if not isinstance(spec, dict):
        raise ReachabilityError(f"{where}: spec must be a mapping")
    types = spec.get("policyTypes") or []
    if not isinstance(types, list) or any(t not in ("Ingress", "Egress") for t in types):
        raise ReachabilityError(f"{where}: policyTypes must list Ingress and/or Egress, got {types!r}")
    if types:
        ingress, egress = "Ingress" in types, "Egress" in types
    else:  # the API server's defaulting
        ingress, egress = True, bool(spec.get("egress"))
    return Policy(
        namespace,
        name,
        Selector.parse(spec.get("podSelector"), f"{where} spec.podSelector"),
        ingress,
        egress,
        rules(spec, "ingress", "from", namespace, where),
        rules(spec, "egress", "to", namespace, where),
    )


def rules(spec: dict, section: str, peers_field: str, namespace: str, where: str) -> tuple[Rule, ...]:
    raw = spec.get(section) or []
    if not isinstance(raw, list):
        raise ReachabilityError(f"{where}: spec.{section} must be a list")
    out = []
    for i, rule in enumerate(raw):
        at = f"{where} spec.{section}[{i}]"
        rule = rule or {}
        if not isinstance(rule, dict):
            raise ReachabilityError(f"{at}: a rule must be a mapping")
        peers = [
            parse_peer(p, namespace, f"{at}.{peers_field}[{j}]") for j, p in enumerate(rule.get(peers_field) or [])
        ]
        ports = [parse_port(p, f"{at}.ports[{j}]") for j, p in enumerate(rule.get("ports") or [])]
        out.append(Rule(tuple(peers) or None, tuple(ports) or None))
    return tuple(out)


def parse_peer(raw: Any, namespace: str, where: str) -> Peer:
    if not isinstance(raw, dict):
        raise ReachabilityError(f"{where}: a peer must be a mapping")
    pods, namespaces, block = raw.get("podSelector"), raw.get("namespaceSelector"), raw.get("ipBlock")
    if block is not None:
        if pods is not None or namespaces is not None:
            raise ReachabilityError(f"{where}: ipBlock cannot be combined with podSelector/namespaceSelector")
        if not isinstance(block, dict):
            raise ReachabilityError(f"{where}: ipBlock must be a mapping")
        return IPBlockPeer(tuple(ipblock_intervals(block.get("cidr"), block.get("except"), where)))
    if pods is None and namespaces is None:
        raise ReachabilityError(f"{where}: a peer needs podSelector, namespaceSelector or ipBlock")
    return SelectorPeer(
        namespace,
        None if pods is None else Selector.parse(pods, f"{where}.podSelector"),
        None if namespaces is None else Selector.parse(namespaces, f"{where}.namespaceSelector"),
    )


def parse_port(raw: Any, where: str) -> PortSpec:
    if not isinstance(raw, dict):
        raise ReachabilityError(f"{where}: a port must be a mapping")
    protocol = raw.get("protocol") or "TCP"
    if protocol not in PROTOCOLS:
        raise ReachabilityError(f"{where}: unsupported protocol {protocol!r} (supported: {', '.join(PROTOCOLS)})")
    port, end = raw.get("port"), raw.get("endPort")
    if port is None:
        return PortSpec(protocol)
    if isinstance(port, str) and not port.isdigit():
        return PortSpec(protocol, name=port)
    lo = number(port, where)
    hi = lo if end is None else number(end, where)
    if not MIN_PORT <= lo <= hi <= MAX_PORT:
        raise ReachabilityError(f"{where}: invalid port range {lo}-{hi}")
    return PortSpec(protocol, lo, hi)


def number(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str) or (isinstance(value, str) and not value.isdigit()):
        raise ReachabilityError(f"{where}: invalid port {value!r}")
    return int(value)


# admin policies (policy.networking.k8s.io/v1alpha1) ------------------------------------------------------


def parse_admin_policy(obj: dict, index: int) -> AdminPolicy:
    kind, name = obj["kind"], object_name(obj, index)
    where = f"{kind} {name}"
    spec = obj.get("spec") or {}
    if not isinstance(spec, dict):
        raise ReachabilityError(f"{where}: spec must be a mapping")
    priority = None
    if kind == "AdminNetworkPolicy":
        priority = spec.get("priority")
        if isinstance(priority, bool) or not isinstance(priority, int) or priority < 0:
            raise ReachabilityError(f"{where}: spec.priority must be a non-negative integer, got {priority!r}")
    elif name != BASELINE_NAME:
        raise ReachabilityError(f"{where}: a BaselineAdminNetworkPolicy must be named {BASELINE_NAME!r}")
    return AdminPolicy(
        kind,
        name,
        priority,
        parse_subject(spec.get("subject"), f"{where} spec.subject"),
        admin_rules(spec, "ingress", "from", ADMIN_ACTIONS[kind], where),
        admin_rules(spec, "egress", "to", ADMIN_ACTIONS[kind], where),
    )


def one_of(raw: Any, fields: tuple[str, ...], where: str) -> tuple[str, Any]:
    """The one field of ``fields`` set in the mapping ``raw`` (the API's "exactly one of")."""
    if not isinstance(raw, dict):
        raise ReachabilityError(f"{where}: must be a mapping")
    found = [(f, raw[f]) for f in fields if raw.get(f) is not None]
    if len(found) != 1:
        raise ReachabilityError(f"{where}: exactly one of {', '.join(fields)} must be set, got {sorted(raw)}")
    return found[0]


def namespaced_pods(raw: Any, where: str) -> SelectorPeer:
    if not isinstance(raw, dict):
        raise ReachabilityError(f"{where}: must be a mapping")
    return SelectorPeer(
        "",
        Selector.parse(raw.get("podSelector"), f"{where}.podSelector"),
        Selector.parse(raw.get("namespaceSelector"), f"{where}.namespaceSelector"),
        host_network=False,
    )


def parse_subject(raw: Any, where: str) -> SelectorPeer:
    field_name, value = one_of(raw, ("namespaces", "pods"), where)
    if field_name == "pods":
        return namespaced_pods(value, f"{where}.pods")
    return SelectorPeer("", None, Selector.parse(value, f"{where}.namespaces"), host_network=False)


def admin_rules(
    spec: dict, section: str, peers_field: str, actions: tuple[str, ...], where: str
) -> tuple[AdminRule, ...]:
    raw = spec.get(section) or []
    if not isinstance(raw, list):
        raise ReachabilityError(f"{where}: spec.{section} must be a list")
    out = []
    for i, rule in enumerate(raw):
        at = f"{where} spec.{section}[{i}]"
        if not isinstance(rule, dict):
            raise ReachabilityError(f"{at}: a rule must be a mapping")
        if rule.get("action") not in actions:
            raise ReachabilityError(f"{at}: action must be one of {', '.join(actions)}, got {rule.get('action')!r}")
        raw_peers = rule.get(peers_field)
        if not isinstance(raw_peers, list) or not raw_peers:
            raise ReachabilityError(f"{at}: {peers_field} must be a non-empty list of peers")
        label = f"{section} rule {rule.get('name') or i}"
        peers: list[Peer] = []
        unresolved: list[Unresolved] = []
        for j, raw_peer in enumerate(raw_peers):
            for peer in admin_peer(raw_peer, section, label, f"{at}.{peers_field}[{j}]"):
                (unresolved if isinstance(peer, Unresolved) else peers).append(peer)
        ports = [admin_port(p, f"{at}.ports[{j}]") for j, p in enumerate(rule.get("ports") or [])]
        out.append(AdminRule(tuple(peers), tuple(ports) or None, rule["action"], tuple(unresolved)))
    return tuple(out)


def admin_peer(raw: Any, section: str, label: str, where: str) -> tuple[Peer | Unresolved, ...]:
    """The peer; what it may match that the inventory cannot tell (node, pod and resolved addresses) as
    ``Unresolved``."""
    fields = ("namespaces", "pods")
    if section == "egress":
        fields += ("nodes", "networks", "domainNames")
    field_name, value = one_of(raw, fields, where)
    if field_name == "namespaces":
        return (SelectorPeer("", None, Selector.parse(value, f"{where}.namespaces"), host_network=False),)
    if field_name == "pods":
        return (namespaced_pods(value, f"{where}.pods"),)
    if field_name == "nodes":
        Selector.parse(value, f"{where}.nodes")
        why = f"{label} selects Nodes by label: node addresses are not modelled"
        return (Unresolved("nodes", f"{where}.nodes", why),)
    if not isinstance(value, list) or not value:
        raise ReachabilityError(f"{where}: {field_name} must be a non-empty list")
    if field_name == "domainNames":
        names = ", ".join(map(str, value))
        why = f"{label} selects domainNames ({names}): their addresses are not modelled"
        return (Unresolved("addresses", f"{where}.domainNames", why),)
    # networks select external addresses exactly, and every pod whose (unknown) address is inside them
    cidrs = ", ".join(map(str, value))
    return (
        IPBlockPeer(tuple(iv for cidr in value for iv in ipblock_intervals(cidr, None, where))),
        Unresolved(
            "workloads", f"{where}.networks", f"{label} selects networks {cidrs}: pod addresses inside are not modelled"
        ),
    )


def admin_port(raw: Any, where: str) -> PortSpec:
    field_name, value = one_of(raw, ("portNumber", "namedPort", "portRange"), where)
    if field_name == "namedPort":
        if not isinstance(value, str) or not value:
            raise ReachabilityError(f"{where}: namedPort must be a port name")
        return PortSpec(None, name=value)
    if not isinstance(value, dict):
        raise ReachabilityError(f"{where}: {field_name} must be a mapping")
    protocol = value.get("protocol") or "TCP"
    if protocol not in PROTOCOLS:
        raise ReachabilityError(f"{where}: unsupported protocol {protocol!r} (supported: {', '.join(PROTOCOLS)})")
    if field_name == "portNumber":
        lo = hi = number(value.get("port"), f"{where}.portNumber")
    else:
        lo, hi = number(value.get("start"), f"{where}.portRange"), number(value.get("end"), f"{where}.portRange")
    if not MIN_PORT <= lo <= hi <= MAX_PORT:
        raise ReachabilityError(f"{where}: invalid port range {lo}-{hi}")
    return PortSpec(protocol, lo, hi)
