"""The ``hubble`` log format: Cilium Hubble flows (``hubble observe -o json``) into ``flows``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from helpers import collect_logs, table_rows, write_lines

from collector.store import Store

DATA = Path(__file__).parent / "data" / "logs" / "hubble"
COLUMNS = (
    "ts",
    "cluster",
    "observer",
    "src_ip",
    "src_port",
    "dst_ip",
    "dst_port",
    "protocol",
    "src_namespace",
    "src_pod",
    "src_identity",
    "src_labels",
    "dst_namespace",
    "dst_pod",
    "dst_identity",
    "dst_labels",
    "dst_fqdn",
    "direction",
    "verdict",
    "reason",
    "policy",
    "bytes",
    "packets",
)
REVIEWS_LABELS = [
    "k8s:app=reviews",
    "k8s:io.cilium.k8s.namespace.labels.istio-injection=enabled",
    "k8s:io.cilium.k8s.policy.cluster=default",
    "k8s:io.cilium.k8s.policy.serviceaccount=bookinfo-reviews",
    "k8s:io.kubernetes.pod.namespace=bookinfo",
    "k8s:security.istio.io/tlsMode=istio",
    "k8s:version=v1",
]
EXPORTER_LABELS = [
    "k8s:io.cilium.k8s.policy.cluster=default",
    "k8s:io.cilium.k8s.policy.serviceaccount=event-exporter-sa",
    "k8s:io.kubernetes.pod.namespace=kube-system",
    "k8s:k8s-app=event-exporter",
    "k8s:version=v0.3.4",
]
NODE = "gke-ilya-otel-demo-1-ilya-otel-demo-1-6114bb84-zr1l"
# The first two lines of cilium/hubble-otel testdata/basic-sample-400-icmpv4-flows.json, verbatim.
ICMP_REQUEST = (
    '{"flow":{"time":"2021-11-10T10:41:26.095336300Z","verdict":"FORWARDED","ethernet":{"source":"a2:a0:5c:71:e5:73",'
    '"destination":"7e:e2:9f:7b:be:92"},"IP":{"source":"10.244.0.148","destination":"10.244.0.160","ipVersion":'
    '"IPv4"},"l4":{"ICMPv4":{"type":8}},"source":{"identity":1,"labels":["reserved:host"]},"destination":{"ID":132,'
    '"identity":4,"labels":["reserved:health"]},"Type":"L3_L4","node_name":"kind-control-plane","event_type":'
    '{"type":4},"traffic_direction":"INGRESS","trace_observation_point":"TO_ENDPOINT","is_reply":false,"interface":'
    '{"index":10,"name":"lxc_health"},"Summary":"ICMPv4 EchoRequest"},"node_name":"kind-control-plane","time":'
    '"2021-11-10T10:41:26.095336300Z"}'
)
ICMP_REPLY = (
    '{"flow":{"time":"2021-11-10T10:41:26.095357Z","verdict":"FORWARDED","ethernet":{"source":"7e:e2:9f:7b:be:92",'
    '"destination":"a2:a0:5c:71:e5:73"},"IP":{"source":"10.244.0.160","destination":"10.244.0.148","ipVersion":'
    '"IPv4"},"l4":{"ICMPv4":{}},"source":{"ID":132,"identity":4,"labels":["reserved:health"]},"destination":'
    '{"identity":1,"labels":["reserved:host"]},"Type":"L3_L4","node_name":"kind-control-plane","reply":true,'
    '"event_type":{"type":4,"sub_type":3},"traffic_direction":"INGRESS","trace_observation_point":"TO_STACK",'
    '"is_reply":true,"Summary":"ICMPv4 EchoReply"},"node_name":"kind-control-plane","time":'
    '"2021-11-10T10:41:26.095357Z"}'
)


ingest = partial(collect_logs, log_format="hubble", source_config={"cluster": "fallback"})
rows = partial(table_rows, table="flows", columns=COLUMNS)


def endpoint(namespace: str, pod: str, identity: int, labels: list[str]) -> dict[str, Any]:
    return {"namespace": namespace, "pod_name": pod, "identity": identity, "labels": labels}


def flow_line(verdict: str = "FORWARDED", **flow: Any) -> str:
    """A Hubble flow as ``hubble observe -o json`` prints it (an egress TCP flow unless overridden)."""
    base = {
        "time": "2024-05-01T08:00:00.123456789Z",
        "verdict": verdict,
        "IP": {"source": "10.0.1.7", "destination": "140.82.112.4", "ipVersion": "IPv4"},
        "l4": {"TCP": {"source_port": 43210, "destination_port": 443, "flags": {"SYN": True}}},
        "source": endpoint("payments", "api-7d9f", 51234, ["k8s:app=api", "k8s:io.cilium.k8s.policy.cluster=eu-1"]),
        "destination": {"identity": 2, "labels": ["reserved:world"]},
        "Type": "L3_L4",
        "node_name": "eu-1/node-a",
        "traffic_direction": "EGRESS",
        "is_reply": False,
    }
    return json.dumps({"flow": base | flow, "node_name": "eu-1/node-a", "time": (base | flow)["time"]})


def artifact(store: Store) -> tuple[str, int, int, dict[str, int]]:
    ((cluster, records, rejected, skipped),) = store.con.execute(
        "SELECT cluster, records, rejected, skipped FROM log_artifacts"
    ).fetchall()
    return cluster, records, rejected, json.loads(skipped)


def test_corpus_flows(store: Store) -> None:
    result = ingest(store, DATA / "basic-sample-10-flows.json")
    assert result.status == "succeeded", result
    assert artifact(store) == ("fallback", 10, 0, {})
    flows = rows(store)
    assert len(flows) == 10
    assert flows[0] == {
        "ts": datetime(2021, 6, 16, 16, 52, 13, 136834, UTC),  # ...13.136834446Z
        "cluster": "default",  # the reviews pod's label: the reply's source is the local endpoint
        "observer": NODE,
        "src_ip": "10.0.2.16",
        "src_port": 15020,
        "dst_ip": "10.0.2.1",
        "dst_port": 42044,
        "protocol": "TCP",
        "src_namespace": "bookinfo",
        "src_pod": "reviews-v1-545db77b95-s6jb8",
        "src_identity": "25339",
        "src_labels": REVIEWS_LABELS,
        "dst_namespace": None,
        "dst_pod": None,
        "dst_identity": "1",
        "dst_labels": ["reserved:host"],
        "dst_fqdn": None,
        "direction": "ingress",
        "verdict": "allow",
        "reason": None,
        "policy": None,
        "bytes": None,
        "packets": None,
    }
    # nanoseconds are truncated to microseconds: ...13.136893596Z
    assert flows[1]["ts"] == datetime(2021, 6, 16, 16, 52, 13, 136893, UTC)
    prometheus = flows[2]
    assert (prometheus["src_namespace"], prometheus["src_pod"], prometheus["src_identity"]) == (
        "istio-system",
        "prometheus-6655946b9f-hx9ln",
        "35369",
    )
    assert (prometheus["dst_pod"], prometheus["dst_port"], prometheus["direction"]) == (
        "reviews-v1-545db77b95-s6jb8",
        15090,
        "ingress",
    )
    world_reply = flows[6]
    assert {k: world_reply[k] for k in ("src_ip", "src_port", "src_identity", "src_labels", "direction")} == {
        "src_ip": "35.246.31.234",
        "src_port": 443,
        "src_identity": "2",
        "src_labels": ["reserved:world"],
        "direction": "egress",
    }
    assert (world_reply["dst_pod"], world_reply["dst_labels"], world_reply["cluster"]) == (
        "event-exporter-gke-67986489c8-svnrf",
        EXPORTER_LABELS,
        "default",  # an egress reply: the local endpoint is the destination
    )
    assert {r["cluster"] for r in flows} == {"default"}
    assert {r["verdict"] for r in flows} == {"allow"}


def test_corpus_dns_flows(store: Store) -> None:
    assert ingest(store, DATA / "basic-sample-5-dns-flows.json").status == "succeeded"
    flows = rows(store)
    assert len(flows) == 5
    query = flows[0]
    assert query["ts"] == datetime(2021, 10, 4, 11, 22, 26, 592280, UTC)
    assert (query["src_namespace"], query["src_pod"], query["src_identity"]) == (
        "kube-system",
        "node-local-dns-88zrp",
        "1563",
    )
    assert (query["dst_pod"], query["dst_identity"], query["dst_ip"], query["dst_port"], query["protocol"]) == (
        "kube-dns-b4f5c58c7-vnx5s",
        "796",
        "10.156.2.3",
        53,
        "TCP",
    )
    assert (query["direction"], query["cluster"], query["observer"]) == (
        "egress",
        "default",
        "gke-ilya-otel-demo-2-ilya-otel-demo-2-dac8cc20-hr0z",
    )
    assert [(r["src_port"], r["dst_port"]) for r in flows] == [(59102, 53), (53, 59102)] * 2 + [(59102, 53)]


def test_policy_denied_drop(store: Store, tmp_path: Path) -> None:
    denied = flow_line(
        "DROPPED",
        drop_reason=133,
        drop_reason_desc="POLICY_DENIED",
        destination_names=["api.github.com"],
        egress_denied_by=[{"name": "default-deny-egress", "namespace": "payments", "labels": ["k8s:x=y"]}],
    )
    allowed = flow_line(
        time="2024-05-01T08:00:01Z",
        traffic_direction="INGRESS",
        source={"identity": 2, "labels": ["reserved:world"]},
        destination=endpoint("payments", "api-7d9f", 51234, ["k8s:io.cilium.k8s.policy.cluster=eu-1"]),
        ingress_allowed_by=[{"name": "allow-lb", "namespace": "payments"}],
    )
    clusterwide = flow_line("DROPPED", time="2024-05-01T08:00:02Z", egress_denied_by=[{"name": "ccnp-lockdown"}])
    assert ingest(store, write_lines(tmp_path / "flows.json", denied, allowed, clusterwide)).status == "succeeded"
    drop, allow, ccnp = rows(store)
    assert drop == {
        "ts": datetime(2024, 5, 1, 8, 0, 0, 123456, UTC),
        "cluster": "eu-1",
        "observer": "eu-1/node-a",
        "src_ip": "10.0.1.7",
        "src_port": 43210,
        "dst_ip": "140.82.112.4",
        "dst_port": 443,
        "protocol": "TCP",
        "src_namespace": "payments",
        "src_pod": "api-7d9f",
        "src_identity": "51234",
        "src_labels": ["k8s:app=api", "k8s:io.cilium.k8s.policy.cluster=eu-1"],
        "dst_namespace": None,
        "dst_pod": None,
        "dst_identity": "2",
        "dst_labels": ["reserved:world"],
        "dst_fqdn": "api.github.com",
        "direction": "egress",
        "verdict": "deny",
        "reason": "POLICY_DENIED",
        "policy": "payments/default-deny-egress",
        "bytes": None,
        "packets": None,
    }
    assert (allow["verdict"], allow["reason"], allow["policy"], allow["direction"], allow["cluster"]) == (
        "allow",
        None,
        "payments/allow-lb",
        "ingress",
        "eu-1",
    )
    assert (ccnp["verdict"], ccnp["reason"], ccnp["policy"]) == ("deny", "DROPPED", "ccnp-lockdown")


def test_lost_events_and_node_status_are_skipped(store: Store, tmp_path: Path) -> None:
    lost = {"lost_events": {"source": "HUBBLE_RING_BUFFER", "num_events_lost": "12"}, "time": "2024-05-01T08:00:00Z"}
    status = {"node_status": {"state_change": "NODE_CONNECTED", "node_names": ["eu-1/node-a"]}, "node_name": "x"}
    path = write_lines(
        tmp_path / "flows.json", json.dumps(lost), flow_line(), json.dumps(status), '{"debug_event": {"type": 1}}'
    )
    result = ingest(store, path)
    assert result.status == "succeeded", result
    assert artifact(store) == ("fallback", 1, 0, {"lost_events": 1, "node_status": 1, "not a flow": 1})
    assert [(r["src_pod"], r["verdict"]) for r in rows(store)] == [("api-7d9f", "allow")]


def test_input_cluster_overrides_the_label(store: Store) -> None:
    assert ingest(store, DATA / "basic-sample-5-dns-flows.json", cluster="prod-eu").status == "succeeded"
    assert store.con.execute("SELECT cluster, count(*) FROM flows GROUP BY ALL").fetchall() == [("prod-eu", 5)]
    assert artifact(store)[0] == "prod-eu"


def test_flow_without_cluster_label_takes_the_source_cluster(store: Store, tmp_path: Path) -> None:
    line = flow_line(source=endpoint("payments", "api-7d9f", 51234, ["k8s:app=api"]), node_name="node-a")
    assert ingest(store, write_lines(tmp_path / "flows.json", line)).status == "succeeded"
    assert [r["cluster"] for r in rows(store)] == ["fallback"]


def test_flow_without_cluster_label_takes_the_cluster_prefix_of_its_node(store: Store, tmp_path: Path) -> None:
    """Cilium names a node ``<cluster>/<node>`` when its cluster is not ``default`` (``GetAbsoluteNodeName``,
    cilium pkg/node): through Hubble Relay of a Cluster Mesh, a flow whose local endpoint has no cluster label (the
    host, a world address) is the cluster of the node that saw it, not the source's default."""
    host = {"identity": 1, "labels": ["reserved:host"]}
    world = {"identity": 2, "labels": ["reserved:world"]}
    ingress = flow_line("DROPPED", source=world, destination=host, traffic_direction="INGRESS", node_name="us-2/n-b")
    bare = json.loads(flow_line(source=host, destination=world))
    del bare["flow"]["node_name"]  # the event's node_name only
    bare["node_name"] = "us-3/n-c"
    labelled = flow_line(node_name="us-2/n-b")  # the local endpoint's label first
    result = ingest(store, write_lines(tmp_path / "flows.json", ingress, json.dumps(bare), labelled))
    assert result.status == "succeeded"
    assert [(r["cluster"], r["observer"], r["verdict"]) for r in rows(store, order="observer, cluster")] == [
        ("eu-1", "us-2/n-b", "allow"),
        ("us-2", "us-2/n-b", "deny"),
        ("us-3", "us-3/n-c", "allow"),
    ]


def test_icmpv4_flows(store: Store, tmp_path: Path) -> None:
    assert ingest(store, write_lines(tmp_path / "flows.json", ICMP_REQUEST, ICMP_REPLY)).status == "succeeded"
    request, reply = rows(store)
    assert request["ts"] == datetime(2021, 11, 10, 10, 41, 26, 95336, UTC)
    assert (request["protocol"], request["src_port"], request["dst_port"]) == ("ICMP", None, None)
    assert (request["src_ip"], request["dst_ip"], request["dst_labels"]) == (
        "10.244.0.148",
        "10.244.0.160",
        ["reserved:health"],
    )
    assert (reply["protocol"], reply["src_port"], reply["dst_port"], reply["observer"]) == (
        "ICMP",
        None,
        None,
        "kind-control-plane",
    )


def test_malformed_lines_are_rejected(store: Store, tmp_path: Path) -> None:
    broken = '{"flow": {"time": "2024-05-01T08:00:00Z", "verdict": "FORWARDED"'
    unknown = flow_line("VERDICT_UNKNOWN", time="2024-05-01T08:00:03Z")
    no_time = flow_line(time="yesterday")
    result = ingest(store, write_lines(tmp_path / "flows.json", flow_line(), broken, unknown, no_time))
    assert result.status == "partial"
    assert len(rows(store)) == 1
    reasons = store.con.execute("SELECT reason, count FROM ingest_rejects ORDER BY reason").fetchall()
    assert reasons == [("invalid JSON", 1), ("no valid timestamp", 1), ("unknown verdict", 1)]


def test_bare_flows_of_older_clis_are_read_like_wrapped_ones(store: Store, tmp_path: Path) -> None:
    policy = [{"name": "deny", "namespace": "p"}]
    wrapped = flow_line("DROPPED", drop_reason_desc="POLICY_DENIED", egress_denied_by=policy)
    bare = json.dumps(json.loads(wrapped)["flow"])  # `hubble observe -o json` before the {"flow": …} envelope
    assert ingest(store, write_lines(tmp_path / "wrapped.json", wrapped)).status == "succeeded"
    assert ingest(store, write_lines(tmp_path / "bare.json", bare)).status == "succeeded"
    first, second = rows(store)
    assert first == second
    assert (first["verdict"], first["reason"], first["policy"]) == ("deny", "POLICY_DENIED", "p/deny")


def test_corpus_l7_http_and_redirected_flows(store: Store) -> None:
    """Real captures: L7 HTTP flows (``"Type": "L7"``, request and reply) of a GKE cluster and the first REDIRECTED
    flows (to the proxy) of a kind cluster load as allowed flows with their L3/L4 fields and the cluster label."""
    http, redirected = (
        DATA / "basic-sample-5-http-flows.json",
        DATA / "basic-sample-400-l7-redirected-flows.first-3.json",
    )
    assert ingest(store, http).status == "succeeded"
    assert ingest(store, redirected).status == "succeeded"
    got = rows(store)
    assert len(got) == 8
    assert {(r["cluster"], r["verdict"], r["reason"], r["direction"]) for r in got} == {
        ("default", "allow", None, "egress"),
        ("kind-kind", "allow", None, "egress"),
    }
    first = got[0]
    assert (first["ts"], first["src_ip"], first["src_port"], first["dst_ip"], first["dst_port"]) == (
        datetime(2021, 10, 4, 14, 28, 38, 735173, UTC),
        "10.156.2.7",
        48532,
        "10.128.0.4",
        9990,
    )
    assert (first["protocol"], first["src_pod"], first["dst_labels"]) == (
        "TCP",
        "prometheus-6655946b9f-6xcpf",
        ["reserved:world"],
    )
    dns = got[5]
    assert (dns["protocol"], dns["dst_port"], dns["src_pod"], dns["dst_pod"], dns["observer"]) == (
        "UDP",
        53,
        "ratings-v1-b6994bb9-jgqxb",
        "coredns-558bd4d5db-w2m67",
        "kind-control-plane",
    )
