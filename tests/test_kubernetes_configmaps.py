"""Egress allowlist ConfigMaps: collected offline and live (by label selector only), data kept, stores upgraded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from helpers import named, write
from kube_api import FakeKubeAPI

from collector.runner import run_source
from collector.store import Store
from sources.kubernetes.source import MIGRATIONS, KubernetesSource

CONFIGMAPS = "/api/v1/configmaps"
SELECTOR = "defensible.io/egress-allowlist=true"

MANIFESTS = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: egress-allowlist
  namespace: platform
  labels: {defensible.io/egress-allowlist: "true", team: platform}
data:
  hosts: |
    api.payments.example.net
    *.login.example.gov
  cidrs: "10.0.0.0/8"
---
apiVersion: v1
kind: ConfigMap
metadata: {name: app-settings, namespace: shop}
data: {password: hunter2}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: not-enabled
  namespace: shop
  labels: {defensible.io/egress-allowlist: "false"}
data: {hosts: "*"}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop}
"""


def query(store: Store, sql: str) -> list[tuple]:
    return store.con.execute(sql).fetchall()


def configmaps(store: Store) -> list[tuple]:
    return [
        (cluster, namespace, name, json.loads(data), location)
        for cluster, namespace, name, data, location in query(
            store,
            "SELECT cluster, namespace, name, data, location FROM k8s_current WHERE kind = 'ConfigMap' ORDER BY name",
        )
    ]


def test_offline_collects_only_labelled_configmaps_with_their_data(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "cm.yaml", MANIFESTS)
    config = {"paths": [str(path)], "cluster": "prod", "egress_allowlists": True}
    result = run_source(store, KubernetesSource(), config)

    assert result.status == "succeeded", result.error
    assert configmaps(store) == [
        (
            "prod",
            "platform",
            "egress-allowlist",
            {"hosts": "api.payments.example.net\n*.login.example.gov\n", "cidrs": "10.0.0.0/8"},
            f"{named(path)}#1 (line 1)",
        )
    ]
    assert query(store, "SELECT status, object_count FROM k8s_inventory WHERE kind = 'ConfigMap'") == [("collected", 1)]
    assert query(store, "SELECT data FROM k8s_objects WHERE kind = 'Namespace'") == [(None,)]


def test_offline_ignores_configmaps_unless_enabled(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "cm.yaml", MANIFESTS)
    assert run_source(store, KubernetesSource(), {"paths": [str(path)]}).status == "succeeded"
    assert query(store, "SELECT count(*) FROM k8s_objects WHERE kind = 'ConfigMap'") == [(0,)]
    assert query(store, "SELECT count(*) FROM k8s_inventory WHERE kind = 'ConfigMap'") == [(0,)]


def allowlist(name: str) -> dict[str, Any]:
    # The server applies the label selector; the fake serves what a real server would return for it.
    return {
        "metadata": {"name": name, "namespace": "platform", "labels": {"defensible.io/egress-allowlist": "true"}},
        "data": {"hosts": f"{name}.example.com"},
    }


def test_live_lists_configmaps_only_by_label_selector(store: Store, tmp_path: Path) -> None:
    with FakeKubeAPI({CONFIGMAPS: [allowlist("a"), allowlist("b"), allowlist("c")]}) as api:
        kubeconfig = api.kubeconfig(tmp_path / "kubeconfig")
        config = {"contexts": ["ctx"], "kubeconfig": str(kubeconfig), "kinds": [], "page_size": 2}
        result = run_source(store, KubernetesSource(), {**config, "egress_allowlists": True})

    assert result.status == "succeeded", result.error
    requests = [r for r in api.requests if r.path == CONFIGMAPS]
    assert len(requests) == 2 and len(api.requests) == 2  # two pages, nothing else listed
    assert all(r.query.get("labelSelector") == SELECTOR for r in requests)
    url = f"{api.url}{CONFIGMAPS}?labelSelector={SELECTOR}"
    assert configmaps(store) == [
        ("ctx", "platform", name, {"hosts": f"{name}.example.com"}, url) for name in ("a", "b", "c")
    ]
    assert query(store, "SELECT api_version, object_count, location FROM k8s_inventory") == [("v1", 3, url)]
    origins = query(store, "SELECT origin FROM artifacts ORDER BY origin")
    assert origins[1:] == [(f"{url} page 1",), (f"{url} page 2",)]
    assert origins[0][0].startswith("Public Suffix List (publicsuffixlist ")  # judges wildcard entries


def test_live_forbidden_configmaps_are_not_collectible(store: Store, tmp_path: Path) -> None:
    with FakeKubeAPI({}, forbidden={CONFIGMAPS}) as api:
        config = {"contexts": ["ctx"], "kubeconfig": str(api.kubeconfig(tmp_path / "kubeconfig")), "kinds": []}
        result = run_source(store, KubernetesSource(), {**config, "egress_allowlists": True})

    assert result.status == "succeeded", result.error
    assert query(store, "SELECT kind, status, reason, http_status FROM k8s_inventory") == [
        ("ConfigMap", "not-collectible", "forbidden", 403)
    ]


def test_a_store_of_the_first_schema_upgrades(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    with Store.open(path) as old:
        old.migrate("kubernetes", MIGRATIONS[:1])
        old.con.execute(
            "INSERT INTO k8s_objects (cluster, api_version, kind, name, location, source, run_id, artifact_sha256, "
            "collected_at) VALUES ('old', 'v1', 'Namespace', 'legacy', 'x', 'kubernetes', 'r0', 'sha', now())"
        )
    with Store.open(path) as store:
        manifests = write(tmp_path / "cm.yaml", MANIFESTS)
        config = {"paths": [str(manifests)], "cluster": "prod", "egress_allowlists": True}
        result = run_source(store, KubernetesSource(), config)
        assert result.status == "succeeded", result.error
        assert store.schema_versions()["kubernetes"] == len(MIGRATIONS)
        assert query(store, "SELECT name, data FROM k8s_objects WHERE cluster = 'old'") == [("legacy", None)]
        assert [row[2] for row in configmaps(store)] == ["egress-allowlist"]
