"""The analysis source (reachability and Gateway API attachment of the current inventory) and the reach/routes CLI."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import cli, collect_manifests, table_rows, write

from collector.analysis.reachability.result import expand_json
from collector.inventory_objects import current_objects
from collector.runner import RunResult, run_source
from collector.store import Store
from sources.analysis.source import AnalysisSource

# shop/web (regulated) admits infra on its http port and may reach only the database range; infra/proxy has no
# policy. The route of shop to the public Gateway infra/edge names a Service in another namespace without a grant.
MANIFESTS = """
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {defensible.io/regulated: "true", gateway-access: public}}
---
apiVersion: v1
kind: Namespace
metadata: {name: infra}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: shop/web:1, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web-5d8f
  namespace: shop
  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: web, controller: true}]
spec:
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: shop/web:1, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: proxy
  namespace: infra
  labels: {app: proxy}
spec: {containers: [{name: proxy, image: envoy:1}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress, Egress]
  ingress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: infra}}}], ports: [{port: http}]}]
  egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8}}], ports: [{port: 5432}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge, namespace: infra}
spec:
  listeners:
    - name: https
      port: 443
      protocol: HTTPS
      hostname: shop.example.com
      tls: {certificateRefs: [{name: edge-tls}]}
      allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {gateway-access: public}}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: shop}
spec:
  parentRefs: [{name: edge, namespace: infra}]
  rules: [{backendRefs: [{name: payments, namespace: pay, port: 80}]}]
---
apiVersion: v1
kind: Service
metadata: {name: payments, namespace: pay}
spec: {selector: {app: payments}}
"""
LINES = [
    "0.0.0.0-255.255.255.255 => infra/proxy[Pod] : All Connections",
    "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff => infra/proxy[Pod] : All Connections",
    "infra/proxy[Pod] => 0.0.0.0-255.255.255.255 : All Connections",
    "infra/proxy[Pod] => ::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff : All Connections",
    "infra/proxy[Pod] => shop/web[Deployment] : TCP 8080",
    "shop/web[Deployment] => 10.0.0.0-10.255.255.255 : TCP 5432",
]
CLASS_COLUMNS = ("src_class", "dst_class", "external", "conn", "conn_json", "admitted_by")


def collect(store: Store, tmp_path: Path, text: str = MANIFESTS, cluster: str = "test") -> str:
    """Collect ``text`` as the inventory of ``cluster``; return the kubernetes run id."""
    result = collect_manifests(store, write(tmp_path / cluster / "m.yaml", text), cluster=cluster)
    assert result.status == "succeeded", result.error
    return result.run_id


def analyse(store: Store, **config: object) -> RunResult:
    return run_source(store, AnalysisSource(), config)


def test_rows_artifact_and_provenance(store: Store, tmp_path: Path) -> None:
    k8s_run = collect(store, tmp_path)
    result = analyse(store)
    assert result.status == "succeeded", result.error
    assert result.counts["reach_class_conns"] == 6 and result.counts["analysis_workloads"] == 2
    classes = dict(store.con.execute("SELECT namespace, reach_class FROM analysis_workloads").fetchall())
    rows = table_rows(store, table="reach_class_conns", columns=CLASS_COLUMNS, order="src_class, dst_class, external")
    web, proxy = classes["shop"], classes["infra"]
    assert [r for r in rows if r["src_class"] == web] == [
        {
            "src_class": web,
            "dst_class": None,
            "external": "10.0.0.0-10.255.255.255",
            "conn": "TCP 5432",
            "conn_json": '{"TCP":"5432"}',
            "admitted_by": "NetworkPolicy shop/web",  # what lets the class out
        }
    ]
    [into_web] = [r for r in rows if r["dst_class"] == web]
    assert into_web == {
        "src_class": proxy,
        "dst_class": web,
        "external": None,
        "conn": "TCP 8080",
        "conn_json": '{"TCP":"8080"}',
        "admitted_by": "NetworkPolicy shop/web",
    }
    # every row of every table cites this run and its one artifact, which holds the inputs and both results
    tables = ("reach_class_conns", "analysis_inputs", "analysis_workloads", "gateway_attachments", "gateway_exposure")
    for table in (*tables, "gateway_listener_status"):
        provenance = store.con.execute(f"SELECT DISTINCT source, run_id, artifact_sha256 FROM {table}").fetchall()
        assert [(p[0], p[1]) for p in provenance] == [("analysis", result.run_id)], table
    [sha] = {row[0] for row in store.con.execute("SELECT DISTINCT artifact_sha256 FROM reach_class_conns").fetchall()}
    document = json.loads(store.artifact_path(sha).read_bytes())
    assert document["cluster"] == "test" and expand_json(document["reachability"]) == LINES
    assert sorted(map(sorted, document["reachability"]["classes"])) == [["infra/proxy[Pod]"], ["shop/web[Deployment]"]]
    assert document["inputs"]["NetworkPolicy"] == {"run_id": k8s_run, "objects": 1}
    assert document["inputs"]["TCPRoute"] == {"run_id": k8s_run, "objects": 0}  # listed, none in the manifests
    assert document["inputs"]["Secret"] == {"run_id": None, "objects": 0}  # the kubernetes source does not list it
    assert [a["route"] for a in document["gateways"]["attachments"]] == ["web"]
    inputs = table_rows(store, "kind IN ('Pod', 'Secret')", table="analysis_inputs",
                        columns=("kind", "input_run_id", "objects"), order="kind")  # fmt: skip
    assert inputs == [
        {"kind": "Pod", "input_run_id": k8s_run, "objects": 1},
        {"kind": "Secret", "input_run_id": None, "objects": 0},
    ]
    workloads = table_rows(
        store, table="analysis_workloads", columns=("namespace", "name", "kind", "labels"), order="name"
    )
    assert workloads == [
        {"namespace": "infra", "name": "proxy", "kind": "Pod", "labels": '{"app":"proxy"}'},
        {"namespace": "shop", "name": "web", "kind": "Deployment", "labels": '{"app":"web"}'},
    ]


def test_gateway_tables(store: Store, tmp_path: Path) -> None:
    collect(store, tmp_path)
    assert analyse(store).status == "succeeded"
    columns = ("route_kind", "route_namespace", "route", "parent_index", "gateway_namespace", "gateway", "listener",
               "hostnames", "accepted", "reason", "resolved_refs", "resolved_refs_reason")  # fmt: skip
    assert table_rows(store, table="gateway_attachments", columns=columns, order="route") == [
        {
            "route_kind": "HTTPRoute",
            "route_namespace": "shop",
            "route": "web",
            "parent_index": 0,
            "gateway_namespace": "infra",
            "gateway": "edge",
            "listener": "https",
            "hostnames": ["shop.example.com"],
            "accepted": True,  # a reference that does not resolve does not prevent attachment (GEP-1364)
            "reason": "Accepted",
            "resolved_refs": False,
            "resolved_refs_reason": "RefNotPermitted",
        }
    ]
    columns = ("listener", "protocol", "port", "hostname", "attached_routes", "accepted", "conflicted", "resolved_refs")
    assert table_rows(store, table="gateway_listener_status", columns=columns, order="listener") == [
        {
            "listener": "https",
            "protocol": "HTTPS",
            "port": 443,
            "hostname": "shop.example.com",
            "attached_routes": 1,
            "accepted": True,
            "conflicted": False,
            "resolved_refs": True,  # the Secret kind is not collected: assumed to exist
        }
    ]
    columns = ("gateway_namespace", "gateway", "listener", "routes_from", "selector", "any_namespace",
               "namespaces")  # fmt: skip
    assert table_rows(store, table="gateway_exposure", columns=columns, order="listener") == [
        {
            "gateway_namespace": "infra",
            "gateway": "edge",
            "listener": "https",
            "routes_from": "Selector",
            "selector": '{"matchLabels":{"gateway-access":"public"}}',
            "any_namespace": False,
            "namespaces": ["shop"],
        }
    ]


def test_exposure_label_decides_nothing(store: Store, tmp_path: Path) -> None:
    """Whether a Gateway is public is the k8s-networking pack's decision from evidence (gateway_public): the
    analysis lists a labelled-internal Gateway's listeners like any other, with no label-only `public` column."""
    collect(store, tmp_path, MANIFESTS.replace("name: edge, namespace: infra}", "name: edge, namespace: infra, "
                                               "labels: {defensible.io/exposure: internal}}", 1))  # fmt: skip
    assert analyse(store).status == "succeeded"
    columns = [c for (c,) in store.con.execute("SELECT column_name FROM (DESCRIBE gateway_exposure)").fetchall()]
    assert "public" not in columns
    assert store.con.execute("SELECT gateway, listener FROM gateway_exposure").fetchall() == [("edge", "https")]


def test_clusters_config_and_errors(store: Store, tmp_path: Path) -> None:
    result = analyse(store)
    assert result.status == "failed" and "no Kubernetes inventory: run `defensible collect kubernetes`" in str(
        result.error
    )
    collect(store, tmp_path, cluster="a")
    collect(store, tmp_path, cluster="b")
    result = analyse(store, clusters=["b", "c"])
    assert (
        result.status == "failed" and result.error == "analysis: no Kubernetes inventory of cluster c (clusters: a, b)"
    )
    result = analyse(store, clusters=["b"])
    assert result.status == "succeeded"
    assert store.con.execute("SELECT DISTINCT cluster FROM reach_class_conns").fetchall() == [("b",)]
    assert analyse(store).counts["analysis_workloads"] == 4  # both clusters by default


def test_a_malformed_object_is_an_error_row_and_the_rest_is_analysed(store: Store, tmp_path: Path) -> None:
    bad = "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: bad, namespace: shop}\n"
    bad += "spec: {podSelector: {}, ingress: [{ports: [{port: 90, endPort: 80}]}]}\n"
    bad += "---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: odd, namespace: infra}\n"
    bad += "spec: {listeners: [{port: 80, protocol: HTTP}, {name: ok, port: 8080, protocol: HTTP}]}\n"
    collect(store, tmp_path, cluster="ok")
    collect(store, tmp_path, MANIFESTS + bad, cluster="broken")
    result = analyse(store)
    assert result.status == "partial"
    assert result.partial_reasons == ["cluster broken: 2 object(s) left out of the analysis (analysis_errors)"]
    errors = store.con.execute(
        "SELECT cluster, analysis, kind, namespace, name, error FROM analysis_errors ORDER BY analysis"
    ).fetchall()
    assert errors == [
        ("broken", "gateway", "Gateway", "infra", "odd",
         "Gateway infra/odd listeners[0]: a listener needs name, port and protocol: the listener is left out"),
        ("broken", "reachability", "NetworkPolicy", "shop", "bad",
         "NetworkPolicy shop/bad spec.ingress[0].ports[0]: invalid port range 90-80"),
    ]  # fmt: skip
    provenance = store.con.execute("SELECT DISTINCT run_id, artifact_sha256 IS NOT NULL FROM analysis_errors")
    assert provenance.fetchall() == [(result.run_id, True)]
    assert store.con.execute("SELECT DISTINCT cluster FROM analysis_inputs ORDER BY 1").fetchall() == [
        ("broken",), ("ok",)
    ]  # fmt: skip
    # the rest of each analysis: the other objects' reachability, the other Gateway and the well-formed listener
    shas = store.con.execute("SELECT DISTINCT artifact_sha256 FROM reach_class_conns WHERE cluster = 'broken'")
    [(sha,)] = shas.fetchall()
    assert expand_json(json.loads(store.artifact_path(sha).read_bytes())["reachability"]) == LINES
    listeners = store.con.execute(
        "SELECT gateway, listener FROM gateway_listener_status WHERE cluster = 'broken' ORDER BY 1, 2"
    ).fetchall()
    assert listeners == [("edge", "https"), ("odd", "ok")]


def test_objects_rebuilt_from_the_store_keep_what_the_analyses_read(store: Store, tmp_path: Path) -> None:
    collect(store, tmp_path)
    [replica_set] = [o for o in current_objects(store, "test") if o["kind"] == "ReplicaSet"]
    assert replica_set == {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": "web-5d8f",
            "namespace": "shop",
            "labels": {},
            "annotations": {},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "controller": True}],
        },
        "spec": {
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "shop/web:1", "ports": [
                    {"name": "http", "containerPort": 8080}]}]},
            }
        },
    }  # fmt: skip


# CLI ---------------------------------------------------------------------------------------------------------


def store_with(tmp_path: Path, *clusters: str) -> str:
    with Store.open(tmp_path / "e.duckdb") as st:
        for cluster in clusters:
            collect(st, tmp_path, cluster=cluster)
    return str(tmp_path / "e.duckdb")


def test_reach_to_and_from_without_an_analysis_run(tmp_path: Path) -> None:
    store = store_with(tmp_path, "test")
    result = cli("reach", "--to", "shop/web", "--store", store)
    assert result.exit_code == 0 and result.output == "infra/proxy[Pod] => shop/web[Deployment] : TCP 8080\n"
    result = cli("reach", "--from", "shop/web[Deployment]", "--store", store)
    assert result.output == "shop/web[Deployment] => 10.0.0.0-10.255.255.255 : TCP 5432\n"
    result = cli("reach", "--from", "infra/proxy", "--to", "shop/web", "--format", "json", "--store", store)
    assert json.loads(result.output) == [
        {"src": "infra/proxy[Pod]", "dst": "shop/web[Deployment]", "conn": {"TCP": "8080"}}
    ]
    result = cli("reach", "--from", "shop/web", "--to", "infra/proxy", "--store", store)
    assert result.exit_code == 0 and result.output == ""
    # lines are capped and counted; --limit 0 shows all
    result = cli("reach", "--from", "infra/proxy", "--limit", "1", "--store", store)
    assert result.stdout == "infra/proxy[Pod] => 0.0.0.0-255.255.255.255 : All Connections\n"
    assert result.stderr == "2 more lines of 3 not shown (--limit 0 shows all)\n"
    assert len(cli("reach", "--from", "infra/proxy", "--limit", "0", "--store", store).stdout.splitlines()) == 3


def test_reach_reports_what_is_not_modelled(tmp_path: Path) -> None:
    l7 = """
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: web-l7, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress: [{toPorts: [{ports: [{port: '8080', protocol: TCP}], rules: {http: [{method: GET}]}}]}]
"""
    with Store.open(tmp_path / "e.duckdb") as st:
        collect(st, tmp_path, MANIFESTS + l7)
    result = cli("reach", "--to", "shop/web", "--store", str(tmp_path / "e.duckdb"))
    assert result.exit_code == 0
    assert "infra/proxy[Pod] => shop/web[Deployment] : TCP 8080" in result.output
    assert (
        "not modelled: * => shop/web[Deployment] (CiliumNetworkPolicy shop/web-l7: spec.ingress[0]: L7 rules (http) on "
        "toPorts[0] (only L4 modelled))\n"
    ) in result.output


def test_reach_errors(tmp_path: Path) -> None:
    store = store_with(tmp_path, "a", "b")
    result = cli("reach", "--to", "shop/api", "--cluster", "a", "--store", store)
    assert (
        result.exit_code == 2
        and "--to: no workload shop/api in cluster a (shop: shop/web[Deployment])" in result.output
    )
    result = cli("reach", "--to", "shop/web", "--store", store)
    assert result.exit_code == 2 and "several clusters (a, b): name one with --cluster" in result.output
    result = cli("reach", "--to", "shop/web", "--cluster", "z", "--store", store)
    assert result.exit_code == 2 and "no Kubernetes inventory of cluster 'z' (clusters: a, b)" in result.output
    result = cli("reach", "--from", "web", "--cluster", "a", "--store", store)
    assert result.exit_code == 2 and "--from expects NS/WORKLOAD" in result.output
    result = cli("reach", "--cluster", "a", "--store", store)
    assert result.exit_code == 2 and "name a workload" in result.output
    result = cli("reach", "--to", "a/b", "--store", str(tmp_path / "none.duckdb"))
    assert result.exit_code == 2 and "no evidence store" in result.output
    assert "Examples:\n    defensible reach --to" in cli("reach", "--help").output


def test_routes_of_a_gateway(tmp_path: Path) -> None:
    extra = """
    ---
    apiVersion: gateway.networking.k8s.io/v1
    kind: HTTPRoute
    metadata: {name: admin, namespace: infra}
    spec: {parentRefs: [{name: edge}, {name: edge, sectionName: http}], rules: [{backendRefs: [{name: proxy}]}]}
    """
    with Store.open(tmp_path / "e.duckdb") as st:
        collect(st, tmp_path, MANIFESTS + extra.replace("\n    ", "\n"))
    result = cli("routes", "--gateway", "infra/edge", "--store", str(tmp_path / "e.duckdb"))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "Gateway infra/edge (cluster test)",
        "  listener https: HTTPS 443, hostname shop.example.com, accepted",
        '    namespaces that can attach (Selector {"matchLabels": {"gateway-access": "public"}}): shop',
        "    rejected HTTPRoute infra/admin: NotAllowedByListeners",
        "    accepted HTTPRoute shop/web for shop.example.com",
        "  not attached to any listener: rejected HTTPRoute infra/admin: NoMatchingParent",
    ]
    doc = json.loads(
        cli("routes", "--gateway", "infra/edge", "--format", "json", "--store", str(tmp_path / "e.duckdb")).output
    )
    assert doc["listeners"][0]["namespaces"] == ["shop"] and doc["listeners"][0]["any_namespace"] is False
    assert doc["listeners"][0]["routes"][1] == {
        "route": "HTTPRoute shop/web", "accepted": True, "reason": "Accepted", "hostnames": ["shop.example.com"]
    }  # fmt: skip
    result = cli("routes", "--gateway", "infra/nope", "--store", str(tmp_path / "e.duckdb"))
    assert result.exit_code == 2 and "cluster test: Gateway infra/nope is not in the inventory" in result.output
    result = cli("routes", "--gateway", "edge", "--store", str(tmp_path / "e.duckdb"))
    assert result.exit_code == 2 and "--gateway expects NS/NAME" in result.output
    assert "Examples:\n    defensible routes --gateway" in cli("routes", "--help").output
