"""Gateway API attachment analysis: the spec-derived case corpus (tests/data/gateway_attachment) and unit tests."""

from __future__ import annotations

import gc
import importlib.util
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from collector.analysis.gateway.attachment import analyze_gateways
from collector.analysis.gateway.matching import effective_hostnames, intersect_hostname, selector_matches

CASES = sorted((Path(__file__).parent / "data" / "gateway_attachment").glob("*.yaml"))


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def cond(condition) -> str:
    return f"{condition.status}/{condition.reason}"


def attachment_row(a) -> dict[str, Any]:
    return {
        "route": f"{a.route_kind}/{a.route_ns}/{a.route}",
        "parent": a.parent_index,
        "gateway": f"{a.gateway_ns}/{a.gateway}",
        "listener": a.listener,
        "hostnames": list(a.hostnames),
        "reason": a.reason,
    }


def expected_condition(value: str | bool) -> str:
    # YAML reads True/Accepted as a string, but a bare True would be a bool: normalise.
    return str(value)


def test_corpus_is_large_enough():
    assert len(CASES) >= 20


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case(path: Path):
    case = load(path)
    expected = case["expected"]
    report = analyze_gateways(case["objects"])

    rows = [attachment_row(a) for a in report.attachments]
    key = lambda r: json.dumps(r, sort_keys=True)  # noqa: E731
    assert sorted(rows, key=key) == sorted(expected["attachments"], key=key)
    for a in report.attachments:
        assert a.accepted == (a.reason == "Accepted"), a

    statuses = {(f"{s.route_kind}/{s.route_ns}/{s.route}", s.parent_index): s for s in report.route_status}
    assert sorted(statuses) == sorted((e["route"], e["parent"]) for e in expected["route_status"])
    for e in expected["route_status"]:
        s = statuses[(e["route"], e["parent"])]
        assert (cond(s.accepted), cond(s.resolved_refs)) == (e["accepted"], e["resolved_refs"]), e["route"]
        assert (s.accepted.type, s.resolved_refs.type) == ("Accepted", "ResolvedRefs")

    listeners = {(f"{s.gateway_ns}/{s.gateway}", s.listener): s for s in report.listener_status}
    assert sorted(listeners) == sorted((e["gateway"], e["listener"]) for e in expected["listener_status"])
    for e in expected["listener_status"]:
        s = listeners[(e["gateway"], e["listener"])]
        got = {
            "attached_routes": s.attached_routes,
            "accepted": cond(s.accepted),
            "conflicted": cond(s.conflicted),
            "resolved_refs": cond(s.resolved_refs),
        }
        want = {k: e[k] for k in got}
        assert got == want, e["listener"]
        if "supported_kinds" in e:
            assert list(s.supported_kinds) == e["supported_kinds"], e["listener"]

    for gateway, want_listeners in (expected.get("exposure") or {}).items():
        ns, name = gateway.split("/")
        got = {x.listener: x for x in report.exposure(ns, name)}
        assert sorted(got) == sorted(w["listener"] for w in want_listeners)
        for w in want_listeners:
            x = got[w["listener"]]
            assert (x.from_, list(x.namespaces), x.any_namespace) == (w["from"], w["namespaces"], w["any_namespace"])
            if "kinds" in w:
                assert list(x.kinds) == w["kinds"]

    want_notes = expected.get("notes") or []
    assert len(report.notes) == len(want_notes)
    for note, fragment in zip(report.notes, want_notes, strict=True):
        assert fragment in note


# hostname intersection --------------------------------------------------------------------------------------------

# (listener hostname, route hostname, intersection): the table of site-src/concepts/hostnames.md plus edge cases.
HOSTNAME_TABLE = [
    ("www.example.com", "www.example.com", "www.example.com"),
    ("*.example.com", "www.example.com", "www.example.com"),
    ("*.example.com", "sub.domain.example.com", "sub.domain.example.com"),
    ("www.example.com", "*.example.com", "www.example.com"),
    ("sub.domain.example.com", "*.example.com", "sub.domain.example.com"),
    ("*.example.com", "*.example.com", "*.example.com"),
    ("*.com", "*.example.com", "*.example.com"),
    ("*.example.com", "*.com", "*.example.com"),
    (None, "www.example.com", "www.example.com"),
    ("*", "*", "*"),
    (None, "*.example.com", "*.example.com"),
    ("*.example.com", "example.com", None),
    ("example.com", "*.example.com", None),
    ("www.example.com", "foo.example.com", None),
    ("*.example.com", "*.example.net", None),
    ("api.example.com", "*.api.example.com", None),
    ("*.example.com", "xexample.com", None),
    ("*.example.com", "foo.example.com.evil.net", None),
    ("WWW.Example.com", "www.example.COM", "www.example.com"),
]


@pytest.mark.parametrize(("listener", "route", "want"), HOSTNAME_TABLE)
def test_intersect_hostname(listener, route, want):
    assert intersect_hostname(listener, route) == want


def test_effective_hostnames_inherit_filter_and_sort():
    assert effective_hostnames("api.example.com", []) == ("api.example.com",)
    assert effective_hostnames(None, []) == ("*",)
    assert effective_hostnames("*.example.com", ["b.example.com", "x.example.net", "a.example.com"]) == (
        "a.example.com",
        "b.example.com",
    )
    assert effective_hostnames("*.example.com", ["example.com"]) == ()


# label selectors --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "labels", "want"),
    [
        (None, {"a": "1"}, False),
        ({}, {}, True),
        ({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"}, True),
        ({"matchLabels": {"a": "1"}}, {"a": "2"}, False),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]}, {"a": "2"}, True),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1"]}]}, {}, False),
        ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {}, True),
        ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {"a": "1"}, False),
        ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {"a": ""}, True),
        ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {"a": ""}, False),
        ({"matchLabels": {"a": "1"}, "matchExpressions": [{"key": "b", "operator": "Exists"}]}, {"a": "1"}, False),
    ],
)
def test_selector_matches(selector, labels, want):
    assert selector_matches(selector, labels) is want


def test_selector_unknown_operator_names_where():
    with pytest.raises(ValueError, match="Gateway infra/gw listener x: unknown matchExpressions operator 'Near'"):
        selector_matches({"matchExpressions": [{"key": "a", "operator": "Near"}]}, {}, "Gateway infra/gw listener x")


# report API -------------------------------------------------------------------------------------------------------


def corpus_objects(name: str) -> list[dict[str, Any]]:
    return load(next(p for p in CASES if p.stem.startswith(name)))["objects"]


def test_to_json_is_stable_and_serialisable():
    objects = corpus_objects("25-")
    first = analyze_gateways(objects).to_json()
    second = analyze_gateways(list(reversed(objects))).to_json()
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)
    assert first["attachments"][0] == {
        "route_kind": "HTTPRoute",
        "route_ns": "tenant-x",
        "route": "hijack",
        "parent_index": 0,
        "gateway_ns": "infra",
        "gateway": "shared",
        "listener": "public",
        "hostnames": ["payments.casework.example.gov"],
        "accepted": True,
        "reason": "Accepted",
    }
    public = first["exposure"][0]["listeners"][0]
    assert (public["listener"], public["from"], public["any_namespace"]) == ("public", "All", True)
    assert first["route_status"][0]["accepted"]["message"] == "attached to listener(s) public"


def test_rejection_messages_name_the_listener_and_cause():
    report = analyze_gateways(corpus_objects("15-"))
    assert report.route_status[0].accepted.message == (
        "l-same: namespace apps not allowed (Same); l-all: no route hostname matches b.example.com"
    )
    refs = analyze_gateways(corpus_objects("18-"))
    mixed = next(s for s in refs.route_status if s.route == "mixed")
    assert mixed.resolved_refs.message == (
        "backendRef Service infra/nope: not found; backendRef ConfigMap infra/x: unsupported kind /ConfigMap; "
        "backendRef Service backend/api: no ReferenceGrant in backend allows HTTPRoute infra/mixed"
    )


def test_exposure_of_unknown_gateway_raises():
    report = analyze_gateways(corpus_objects("01-"))
    with pytest.raises(KeyError, match="Gateway infra/other is not in the inventory"):
        report.exposure("infra", "other")


def test_existence_not_checked_for_kinds_not_collected():
    objects = [o for o in corpus_objects("18-") if o["kind"] != "Service"]
    report = analyze_gateways(objects)
    missing = next(s for s in report.route_status if s.route == "missing")
    assert missing.resolved_refs.reason == "ResolvedRefs"
    checked = analyze_gateways(objects, collected_kinds=["Service"])
    missing = next(s for s in checked.route_status if s.route == "missing")
    assert missing.resolved_refs.reason == "BackendNotFound"


GATEWAY = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "metadata": {"name": "gw"}}
HTTP = {"name": "a", "port": 80, "protocol": "HTTP"}
# A well-formed Gateway and route in another namespace: analysed whatever else is malformed.
HEALTHY = [
    GATEWAY | {"metadata": {"name": "ok", "namespace": "ok"}, "spec": {"listeners": [HTTP]}},
    {"kind": "HTTPRoute", "metadata": {"name": "r", "namespace": "ok"}, "spec": {"parentRefs": [{"name": "ok"}]}},
]


@pytest.mark.parametrize(
    ("objects", "who", "message"),
    [
        (["not a dict"], (None, None, None), r"object #\d+: not a mapping"),
        ([{"kind": "Gateway", "metadata": {}}], (None, None, None), r"object #\d+: not a Kubernetes object"),
        ([GATEWAY | {"spec": {"listeners": "x"}}], ("Gateway", "default", "gw"), "spec.listeners is not a list"),
        ([GATEWAY | {"spec": []}], ("Gateway", "default", "gw"), "Gateway default/gw: spec is not a mapping"),
        (
            [GATEWAY | {"spec": {"listeners": [{"port": 80, "protocol": "HTTP"}, HTTP]}}],
            ("Gateway", "default", "gw"),
            r"Gateway default/gw listeners\[0\]: a listener needs name, port and protocol",
        ),
        (
            [GATEWAY | {"spec": {"listeners": [{"name": "a", "port": "http", "protocol": "HTTP"}]}}],
            ("Gateway", "default", "gw"),
            "listener a: port 'http' is not a number",
        ),
        (
            [GATEWAY | {"spec": {"listeners": [HTTP] * 2}}],
            ("Gateway", "default", "gw"),
            "listener name a is not unique",
        ),
        (
            [GATEWAY | {"spec": {"listeners": [HTTP | {"allowedRoutes": {"namespaces": {"from": "Any"}}}]}}],
            ("Gateway", "default", "gw"),
            "unknown allowedRoutes.namespaces.from 'Any'",
        ),
        (
            [GATEWAY | {"spec": {"listeners": [HTTP | {"tls": {"certificateRefs": ["x"]}}]}}],
            ("Gateway", "default", "gw"),
            r"tls.certificateRefs\[0\] is not a mapping",
        ),
        ([GATEWAY | {"spec": {"listeners": []}}] * 2, ("Gateway", "default", "gw"), "duplicate Gateway default/gw"),
        (
            [{"kind": "HTTPRoute", "metadata": {"name": "r", "namespace": "a"}, "spec": {}}] * 2,
            ("HTTPRoute", "a", "r"),
            "duplicate HTTPRoute a/r",
        ),
        (
            [{"kind": "HTTPRoute", "metadata": {"name": "r", "namespace": "a"}, "spec": {"parentRefs": [{}]}}],
            ("HTTPRoute", "a", "r"),
            "HTTPRoute a/r parentRef 0: no name",
        ),
        (
            [{"kind": "HTTPRoute", "metadata": {"name": "r", "namespace": "a"}, "spec": {"parentRefs": "gw"}}],
            ("HTTPRoute", "a", "r"),
            "HTTPRoute a/r: spec.parentRefs is not a list",
        ),
        (
            [
                GATEWAY | {"spec": {"listeners": [HTTP]}},
                {"kind": "HTTPRoute", "metadata": {"name": "r"}, "spec": {"parentRefs": [{"name": "gw", "port": "x"}]}},
            ],
            ("HTTPRoute", "default", "r"),
            "HTTPRoute default/r parentRef 0: port 'x' is not a number",
        ),
        (
            [
                GATEWAY | {"spec": {"listeners": [HTTP]}},
                {
                    "kind": "HTTPRoute",
                    "metadata": {"name": "r"},
                    "spec": {"parentRefs": [{"name": "gw"}], "rules": [[]]},
                },
            ],
            ("HTTPRoute", "default", "r"),
            "HTTPRoute default/r",
        ),
        (
            [{"kind": "ReferenceGrant", "metadata": {"name": "g", "namespace": "b"}, "spec": {"from": "x"}}],
            ("ReferenceGrant", "b", "g"),
            "ReferenceGrant b/g: spec.from is not a list",
        ),
    ],
)
def test_a_malformed_object_is_an_error_naming_it_and_the_rest_is_analysed(objects, who, message):
    report = analyze_gateways(HEALTHY + objects)
    assert [(e.kind, e.namespace, e.name) for e in report.errors] == [who]
    assert re.search(message, report.errors[0].error), report.errors[0].error
    ok = [a for a in report.attachments if a.route_ns == "ok"]
    assert [(a.listener, a.reason) for a in ok] == [("a", "Accepted")]
    assert report.to_json()["errors"][0]["error"] == report.errors[0].error


def test_a_malformed_listener_leaves_the_gateways_other_listeners():
    gateway = GATEWAY | {"spec": {"listeners": [{"name": "bad", "port": 80}, HTTP]}}
    route = {"kind": "HTTPRoute", "metadata": {"name": "r"}, "spec": {"parentRefs": [{"name": "gw"}]}}
    report = analyze_gateways([gateway, route])
    assert [(s.listener, s.attached_routes) for s in report.listener_status] == [("a", 1)]
    assert len(report.errors) == 1 and "listeners[0]" in report.errors[0].error


# cost -------------------------------------------------------------------------------------------------------------


def _benchmark_module():
    path = Path(__file__).parents[1] / "benchmarks" / "gateway_attachment.py"
    spec = importlib.util.spec_from_file_location("gateway_attachment_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_attachment_cost_is_near_linear():
    """Four times the routes and listeners (and rows) cost at most 2.5 x 2.5 times the CPU time (2x input, at most
    ~2.5x time): no all-pairs step over listeners, attachments, namespaces or routes on a listener (an all-pairs
    step costs 16 times). Best of three interleaved runs each, without the garbage collector's pauses."""
    bench = _benchmark_module()
    small, large = bench.synthetic_inventory(500, 100), bench.synthetic_inventory(2000, 400)

    def cpu(objects: list[dict]) -> float:
        gc.disable()
        try:
            started = time.process_time()
            report = analyze_gateways(objects)
            return time.process_time() - started
        finally:
            gc.enable()
            assert report.conflicts and not report.errors

    times = [(cpu(small), cpu(large)) for _ in range(3)]
    best_small, best_large = min(t for t, _ in times), min(t for _, t in times)
    assert best_large / best_small <= 2.5 * 2.5, f"{best_small:.3f}s -> {best_large:.3f}s"
