"""RBAC objects collected offline and live, and the analysis source's exposure rights (rbac_exposure_rights)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from helpers import cli, collect_manifests, table_rows, write
from kube_api import FakeKubeAPI

from collector.analysis.rbac import EXPOSURE
from collector.runner import run_source
from collector.store import Store
from sources.analysis.source import AnalysisSource
from sources.kubernetes.source import KubernetesSource

RBAC_API = "/apis/rbac.authorization.k8s.io/v1"
MANIFESTS = """
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: route-editor, labels: {rbac.authorization.k8s.io/aggregate-to-edit: "true"}}
rules:
  - {apiGroups: [gateway.networking.k8s.io], resources: [httproutes], verbs: [create, update]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: edit}
aggregationRule:
  clusterRoleSelectors: [{matchLabels: {rbac.authorization.k8s.io/aggregate-to-edit: "true"}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: shop-editors, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects: [{kind: Group, apiGroup: rbac.authorization.k8s.io, name: shop-devs}, {kind: ServiceAccount, name: ci}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: dangling}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: gone}
subjects: [{kind: User, apiGroup: rbac.authorization.k8s.io, name: zoe}]
"""
RIGHT_COLUMNS = ("subject", "resource", "namespace", "verbs", "binding", "role", "rule_role", "rule_index", "indirect")
EXPECTED = [
    {"subject": "Group:shop-devs", "resource": "httproutes", "namespace": "shop", "verbs": ["create", "update"],
     "binding": "RoleBinding shop/shop-editors", "role": "ClusterRole edit", "rule_role": "ClusterRole route-editor",
     "rule_index": 0, "indirect": None},
    {"subject": "ServiceAccount:shop/ci", "resource": "httproutes", "namespace": "shop", "verbs": ["create", "update"],
     "binding": "RoleBinding shop/shop-editors", "role": "ClusterRole edit", "rule_role": "ClusterRole route-editor",
     "rule_index": 0, "indirect": None},
]  # fmt: skip


def rights(store: Store) -> list[dict[str, Any]]:
    where = "subject <> 'Group:system:masters'"
    return table_rows(store, where, table="rbac_exposure_rights", columns=RIGHT_COLUMNS, order="subject")


def test_offline_rbac_objects_are_stored_and_analysed(store: Store, tmp_path: Path) -> None:
    assert collect_manifests(store, write(tmp_path / "rbac.yaml", MANIFESTS)).status == "succeeded"
    stored = store.con.execute(
        "SELECT kind, namespace, name, spec->>'$.roleRef.name' FROM k8s_objects ORDER BY kind, name"
    ).fetchall()
    assert stored == [
        ("ClusterRole", None, "edit", None),
        ("ClusterRole", None, "route-editor", None),
        ("ClusterRoleBinding", None, "dangling", "gone"),
        ("RoleBinding", "shop", "shop-editors", "edit"),
    ]
    run = run_source(store, AnalysisSource(), {})
    assert run.status == "succeeded", run.error
    assert rights(store) == EXPECTED
    masters = store.con.execute(
        "SELECT count(*), count(DISTINCT resource || api_group) FROM rbac_exposure_rights "
        "WHERE subject = 'Group:system:masters' AND namespace = '*' AND binding IS NULL"
    ).fetchone()
    assert masters == (len(EXPOSURE), len(EXPOSURE))
    unresolved = store.con.execute("SELECT binding, role_ref, reason FROM rbac_unresolved_bindings").fetchall()
    assert unresolved == [("ClusterRoleBinding dangling", "ClusterRole gone", "ClusterRole gone does not exist")]
    provenance = store.con.execute(
        "SELECT DISTINCT r.source, r.run_id, a.origin FROM rbac_exposure_rights r "
        "JOIN artifacts a ON a.sha256 = r.artifact_sha256"
    ).fetchall()
    assert provenance == [("analysis", run.run_id, "analysis of cluster test")]
    inputs = dict(store.con.execute("SELECT kind, objects FROM analysis_inputs WHERE kind LIKE '%Role%'").fetchall())
    assert inputs == {"Role": 0, "ClusterRole": 2, "RoleBinding": 1, "ClusterRoleBinding": 1}


def test_malformed_rbac_object_is_left_out_and_named(store: Store, tmp_path: Path) -> None:
    bad = """
    ---
    apiVersion: rbac.authorization.k8s.io/v1
    kind: Role
    metadata: {name: broken, namespace: shop}
    rules: [{apiGroups: [""], resources: services, verbs: [create]}]
    """
    collect_manifests(store, write(tmp_path / "rbac.yaml", MANIFESTS + bad.replace("\n    ", "\n")))
    run = run_source(store, AnalysisSource(), {})
    assert run.status == "partial"
    errors = store.con.execute("SELECT analysis, kind, namespace, name, error FROM analysis_errors").fetchall()
    assert errors == [("rbac", "Role", "shop", "broken", "Role shop/broken: rules[0]: resources must be a list of "
                       "strings, got 'services'")]  # fmt: skip
    assert rights(store) == EXPECTED  # the rest is analysed


def test_live_rbac_listing(store: Store, tmp_path: Path) -> None:
    objects = {
        f"{RBAC_API}/clusterroles": [
            {"metadata": {"name": "svc"}, "rules": [{"apiGroups": [""], "resources": ["services"], "verbs": ["*"]}]}
        ],
        f"{RBAC_API}/clusterrolebindings": [
            {"metadata": {"name": "svc"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
             "name": "svc"}, "subjects": [{"kind": "User", "name": "system:serviceaccount:ci:deployer"}]}
        ],
        f"{RBAC_API}/roles": [],
        f"{RBAC_API}/rolebindings": [],
    }  # fmt: skip
    with FakeKubeAPI(objects) as api:
        config = {"contexts": ["ctx"], "kubeconfig": str(api.kubeconfig(tmp_path / "kubeconfig"))}
        assert run_source(store, KubernetesSource(), config).status == "succeeded"
    inventory = store.con.execute(
        "SELECT kind, status, api_version, object_count FROM k8s_inventory WHERE kind LIKE '%Role%' ORDER BY kind"
    ).fetchall()
    assert inventory == [(k, "collected", "rbac.authorization.k8s.io/v1", n) for k, n in
                         (("ClusterRole", 1), ("ClusterRoleBinding", 1), ("Role", 0), ("RoleBinding", 0))]  # fmt: skip
    assert run_source(store, AnalysisSource(), {}).status == "succeeded"
    assert table_rows(store, "subject_kind = 'ServiceAccount'", table="rbac_exposure_rights",
                      columns=("subject", "resource", "namespace", "verbs"), order="subject") == [
        {"subject": "ServiceAccount:ci/deployer", "resource": "services", "namespace": "*",
         "verbs": ["create", "patch", "update"]}
    ]  # fmt: skip


def test_who_can_expose_command(tmp_path: Path) -> None:
    with Store.open(tmp_path / "e.duckdb") as store:
        collect_manifests(store, write(tmp_path / "rbac.yaml", MANIFESTS))
    store_arg = ("--store", str(tmp_path / "e.duckdb"))
    result = cli("who-can-expose", "--namespace", "shop", *store_arg)
    assert result.exit_code == 0, result.output
    via = "via RoleBinding shop/shop-editors -> ClusterRole edit (rule 0 of ClusterRole route-editor)"
    lines = result.stdout.splitlines()
    assert [line for line in lines if not line.startswith("Group:system:masters ")] == [
        f"Group:shop-devs can create, update httproutes.gateway.networking.k8s.io in shop {via}",
        f"ServiceAccount:shop/ci can create, update httproutes.gateway.networking.k8s.io in shop {via}",
    ]
    [masters] = [line for line in lines if line.startswith("Group:system:masters ")]
    assert masters.startswith("Group:system:masters can create, patch, update services, ")
    assert masters.endswith(" in every namespace (superuser group)")
    assert result.stderr == "grants nothing: ClusterRoleBinding dangling (ClusterRole gone does not exist)\n"
    assert cli("who-can-expose", "--namespace", "other", *store_arg).stdout.count("\n") == 1  # the superuser group
    doc = json.loads(cli("who-can-expose", "--format", "json", *store_arg).stdout)
    assert {r["subject"] for r in doc["rights"]} == {
        "Group:system:masters",
        "Group:shop-devs",
        "ServiceAccount:shop/ci",
    }
    with Store.open(tmp_path / "n.duckdb") as store:
        collect_manifests(store, write(tmp_path / "ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n"))
        run_source(
            store, KubernetesSource(), {"paths": [str(tmp_path / "ns.yaml")], "cluster": "x", "kinds": ["Namespace"]}
        )
    result = cli("who-can-expose", "--cluster", "x", "--store", str(tmp_path / "n.duckdb"))
    assert result.exit_code == 2 and "Role, ClusterRole, RoleBinding, ClusterRoleBinding not listed" in result.output
