"""The DestinationRule a client proxy applies to a Service port, as istiod looks it up.

From the Istio documentation (reference/config/networking/destination-rule, ops/best-practices/traffic-management
"Cross-namespace configuration") and istiod's lookup (PushContext.destinationRule):

1. the DestinationRules of the client's own namespace, whatever their ``exportTo``;
2. else those of the Service's namespace that are exported to the client's namespace;
3. else those of the root namespace (istio-system) exported to the client's namespace.

At each step the rule whose ``host`` matches the Service's FQDN most specifically wins (an exact host over the
longest wildcard); if that most specific host is not exported to the client, the step yields nothing (istiod does
not fall back to a less specific host). The first step with a match decides: later steps are not consulted.
``exportTo``: unset exports to every namespace (meshConfig ``defaultDestinationRuleExportTo`` is assumed unset),
``*`` every namespace, ``.`` the rule's own namespace, a name that namespace, ``~`` none.
A rule with a ``workloadSelector`` applies only to the selected workloads of its own namespace; among the rules of
the deciding step, one whose selector selects the client is preferred over those without a selector. Several rules
for one host are merged by istiod, the oldest winning on conflicts: the inventory cannot order them, so TLS is
originated only if every applicable rule originates it.

On a port, a ``portLevelSettings`` entry for the port replaces the rule's traffic policy: its ``tls`` (unset there:
not inherited) decides. Subset policies take effect only for routes that name the subset, which Gateway API routes
cannot: they are ignored. TLS is originated for mode ISTIO_MUTUAL, SIMPLE or MUTUAL.

DestinationRules configure Istio's proxies only: a Gateway API Gateway whose GatewayClass has another controller
(Envoy Gateway, a cloud load balancer...) applies none (``istio.io/gateway-controller`` and
``istio.io/unmanaged-gateway`` are Istio's; a class not in the inventory counts only under istiod's own name
``istio``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from collector.analysis.mesh.enrollment import ROOT_NAMESPACE, matches, meta, strings

TLS_MODES = frozenset({"ISTIO_MUTUAL", "SIMPLE", "MUTUAL"})
GATEWAY_API = "gateway.networking.k8s.io/"
# GatewayClass controllers whose Gateways run Istio proxies: istiod-deployed and manually deployed (istio-remote)
ISTIO_CONTROLLERS = frozenset({"istio.io/gateway-controller", "istio.io/unmanaged-gateway"})
CLUSTER_DOMAIN = "cluster.local"


@dataclass(frozen=True)
class ClientTls:
    """What a client (a gateway) applies when it connects to a Service port."""

    client_namespace: str
    client: str  # the Gateway's name
    namespace: str  # the Service's
    service: str
    port: int
    port_name: str | None
    originates_tls: bool
    tls_mode: str | None  # the deciding rule(s)' mode on the port; None: no rule applies
    destination_rules: str | None  # "ns/name, ..." of the applied rules
    finding: str  # how it was decided, naming every rule considered and why it did or did not apply


def fqdn(host: str, namespace: str) -> str:
    host = host.lower().rstrip(".")
    if host.startswith("*"):
        return host
    parts = host.split(".")
    if len(parts) == 1:
        return f"{host}.{namespace}.svc.{CLUSTER_DOMAIN}"
    if len(parts) == 2:
        return f"{host}.svc.{CLUSTER_DOMAIN}"
    if parts[-1] == "svc":
        return f"{host}.{CLUSTER_DOMAIN}"
    return host


def specificity(rule_host: str, service_host: str) -> int | None:
    """How specifically ``rule_host`` matches: exact is highest, then longer wildcards; None: no match."""
    if rule_host == service_host:
        return 10_000
    if rule_host == "*":
        return 0
    if rule_host.startswith("*.") and service_host.endswith(rule_host[1:]):
        return len(rule_host)
    return None


def exported_to(rule: dict, client_ns: str) -> bool:
    export = (rule.get("spec") or {}).get("exportTo")
    if not export:
        return True
    own = meta(rule).get("namespace")
    return any(e == "*" or e == client_ns or (e == "." and own == client_ns) for e in export)


def ref(rule: dict) -> str:
    return f"DestinationRule {meta(rule).get('namespace')}/{meta(rule)['name']}"


def port_tls(rule: dict, port: int) -> tuple[str | None, str]:
    policy = (rule.get("spec") or {}).get("trafficPolicy") or {}
    for pls in policy.get("portLevelSettings") or []:
        if str(((pls or {}).get("port") or {}).get("number")) == str(port):
            mode = ((pls.get("tls") or {}).get("mode")) if isinstance(pls.get("tls"), dict) else None
            return mode, f"portLevelSettings port {port} tls.mode {mode or 'unset (top-level tls not inherited)'}"
    mode = (policy.get("tls") or {}).get("mode") if isinstance(policy.get("tls"), dict) else None
    return mode, f"tls.mode {mode or 'unset'}"


def resolve_client_tls(
    client_ns: str,
    client: str,
    client_labels: dict[str, str],
    service_ns: str,
    service: str,
    port: int,
    port_name: str | None,
    rules: list[dict],
    root: str = ROOT_NAMESPACE,
) -> ClientTls:
    host = f"{service}.{service_ns}.svc.{CLUSTER_DOMAIN}"
    notes: list[str] = []
    steps = [
        ("client namespace", client_ns, False),
        ("service namespace", service_ns, True),
        ("root namespace", root, True),
    ]
    decided: list[dict] = []
    seen: set[str] = set()
    for step, ns, need_export in steps:
        if ns in seen:
            continue
        seen.add(ns)
        cands = [
            (specificity(fqdn(str((r.get("spec") or {}).get("host") or ""), ns), host), r)
            for r in rules
            if meta(r).get("namespace") == ns
        ]
        cands = [(s, r) for s, r in cands if s is not None]
        if not cands:
            continue
        best = max(s for s, _ in cands)
        top = [r for s, r in cands if s == best]
        if need_export:
            hidden = [r for r in top if not exported_to(r, client_ns)]
            for r in hidden:
                export = (r.get("spec") or {}).get("exportTo")
                notes.append(
                    f"{ref(r)} (host {r['spec'].get('host')}) is not exported to {client_ns} (exportTo {export})"
                )
            top = [r for r in top if exported_to(r, client_ns)]
            if hidden and not top:
                break  # istiod does not fall back to a less specific host or a later namespace
        selected = [r for r in top if (r.get("spec") or {}).get("workloadSelector") is not None]
        for r in selected:
            sel = r["spec"]["workloadSelector"]
            if meta(r).get("namespace") != client_ns or not matches(sel, client_labels):
                notes.append(
                    f"{ref(r)} has workloadSelector {strings((sel or {}).get('matchLabels'))}, "
                    f"which does not select the {client_ns}/{client} proxy"
                )
        applying = [
            r
            for r in selected
            if meta(r).get("namespace") == client_ns and matches(r["spec"]["workloadSelector"], client_labels)
        ]
        decided = applying or [r for r in top if (r.get("spec") or {}).get("workloadSelector") is None]
        if top:
            if not decided:
                notes.append(f"no DestinationRule of the {step} {ns} applies")
            break
    if not decided:
        text = f"no DestinationRule applies to {host}:{port} for the {client_ns}/{client} proxy"
        return ClientTls(
            client_ns, client, service_ns, service, port, port_name, False, None, None, "; ".join([text, *notes])
        )
    modes = [(r, *port_tls(r, port)) for r in decided]
    originates = all(m in TLS_MODES for _, m, _ in modes)
    weakest = next((m for _, m, _ in modes if m not in TLS_MODES), modes[0][1])
    text = "; ".join([f"{ref(r)} (host {r['spec'].get('host')}): {why}" for r, _, why in modes] + notes)
    names = ", ".join(f"{meta(r).get('namespace')}/{meta(r)['name']}" for r in decided)
    return ClientTls(client_ns, client, service_ns, service, port, port_name, originates, weakest, names, text)


def istio_class(gateway: dict, controllers: dict[str, str]) -> str | None:
    """Why a Gateway API Gateway's proxy is not Istio's (None: it is), from its GatewayClass's controllerName.
    DestinationRules configure Istio's proxies only. A class missing from the inventory counts as Istio's only by
    the name of the class istiod creates itself (``istio``)."""
    if not str(gateway.get("apiVersion") or "").startswith(GATEWAY_API):
        return None  # Istio's own Gateway (networking.istio.io) runs on an Istio proxy
    name = str((gateway.get("spec") or {}).get("gatewayClassName") or "")
    controller = controllers.get(name)
    if controller in ISTIO_CONTROLLERS or (controller is None and name == "istio"):
        return None
    what = f"controller {controller}" if controller else "not in the inventory"
    return f"GatewayClass {name or '(none)'} ({what}) is not Istio's: its proxy applies no DestinationRule"


def gateway_clients(objects: list[dict]) -> list[tuple[str, str, dict[str, str], str | None]]:
    """(namespace, Gateway name, labels of its proxy pods, why its proxy is not Istio's) of every Gateway; Istio's
    generated Deployment labels its pods ``gateway.networking.k8s.io/gateway-name=<name>``, which is assumed when
    no such Deployment is listed."""
    labels: dict[tuple[str, str], dict[str, str]] = {}
    controllers: dict[str, str] = {}
    for o in objects:
        if o["kind"] in ("Deployment", "DaemonSet", "StatefulSet"):
            tlabels = strings((((o.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels"))
            name = tlabels.get("gateway.networking.k8s.io/gateway-name")
            if name:
                labels[(meta(o).get("namespace"), name)] = tlabels
        elif o["kind"] == "GatewayClass":
            controllers[meta(o)["name"]] = str((o.get("spec") or {}).get("controllerName") or "")
    out = []
    for o in objects:
        if o["kind"] == "Gateway":
            key = (meta(o).get("namespace") or "default", meta(o)["name"])
            proxy = labels.get(key, {"gateway.networking.k8s.io/gateway-name": key[1]})
            out.append((*key, proxy, istio_class(o, controllers)))
    return out


def analyze_client_tls(objects: list[dict], root: str = ROOT_NAMESPACE) -> list[ClientTls]:
    """For every Gateway and every Service port: the TLS the gateway's proxy originates per its DestinationRules."""
    rules = [o for o in objects if o["kind"] == "DestinationRule"]
    out = []
    services: list[tuple[str, str, int, Any]] = [
        (meta(s).get("namespace") or "default", meta(s)["name"], int(p["port"]), p.get("name"))
        for s in objects
        if s["kind"] == "Service"
        for p in ((s.get("spec") or {}).get("ports") or [])
        if str(p.get("port", "")).isdigit()
    ]
    for client_ns, client, labels, not_istio in gateway_clients(objects):
        for ns, name, port, port_name in services:
            if not_istio:
                out.append(ClientTls(client_ns, client, ns, name, port, port_name, False, None, None, not_istio))
            else:
                out.append(resolve_client_tls(client_ns, client, labels, ns, name, port, port_name, rules, root))
    return out
