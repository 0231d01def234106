"""Cluster DNS from egress-isolated namespaces: can each workload still resolve names?

A workload resolves when, on the engine's effective reachability (its egress and the resolver's ingress), it
reaches the cluster DNS Service's backends on both UDP and TCP port 53 (each at the target port the Service maps
53 to, a named target port resolved against the backend's container ports). Where NodeLocal DNSCache runs, pods
query it instead, so they must reach the address it answers them on (UDP and TCP 53): its link-local address
(``-localip``, 169.254.20.10 by default) when kube-proxy runs in IPVS mode, or the cluster DNS address it also binds
and intercepts on the node (iptables mode, ``-localip`` listing a second, non-link-local address). Only workloads
of namespaces where some NetworkPolicy isolates egress are judged: elsewhere egress is open. See
docs/reachability.md.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from collector.analysis.reachability.admitting import parse_interval
from collector.analysis.reachability.conns import PROTOCOLS, Conn
from collector.analysis.reachability.errors import ReachabilityError
from collector.analysis.reachability.inventory import Inventory
from collector.analysis.reachability.model import Workload
from collector.analysis.reachability.naive import egress, ingress, selects
from collector.analysis.reachability.result import Reachability

DNS_NAMESPACE = "kube-system"
DNS_SERVICE = "kube-dns"
DNS_LABEL = ("k8s-app", "kube-dns")  # CoreDNS and kube-dns Services carry it whatever their name
DNS_PORT = 53
DNS_PROTOCOLS = ("UDP", "TCP")  # TCP for truncated answers (RFC 7766)
NODE_LOCAL_LABEL = ("k8s-app", "node-local-dns")
NODE_LOCAL_ADDRESS = "169.254.20.10"  # the default -localip of the NodeLocal DNSCache manifests
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class DnsVerdict:
    """Whether one workload of an egress-isolated namespace can resolve: ``via`` what, or ``blocked`` by what."""

    namespace: str
    workload: str
    kind: str
    resolves: bool
    via: str | None
    blocked: str | None


@dataclass(frozen=True)
class Target:
    """One resolver endpoint a client must reach: a backend workload at a port and protocol."""

    backend: Workload
    protocol: str
    port: int


def has(conn: Conn, protocol: str, port: int) -> bool:
    return any(lo <= port <= hi for lo, hi in conn[PROTOCOLS.index(protocol)])


def dns_services(objects: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The cluster DNS Services: kube-system/kube-dns and kube-system Services labelled k8s-app=kube-dns."""
    found = []
    for obj in objects:
        meta = obj.get("metadata") or {}
        if obj.get("kind") != "Service" or (meta.get("namespace") or "default") != DNS_NAMESPACE:
            continue
        if meta.get("name") == DNS_SERVICE or (meta.get("labels") or {}).get(DNS_LABEL[0]) == DNS_LABEL[1]:
            found.append(obj)
    return sorted(found, key=lambda o: o["metadata"]["name"])


def service_targets(service: dict[str, Any], inv: Inventory) -> tuple[dict[str, list[Target]], list[str]]:
    """Per protocol, the backends and target ports of the Service's port 53; and why a protocol has none."""
    name = f"Service {DNS_NAMESPACE}/{service['metadata']['name']}"
    spec = service.get("spec") or {}
    selector = spec.get("selector") or {}
    if not isinstance(selector, dict):
        raise ReachabilityError(f"{name}: spec.selector must be a mapping")
    backends = [
        w
        for w in inv.workloads
        if selector and w.namespace == DNS_NAMESPACE and all(w.labels.get(k) == str(v) for k, v in selector.items())
    ]
    targets: dict[str, list[Target]] = {p: [] for p in DNS_PROTOCOLS}
    problems: list[str] = []
    if not backends:
        why = "has no spec.selector" if not selector else f"selects no workload ({selector_text(selector)})"
        return targets, [f"{name} {why}"]
    for protocol in DNS_PROTOCOLS:
        ports = [
            p for p in spec.get("ports") or []
            if isinstance(p, dict) and (p.get("protocol") or "TCP") == protocol and str(p.get("port")) == str(DNS_PORT)
        ]  # fmt: skip
        if not ports:
            problems.append(f"{name} has no {protocol} port {DNS_PORT}")
        for port in ports:
            target = port.get("targetPort") or DNS_PORT
            for backend in backends:
                number = resolve_target(target, protocol, backend)
                if number is None:
                    problems.append(
                        f"{name} port {port.get('name') or DNS_PORT}/{protocol} targets port {target!r}, which no "
                        f"{protocol} container port of {backend.id} is named"
                    )
                else:
                    targets[protocol].append(Target(backend, protocol, number))
    return targets, problems


def resolve_target(target: Any, protocol: str, backend: Workload) -> int | None:
    if isinstance(target, int) and not isinstance(target, bool):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    return next((n for name, n, proto in backend.named_ports if name == target and proto == protocol), None)


def selector_text(selector: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items()))


def analyze_dns(inv: Inventory, reach: Reachability, objects: Sequence[dict[str, Any]]) -> list[DnsVerdict]:
    """A verdict for every workload of a namespace where a NetworkPolicy isolates egress (DNS servers aside).

    A Service balances over all its endpoints, so a client resolves through a Service only if it reaches every
    backend on both protocols."""
    isolated = {p.namespace for p in inv.policies if p.egress}
    dns = dns_services(objects)
    services = [(f"Service {DNS_NAMESPACE}/{s['metadata']['name']}", *service_targets(s, inv)) for s in dns]
    problems = [why for _, _, whys in services for why in whys]
    if not services:
        problems.append(
            f"no cluster DNS Service in the inventory ({DNS_NAMESPACE}/{DNS_SERVICE}, or a {DNS_NAMESPACE} Service "
            f"labelled {DNS_LABEL[0]}={DNS_LABEL[1]})"
        )
    servers = {t.backend.id for _, targets, _ in services for ts in targets.values() for t in ts}
    node_local = [w for w in inv.workloads if w.labels.get(NODE_LOCAL_LABEL[0]) == NODE_LOCAL_LABEL[1]]
    servers.update(w.id for w in node_local)
    local_addresses = node_local_addresses(objects, node_local, dns)
    judged = [w for w in inv.workloads if w.namespace in isolated and w.id not in servers]
    conns = reach_to(reach, {w.id for w in judged}, servers, local_addresses)
    empty: Conn = ((), (), ())
    explained: dict[tuple, str] = {}
    verdicts = []
    for client in judged:
        if node_local:
            verdicts.append(node_local_verdict(client, node_local[0], local_addresses, conns))
            continue
        missed: list[Target] = []
        via = None
        for name, targets, _ in services:
            unreached = [
                t for ts in targets.values() for t in ts
                if not has(conns.get((client.id, t.backend.id), empty), t.protocol, t.port)
            ]  # fmt: skip
            if all(targets.values()) and not unreached:
                via = f"{name}: " + "; ".join(
                    f"{p} {', '.join(sorted({f'{t.port} on {t.backend.id}' for t in targets[p]}))}" for p in targets
                )
                break
            missed.extend(unreached)
        if via is not None:
            verdicts.append(verdict(client, True, via, None))
        else:
            key = (client.namespace, frozenset(client.labels.items()), client.host_network, tuple(missed))
            if key not in explained:  # what blocks depends on the client's policies (namespace, labels), not its name
                explained[key] = "; ".join(dict.fromkeys(problems + blockers(inv, client, missed)))
            verdicts.append(verdict(client, False, None, explained[key]))
    return verdicts


def node_local_addresses(
    objects: Sequence[dict[str, Any]], node_local: list[Workload], services: list[dict[str, Any]]
) -> list[Address]:
    """The addresses pods query NodeLocal DNSCache on. From its ``-localip``: the non-link-local ones if any (iptables
    mode: the cluster DNS address, intercepted on the node), else the link-local ones (IPVS mode). Without its
    arguments (the store keeps no container args), both the default link-local address and the DNS Services'
    clusterIPs: the kube-proxy mode that decides between them is not in the inventory."""
    found: list[Address] = []
    wanted = {(w.kind, w.namespace, w.name) for w in node_local}
    for obj in objects:
        meta = obj.get("metadata") or {}
        if (obj.get("kind"), meta.get("namespace") or "default", meta.get("name")) in wanted:
            found.extend(local_ips(obj))
    if found:
        return [a for a in found if not a.is_link_local] or found
    cluster_ips = [(s.get("spec") or {}).get("clusterIP") for s in services]
    return [ipaddress.ip_address(NODE_LOCAL_ADDRESS), *parse_addresses(ip for ip in cluster_ips if ip)]


def local_ips(obj: dict[str, Any]) -> list[Address]:
    """The addresses of the ``-localip`` argument of a NodeLocal DNSCache workload's containers."""
    pod_spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    found: list[Address] = []
    for container in pod_spec.get("containers") or []:
        args = [str(a) for a in (container.get("args") or [])]
        for i, arg in enumerate(args):
            flag, _, value = arg.lstrip("-").partition("=")
            if flag == "localip" and arg.startswith("-"):
                found.extend(parse_addresses((value or (args[i + 1] if i + 1 < len(args) else "")).split(",")))
    return found


def parse_addresses(texts: Iterable[str]) -> list[Address]:
    out = []
    for text in texts:
        try:
            out.append(ipaddress.ip_address(str(text).strip()))
        except ValueError:
            continue
    return out


def node_local_verdict(
    client: Workload, server: Workload, addresses: list[Address], conns: dict[tuple[str, str], Conn]
) -> DnsVerdict:
    """Whether ``client`` reaches NodeLocal DNSCache on every address pods query it on, on UDP and TCP 53."""
    short = []
    for address in addresses:
        conn = conns.get((client.id, str(address)), ((), (), ()))
        allowed = [p for p in DNS_PROTOCOLS if has(conn, p, DNS_PORT)]
        if len(allowed) < len(DNS_PROTOCOLS):
            only = " and ".join(allowed) + f" {DNS_PORT} only" if allowed else f"neither UDP nor TCP {DNS_PORT}"
            short.append(f"NodeLocal DNSCache ({server.id}) answers pods on {address}: its egress allows {only}")
    if short:
        return verdict(client, False, None, "; ".join(short))
    shown = ", ".join(map(str, addresses))
    return verdict(client, True, f"NodeLocal DNSCache ({server.id}) on {shown}: UDP and TCP {DNS_PORT}", None)


def verdict(w: Workload, resolves: bool, via: str | None, blocked: str | None) -> DnsVerdict:
    return DnsVerdict(w.namespace, w.name, w.kind, resolves, via, blocked)


def reach_to(
    reach: Reachability, clients: set[str], servers: set[str], addresses: list[Address]
) -> dict[tuple[str, str], Conn]:
    """The connections from each client to each server and to each address (keyed by its text). Only those pairs
    are expanded (a workload id has a ``[``, an external interval none); each interval is parsed once."""
    out: dict[tuple[str, str], Conn] = {}
    found: dict[str, list[str]] = {}  # interval -> the addresses in it
    for src, dst, conn in reach.matching(src=clients.__contains__, dst=lambda e: e in servers or "[" not in e):
        if dst in servers:
            out[(src, dst)] = conn
            continue
        inside = found.get(dst)
        if inside is None:
            interval = parse_interval(dst)
            inside = found[dst] = [
                str(a)
                for a in addresses
                if interval and a.version == interval[0] and interval[1] <= int(a) <= interval[2]
            ]
        for address in inside:
            out[(src, address)] = conn
    return out


def blockers(inv: Inventory, client: Workload, targets: list[Target]) -> list[str]:
    """What stops ``client`` reaching each target: its egress policies, the backend's ingress policies."""
    out = []
    for t in targets:
        what = f"{t.protocol} {t.port} on {t.backend.id}"
        if not has(egress(inv, client, t.backend), t.protocol, t.port):
            names = [f"{p.namespace}/{p.name}" for p in inv.policies if p.egress and selects(p, client)]
            out.append(f"egress: no rule of NetworkPolicy {', '.join(names)} allows {what}")
        if not has(ingress(inv, t.backend, client), t.protocol, t.port):
            names = [f"{p.namespace}/{p.name}" for p in inv.policies if p.ingress and selects(p, t.backend)]
            port = f"{t.protocol} {t.port}"
            out.append(f"ingress at {t.backend.id}: no rule of NetworkPolicy {', '.join(names)} admits it on {port}")
    return out
