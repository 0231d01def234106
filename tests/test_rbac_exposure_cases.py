"""The spec-first RBAC exposure corpus (tests/data/rbac-exposure/, README.md there): who can create or change each
exposure resource, where, and through which binding, role and rule, as ``collector.analysis.rbac`` computes it."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

CASES = Path(__file__).parent / "data" / "rbac-exposure"
CASE_FILES = sorted(CASES.glob("*.yaml"))
CASE_KEYS = {"description", "reference", "objects", "expect", "unresolved", "holders"}
ENTRY_KEYS = {"subject", "resources", "namespace", "verbs", "indirect", "names", "path"}
INDIRECT = {"rbac-write", "escalate", "bind", "impersonate", "serviceaccount", "webhook", "certificate", "gitops"}
ROUTES = ("httproutes", "grpcroutes", "tlsroutes", "tcproutes", "udproutes")
GATEWAY_API = [f"{r}.gateway.networking.k8s.io" for r in ("gateways", *ROUTES, "referencegrants", "listenersets")]
ALL = [*GATEWAY_API, "xlistenersets.gateway.networking.x-k8s.io", "ingresses.networking.k8s.io",
       "ingresses.extensions", "services", "gateways.networking.istio.io", "virtualservices.networking.istio.io",
       "envoyfilters.networking.istio.io"]  # fmt: skip
WRITE = ("create", "patch", "update")

Key = tuple[str, str, str, str | None]  # subject, resource, namespace, indirect reason


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def resources(value: str | list[str]) -> list[str]:
    return {"all": ALL, "gateway-api": GATEWAY_API}[value] if isinstance(value, str) else value


def expected(entries: list[dict[str, Any]]) -> dict[Key, tuple[tuple[str, ...], tuple[str, ...]]]:
    out: dict[Key, tuple[tuple[str, ...], tuple[str, ...]]] = {}
    for e in entries:
        for resource in resources(e["resources"]):
            key = (e.get("subject", ""), resource, e["namespace"], e.get("indirect"))
            assert key not in out, f"duplicate expectation {key}"
            out[key] = (tuple(sorted(e["verbs"])), tuple(sorted(e.get("names") or ())))
    return out


def aggregate(rights: list[Any]) -> dict[Key, tuple[tuple[str, ...], tuple[str, ...]]]:
    """Rights per subject, resource, namespace and reason: the union of their verbs, and of their names unless one
    path is not limited by name."""
    verbs: dict[Key, set[str]] = defaultdict(set)
    names: dict[Key, set[str] | None] = {}
    for r in rights:
        key = (r.subject, r.resource_id, r.namespace, r.indirect)
        verbs[key] |= set(r.verbs)
        limited = names.get(key, set())
        names[key] = None if limited is None or not r.resource_names else limited | set(r.resource_names)
    return {k: (tuple(sorted(v)), tuple(sorted(names[k] or ()))) for k, v in verbs.items()}


def test_corpus_size_and_shape() -> None:
    assert len(CASE_FILES) >= 30
    for path in CASE_FILES:
        case = load(path)
        assert set(case) <= CASE_KEYS and {"description", "reference", "objects", "expect"} <= set(case), path
        for e in case["expect"]:
            assert set(e) <= ENTRY_KEYS and e.get("indirect", "rbac-write") in INDIRECT, (path, e)
            assert set(e["verbs"]) <= set(WRITE) and set(resources(e["resources"])) <= set(ALL), (path, e)
        expected(case["expect"])


@pytest.fixture(scope="module")
def rbac() -> Any:
    return pytest.importorskip("collector.analysis.rbac")


@pytest.mark.parametrize("path", CASE_FILES, ids=[p.stem for p in CASE_FILES])
def test_case(rbac: Any, path: Path) -> None:
    case = load(path)
    report = rbac.analyze_rbac(case["objects"])
    masters = [r for r in report.rights if r.subject == "Group:system:masters"]
    assert aggregate(masters) == {("Group:system:masters", res, "*", None): (WRITE, ()) for res in ALL}
    others = [r for r in report.rights if r.subject != "Group:system:masters"]
    assert aggregate(others) == expected(case["expect"])
    for e in case["expect"]:
        if "path" in e:
            path_of = {"binding": e["path"]["binding"], "role": e["path"]["role"],
                       "rule_role": e["path"]["rule_role"], "rule": e["path"]["rule"]}  # fmt: skip
            held = [r for r in others if r.subject == e["subject"] and r.resource_id in resources(e["resources"])]
            assert any(
                {"binding": r.binding, "role": r.role, "rule_role": r.rule_role, "rule": r.rule} == path_of
                for r in held
            ), (path_of, held)
    assert sorted(report.unresolved_bindings()) == sorted(case.get("unresolved", []))
    for subject, entries in (case.get("holders") or {}).items():
        kind, _, name = subject.partition(":")  # what the subject holds itself and through its groups, as its own
        namespace, _, name = name.rpartition("/") if kind == "ServiceAccount" else (None, "", name)
        held = [replace(r, subject_kind=kind, subject_name=name, subject_namespace=namespace)
                for r in rbac.rights_of(report, subject) if r.indirect is None]  # fmt: skip
        assert aggregate(held) == expected([{**e, "subject": subject} for e in entries])


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"kind": "Role", "metadata": {"name": "r", "namespace": "a"}, "rules": [{"verbs": "create"}]},
         "Role a/r: rules[0]: verbs must be a list of strings"),
        ({"kind": "ClusterRole", "metadata": {"name": "c"}, "aggregationRule": {"clusterRoleSelectors": [
            {"matchExpressions": [{"key": "k", "operator": "Gt"}]}]}}, "ClusterRole c: aggregationRule"),
        ({"kind": "RoleBinding", "metadata": {"name": "b", "namespace": "a"}, "roleRef": "admin"},
         "RoleBinding a/b: roleRef must name a role"),
        ({"kind": "ClusterRoleBinding", "metadata": {"name": "b"}, "roleRef": {"kind": "ClusterRole", "name": "x"},
          "subjects": [{"kind": "User"}]}, "ClusterRoleBinding b: subjects"),
    ],
)  # fmt: skip
def test_malformed_object_is_named(rbac: Any, obj: dict[str, Any], message: str) -> None:
    objects = [obj, {"kind": "ClusterRole", "metadata": {"name": "x"}}]
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        rbac.analyze_rbac(objects)


def test_a_redacted_label_value_may_be_aggregated(rbac: Any) -> None:
    """The collector redacts the value of a label whose key looks like a credential's (``x/secret``): whatever the
    value was, a selector on that key may have matched it, so the role is aggregated."""
    aggregate = {
        "kind": "ClusterRole",
        "metadata": {"name": "agg"},
        "aggregationRule": {
            "clusterRoleSelectors": [
                {"matchExpressions": [{"key": "example.com/secret", "operator": "In", "values": ["gw"]}]}
            ]
        },
    }
    source = {
        "kind": "ClusterRole",
        "metadata": {"name": "src", "labels": {"example.com/secret": "[redacted]"}},
        "rules": [{"apiGroups": [""], "resources": ["services"], "verbs": ["create"]}],
    }
    binding = {
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "b"},
        "roleRef": {"kind": "ClusterRole", "name": "agg"},
        "subjects": [{"kind": "User", "name": "u"}],
    }
    rights = rbac.analyze_rbac([aggregate, source, binding]).rights
    assert [(r.subject, r.resource, r.rule_role) for r in rights if r.subject == "User:u"] == [
        ("User:u", "services", "ClusterRole src")
    ]
