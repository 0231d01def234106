"""collector.analysis.mesh: enrollment, capture and effective mTLS per workload port; istiod's DestinationRule
lookup. Each case is one rule of the Istio documentation (see the module docstrings)."""

from __future__ import annotations

from typing import Any

import pytest

from collector.analysis.mesh import analyze_client_tls, analyze_mesh, resolve_client_tls


def ns(name: str, **labels: str) -> dict[str, Any]:
    return {"kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def deploy(
    namespace: str,
    name: str,
    labels: dict | None = None,
    annotations: dict | None = None,
    ports: tuple[int, ...] = (8080,),
    host_network: bool = False,
    kind: str = "Deployment",
) -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": name, "namespace": namespace},
            "spec": {"template": {"metadata": {"labels": {"app": name, **(labels or {})},
                                               "annotations": annotations or {}},
                                  "spec": {"hostNetwork": host_network,
                                           "containers": [{"name": "c", "ports": [{"containerPort": p}
                                                                                  for p in ports]}]}}}}  # fmt: skip


def pa(namespace: str, name: str, mode: str | None, selector: dict | None = None, ports: dict | None = None) -> dict:
    spec: dict[str, Any] = {}
    if mode:
        spec["mtls"] = {"mode": mode}
    if selector:
        spec["selector"] = {"matchLabels": selector}
    if ports:
        spec["portLevelMtls"] = {str(k): {"mode": v} for k, v in ports.items()}
    return {"kind": "PeerAuthentication", "metadata": {"name": name, "namespace": namespace}, "spec": spec}


MESH = [deploy("istio-system", "istiod", {"sidecar.istio.io/inject": "false"}, ports=(15012,)),
        deploy("istio-system", "ztunnel", kind="DaemonSet", ports=(15020,)),
        pa("istio-system", "default", "STRICT")]  # fmt: skip


def ports(*objects: dict, app: str = "api") -> dict[int | None, tuple[str, bool, str]]:
    report = analyze_mesh([*MESH, *objects])
    return {p.port: (p.dataplane, p.encrypted, p.decided_by) for p in report.ports
            if p.workload == app and p.direction == "inbound"}  # fmt: skip


@pytest.mark.parametrize(
    ("ns_labels", "pod_labels", "plane"),
    [
        ({"istio-injection": "enabled"}, {}, "sidecar"),
        ({"istio-injection": "disabled"}, {"sidecar.istio.io/inject": "true"}, "none"),  # either disabled: none
        ({"istio-injection": "enabled"}, {"sidecar.istio.io/inject": "false"}, "none"),
        ({"istio-injection": "enabled"}, {"sidecar.istio.io/inject": "False"}, "none"),  # read case-insensitively
        ({"istio-injection": "enabled"}, {"sidecar.istio.io/inject": "no"}, "none"),  # only y/yes/true/on inject
        ({"istio-injection": "enabled"}, {"sidecar.istio.io/inject": "Yes"}, "sidecar"),
        ({}, {"sidecar.istio.io/inject": "True"}, "none"),  # the object webhook selects exactly "true"
        ({}, {"sidecar.istio.io/inject": "true"}, "sidecar"),  # default revision
        ({}, {}, "none"),  # enableNamespacesByDefault is off by default
        ({"istio.io/rev": "default"}, {}, "sidecar"),
        ({"istio.io/rev": "1-27-0"}, {}, "none"),  # no control plane of that revision
        ({"istio-injection": "enabled", "istio.io/rev": "1-27-0"}, {}, "sidecar"),  # istio-injection wins
        ({"istio.io/dataplane-mode": "ambient"}, {}, "ambient"),
        ({"istio.io/dataplane-mode": "ambient"}, {"istio.io/dataplane-mode": "none"}, "none"),  # opted out
        ({}, {"istio.io/dataplane-mode": "ambient"}, "ambient"),
        ({"istio-injection": "enabled", "istio.io/dataplane-mode": "ambient"}, {}, "sidecar"),  # sidecar wins
    ],
)
def test_enrollment(ns_labels: dict, pod_labels: dict, plane: str) -> None:
    [(got, encrypted, _)] = ports(ns("shop", **ns_labels), deploy("shop", "api", pod_labels)).values()
    assert (got, encrypted) == (plane, plane != "none")


def test_ambient_needs_ztunnel_and_sidecar_needs_istiod() -> None:
    objects = [ns("shop", **{"istio.io/dataplane-mode": "ambient"}), deploy("shop", "api")]
    report = analyze_mesh([MESH[2], *objects])  # no istiod, no ztunnel
    [p] = report.ports
    assert (p.dataplane, p.encrypted) == ("none", False) and "no ztunnel" in p.decided_by


def test_host_network_is_never_injected() -> None:
    [(plane, _, why)] = ports(ns("shop", **{"istio-injection": "enabled"}),
                              deploy("shop", "api", host_network=True)).values()  # fmt: skip
    assert plane == "none" and "hostNetwork" in why


@pytest.mark.parametrize(
    ("annotations", "encrypted"),
    [
        ({}, {8080: True, 9090: True}),
        ({"traffic.sidecar.istio.io/excludeInboundPorts": "8080"}, {8080: False, 9090: True}),
        ({"traffic.sidecar.istio.io/includeInboundPorts": ""}, {8080: False, 9090: False}),
        ({"traffic.sidecar.istio.io/includeInboundPorts": "9090"}, {8080: False, 9090: True}),
        ({"traffic.sidecar.istio.io/includeInboundPorts": "*"}, {8080: True, 9090: True}),
    ],
)
def test_inbound_capture(annotations: dict, encrypted: dict) -> None:
    got = ports(ns("shop", **{"istio-injection": "enabled"}), deploy("shop", "api", annotations=annotations,
                                                                     ports=(8080, 9090)))  # fmt: skip
    assert {port: enc for port, (_, enc, _) in got.items()} == encrypted


def test_annotation_alone_does_not_enroll_and_overrides_nothing_the_label_sets() -> None:
    annotated = deploy("shop", "api", annotations={"sidecar.istio.io/inject": "true"})
    [(plane, _, why)] = ports(ns("shop"), annotated).values()
    assert plane == "none" and "does not inject alone" in why
    both = deploy("shop", "api", {"sidecar.istio.io/inject": "true"}, {"sidecar.istio.io/inject": "false"})
    assert [p for p, _, _ in ports(ns("shop", **{"istio-injection": "enabled"}), both).values()] == ["sidecar"]


@pytest.mark.parametrize(
    "annotations",
    [{"sidecar.istio.io/interceptionMode": "NONE"}, {"proxy.istio.io/config": "interceptionMode: NONE\n"}],
)
def test_interception_mode_none_captures_nothing(annotations: dict) -> None:
    objects = [ns("shop", **{"istio-injection": "enabled"}), deploy("shop", "api", annotations=annotations)]
    report = analyze_mesh([*MESH, *objects])
    [inbound] = [p for p in report.ports if p.workload == "api" and p.direction == "inbound"]
    [outbound] = [p for p in report.ports if p.workload == "api" and p.direction == "outbound"]
    assert (inbound.dataplane, inbound.captured, inbound.encrypted) == ("sidecar", False, False)
    assert "interceptionMode" in inbound.decided_by and "interceptionMode" in outbound.decided_by
    tproxy = deploy("shop", "api", annotations={"sidecar.istio.io/interceptionMode": "TPROXY"})
    assert [e for _, e, _ in ports(objects[0], tproxy).values()] == [True]


def pod(name: str, owner: str, containers: tuple[str, ...] = ("c",), init: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"kind": "Pod", "metadata": {"name": name, "namespace": "shop", "labels": {"app": "api"},
                                        "ownerReferences": [{"kind": "Deployment", "name": owner}]},
            "spec": {"containers": [{"name": c, "ports": [{"containerPort": 8080}]} for c in containers],
                     "initContainers": [{"name": c} for c in init]}}  # fmt: skip


def test_running_pod_without_istio_proxy_is_judged_without_sidecar() -> None:
    service = {"kind": "Service", "metadata": {"name": "api", "namespace": "shop"},
               "spec": {"selector": {"app": "api"}, "ports": [{"port": 80, "targetPort": 8080}]}}  # fmt: skip
    objects = [ns("shop", **{"istio-injection": "enabled"}), deploy("shop", "api"), service,
               pod("api-1", "api", ("c", "istio-proxy")), pod("api-2", "api", init=("istio-proxy",)),  # injected
               pod("api-3", "api")]  # fmt: skip
    report = analyze_mesh([*MESH, *objects])
    rows = {(p.kind, p.workload): (p.dataplane, p.encrypted) for p in report.ports if p.namespace == "shop"}
    assert rows == {("Deployment", "api"): ("sidecar", True), ("Pod", "api-3"): ("none", False)}
    [api3] = [p for p in report.ports if p.workload == "api-3"]
    assert "Pod shop/api-3 runs no istio-proxy container" in api3.decided_by
    [svc] = report.services
    assert not svc.encrypted and "Pod shop/api-3" in svc.decided_by  # the Service also sends to that Pod
    # a Pod that would get no sidecar anyway adds nothing: its controller stands for it
    plain = analyze_mesh([*MESH, ns("shop"), deploy("shop", "api"), pod("api-3", "api")])
    assert [(p.kind, p.workload) for p in plain.ports if p.namespace == "shop"] == [("Deployment", "api")]


def test_outbound_bypass_is_reported() -> None:
    objects = [
        ns("shop", **{"istio-injection": "enabled"}),
        deploy("shop", "api", annotations={"traffic.sidecar.istio.io/excludeOutboundPorts": "5432"}),
    ]
    [out] = [p for p in analyze_mesh([*MESH, *objects]).ports if p.direction == "outbound"]
    assert not out.encrypted and "excludeOutboundPorts=5432" in out.decided_by


@pytest.mark.parametrize(
    ("policies", "mode"),
    [
        ([], "STRICT"),  # mesh-wide
        ([pa("shop", "ns", "PERMISSIVE")], "PERMISSIVE"),  # namespace over mesh
        ([pa("shop", "ns", "PERMISSIVE"), pa("shop", "wl", "STRICT", {"app": "api"})], "STRICT"),  # workload
        ([pa("shop", "ns", "PERMISSIVE"), pa("shop", "wl", None, {"app": "api"})], "PERMISSIVE"),  # UNSET inherits
        ([pa("shop", "wl", "DISABLE", {"app": "other"})], "STRICT"),  # selects another workload
        ([pa("other", "ns", "DISABLE")], "STRICT"),  # another namespace
        ([pa("shop", "wl", "STRICT", {"app": "api"}, {8080: "PERMISSIVE"})], "PERMISSIVE"),  # portLevelMtls
        ([pa("shop", "wl", "STRICT", {"app": "api"}, {9999: "DISABLE"})], "STRICT"),  # another port
        ([pa("shop", "ns", "STRICT", None, {8080: "DISABLE"})], "STRICT"),  # ignored without selector
    ],
)
def test_effective_peer_authentication(policies: list[dict], mode: str) -> None:
    report = analyze_mesh([*MESH, ns("shop", **{"istio-injection": "enabled"}), deploy("shop", "api"), *policies])
    [p] = [p for p in report.ports if p.workload == "api"]
    assert p.mode == mode and p.encrypted == (mode == "STRICT")


def test_workload_without_service_is_judged_and_services_follow_their_workloads() -> None:
    svc = {"kind": "Service", "metadata": {"name": "api", "namespace": "shop"},
           "spec": {"selector": {"app": "api"}, "ports": [{"port": 80, "targetPort": 8080}]}}  # fmt: skip
    report = analyze_mesh(
        [
            *MESH,
            ns("shop", **{"istio-injection": "enabled"}),
            deploy("shop", "api"),
            deploy("shop", "worker", ports=(8081,)),
            pa("shop", "w", "DISABLE", {"app": "worker"}),
            svc,
        ]
    )
    assert {(p.workload, p.encrypted) for p in report.ports if p.namespace == "shop"} == {
        ("api", True), ("worker", False)}  # fmt: skip
    [s] = report.services
    assert (s.service, s.port, s.workloads, s.encrypted) == ("api", 80, 1, True)


def dr(namespace: str, name: str, host: str, mode: str = "ISTIO_MUTUAL", **spec: Any) -> dict[str, Any]:
    return {"kind": "DestinationRule", "metadata": {"name": name, "namespace": namespace},
            "spec": {"host": host, "trafficPolicy": {"tls": {"mode": mode}}, **spec}}  # fmt: skip


GW = {"gateway.networking.k8s.io/gateway-name": "edge"}


def lookup(*rules: dict, port: int = 8080) -> tuple[bool, str | None, str]:
    c = resolve_client_tls("infra", "edge", GW, "pay", "api", port, "http", list(rules))
    return c.originates_tls, c.destination_rules, c.finding


@pytest.mark.parametrize(
    ("rules", "originates", "applied"),
    [
        ([dr("pay", "a", "api")], True, "pay/a"),  # short name in the rule's namespace
        ([dr("infra", "a", "api")], False, None),  # short name in infra: another host
        ([dr("pay", "a", "api.pay.svc.cluster.local", exportTo=["."])], False, None),
        ([dr("pay", "a", "api.pay.svc.cluster.local", exportTo=["infra"])], True, "pay/a"),
        ([dr("pay", "a", "api.pay.svc.cluster.local", exportTo=["pay", "web"])], False, None),
        ([dr("pay", "a", "api.pay"), dr("infra", "b", "api.pay", "DISABLE")], False, "infra/b"),  # client ns first
        ([dr("pay", "a", "api.pay"), dr("istio-system", "b", "*.svc.cluster.local", "DISABLE")], True, "pay/a"),
        ([dr("istio-system", "b", "*.svc.cluster.local")], True, "istio-system/b"),  # root namespace last
        ([dr("pay", "a", "api.pay", workloadSelector={"matchLabels": {"app": "checkout"}})], False, None),
        ([dr("infra", "a", "api.pay", workloadSelector={"matchLabels": GW})], True, "infra/a"),
        # the most specific host that is not exported hides a less specific one
        ([dr("pay", "a", "api.pay", exportTo=["."]), dr("pay", "b", "*.pay.svc.cluster.local")], False, None),
        (
            [
                dr(
                    "pay",
                    "a",
                    "api.pay",
                    trafficPolicy={"tls": {"mode": "SIMPLE"}, "portLevelSettings": [{"port": {"number": 8080}}]},
                )
            ],
            False,
            "pay/a",
        ),
    ],
)
def test_destination_rule_lookup(rules: list[dict], originates: bool, applied: str | None) -> None:
    got, names, finding = lookup(*rules)
    assert (got, names) == (originates, applied), finding


@pytest.mark.parametrize(
    ("classes", "class_name", "applies"),
    [
        ({"istio": "istio.io/gateway-controller"}, "istio", True),
        ({"remote": "istio.io/unmanaged-gateway"}, "remote", True),
        ({"eg": "gateway.envoyproxy.io/gatewayclass-controller"}, "eg", False),  # not Istio's proxy
        ({}, "istio", True),  # the class istiod creates itself
        ({}, "eg", False),  # an unknown class: nothing shows an Istio proxy
    ],
)
def test_destination_rules_apply_only_to_istio_gateways(classes: dict, class_name: str, applies: bool) -> None:
    objects = [
        *({"kind": "GatewayClass", "metadata": {"name": n}, "spec": {"controllerName": c}} for n, c in classes.items()),
        {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
         "metadata": {"name": "edge", "namespace": "infra"}, "spec": {"gatewayClassName": class_name}},
        {"kind": "Service", "metadata": {"name": "api", "namespace": "pay"}, "spec": {"ports": [{"port": 8080}]}},
        dr("pay", "a", "api"),
    ]  # fmt: skip
    [client] = analyze_client_tls(objects)
    assert client.originates_tls is applies, client.finding
    assert applies or f"GatewayClass {class_name}" in client.finding


def test_an_argo_rollout_is_a_workload_and_one_with_a_workload_ref_is_its_deployment() -> None:
    rollout = deploy("shop", "api", {"sidecar.istio.io/inject": "false"}, kind="Rollout")
    by_ref = {"kind": "Rollout", "metadata": {"name": "web", "namespace": "shop"},
              "spec": {"workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}}}  # fmt: skip
    report = analyze_mesh([*MESH, ns("shop", **{"istio-injection": "enabled"}), rollout, by_ref, deploy("shop", "web")])
    assert {(p.kind, p.workload, p.dataplane, p.encrypted) for p in report.ports if p.namespace == "shop"} == {
        ("Rollout", "api", "none", False), ("Deployment", "web", "sidecar", True)}  # fmt: skip
