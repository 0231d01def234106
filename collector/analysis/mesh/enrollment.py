"""Mesh enrollment and effective mTLS, per workload (pod template) and port.

Workloads are Pods and the controllers of pod templates, Argo Rollouts among them (a Rollout's ``spec.template`` is
a Deployment's; one with a ``workloadRef`` instead is described by the Deployment it names).

The rules, from the Istio documentation (1.26):

Sidecar injection ("Controlling the injection policy", setup/additional-setup/sidecar-injection):
- a hostNetwork pod is never injected;
- the namespace label ``istio-injection`` and the pod's ``sidecar.istio.io/inject`` (label, or the older
  annotation; the label wins): if either is disabled the pod gets no sidecar. The injector (injectRequired) reads
  the pod value case-insensitively and injects only for ``y``, ``yes``, ``true`` or ``on``: any other non-empty
  value (``false``, ``False``, ``no``, ``off``...) disables injection. ``istio-injection=enabled`` injects with the
  default revision and takes precedence over ``istio.io/rev``;
- otherwise a revision label ``istio.io/rev`` (on the pod, else on the namespace) injects with that revision, and a
  pod label ``sidecar.istio.io/inject="true"`` alone (the object webhook's selector: exactly ``true``, a label, not
  the annotation) injects with the default revision; with none of these the pod gets no sidecar
  (``enableNamespacesByDefault`` is off by default);
- a revision injects only if a control plane of that revision runs (an istiod workload whose ``istio.io/rev``
  label names it; an istiod without the label is revision ``default``); otherwise no injector matches.

Ambient mode (ambient/usage/add-workloads): a pod without a sidecar is in the ambient mesh when its namespace or the
pod is labelled ``istio.io/dataplane-mode=ambient`` and the pod is not labelled ``istio.io/dataplane-mode=none``
(which opts it out); ztunnel (a DaemonSet labelled ``app=ztunnel``) must run. The annotation
``ambient.istio.io/bypass-inbound-capture="true"`` leaves inbound traffic uncaptured.

Traffic capture of a sidecar (reference/config/annotations): with the interception mode ``NONE``
(``sidecar.istio.io/interceptionMode``, else ``interceptionMode`` in the ``proxy.istio.io/config`` annotation) the
injection template sets up no redirection at all: nothing is captured. Otherwise inbound ports are redirected to the
sidecar per
``traffic.sidecar.istio.io/includeInboundPorts`` (default ``*``: every port; an empty value: none) less
``traffic.sidecar.istio.io/excludeInboundPorts``. An uncaptured port is reached directly: mTLS is neither
terminated nor required there. Outbound traffic escapes the sidecar per ``excludeOutboundPorts``,
``excludeOutboundIPRanges`` and an ``includeOutboundIPRanges`` other than ``*``.

Effective PeerAuthentication (concepts/security#peer-authentication, reference/config/security/peer_authentication):
the workload policy (same namespace, ``selector`` matching the pod labels) over the namespace-wide policy (no
selector) over the mesh-wide policy (no selector, root namespace); a mode ``UNSET`` inherits from the next level,
and with no policy at all the mode is PERMISSIVE. ``portLevelMtls`` (only honoured in a policy with a selector)
overrides the mode of a workload port. Several policies at one level: Istio keeps the oldest, which the inventory
cannot order, so the weakest is taken.

A port is encrypted when the workload is enrolled, the port is captured and the effective mode is STRICT.

Injection happens when a pod is created: a running Pod that a controller created (it has ownerReferences) shows
the result. One that the rules above would give a sidecar but that runs no ``istio-proxy`` container (a container
or, for native sidecars, an init container) was started before injection applied, or injection failed: it is
judged on its own, without a sidecar.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

ROOT_NAMESPACE = "istio-system"
WORKLOAD_KINDS = ("Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job",
                  "CronJob", "Rollout")  # fmt: skip
INJECTION_LABEL = "istio-injection"
INJECT = "sidecar.istio.io/inject"
PROXY = "istio-proxy"  # the injected sidecar container
INJECT_YES = frozenset({"y", "yes", "true", "on"})  # injectRequired: any other non-empty value disables injection
INTERCEPTION = "sidecar.istio.io/interceptionMode"
PROXY_CONFIG = "proxy.istio.io/config"
REVISION = "istio.io/rev"
DATAPLANE = "istio.io/dataplane-mode"
BYPASS_INBOUND = "ambient.istio.io/bypass-inbound-capture"
INCLUDE_INBOUND = "traffic.sidecar.istio.io/includeInboundPorts"
EXCLUDE_INBOUND = "traffic.sidecar.istio.io/excludeInboundPorts"
INCLUDE_OUTBOUND_RANGES = "traffic.sidecar.istio.io/includeOutboundIPRanges"
EXCLUDE_OUTBOUND_RANGES = "traffic.sidecar.istio.io/excludeOutboundIPRanges"
EXCLUDE_OUTBOUND_PORTS = "traffic.sidecar.istio.io/excludeOutboundPorts"
STRENGTH = {"DISABLE": 0, "PERMISSIVE": 1, "STRICT": 2}


@dataclass(frozen=True)
class Workload:
    kind: str
    namespace: str
    name: str
    labels: dict[str, str]
    annotations: dict[str, str]
    host_network: bool
    ports: tuple[tuple[str | None, int], ...]  # (name, containerPort)
    proxy: bool | None = None  # a Pod a controller created: whether it runs istio-proxy; None: not such a Pod

    @property
    def ref(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


@dataclass(frozen=True)
class WorkloadPort:
    """One workload port (inbound) or the workload's outbound traffic, and whether the mesh encrypts it."""

    namespace: str
    kind: str
    workload: str
    direction: str  # inbound | outbound
    port: int | None  # inbound: the container port; None: the workload declares none
    dataplane: str  # sidecar | ambient | none
    revision: str | None
    captured: bool
    mode: str  # the effective PeerAuthentication mode (inbound); "" for outbound
    encrypted: bool
    decided_by: str  # the objects and fields that decide, e.g. "Namespace backoffice label istio-injection=disabled"
    policy: str | None = None  # the PeerAuthentication that decides the mode, ns/name


@dataclass(frozen=True)
class ServicePort:
    """A Service port and whether the mesh encrypts every connection to it: it selects at least one workload and
    every selected workload's target port is encrypted (enrolled, captured, STRICT)."""

    namespace: str
    service: str
    port: int
    port_name: str | None
    workloads: int  # the workloads the Service selects
    encrypted: bool
    decided_by: str


@dataclass
class MeshReport:
    revisions: tuple[str, ...]
    ztunnel: bool
    ports: list[WorkloadPort] = field(default_factory=list)
    services: list[ServicePort] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "revisions": list(self.revisions),
            "ztunnel": self.ztunnel,
            "ports": [vars(p) for p in self.ports],  # flat records: vars is asdict without its deep copy
            "services": [vars(s) for s in self.services],
        }


def meta(obj: dict) -> dict:
    return obj.get("metadata") or {}


def strings(raw: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


def pod_template(obj: dict) -> dict | None:
    spec = obj.get("spec") or {}
    if obj["kind"] == "Pod":
        return {"metadata": meta(obj), "spec": spec}
    if obj["kind"] == "CronJob":
        return ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template")
    return spec.get("template")


def workloads(objects: list[dict]) -> tuple[list[Workload], list[Workload]]:
    """Top-level workloads (a controller or Pod whose owner is not itself in the inventory), and the Pods of
    controllers in the inventory that run no istio-proxy container."""
    present = {
        (o["kind"], meta(o).get("namespace"), meta(o).get("name")) for o in objects if o["kind"] in WORKLOAD_KINDS
    }
    out, owned = [], []
    for o in objects:
        if o["kind"] not in WORKLOAD_KINDS or (o["kind"] == "Rollout" and pod_template(o) is None):
            continue  # a Rollout with a workloadRef instead of a template: the Deployment it names stands for it
        m = meta(o)
        owners = m.get("ownerReferences") or []
        spec = o.get("spec") or {}
        containers = [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]
        proxy = any(c.get("name") == PROXY for c in containers) if o["kind"] == "Pod" and owners else None
        if any((r.get("kind"), m.get("namespace"), r.get("name")) in present for r in owners):
            if proxy is False:
                owned.append(workload(o, proxy))
            continue
        out.append(workload(o, proxy))
    return out, owned


def workload(o: dict, proxy: bool | None) -> Workload:
    """The workload of a controller or Pod, from its pod template."""
    m = meta(o)
    template = pod_template(o) or {}
    tmeta, tspec = template.get("metadata") or {}, template.get("spec") or {}
    ports = tuple(
        (p.get("name"), int(p["containerPort"]))
        for c in (tspec.get("containers") or [])
        for p in (c.get("ports") or [])
        if isinstance(p, dict) and str(p.get("containerPort", "")).isdigit() and (p.get("protocol") or "TCP") != "UDP"
    )
    return Workload(
        o["kind"],
        m.get("namespace") or "default",
        m["name"],
        strings(tmeta.get("labels")),
        strings(tmeta.get("annotations")),
        bool(tspec.get("hostNetwork")),
        ports,
        proxy,
    )


def control_planes(found: list[Workload]) -> tuple[str, ...]:
    revs = {
        w.labels.get(REVISION) or "default"
        for w in found
        if w.labels.get("app") == "istiod" or w.labels.get("istio") == "pilot"
    }
    return tuple(sorted(revs))


def port_list(text: str) -> set[int] | None:
    """A comma-separated port list; None for '*'."""
    if text.strip() == "*":
        return None
    return {int(p) for p in (x.strip() for x in text.split(",")) if p.isdigit()}


def matches(selector: Any, labels: dict[str, str]) -> bool:
    if not isinstance(selector, dict):
        return True
    match = strings(selector.get("matchLabels"))
    return all(labels.get(k) == v for k, v in match.items())


def has_selector(policy: dict) -> bool:
    sel = (policy.get("spec") or {}).get("selector")
    return isinstance(sel, dict) and bool(sel.get("matchLabels"))


def dataplane(
    w: Workload,
    ns_labels: dict[str, str],
    revisions: tuple[str, ...],
    ztunnel: bool,
) -> tuple[str, str | None, str]:
    """(sidecar | ambient | none, revision, what decides it)."""
    inject = w.labels.get(INJECT, w.annotations.get(INJECT))
    inject_src = f"{w.ref} {'label' if INJECT in w.labels else 'annotation'} {INJECT}={inject}"
    ns_inject = ns_labels.get(INJECTION_LABEL)
    ns_ref = f"Namespace {w.namespace}"
    revision: str | None = None
    why = ""
    if w.host_network:
        why = f"{w.ref} uses hostNetwork: never injected"
    elif ns_inject == "disabled":
        why = f"{ns_ref} label {INJECTION_LABEL}=disabled"
    elif inject and inject.lower() not in INJECT_YES:
        why = f"{inject_src} (the injector injects only for {', '.join(sorted(INJECT_YES))})"
    elif ns_inject == "enabled":
        revision, why = "default", f"{ns_ref} label {INJECTION_LABEL}=enabled"
    elif w.labels.get(REVISION) or ns_labels.get(REVISION):
        on_pod = bool(w.labels.get(REVISION))
        revision = w.labels.get(REVISION) or ns_labels[REVISION]
        why = f"{w.ref if on_pod else ns_ref} label {REVISION}={revision}"
    elif w.labels.get(INJECT) == "true":
        revision, why = "default", inject_src
    if revision is not None:
        if revision in revisions:
            return "sidecar", revision, why
        why = f"{why}: no control plane of revision {revision} (istiod revisions: {', '.join(revisions) or 'none'})"
    elif not why:
        pod = f"{w.ref} no {INJECT}" if inject is None else f"{inject_src} does not inject alone (only the label does)"
        why = f"{ns_ref} has no injection label ({INJECTION_LABEL} or {REVISION}) and {pod}"
    pod_mode, ns_mode = w.labels.get(DATAPLANE), ns_labels.get(DATAPLANE)
    if pod_mode == "none":
        return "none", None, f"{w.ref} label {DATAPLANE}=none (opted out of ambient); {why}"
    if (pod_mode == "ambient" or ns_mode == "ambient") and not w.host_network:
        src = f"{w.ref} label {DATAPLANE}=ambient" if pod_mode == "ambient" else f"{ns_ref} label {DATAPLANE}=ambient"
        if ztunnel:
            return "ambient", None, src
        return "none", None, f"{src}, but no ztunnel DaemonSet runs; {why}"
    return "none", None, f"no sidecar: {why}"


def interception_mode(w: Workload) -> tuple[str | None, str]:
    """The sidecar's inbound interception mode the pod asks for (None: the mesh default) and the annotation that
    sets it."""
    if INTERCEPTION in w.annotations:
        return w.annotations[INTERCEPTION].strip(), f"{INTERCEPTION}={w.annotations[INTERCEPTION]}"
    try:
        config = yaml.safe_load(w.annotations.get(PROXY_CONFIG) or "")
    except yaml.YAMLError:
        return None, ""
    mode = config.get("interceptionMode") if isinstance(config, dict) else None
    return (str(mode), f"{PROXY_CONFIG} interceptionMode: {mode}") if mode else (None, "")


def effective_mode(w: Workload, port: int | None, policies: list[dict], root: str) -> tuple[str, str | None, str]:
    """(mode, policy ns/name or None, description) of the PeerAuthentication in force on a workload port."""

    def mode_of(p: dict) -> str:
        return str(((p.get("spec") or {}).get("mtls") or {}).get("mode") or "UNSET")

    def weakest(cands: list[dict], pick) -> tuple[str, dict] | None:
        vals = [(pick(p), p) for p in cands]
        vals = [(m, p) for m, p in vals if m in STRENGTH]
        return min(vals, key=lambda v: (STRENGTH[v[0]], meta(v[1])["name"])) if vals else None

    own = [p for p in policies if meta(p).get("namespace") == w.namespace]
    workload_level = [p for p in own if has_selector(p) and matches((p.get("spec") or {}).get("selector"), w.labels)]
    levels = [
        ("workload PeerAuthentication", workload_level),
        ("namespace PeerAuthentication", [p for p in own if not has_selector(p)]),
        (
            "mesh-wide PeerAuthentication",
            [p for p in policies if meta(p).get("namespace") == root and not has_selector(p)]
            if w.namespace != root
            else [],
        ),
    ]
    if port is not None:

        def port_mode(p: dict) -> str:
            pl = (p.get("spec") or {}).get("portLevelMtls") or {}
            entry = pl.get(str(port), pl.get(port)) if isinstance(pl, dict) else None
            return str((entry or {}).get("mode") or "UNSET") if isinstance(entry, dict) else "UNSET"

        found = weakest(workload_level, port_mode)
        if found:
            m, p = found
            ref = f"{meta(p)['namespace']}/{meta(p)['name']}"
            return m, ref, f"workload PeerAuthentication {ref} portLevelMtls {port}: {m}"
    for label, cands in levels:
        found = weakest(cands, mode_of)
        if found:
            m, p = found
            ref = f"{meta(p)['namespace']}/{meta(p)['name']}"
            return m, ref, f"{label} {ref}: {m}"
    return "PERMISSIVE", None, "no PeerAuthentication applies: Istio's default PERMISSIVE"


def service_target_ports(w: Workload, services: list[dict]) -> set[int]:
    """The container ports the Services selecting ``w`` send to (targetPort by number or container port name)."""
    out: set[int] = set()
    named = {n: p for n, p in w.ports if n}
    for s in services:
        spec = s.get("spec") or {}
        sel = strings(spec.get("selector"))
        if meta(s).get("namespace") != w.namespace or not sel or any(w.labels.get(k) != v for k, v in sel.items()):
            continue
        for p in spec.get("ports") or []:
            if (p.get("protocol") or "TCP") == "UDP":
                continue
            target = p.get("targetPort", p.get("port"))
            if isinstance(target, int) or str(target).isdigit():
                out.add(int(target))
            elif target in named:
                out.add(named[target])
    return out


def analyze_mesh(objects: list[dict], root_namespace: str = ROOT_NAMESPACE) -> MeshReport:
    """Enrollment and effective mTLS of every workload port (inbound) and the workload's outbound capture."""
    found, owned = workloads(objects)
    namespaces = {meta(o)["name"]: strings(meta(o).get("labels")) for o in objects if o["kind"] == "Namespace"}
    policies = [o for o in objects if o["kind"] == "PeerAuthentication"]
    services = [o for o in objects if o["kind"] == "Service"]
    revisions = control_planes(found)
    ztunnel = any(w.kind == "DaemonSet" and w.labels.get("app") == "ztunnel" for w in found)
    report = MeshReport(revisions, ztunnel)
    services_in: dict[str | None, list[dict]] = {}  # by namespace: a Service selects only its namespace's pods
    for svc in services:
        services_in.setdefault(meta(svc).get("namespace"), []).append(svc)
    judged = []  # the workloads judged: the top-level ones and the controllers' Pods injection missed
    candidates = [(w, False) for w in found] + [(w, True) for w in owned]
    for w, is_owned in sorted(candidates, key=lambda c: (c[0].namespace, c[0].kind, c[0].name)):
        plane, revision, why = dataplane(w, namespaces.get(w.namespace, {}), revisions, ztunnel)
        if plane == "sidecar" and w.proxy is False:
            plane, revision = "none", None
            why = (f"no sidecar: {w.ref} runs no {PROXY} container although {why} injects: it was started before "
                   "injection applied, or injection failed")  # fmt: skip
        elif is_owned:
            continue  # its controller stands for it
        judged.append(w)
        ports = sorted({p for _, p in w.ports} | service_target_ports(w, services_in.get(w.namespace, [])))
        include = w.annotations.get(INCLUDE_INBOUND)
        exclude = port_list(w.annotations.get(EXCLUDE_INBOUND, "")) or set()
        interception, interception_src = interception_mode(w) if plane == "sidecar" else (None, "")
        for port in ports or [None]:
            captured, capture_why = plane != "none", ""
            if interception == "NONE":
                captured = False
                capture_why = f"{w.ref} annotation {interception_src}: no traffic is redirected to the sidecar"
            elif plane == "sidecar":
                included = port_list(include) if include is not None else None
                if included is not None and (port is None or port not in included):
                    captured, capture_why = False, f'{w.ref} annotation {INCLUDE_INBOUND}="{include}"'
                elif port is not None and port in exclude:
                    captured = False
                    capture_why = f"{w.ref} annotation {EXCLUDE_INBOUND}={w.annotations[EXCLUDE_INBOUND]}"
                elif port is None and exclude:
                    captured = False
                    capture_why = (
                        f"{w.ref} declares no port and annotation {EXCLUDE_INBOUND}="
                        f"{w.annotations[EXCLUDE_INBOUND]} excludes some"
                    )
            elif plane == "ambient" and w.annotations.get(BYPASS_INBOUND) == "true":
                captured, capture_why = False, f"{w.ref} annotation {BYPASS_INBOUND}=true"
            mode, policy, mode_why = effective_mode(w, port, policies, root_namespace)
            encrypted = plane != "none" and captured and mode == "STRICT"
            if plane == "none":
                decided = why
            elif not captured:
                decided = f"{plane} ({why}) but port not captured: {capture_why}"
            else:
                decided = f"{plane} ({why}); {mode_why}"
            report.ports.append(
                WorkloadPort(
                    w.namespace,
                    w.kind,
                    w.name,
                    "inbound",
                    port,
                    plane,
                    revision,
                    captured,
                    mode,
                    encrypted,
                    decided,
                    policy,
                )
            )
        if plane == "sidecar":
            escapes = [
                f"{k}={w.annotations[k]}"
                for k in (EXCLUDE_OUTBOUND_PORTS, EXCLUDE_OUTBOUND_RANGES)
                if w.annotations.get(k, "").strip()
            ]
            inc = w.annotations.get(INCLUDE_OUTBOUND_RANGES)
            if inc is not None and inc.strip() != "*":
                escapes.append(f'{INCLUDE_OUTBOUND_RANGES}="{inc}"')
            if interception == "NONE":
                escapes.append(f"{interception_src} (no redirection)")
            if escapes:
                decided = f"{w.ref} annotation {'; '.join(escapes)}: that outbound traffic bypasses the sidecar"
                report.ports.append(
                    WorkloadPort(
                        w.namespace, w.kind, w.name, "outbound", None, plane, revision, False, "", False, decided
                    )
                )
    report.services = service_ports(judged, services, report.ports)
    return report


def service_ports(found: list[Workload], services: list[dict], ports: list[WorkloadPort]) -> list[ServicePort]:
    inbound = {(p.namespace, p.kind, p.workload, p.port): p for p in ports if p.direction == "inbound"}
    found_in: dict[str, list[Workload]] = {}
    for w in found:
        found_in.setdefault(w.namespace, []).append(w)
    out = []
    for s in services:
        spec, ns, name = s.get("spec") or {}, meta(s).get("namespace") or "default", meta(s)["name"]
        sel = strings(spec.get("selector"))
        candidates = found_in.get(ns, []) if sel else []
        selected = [w for w in candidates if all(w.labels.get(k) == v for k, v in sel.items())]
        for p in spec.get("ports") or []:
            if not str(p.get("port", "")).isdigit():
                continue
            port = int(p["port"])
            if not selected:
                why = (
                    "selects no workload of the inventory"
                    if sel
                    else "has no selector: its endpoints are not in the inventory"
                )
                out.append(ServicePort(ns, name, port, p.get("name"), 0, False, f"Service {ns}/{name} {why}"))
                continue
            target = p.get("targetPort", p.get("port"))
            judged = []  # (workload, its target port number, that port's inbound row)
            for w in selected:
                number = int(target) if str(target).isdigit() else dict((n, c) for n, c in w.ports if n).get(target)
                judged.append((w, number, inbound.get((w.namespace, w.kind, w.name, number))))
            weak = [
                f"{w.ref}: target port {target} not resolved"
                if row is None
                else f"{w.ref} port {number}: {row.decided_by}"
                for w, number, row in judged
                if row is None or not row.encrypted
            ]
            decided = "; ".join(weak) or "; ".join(f"{w.ref} port {target}: {row.decided_by}" for w, _, row in judged)
            out.append(ServicePort(ns, name, port, p.get("name"), len(selected), not weak, decided))
    return out
