"""Live collection through the real ``kubernetes`` client against a fake API server (tests/kube_api.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from helpers import cli
from kube_api import FakeKubeAPI, write_kubeconfig

from collector.runner import RunResult, run_source
from collector.store import Store, sha256_hex
from sources.kubernetes.source import KINDS, KubernetesSource

NAMESPACES = "/api/v1/namespaces"
SERVICES = "/api/v1/services"
GATEWAYS = "/apis/gateway.networking.k8s.io/{}/gateways"
REFERENCE_GRANTS = "/apis/gateway.networking.k8s.io/{}/referencegrants"
HTTP_ROUTES = "/apis/gateway.networking.k8s.io/{}/httproutes"
NETWORK_POLICIES = "/apis/networking.k8s.io/v1/networkpolicies"


def namespace(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "uid": f"uid-ns-{name}", "labels": {"team": "shop"}}}


def service(name: str, ns: str = "shop") -> dict[str, Any]:
    # Built-in kinds are listed without apiVersion/kind on each item, as the real API server does.
    return {
        "metadata": {"name": name, "namespace": ns, "uid": f"uid-svc-{name}"},
        "spec": {"type": "ClusterIP", "ports": [{"port": 80, "targetPort": 8080}]},
    }


def cluster_objects(*service_names: str) -> dict[str, list[dict[str, Any]]]:
    return {NAMESPACES: [namespace("shop")], SERVICES: [service(n) for n in service_names]}


def collect(store: Store, kubeconfig: Path, *contexts: str) -> RunResult:
    config = {"contexts": list(contexts or ["ctx"]), "kubeconfig": str(kubeconfig), "page_size": 2}
    return run_source(store, KubernetesSource(), config)


def query(store: Store, sql: str, *params: Any) -> list[tuple]:
    return store.con.execute(sql, list(params)).fetchall()


def inventory(store: Store, kind: str, cluster: str = "ctx") -> dict[str, Any]:
    cur = store.con.execute("SELECT * FROM k8s_inventory WHERE cluster = ? AND kind = ?", [cluster, kind])
    rows = cur.fetchall()
    assert len(rows) == 1, rows
    return dict(zip([d[0] for d in cur.description], rows[0], strict=True))


def test_pagination_follows_continue_tokens_and_keeps_every_page(store: Store, tmp_path: Path) -> None:
    with FakeKubeAPI(cluster_objects("a", "b", "c", "d", "e")) as api:
        result = collect(store, api.kubeconfig(tmp_path / "kubeconfig"))

    assert result.status == "succeeded", result.error
    requests = api.requests_for(SERVICES)
    assert [r.query.get("limit") for r in requests] == ["2", "2", "2"]
    assert [r.query.get("continue") for r in requests] == [None, requests[0].next_token, requests[1].next_token]
    assert requests[0].next_token and requests[1].next_token and requests[2].next_token is None

    objects = query(
        store, "SELECT name, namespace, api_version, location, artifact_sha256 FROM k8s_objects WHERE kind = 'Service'"
    )
    assert sorted(o[:4] for o in objects) == [(n, "shop", "v1", f"{api.url}{SERVICES}") for n in "abcde"]

    pages = query(
        store, "SELECT origin, sha256, media_type FROM artifacts WHERE origin LIKE ? ORDER BY origin", "%/services %"
    )
    assert [p[0] for p in pages] == [f"{api.url}{SERVICES} page {n}" for n in (1, 2, 3)]
    names_on_page: dict[str, set[str]] = {}
    for _, sha, media_type in pages:
        assert media_type == "application/json"
        listing = json.loads(store.artifact_path(sha).read_bytes())
        assert listing["metadata"]["resourceVersion"] == api.resource_version
        names_on_page[sha] = {item["metadata"]["name"] for item in listing["items"]}
    assert sorted(len(names) for names in names_on_page.values()) == [1, 2, 2]
    for name, *_, sha in objects:  # every object cites the very page it was listed on
        assert name in names_on_page[sha]

    # a kind that fits on one page is listed with one request and kept as one artifact
    assert len(api.requests_for(NAMESPACES)) == 1
    assert query(store, "SELECT count(*) FROM artifacts WHERE origin LIKE ?", f"%{NAMESPACES} page%") == [(1,)]
    assert inventory(store, "Service")["object_count"] == 5


def test_absent_gateway_api_is_recorded_not_collectible(store: Store, tmp_path: Path) -> None:
    with FakeKubeAPI(cluster_objects("a")) as api:
        result = collect(store, api.kubeconfig(tmp_path / "kubeconfig"))

    assert result.status == "succeeded", result.error
    row = inventory(store, "Gateway")
    assert (row["status"], row["reason"], row["http_status"], row["object_count"]) == (
        "not-collectible",
        "crd-absent",
        404,
        0,
    )
    assert row["api_version"] is None
    assert row["message"] == "the server could not find the requested resource"
    assert [r.path for r in api.requests_for(GATEWAYS.format("v1"))] == [GATEWAYS.format("v1")]
    assert len(api.requests_for(GATEWAYS.format("v1beta1"))) == 1  # every known version was tried
    assert store.artifact_path(row["artifact_sha256"]).exists()
    assert query(store, "SELECT count(*) FROM k8s_inventory") == [(len(KINDS),)]


def test_forbidden_kind_is_recorded_not_collectible(store: Store, tmp_path: Path) -> None:
    forbidden = {NETWORK_POLICIES, HTTP_ROUTES.format("v1")}
    with FakeKubeAPI(cluster_objects("a"), forbidden=forbidden) as api:
        result = collect(store, api.kubeconfig(tmp_path / "kubeconfig"))

    assert result.status == "succeeded", result.error
    for kind in ("NetworkPolicy", "HTTPRoute"):
        row = inventory(store, kind)
        assert (row["status"], row["reason"], row["http_status"]) == ("not-collectible", "forbidden", 403)
        assert "forbidden" in row["message"]
    assert not api.requests_for(HTTP_ROUTES.format("v1beta1"))  # RBAC is per resource: no other version tried
    assert inventory(store, "Service")["status"] == "collected"


def test_falls_back_to_an_older_served_version(store: Store, tmp_path: Path) -> None:
    grant = {
        "apiVersion": "gateway.networking.k8s.io/v1beta1",
        "kind": "ReferenceGrant",
        "metadata": {"name": "allow-gateways", "namespace": "shop"},
        "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "edge"}]},
    }
    objects = {**cluster_objects("a"), REFERENCE_GRANTS.format("v1beta1"): [grant]}
    with FakeKubeAPI(objects) as api:
        result = collect(store, api.kubeconfig(tmp_path / "kubeconfig"))

    assert result.status == "succeeded", result.error
    assert [r.status for r in api.requests_for(REFERENCE_GRANTS.format("v1"))] == [404]
    row = inventory(store, "ReferenceGrant")
    assert (row["status"], row["api_version"], row["object_count"]) == (
        "collected",
        "gateway.networking.k8s.io/v1beta1",
        1,
    )
    assert row["location"] == f"{api.url}{REFERENCE_GRANTS.format('v1beta1')}"
    [(api_version, name, spec)] = query(
        store, "SELECT api_version, name, spec FROM k8s_objects WHERE kind = 'ReferenceGrant'"
    )
    assert (api_version, name, json.loads(spec)) == (
        "gateway.networking.k8s.io/v1beta1",
        "allow-gateways",
        grant["spec"],
    )


def stored_bytes(store_path: Path) -> bytes:
    """The store file (and WAL) plus every artifact file beside it."""
    files = [store_path, store_path.with_name(store_path.name + ".wal")]
    files += sorted(p for p in store_path.with_name(store_path.name + ".artifacts").rglob("*") if p.is_file())
    return b"".join(p.read_bytes() for p in files if p.exists())


def runs_text(store_path: Path) -> str:
    """Everything recorded about the runs in a store (config and error), as one string."""
    with Store.open(store_path, read_only=True) as store:
        return "\n".join(row[0] for row in query(store, "SELECT config::VARCHAR || coalesce(error, '') FROM runs"))


def test_rejected_token_fails_the_run_without_leaking_it(tmp_path: Path) -> None:
    wrong = "wrong-token-d9b1c7e4a3f2"
    api_store, cli_store = tmp_path / "api.duckdb", tmp_path / "cli.duckdb"
    with FakeKubeAPI(cluster_objects("a"), token="right-token-5e8a2b9c0d1f") as api:
        kubeconfig = api.kubeconfig(tmp_path / "kubeconfig", token=wrong)
        with Store.open(api_store) as store:
            result = collect(store, kubeconfig)
            assert query(store, "SELECT status, error FROM runs") == [("failed", result.error)]
            assert query(store, "SELECT count(*) FROM k8s_inventory") == [(0,)]
            assert query(store, "SELECT count(*) FROM artifacts") == [(0,)]
        out = cli("collect", "kubernetes", "--set", "contexts=[ctx]", "--set", f"kubeconfig={kubeconfig}",
                  "--store", str(cli_store))  # fmt: skip

    assert result.status == "failed"
    assert result.error == f"kubernetes: {api.url}{NAMESPACES} (context ctx) answered HTTP 401 Unauthorized"
    assert out.exit_code == 1, out.output
    assert "kubernetes: failed" in out.output and result.error in out.output
    assert [r.status for r in api.requests] == [401, 401]  # the first list call of each run, then it stops
    for token in (wrong, api.token):
        assert token not in result.error
        assert token not in out.output
        for store_path in (api_store, cli_store):
            assert token not in runs_text(store_path)
            assert token.encode() not in stored_bytes(store_path)


def test_each_context_is_recorded_as_a_cluster(store: Store, tmp_path: Path) -> None:
    with FakeKubeAPI(cluster_objects("web", "api")) as east, FakeKubeAPI(cluster_objects("db"), token="t2") as west:
        kubeconfig = write_kubeconfig(
            tmp_path / "kubeconfig", {"east": (east.url, east.token), "west": (west.url, west.token)}
        )
        result = collect(store, kubeconfig, "east", "west")

    assert result.status == "succeeded", result.error
    assert query(store, "SELECT cluster, count(*) FROM k8s_inventory GROUP BY ALL ORDER BY ALL") == [
        ("east", len(KINDS)),
        ("west", len(KINDS)),
    ]
    services = query(store, "SELECT cluster, name, location FROM k8s_objects WHERE kind = 'Service' ORDER BY ALL")
    assert services == [
        ("east", "api", f"{east.url}{SERVICES}"),
        ("east", "web", f"{east.url}{SERVICES}"),
        ("west", "db", f"{west.url}{SERVICES}"),
    ]


def test_failed_run_leaves_the_earlier_run_intact(store: Store, tmp_path: Path) -> None:
    with FakeKubeAPI(cluster_objects("a", "b", "c")) as api:
        kubeconfig = api.kubeconfig(tmp_path / "kubeconfig")
        first = collect(store, kubeconfig)
        assert first.status == "succeeded", first.error
        api.failing.add(NETWORK_POLICIES)
        second = collect(store, kubeconfig)

    assert second.status == "failed"
    assert second.error is not None and f"{api.url}{NETWORK_POLICIES}" in second.error and "500" in second.error
    assert len(api.requests_for(SERVICES)) == 4  # the second run listed Services before NetworkPolicy failed
    assert query(store, "SELECT run_id, status FROM runs ORDER BY started_at, run_id") == [
        (first.run_id, "succeeded"),
        (second.run_id, "failed"),
    ]
    for table in ("k8s_objects", "k8s_inventory", "artifacts"):
        assert query(store, f"SELECT DISTINCT run_id FROM {table}") == [(first.run_id,)]
    assert query(store, "SELECT count(*) FROM k8s_objects") == [(4,)]  # one Namespace, three Services
    assert query(store, "SELECT name FROM k8s_current WHERE kind = 'Service' ORDER BY name") == [("a",), ("b",), ("c",)]


def test_private_key_in_a_listed_object_is_redacted_from_the_page_artifact(store: Store, tmp_path: Path) -> None:
    key = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"
    leaky = service("leaky")
    leaky["metadata"]["annotations"] = {"example.com/tls-key": key}
    with FakeKubeAPI({SERVICES: [leaky]}) as api:
        result = collect(store, api.kubeconfig(tmp_path / "kubeconfig"))

    assert result.status == "succeeded", result.error
    [(sha, origin_sha)] = query(store, "SELECT sha256, origin_sha256 FROM artifacts WHERE origin LIKE '%/services %'")
    page = store.artifact_path(sha).read_bytes()
    assert b"MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" not in page
    assert json.loads(page)["items"][0]["metadata"]["annotations"] == {
        "example.com/tls-key": "[redacted private key]\n"
    }
    assert origin_sha is not None and origin_sha != sha256_hex(page)
    [(annotations,)] = query(store, "SELECT annotations FROM k8s_objects WHERE name = 'leaky'")
    assert "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" not in annotations


def test_unreachable_api_server_fails_the_run_clearly(store: Store, tmp_path: Path) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", {"ctx": ("http://127.0.0.1:9", "fake-token-0123456789")})
    result = collect(store, kubeconfig)
    assert result.status == "failed"
    assert result.error is not None and result.error.startswith("kubernetes: cannot reach http://127.0.0.1:9")
    assert "fake-token-0123456789" not in result.error


def test_a_page_that_is_not_json_fails_naming_the_url(store: Store, tmp_path: Path) -> None:
    with FakeKubeAPI(cluster_objects("a")) as api:
        api.raw_bodies[SERVICES] = b"<html>proxy error</html>"
        result = collect(store, api.kubeconfig(tmp_path / "kubeconfig"))
    assert result.status == "failed"
    assert result.error == f"kubernetes: {api.url}{SERVICES} page 1: line 1: invalid JSON: Expecting value"
