"""Offline Kubernetes inventory: multi-document YAML, kubectl List dumps, malformed input, redaction."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from helpers import collect_manifests, write

from collector.runner import run_source
from collector.store import Store
from sources.kubernetes.source import KINDS, KubernetesSource

GATEWAY_AND_ROUTE = """
    # comment before the first document
    apiVersion: gateway.networking.k8s.io/v1
    kind: Gateway
    metadata: {name: edge, namespace: infra}
    spec:
      gatewayClassName: istio
      listeners: [{name: https, port: 443, protocol: HTTPS}]
    ---
    ---
    apiVersion: gateway.networking.k8s.io/v1
    kind: HTTPRoute
    metadata: {name: shop, namespace: shop, labels: {app: shop}}
    spec: {parentRefs: [{name: edge, namespace: infra}]}
    ---
    apiVersion: v1
    kind: ServiceAccount
    metadata: {name: ignored, namespace: shop}
"""


WEB_WITH_A_LIST = """
    apiVersion: v1
    kind: Namespace
    metadata: {name: web}
    ---
    apiVersion: v1
    kind: List
    items:
    - apiVersion: v1
      kind: ServiceAccount
      metadata: {name: ignored, namespace: web}
    - apiVersion: v1
      kind: Service
      metadata: {name: web, namespace: web}
"""


def objects(store: Store) -> list[tuple]:
    return store.con.execute(
        "SELECT cluster, kind, namespace, name, location FROM k8s_objects ORDER BY kind, name"
    ).fetchall()


def test_multi_document_yaml_and_list_dump(store: Store, tmp_path: Path) -> None:
    manifests = tmp_path / "manifests"
    write(manifests / "gw.yaml", GATEWAY_AND_ROUTE)
    dump = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}},
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "shop", "namespace": "shop"}},
        ],
    }
    (manifests / "sub").mkdir()
    (manifests / "sub" / "dump.json").write_text(json.dumps(dump))
    (manifests / "README.md").write_text("not a manifest")
    write(manifests / "web.yaml", WEB_WITH_A_LIST)
    result = collect_manifests(store, manifests, cluster="prod")
    assert result.status == "succeeded", result.error
    assert objects(store) == [
        ("prod", "Gateway", "infra", "edge", "manifests:gw.yaml#1 (line 2)"),
        ("prod", "HTTPRoute", "shop", "shop", "manifests:gw.yaml#3 (line 10)"),
        ("prod", "Namespace", None, "shop", "manifests:sub/dump.json#1 (line 1) items[0]"),
        ("prod", "Namespace", None, "web", "manifests:web.yaml#1 (line 1)"),
        ("prod", "Service", "shop", "shop", "manifests:sub/dump.json#1 (line 1) items[1]"),
        # a YAML List's item: its own line too, where code-scanning views point (issue 21)
        ("prod", "Service", "web", "web", "manifests:web.yaml#2 (line 5) items[1] (line 11)"),
    ]
    labels = store.con.execute("SELECT labels->>'app' FROM k8s_objects WHERE kind = 'HTTPRoute'").fetchone()
    assert labels == ("shop",)
    inventory = dict(
        store.con.execute("SELECT kind, object_count FROM k8s_inventory WHERE status = 'collected'").fetchall()
    )
    assert inventory["Gateway"] == 1 and inventory["NetworkPolicy"] == 0 and len(inventory) == len(KINDS)


ISTIO_AND_KNATIVE = """
    apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {name: classic, namespace: istio-system}
    spec: {selector: {istio: ingressgateway}, servers: [{port: {number: 443, protocol: HTTPS}, hosts: ["*"]}]}
    ---
    apiVersion: serving.knative.dev/v1
    kind: Service
    metadata: {name: hello, namespace: shop}
"""


def test_kinds_are_matched_by_api_group(store: Store, tmp_path: Path) -> None:
    # An Istio Gateway is not a Gateway API Gateway: it is kept under its qualified kind, never misfiled; a Knative
    # Service (a kind of that name in a group not collected) is skipped and counted, not stored as a core Service.
    manifests = tmp_path / "manifests"
    write(manifests / "gw.yaml", GATEWAY_AND_ROUTE)
    write(manifests / "istio.yaml", ISTIO_AND_KNATIVE)
    result = collect_manifests(store, manifests, cluster="prod")
    assert result.status == "succeeded", result.error
    rows = store.con.execute("SELECT kind, api_version, name FROM k8s_objects ORDER BY kind, name").fetchall()
    assert rows == [
        ("Gateway", "gateway.networking.k8s.io/v1", "edge"),
        ("Gateway.networking.istio.io", "networking.istio.io/v1", "classic"),
        ("HTTPRoute", "gateway.networking.k8s.io/v1", "shop"),
    ]
    inventory = dict(store.con.execute("SELECT kind, object_count FROM k8s_inventory").fetchall())
    assert inventory["Gateway"] == 1 and inventory["Gateway.networking.istio.io"] == 1 and inventory["Service"] == 0
    assert result.notes == [
        "skipped 1 object(s) of a collected kind's name in another API group: Service (serving.knative.dev/v1)",
        "skipped 1 object(s) of kinds not collected: ServiceAccount",
    ]


def test_kinds_can_be_restricted(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "gw.yaml", GATEWAY_AND_ROUTE)
    run_source(store, KubernetesSource(), {"paths": [str(path)], "kinds": ["HTTPRoute"]})
    assert [r[1] for r in objects(store)] == ["HTTPRoute"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\nkind: Service\n  bad: [\n",
            r"bad\.yaml: document 2, line 6: invalid YAML",
        ),
        ("apiVersion: v1\nkind: Service\nmetadata: {namespace: x}\n", r"bad\.yaml#1 \(line 1\): not a Kubernetes"),
        ('{"kind": "List", "apiVersion": "v1", "items": [{"kind": "Service"}]}', r"bad\.yaml#1 \(line 1\) items\[0\]"),
        (
            "apiVersion: v1\nkind: Secret\nmetadata: {name: a}\ndata: {k: dmFsdWU=}\nkind: ConfigMap\n",
            r"bad\.yaml: document 1, line 5: invalid YAML: the key 'kind' is repeated",
        ),
        (
            '{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "a"}, "kind": "ConfigMap"}',
            r"bad\.yaml: invalid JSON: the key 'kind' is repeated",
        ),
        (
            '{"kind": "SecretList", "apiVersion": "v1", "items": [{"kind": "ConfigMap", "metadata": {"name": "x"}}]}',
            r"bad\.yaml#1 \(line 1\) items\[0\]: kind 'ConfigMap' in a SecretList",
        ),
    ],
)
def test_malformed_manifest_names_file_and_document(store: Store, tmp_path: Path, content: str, message: str) -> None:
    good = write(tmp_path / "a" / "good.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: kept}\n")
    assert collect_manifests(store, good).status == "succeeded"
    bad = tmp_path / "b" / "bad.yaml"
    bad.parent.mkdir()
    bad.write_text(content)
    result = collect_manifests(store, bad)
    assert result.status == "failed"
    assert result.error is not None
    assert re.search(message, result.error), result.error
    assert [r[3] for r in objects(store)] == ["kept"]


def test_missing_path_and_non_utf8_are_clear_errors(store: Store, tmp_path: Path) -> None:
    result = collect_manifests(store, tmp_path / "nope")
    assert result.status == "failed" and "does not exist" in (result.error or "")
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"kind: \xff\xfe\n")
    result = collect_manifests(store, binary)
    assert result.status == "failed" and "bin.yaml: not UTF-8" in (result.error or "")


def test_secret_payloads_and_private_keys_are_redacted_from_artifacts(store: Store, tmp_path: Path) -> None:
    path = write(
        tmp_path / "secret.yaml",
        """
        apiVersion: v1
        kind: Secret
        metadata:
          name: tls
          namespace: shop
          annotations:
            kubectl.kubernetes.io/last-applied-configuration: '{"data":{"tls.key":"c2VjcmV0LWJ5dGVz"}}'
        type: kubernetes.io/tls
        data: {tls.crt: Y2VydA==, tls.key: c2VjcmV0LWJ5dGVz}
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: leaky
          namespace: shop
          annotations:
            note: |
              -----BEGIN PRIVATE KEY-----
              MC4CAQAwBQYDK2VwBCIEIGZha2Uga2V5IG1hdGVyaWFsIGZvciB0ZXN0cw==
              -----END PRIVATE KEY-----
        """,
    )
    assert collect_manifests(store, path).status == "succeeded"
    sha, origin_sha = store.con.execute(
        "SELECT sha256, origin_sha256 FROM artifacts WHERE origin = ?", [f"{tmp_path.name}:secret.yaml"]
    ).fetchone()
    stored = store.artifact_path(sha).read_text()
    assert origin_sha is not None and origin_sha != sha
    assert "c2VjcmV0LWJ5dGVz" not in stored and "PRIVATE KEY-----" not in stored
    assert '"tls.key": "[redacted]"' in stored  # key names stay as evidence of what the Secret holds
    note = store.con.execute("SELECT annotations->>'note' FROM k8s_objects WHERE name = 'leaky'").fetchone()
    assert note == ("[redacted private key]\n",)


def test_container_settings_stay_out_of_store_and_artifacts(store: Store, tmp_path: Path) -> None:
    write(
        tmp_path / "app.yaml",
        """
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: api
          namespace: shop
          ownerReferences: [{apiVersion: v1, kind: Thing, name: owner, uid: u1, controller: true}]
        spec:
          template:
            metadata: {labels: {app: api}}
            spec:
              containers:
                - name: api
                  image: shop/api:1.2
                  ports: [{name: http, containerPort: 8080}]
                  env: [{name: DB_PASSWORD, value: hunter2-not-a-real-password}]
                  args: ["--token=tok-1234567890"]
        """,
    )
    assert collect_manifests(store, tmp_path / "app.yaml").status == "succeeded"
    spec, owners = store.con.execute(
        "SELECT spec, owner_references FROM k8s_objects WHERE kind = 'Deployment'"
    ).fetchone()
    container = json.loads(spec)["template"]["spec"]["containers"][0]
    assert container == {"name": "api", "image": "shop/api:1.2", "ports": [{"name": "http", "containerPort": 8080}]}
    assert json.loads(owners)[0]["name"] == "owner"
    store.con.execute("CHECKPOINT")
    kept = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "app.yaml"]  # the store, its WAL, artifacts
    assert len(kept) >= 3
    for path in kept:
        assert b"hunter2" not in path.read_bytes() and b"tok-1234567890" not in path.read_bytes(), path
