"""Deny-log coverage per node (policy-denies-visible) and access logs per gateway (incidents-traceable).

Spec-first cases: each cluster of one shared store is a compliant baseline with one change (Kubernetes
Nodes, Cilium/Hubble drop reasons, Gateway API and Istio gateways, kubelet pod-log paths, Squid); each
change must turn exactly its claim into a gap naming the offending object, while the baseline stays clean.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from helpers import write

from collector.claims import ClaimResult, Settings, evaluate_pack, load_pack, resolve_pack
from collector.runner import run_source
from collector.store import Store
from sources.kubernetes.source import KIND_NAMES, KubernetesSource
from sources.logs.formats import envoy
from sources.logs.source import LogsSource

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
END = 120  # minutes of logs in every cluster
UID = "3f2b6c1e-9a4d-4e8b-b1c2-7d5e6f708192"
NODES = ("node-a", "node-b")
INTERNAL_POD_LOGS = f"var/log/pods/gw_internal-gateway-istio-6d8f9c7b5d-p9zrx_{UID}"  # kubelet: ns_pod_uid
SQUID = "{:.3f}   5006 10.105.21.199 TCP_MISS/200 19763 CONNECT login.example.com:443 - HIER_DIRECT/175.16.199.115 -"
MANIFESTS = """
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Node
metadata: {name: node-a}
---
apiVersion: v1
kind: Node
metadata: {name: node-b}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: public-gateway, namespace: gw, labels: {defensible.io/exposure: public}}
spec: {gatewayClassName: istio, listeners: [{name: https, port: 443, protocol: HTTPS}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: internal-gateway, namespace: gw, labels: {defensible.io/exposure: internal}}
spec: {gatewayClassName: istio, listeners: [{name: https, port: 443, protocol: HTTPS}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: internal-gateway-istio, namespace: gw}
spec:
  selector: {matchLabels: {gateway.networking.k8s.io/gateway-name: internal-gateway}}
  template:
    metadata: {labels: {gateway.networking.k8s.io/gateway-name: internal-gateway}}
    spec: {containers: [{name: istio-proxy, image: istio/proxyv2}]}
"""
ISTIO_GATEWAYS = """
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: shop-ingress, namespace: shop}
spec: {selector: {istio: ingressgateway}, servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: ["*"]}]}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: egress, namespace: istio-system}
spec: {selector: {istio: egressgateway}, servers: [{port: {number: 443, name: tls, protocol: TLS}, hosts: ["*"]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: istio-ingressgateway, namespace: istio-system}
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  template:
    metadata: {labels: {istio: ingressgateway}}
    spec: {containers: [{name: istio-proxy, image: istio/proxyv2}]}
"""
INGRESS = """
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: legacy, namespace: shop}
spec: {ingressClassName: nginx, rules: [{host: legacy.example.com}]}
"""


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def flow(minutes: float, node: str, *, verdict: str = "FORWARDED", **drop: Any) -> dict[str, Any]:
    """A Hubble event line (``hubble observe -o json``) reported by ``node``."""
    event = {
        "time": f"{at(minutes):%Y-%m-%dT%H:%M:%S}.000000001Z",
        "verdict": verdict,
        "IP": {"source": "10.8.3.14", "destination": "10.8.4.21"},
        "l4": {"TCP": {"source_port": 40000, "destination_port": 5432}},
        "source": {"identity": 4242, "namespace": "shop", "pod_name": "api-0"},
        "destination": {"identity": 4343, "namespace": "db", "pod_name": "db-0"},
        "traffic_direction": "EGRESS",
        "node_name": node,
        **drop,
    }
    return {"flow": event, "node_name": node, "time": event["time"]}


def policy_drop(minutes: float, node: str) -> dict[str, Any]:
    return flow(minutes, node, verdict="DROPPED", drop_reason=133, drop_reason_desc="POLICY_DENIED")


def access(minutes: float, *, route: str = "shop.shop.0", request_id: str = "5735b2d0-4949-9384-b082-9d4c368eb9dc",
           status: int = 200, details: str = "via_upstream") -> str:  # fmt: skip
    """An Istio default-format access log line."""
    return (
        f'[{at(minutes):%Y-%m-%dT%H:%M:%S}.000Z] "GET /orders HTTP/1.1" {status} - {details} - "-" 0 135 25 24 '
        f'"-" "curl/8.5.0" "{request_id}" "shop.example.com" "10.8.3.14:8080" '
        f"outbound|8080||shop.shop.svc.cluster.local 10.8.1.7:51234 10.8.1.7:8443 203.0.113.5:50514 - {route}"
    )


class Cluster:
    """One cluster's manifests and log files: the baseline, changed by a variant."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.manifests = MANIFESTS
        self.kinds = [*KIND_NAMES]
        self.flows = [flow(m, n) for m in range(0, END + 1, 10) for n in NODES]
        self.flows += [policy_drop(m, n) for m in (5, 65) for n in NODES]
        self.vpcflow: list[str] = []
        # (format, gateway setting, file path under the cluster's directory, lines)
        self.access = {
            "public": ["envoy", "gw/public-gateway", "gateways/public.log", [access(m) for m in (1, 61)]],
            "internal": ["envoy", None, f"{INTERNAL_POD_LOGS}/istio-proxy/0.log", [access(m) for m in (2, 62)]],
        }


def baseline(c: Cluster) -> None:
    pass


def one_node_silent(c: Cluster) -> None:  # two nodes, flows from only one
    c.flows = [f for f in c.flows if f["node_name"] != "node-b"]


def only_l7_denies(c: Cluster) -> None:  # zero NetworkPolicy drops, only gateway 403s
    c.flows = [f for f in c.flows if f["flow"]["verdict"] != "DROPPED"]
    c.access["public"][3].append(access(30, status=403, details="rbac_access_denied_matched_policy[none]"))


def deny_at_start_then_silence(c: Cluster) -> None:  # node-a: a single deny at the window start, then nothing
    c.flows = [f for f in c.flows if f["node_name"] != "node-a"] + [policy_drop(0, "node-a")]


def node_silent_mid_window(c: Cluster) -> None:  # node-b: nothing from minute 30 to 100
    c.flows = [f for f in c.flows if f["node_name"] != "node-b" or not 30 < minutes(f) < 100]


def non_policy_drops_only(c: Cluster) -> None:  # drops, but none by policy (conntrack, no route)
    c.flows = [f for f in c.flows if f["flow"]["verdict"] != "DROPPED"]
    c.flows += [flow(15, "node-a", verdict="DROPPED", drop_reason_desc="CT_MAP_INSERTION_FAILED"),
                flow(16, "node-b", verdict="DROPPED", drop_reason=132)]  # fmt: skip


def vpc_rejects_only(c: Cluster) -> None:  # security-group / NACL rejects are not NetworkPolicy drops
    c.flows = [f for f in c.flows if f["flow"]["verdict"] != "DROPPED"]
    c.vpcflow = [
        f"2 123456789010 eni-1 10.0.0.5 198.51.100.1 49152 443 6 10 840 {s} {s + 60} REJECT OK"
        for s in range(int(at(0).timestamp()), int(at(END).timestamp()) + 1, 1800)
    ]


def silence_just_over_limit(c: Cluster) -> None:  # node-a: nothing from minute 40 to 100.5 (60.5 > 60)
    c.flows = [f for f in c.flows if f["node_name"] != "node-a" or not 40 < minutes(f) <= 100]
    c.flows.append(flow(100.5, "node-a"))


def silence_exactly_limit(c: Cluster) -> None:  # node-a: nothing from minute 40 to 100: 60 minutes is allowed
    c.flows = [f for f in c.flows if f["node_name"] != "node-a" or not 40 < minutes(f) < 100]


def short_silence_across_the_hour(c: Cluster) -> None:  # node-b: nothing from minute 50 to 105 (55 minutes)
    c.flows = [f for f in c.flows if f["node_name"] != "node-b" or not 50 < minutes(f) < 105]
    c.flows.append(flow(105, "node-b"))


def node_silent_at_end(c: Cluster) -> None:  # node-b: nothing after minute 50, the window runs to minute 120
    c.flows = [f for f in c.flows if f["node_name"] != "node-b" or minutes(f) <= 50]


def vpc_flow_logs_silent(c: Cluster) -> None:  # the cluster's VPC Flow Logs: nothing from minute 20 to 81
    c.vpcflow = [
        f"2 123456789010 eni-1 10.0.0.5 198.51.100.1 49152 443 6 10 840 {s} {s + 60} ACCEPT OK"
        for s in (int(at(m).timestamp()) for m in (0, 10, 20, 81, 90, 100, 110, 120))
    ]


def unlogged_inventory_node(c: Cluster) -> None:  # a third Node that never reported a flow
    c.manifests += "---\napiVersion: v1\nkind: Node\nmetadata: {name: node-c}\n"


def nodes_not_listed_pod_on_silent_node(c: Cluster) -> None:  # Nodes not listed: a Pod's node never reported
    c.kinds = [k for k in KIND_NAMES if k != "Node"]
    c.manifests += (
        "---\napiVersion: v1\nkind: Pod\nmetadata: {name: batch-0, namespace: shop}\nspec: {nodeName: node-c}\n"
    )


def relay_names_and_numeric_reasons(c: Cluster) -> None:  # Hubble Relay's "cluster/node", drop_reason 133 only
    for f in c.flows:
        f["node_name"] = f["flow"]["node_name"] = f"{c.name}/{f['node_name']}"
        f["flow"].pop("drop_reason_desc", None)


def public_gateway_log_removed(c: Cluster) -> None:
    del c.access["public"]


def internal_gateway_log_removed(c: Cluster) -> None:  # internal exposure does not exempt a gateway
    del c.access["internal"]


def squid_log_added(c: Cluster) -> None:  # egress-proxy lines (no route): egress evidence only
    c.access["squid"] = ["squid", None, "squid/access.log", [SQUID.format(at(3).timestamp())]]


def public_lines_without_id(c: Cluster) -> None:
    c.access["public"][3] = [access(m, request_id="-") for m in (1, 61)]


def envoy_default_format(c: Cluster) -> None:  # Envoy's default format: no route name, authority and path instead
    line = f'[{at(1):%Y-%m-%dT%H:%M:%S}.000Z] "GET /orders HTTP/1.1" 200 - 0 135 25 24 "-" "curl/8.5.0" "5735b2d0" '
    c.access["public"][3] = [line + '"shop.example.com" "10.8.3.14:8080"']


def istio_gateways_logged(c: Cluster) -> None:  # Istio ingress gateway logged through its pods' kubelet paths
    c.manifests += ISTIO_GATEWAYS
    pod = "istio-system_istio-ingressgateway-7c9d8b6f5d-k2xbw"
    c.access["istio"] = ["envoy", None, f"var/log/pods/{pod}_{UID}/istio-proxy/0.log.20260105-100000.gz",
                         [access(4)]]  # fmt: skip


def istio_ingress_gateway_unlogged(c: Cluster) -> None:  # the egress gateway needs no log; the ingress one does
    c.manifests += ISTIO_GATEWAYS


def ingress_class_unlogged(c: Cluster) -> None:  # an Ingress of class nginx, no IngressClass object, no log
    c.manifests += INGRESS


def gateways_not_listed(c: Cluster) -> None:  # Gateway API Gateways not collected: the gateways are unknown
    c.kinds = [k for k in KIND_NAMES if k != "Gateway"]
    c.manifests = MANIFESTS.replace("kind: Gateway\n", "kind: Ignored\n")


def minutes(f: dict[str, Any]) -> float:
    return (datetime.fromisoformat(f["time"][:19] + "+00:00") - T0).total_seconds() / 60


VARIANTS: dict[str, Callable[[Cluster], None]] = {
    f.__name__.replace("_", "-"): f
    for f in (
        baseline,
        one_node_silent,
        only_l7_denies,
        deny_at_start_then_silence,
        node_silent_mid_window,
        non_policy_drops_only,
        vpc_rejects_only,
        silence_just_over_limit,
        silence_exactly_limit,
        short_silence_across_the_hour,
        node_silent_at_end,
        vpc_flow_logs_silent,
        unlogged_inventory_node,
        nodes_not_listed_pod_on_silent_node,
        relay_names_and_numeric_reasons,
        public_gateway_log_removed,
        internal_gateway_log_removed,
        squid_log_added,
        public_lines_without_id,
        envoy_default_format,
        istio_gateways_logged,
        istio_ingress_gateway_unlogged,
        ingress_class_unlogged,
        gateways_not_listed,
    )
}


def collect(store: Store, root: Path, names: list[str]) -> None:
    """Each cluster's manifests (one run each), then every log file in one run: Hubble flows of all clusters
    in one file (each flow names its cluster by its source's label), access logs one file per gateway."""
    flows: list[dict[str, Any]] = []
    inputs: list[dict[str, Any]] = [{"format": "hubble", "paths": [str(root / "hubble.json")]}]
    for name in names:
        c = Cluster(name)
        VARIANTS[name](c)
        path = write(root / name / "k8s.yaml", c.manifests)
        config = {"paths": [str(path)], "cluster": name, "kinds": c.kinds}
        assert run_source(store, KubernetesSource(), config).status == "succeeded"
        for f in c.flows:
            f["flow"]["source"]["labels"] = [f"k8s:io.cilium.k8s.policy.cluster={name}"]
        flows += c.flows
        files = [tuple(v) for v in c.access.values()]
        if c.vpcflow:
            files.append(("vpcflow", None, "vpcflow.log", c.vpcflow))
        for fmt, gateway, relative, lines in files:
            text = "".join(line + "\n" for line in lines)
            file = root / name / relative
            file.parent.mkdir(parents=True, exist_ok=True)
            if file.suffix == ".gz":
                file.write_bytes(gzip.compress(text.encode()))
            else:
                file.write_text(text)
            inputs.append(
                {"format": fmt, "cluster": name, "paths": [str(file)]} | ({"gateway": gateway} if gateway else {})
            )
    (root / "hubble.json").write_text("".join(json.dumps(f) + "\n" for f in flows))
    assert run_source(store, LogsSource(), {"inputs": inputs}).status == "succeeded"


def evaluate(store: Store, **parameters: Any) -> dict[str, ClaimResult]:
    results = evaluate_pack(store, load_pack(resolve_pack("logs")), Settings(parameters))
    return {r.claim.id: r for r in results}


@pytest.fixture(scope="module")
def variants_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    root = tmp_path_factory.mktemp("coverage")
    with Store.open(root / "evidence.duckdb") as store:
        collect(store, root, list(VARIANTS))
        yield store


@pytest.fixture(scope="module")
def results(variants_store: Store) -> dict[str, ClaimResult]:
    return evaluate(variants_store)


def gaps(result: ClaimResult, cluster: str) -> list[tuple[str, str]]:
    index = [result.gaps.columns.index(c) for c in ("cluster", "object", "finding")]
    return sorted((row[index[1]], row[index[2]]) for row in result.gaps.rows if row[index[0]] == cluster)


def gap_clusters(result: ClaimResult) -> set[str]:
    return {row[result.gaps.columns.index("cluster")] for row in result.gaps.rows}


POLICY_GAPS = {
    "one-node-silent": [("node node-b", "no flow record from this node in the window")],
    "unlogged-inventory-node": [("node node-c", "no flow record from this node in the window")],
    "nodes-not-listed-pod-on-silent-node": [("node node-c", "no flow record from this node in the window")],
    "deny-at-start-then-silence": [
        ("node node-a", "no flow log record for 120.0 minutes, more than max_log_gap_minutes (60)")
    ],
    "node-silent-mid-window": [
        ("node node-b", "no flow log record for 70.0 minutes, more than max_log_gap_minutes (60)")
    ],
    "silence-just-over-limit": [
        ("node node-a", "no flow log record for 60.5 minutes, more than max_log_gap_minutes (60)")
    ],
    "node-silent-at-end": [("node node-b", "no flow log record for 70.0 minutes, more than max_log_gap_minutes (60)")],
    "vpc-flow-logs-silent": [
        (
            "flow logs of vpc-flow-logs-silent",
            "no flow log record for 61.0 minutes, more than max_log_gap_minutes (60)",
        )
    ],
    "only-l7-denies": [
        (
            "cluster only-l7-denies",
            "no NetworkPolicy enforcement drop (Hubble DROPPED, POLICY_DENIED) in the window "
            "(only 1 other deny record(s): envoy access-log deny)",
        )
    ],
    "non-policy-drops-only": [
        (
            "cluster non-policy-drops-only",
            "no NetworkPolicy enforcement drop (Hubble DROPPED, POLICY_DENIED) in the "
            "window (only 2 other deny record(s): hubble 132, hubble CT_MAP_INSERTION_FAILED)",
        )
    ],
    "vpc-rejects-only": [
        (
            "cluster vpc-rejects-only",
            "no NetworkPolicy enforcement drop (Hubble DROPPED, POLICY_DENIED) in the window "
            "(only 5 other deny record(s): vpcflow deny)",
        )
    ],
}


def test_policy_denies_visible_per_node_and_enforcement_drop(results: dict[str, ClaimResult]) -> None:
    result = results["policy-denies-visible"]
    assert result.verdict == "gap"
    assert gap_clusters(result) == set(POLICY_GAPS)  # the baseline and the other claim's variants stay clean
    for cluster, expected in POLICY_GAPS.items():
        assert gaps(result, cluster) == expected, cluster


# Every silence between consecutive records (ordered by time, then artifact), as the claim defines it.
CONSECUTIVE_SILENCES = """
WITH t AS (
    SELECT cluster, logs_node(log_format, observer) AS node, ts, lag(ts) OVER w AS previous, lead(ts) OVER w AS next,
           artifact_sha256
    FROM logs_flows
    WINDOW w AS (PARTITION BY cluster, logs_node(log_format, observer) ORDER BY ts, artifact_sha256)
)
SELECT cluster, node, previous, ts, artifact_sha256 FROM t WHERE previous IS NOT NULL
UNION ALL SELECT cluster, node, span.since, ts, artifact_sha256 FROM t, logs_span span WHERE previous IS NULL
UNION ALL SELECT cluster, node, ts, span.until, artifact_sha256 FROM t, logs_span span WHERE next IS NULL
"""
LONGER = "WHERE epoch({1}) - epoch({0}) > 60 * CAST(getvariable('max_log_gap_minutes') AS DOUBLE)"


@pytest.mark.parametrize("limit", [0.5, 7.5, 9.99, 10, 10.01, 29.5, 55, 60, 60.5, 61, 70, 500])
def test_bucketed_silences_are_the_consecutive_records_longer_silences(
    variants_store: Store, results: dict[str, ClaimResult], limit: float
) -> None:
    """The set-based view lists exactly the silences longer than the limit that consecutive records leave, each
    citing the same record, for limits on, off and across the baseline's 10-minute and the hour boundaries."""
    con = variants_store.con  # the logs pack's views were created by the evaluation (``results``)
    con.execute("SET VARIABLE max_log_gap_minutes = ?", [limit])
    bucketed = con.execute(
        "SELECT cluster, node, silence_start, silence_end, artifact_sha256 FROM logs_flow_silences "
        + LONGER.format("silence_start", "silence_end")
    ).fetchall()
    expected = con.execute(f"SELECT * FROM ({CONSECUTIVE_SILENCES}) s(c, n, a, b, d) " + LONGER.format("a", "b"))
    assert sorted(bucketed, key=str) == sorted(expected.fetchall(), key=str)
    assert limit > 120 or bucketed  # the variants leave silences of every length up to the window


TRACE_GAPS = {
    "public-gateway-log-removed": [
        (
            "Gateway gw/public-gateway",
            "no access log record of this gateway in the window (logs input `gateway` "
            "setting, or kubelet pod-log paths of its proxies, name it)",
        )
    ],
    "internal-gateway-log-removed": [
        (
            "Gateway gw/internal-gateway",
            "no access log record of this gateway in the window (logs input `gateway` "
            "setting, or kubelet pod-log paths of its proxies, name it)",
        )
    ],
    "public-lines-without-id": [
        (
            "Gateway gw/public-gateway",
            "2 access log record(s) in the window, none with a route, a backend and a trace or request id",
        ),
        ("access log of gw/public-gateway", "2 without trace or request id of 2 request(s)"),
    ],
    "istio-ingress-gateway-unlogged": [
        (
            "Gateway.networking.istio.io shop/shop-ingress",
            "no access log record of this gateway in the window "
            "(logs input `gateway` setting, or kubelet pod-log paths of its proxies, name it)",
        )
    ],
    "ingress-class-unlogged": [
        (
            "IngressClass nginx",
            "no access log record of this gateway in the window (logs input `gateway` setting, "
            "or kubelet pod-log paths of its proxies, name it)",
        )
    ],
    "gateways-not-listed": [
        ("cluster gateways-not-listed", "Gateway not listed: the gateways of this kind are unknown")
    ],
}


def test_incidents_traceable_per_gateway(results: dict[str, ClaimResult]) -> None:
    result = results["incidents-traceable"]
    assert result.verdict == "gap"
    assert gap_clusters(result) == set(TRACE_GAPS)  # Squid lines, the egress gateway, Envoy's format: no gap
    for cluster, expected in TRACE_GAPS.items():
        assert gaps(result, cluster) == expected, cluster
    index = [result.evidence.columns.index(c) for c in ("cluster", "object", "requests")]
    covered = sorted((r[index[0]], r[index[1]], r[index[2]]) for r in result.evidence.rows if r[index[1]][0].isupper())
    assert [row for row in covered if row[0] in ("baseline", "istio-gateways-logged")] == [
        ("baseline", "Gateway gw/internal-gateway", 2),  # its pod's kubelet log path names it
        ("baseline", "Gateway gw/public-gateway", 2),  # the input's gateway setting names it
        ("istio-gateways-logged", "Gateway gw/internal-gateway", 2),
        ("istio-gateways-logged", "Gateway gw/public-gateway", 2),
        ("istio-gateways-logged", "Gateway.networking.istio.io shop/shop-ingress", 1),  # its Deployment's pod
    ]


def test_each_variant_turns_exactly_its_claim_into_a_gap(results: dict[str, ClaimResult]) -> None:
    expected = {"policy-denies-visible": POLICY_GAPS, "incidents-traceable": TRACE_GAPS}
    for claim, gapped in expected.items():
        verdicts = {cluster: verdict for cluster, (verdict, _) in results[claim].clusters.items()}
        assert verdicts == {v: "gap" if v in gapped else "satisfied" for v in VARIANTS}, claim  # baseline satisfied


def test_gateway_setting_applies_to_envoy_only(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "access.log", access(0))
    config = {"inputs": [{"format": "squid", "gateway": "gw/public-gateway", "paths": [str(path)]}]}
    result = run_source(store, LogsSource(), config)
    assert result.status == "failed" and "`gateway` applies to envoy only" in (result.error or "")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"origin": f"/var/log/pods/gw_public-gateway-istio-6d8f9c7b5d-p9zrx_{UID}/istio-proxy/0.log"},
         "gw/public-gateway-istio-6d8f9c7b5d-p9zrx"),
        ({"origin": f"/mnt/node-1/pods/istio-system_istio-ingressgateway-0_{UID}/istio-proxy/3.log.20260105.gz"},
         "istio-system/istio-ingressgateway-0"),
        ({"origin": "/var/log/containers/ingress-nginx-controller-5c8d66c76d-4xq2z_ingress-nginx_controller-"
                    + "0123456789abcdef" * 4 + ".log"},
         "ingress-nginx/ingress-nginx-controller-5c8d66c76d-4xq2z"),
        ({"origin": "/srv/logs/gateway/access.log"}, None),  # not a kubelet path: the input must name it
        ({"origin": f"/var/log/pods/gw_p_{UID}/proxy/0.log", "gateway": "gw/public-gateway"}, "gw/public-gateway"),
    ],
)  # fmt: skip
def test_gateway_of_an_access_log_file(spec: dict[str, str], expected: str | None) -> None:
    assert envoy.gateway(spec) == expected
