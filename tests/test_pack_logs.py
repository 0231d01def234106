"""The built-in logs pack: each rule of each claim, on small Hubble, Envoy and VPC flow logs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from helpers import named, write

from collector.claims import ClaimResult, Settings, evaluate_pack, load_pack, resolve_pack
from collector.query_results import QueryResult
from collector.runner import run_source
from collector.store import Store
from sources.kubernetes.source import KubernetesSource
from sources.logs.source import LogsSource

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
NAMESPACES = """
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {defensible.io/regulated: "true"}}
---
apiVersion: v1
kind: Namespace
metadata: {name: web}
"""
API_POD = "api-6d5f7c8b9d-x2x4z"  # workload "api" (Deployment pod name: ReplicaSet hash and random suffix)
WORLD = ("reserved:world",)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def flow(
    minutes: float,
    dst_ip: str,
    port: int = 443,
    *,
    fqdn: str | None = None,
    src: tuple[str, str] = ("shop", API_POD),
    labels: tuple[str, ...] | None = WORLD,
    identity: int | None = None,
    dst_namespace: str | None = None,
    direction: str = "EGRESS",
    verdict: str = "FORWARDED",
) -> dict[str, Any]:
    """A Hubble event line (``hubble observe -o json``)."""
    destination: dict[str, Any] = {}
    if labels is not None:
        destination["labels"] = list(labels)
    if identity is not None:
        destination["identity"] = identity
    if dst_namespace:
        destination |= {"namespace": dst_namespace, "pod_name": f"{dst_namespace}-0"}
    event: dict[str, Any] = {
        "time": f"{at(minutes):%Y-%m-%dT%H:%M:%S}.123456789Z",
        "verdict": verdict,
        "IP": {"source": "10.8.3.14", "destination": dst_ip},
        "l4": {"TCP": {"source_port": 40000, "destination_port": port}},
        "source": {"identity": 4242, "namespace": src[0], "pod_name": src[1], "labels": [f"k8s:app={src[0]}"]},
        "destination": destination,
        "traffic_direction": direction,
    }
    if fqdn:
        event["destination_names"] = [fqdn]
    if verdict == "DROPPED":
        event["drop_reason_desc"] = "POLICY_DENIED"
    return {"flow": event, "node_name": "node-1", "time": event["time"]}


def deny(minutes: float) -> dict[str, Any]:
    return flow(minutes, "198.51.100.99", fqdn="blocked.example.net", verdict="DROPPED")


def access(
    minutes: float,
    *,
    authority: str = "shop.example.com",
    route: str = "shop.shop.0",
    upstream_host: str = "10.8.3.14:8080",
    upstream_cluster: str = "outbound|8080||shop.shop.svc.cluster.local",
    request_id: str = "5735b2d0-4949-9384-b082-9d4c368eb9dc",
    status: int = 200,
    flags: str = "-",
    details: str = "via_upstream",
) -> str:
    """An Istio default-format access log line."""
    return (
        f'[{at(minutes):%Y-%m-%dT%H:%M:%S}.000Z] "GET /orders HTTP/1.1" {status} {flags} {details} - "-" 0 135 25 24 '
        f'"-" "curl/8.5.0" "{request_id}" "{authority}" "{upstream_host}" {upstream_cluster} 10.8.1.7:51234 '
        f"10.8.1.7:8443 203.0.113.5:50514 {authority} {route}"
    )


class Env:
    """Manifests and log files collected into one store, then the pack evaluated."""

    def __init__(self, store: Store, tmp_path: Path) -> None:
        self.store, self.tmp = store, tmp_path

    def manifests(self, text: str = NAMESPACES, cluster: str = "prod", allowlists: bool = True) -> None:
        path = write(self.tmp / cluster / "k8s.yaml", text)
        config = {"paths": [str(path)], "cluster": cluster, "egress_allowlists": allowlists}
        result = run_source(self.store, KubernetesSource(), config)
        assert result.status == "succeeded", result.error

    def logs(self, fmt: str, lines: list[Any], cluster: str = "prod") -> Path:
        path = self.tmp / "logs" / f"{cluster}-{fmt}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join((json.dumps(x) if isinstance(x, dict) else x) + "\n" for x in lines))
        result = run_source(
            self.store, LogsSource(), {"inputs": [{"format": fmt, "paths": [str(path)]}], "cluster": cluster}
        )
        assert result.status in ("succeeded", "partial"), result.error
        return path

    def evaluate(self, **parameters: Any) -> dict[str, ClaimResult]:
        results = evaluate_pack(self.store, load_pack(resolve_pack("logs")), Settings(parameters))
        return {r.claim.id: r for r in results}


@pytest.fixture
def env(store: Store, tmp_path: Path) -> Env:
    return Env(store, tmp_path)


def table(result: QueryResult, *columns: str) -> list[tuple]:
    index = [result.columns.index(c) for c in columns]
    rows = [tuple(row[i] for i in index) for row in result.rows]
    return sorted(rows, key=lambda row: tuple((value is not None, value) for value in row))  # NULL first


def gap_destinations(result: ClaimResult) -> set[str]:
    return {row[0] for row in table(result.gaps, "destination")}


# egress-controlled ------------------------------------------------------------------------------------


def test_egress_satisfied_when_every_external_destination_is_allowlisted(env: Env) -> None:
    env.manifests()
    path = env.logs(
        "hubble",
        [
            flow(0, "203.0.113.10", fqdn="api.payments.example.net."),
            flow(1, "203.0.113.10", fqdn="api.payments.example.net"),
            flow(2, "10.20.0.15", 5432),  # reserved:world with a private address: a VPC database
            flow(3, "10.8.4.21", 8080, labels=("k8s:app=db",), dst_namespace="data"),  # inside the cluster
            flow(4, "198.51.100.23", fqdn="paste.example.org", src=("web", "web-7d9f8b6c5d-x2x4z")),  # unregulated
            flow(5, "198.51.100.23", fqdn="paste.example.org", verdict="DROPPED"),  # denied
            flow(6, "198.51.100.23", direction="INGRESS"),  # reply of an inbound connection
            deny(7),
        ],
    )
    results = env.evaluate(egress_allowlist=["api.payments.example.net", "10.20.0.0/16"])

    egress = results["egress-controlled"]
    assert egress.verdict == "satisfied", egress.reason
    assert table(egress.evidence, "cluster", "namespace", "object", "destination", "port", "flows", "allowed_by") == [
        ("prod", "shop", "api", "10.20.0.15", 5432, 1, "10.20.0.0/16 (parameter egress_allowlist)"),
        (
            "prod",
            "shop",
            "api",
            "api.payments.example.net",
            443,
            2,
            "api.payments.example.net (parameter egress_allowlist)",
        ),
    ]
    assert table(egress.evidence, "first_ts", "last_ts", "location") == [
        (at(0) + timedelta(microseconds=123456), at(1) + timedelta(microseconds=123456), named(path)),
        (at(2) + timedelta(microseconds=123456), at(2) + timedelta(microseconds=123456), named(path)),
    ]


def test_egress_gap_rows_are_aggregated_per_workload_destination_and_port(env: Env) -> None:
    env.manifests()
    other_pod = "api-6d5f7c8b9d-bqz7w"
    path = env.logs(
        "hubble",
        [
            flow(0, "198.51.100.23", fqdn="paste.example.org"),
            flow(5, "198.51.100.24", fqdn="paste.example.org", src=("shop", other_pod)),
            flow(9, "198.51.100.23", fqdn="paste.example.org"),
            flow(10, "198.51.100.23", 80, fqdn="paste.example.org"),
            flow(11, "192.0.2.7", 8443),
            flow(12, "192.0.2.7", 8443, src=("shop", "worker-0")),  # a StatefulSet pod keeps its name
        ],
    )
    egress = env.evaluate()["egress-controlled"]

    assert egress.verdict == "gap"
    columns = ("cluster", "namespace", "object", "destination", "port", "addresses", "flows", "first_ts", "last_ts")
    ms = timedelta(microseconds=123456)
    assert table(egress.gaps, *columns) == [
        ("prod", "shop", "api", "192.0.2.7", 8443, "192.0.2.7", 1, at(11) + ms, at(11) + ms),
        ("prod", "shop", "api", "paste.example.org", 80, "198.51.100.23", 1, at(10) + ms, at(10) + ms),
        ("prod", "shop", "api", "paste.example.org", 443, "198.51.100.23, 198.51.100.24", 3, at(0) + ms, at(9) + ms),
        ("prod", "shop", "worker-0", "192.0.2.7", 8443, "192.0.2.7", 1, at(12) + ms, at(12) + ms),
    ]
    [row] = [r for r in egress.gaps.rows if r[egress.gaps.columns.index("port")] == 80]
    gap = dict(zip(egress.gaps.columns, row, strict=True))
    assert gap["finding"] == (
        "allowed egress from regulated namespace shop to paste.example.org port 80 outside the cluster, "
        "not on the egress allowlist"
    )
    assert gap["location"] == named(path) and gap["source"] == "logs" and len(gap["artifact_sha256"]) == 64
    assert egress.evidence.rows == []


def test_which_destinations_are_outside_the_cluster(env: Env) -> None:
    env.manifests()
    env.logs(
        "hubble",
        [
            flow(0, "198.51.100.1"),  # reserved:world
            flow(1, "198.51.100.2", labels=("cidr:198.51.100.0/24", "reserved:world-ipv4")),
            flow(2, "198.51.100.3", labels=(), identity=2),  # the world identity without labels
            flow(3, "198.51.100.4", labels=("reserved:world",), dst_namespace="kube-system"),  # names a namespace
            flow(4, "10.8.0.1", labels=("reserved:host",), identity=1),
            flow(5, "198.51.100.6", labels=("reserved:kube-apiserver",), identity=7),
            flow(6, "8.8.8.8", labels=None),  # no labels nor identity: decided by the address
            flow(7, "10.1.2.3", labels=None),
            flow(8, "100.64.1.1", labels=None),
            flow(9, "2001:db8::1", labels=None),
            flow(10, "fd00::1", labels=None),
            flow(11, "fe80::1", labels=None),
        ],
    )
    assert gap_destinations(env.evaluate()["egress-controlled"]) == {
        "198.51.100.1",
        "198.51.100.2",
        "198.51.100.3",
        "8.8.8.8",
        "2001:db8::1",
    }


def test_cidr_matching(env: Env) -> None:
    env.manifests()
    world = ["198.51.100.7", "198.51.100.8", "10.9.9.9", "100.64.1.1", "11.0.0.1", "192.0.2.1", "203.0.113.5"]
    env.logs("hubble", [flow(i, ip) for i, ip in enumerate(world)])

    allowlist = ["198.51.100.7/32", "10.0.0.0/8", "300.1.1.1", "192.0.2.0/33", "203.0.113.99/24"]
    results = env.evaluate(egress_allowlist=allowlist)
    assert gap_destinations(results["egress-controlled"]) == {
        "198.51.100.8",  # /32 is one address
        "100.64.1.1",  # 10.0.0.0/8 is not a text prefix of 100.x
        "11.0.0.1",
        "192.0.2.1",  # invalid entries match nothing
        "300.1.1.1",  # and are gaps themselves
        "192.0.2.0/33",
    }
    allowed = table(results["egress-controlled"].evidence, "destination", "allowed_by")
    assert ("203.0.113.5", "203.0.113.99/24 (parameter egress_allowlist)") in allowed  # host bits ignored


def test_name_pattern_matching(env: Env) -> None:
    env.manifests()
    names = ["api.example.com", "a.b.example.com", "Upper.Example.COM.", "example.com", "badexample.com", "other.org"]
    env.logs("hubble", [flow(i, f"198.51.100.{i}", fqdn=name) for i, name in enumerate(names)])

    wildcard = env.evaluate(egress_allowlist=["*.example.com"])["egress-controlled"]
    assert gap_destinations(wildcard) == {"example.com", "badexample.com", "other.org"}
    assert {row[0] for row in table(wildcard.evidence, "destination")} == {
        "api.example.com",
        "a.b.example.com",
        "upper.example.com",
    }
    exact = env.evaluate(egress_allowlist=["EXAMPLE.com", "198.51.100.5"])["egress-controlled"]
    assert gap_destinations(exact) == {"api.example.com", "a.b.example.com", "upper.example.com", "badexample.com"}


CONFIGMAP = """
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: egress-allowlist
  namespace: platform
  labels: {defensible.io/egress-allowlist: "true"}
data:
  hosts: |
    # payment providers
    *.payments.example.net   # PCI scope

  networks: "10.20.0.0/16"
---
apiVersion: v1
kind: ConfigMap
metadata: {name: unlabelled, namespace: platform}
data: {hosts: "*"}
"""


def test_configmap_allowlist_applies_to_its_own_cluster(env: Env) -> None:
    env.manifests(NAMESPACES + CONFIGMAP, cluster="prod")
    env.manifests(NAMESPACES, cluster="staging")
    for minutes, cluster in ((0, "prod"), (10, "staging")):
        calls = [flow(minutes, "203.0.113.10", fqdn="api.payments.example.net"), flow(minutes, "10.20.0.15", 5432)]
        env.logs("hubble", calls, cluster=cluster)

    egress = env.evaluate()["egress-controlled"]
    assert table(egress.evidence, "cluster", "destination", "allowed_by") == [
        ("prod", "10.20.0.15", "10.20.0.0/16 (ConfigMap platform/egress-allowlist data.networks)"),
        ("prod", "api.payments.example.net", "*.payments.example.net (ConfigMap platform/egress-allowlist data.hosts)"),
    ]
    assert table(egress.gaps, "cluster", "destination") == [
        ("staging", "10.20.0.15"),
        ("staging", "api.payments.example.net"),
    ]
    # the parameter applies to every cluster, on top of the ConfigMaps
    both = env.evaluate(egress_allowlist=["*.example.net", "10.20.0.15"])["egress-controlled"]
    assert both.verdict == "satisfied" and len(both.evidence.rows) == 4


def test_configmaps_not_collected_allow_nothing(env: Env) -> None:
    env.manifests(NAMESPACES + CONFIGMAP, allowlists=False)
    env.logs("hubble", [flow(0, "203.0.113.10", fqdn="api.payments.example.net")])
    assert gap_destinations(env.evaluate()["egress-controlled"]) == {"api.payments.example.net"}


def test_internal_cidrs_and_window_parameters(env: Env) -> None:
    env.manifests()
    env.logs("hubble", [flow(0, "10.1.2.3", labels=None), flow(30, "198.51.100.1", fqdn="late.example.org")])
    assert gap_destinations(env.evaluate()["egress-controlled"]) == {"late.example.org"}
    assert gap_destinations(env.evaluate(internal_cidrs=[])["egress-controlled"]) == {"10.1.2.3", "late.example.org"}
    # since is inclusive, until exclusive; the values are ISO 8601 text, as --param and defensible.yaml give them
    early = env.evaluate(internal_cidrs=[], window_until="2026-01-05T10:30:00.123456789Z")["egress-controlled"]
    assert gap_destinations(early) == {"10.1.2.3"}
    since = (at(30) + timedelta(microseconds=123456)).isoformat()
    late = env.evaluate(internal_cidrs=[], window_since=since)["egress-controlled"]
    assert gap_destinations(late) == {"late.example.org"}


def test_egress_without_evidence(env: Env) -> None:
    assert env.evaluate()["egress-controlled"].reason == (
        "required evidence not collected: table flows, log_artifacts, k8s_objects absent"
    )
    env.logs("hubble", [flow(0, "10.8.4.21", labels=("k8s:app=db",), dst_namespace="data")])
    assert env.evaluate()["egress-controlled"].reason == "required evidence not collected: table k8s_objects absent"
    env.manifests()
    egress = env.evaluate()["egress-controlled"]
    assert (egress.verdict, egress.reason) == ("no-evidence", "evidence query returned no rows")


# policy-denies-visible --------------------------------------------------------------------------------


def test_denies_visible_when_every_cluster_logs_denies_without_silence(env: Env) -> None:
    env.manifests()
    path = env.logs("hubble", [deny(0), flow(20, "10.8.4.21", labels=("k8s:app=db",), dst_namespace="d"), deny(60)])
    env.logs("envoy", [access(30, status=403, details="rbac_access_denied_matched_policy[none]", route="-")])

    result = env.evaluate()["policy-denies-visible"]
    assert result.verdict == "satisfied", result.reason
    ms = timedelta(microseconds=123456)
    assert table(result.evidence, "cluster", "object", "records", "first_ts", "last_ts", "detail") == [
        ("prod", "node node-1", 2, at(0) + ms, at(60) + ms, "2 NetworkPolicy drop(s) (POLICY_DENIED)"),
        ("prod", "node node-1", 3, at(0) + ms, at(60) + ms, "3 flow record(s)"),
    ]  # the access log's RBAC 403 is no NetworkPolicy drop
    assert named(path) in {row[0] for row in table(result.evidence, "location")}


def test_denies_gaps_missing_cluster_silence_and_lost_records(env: Env) -> None:
    env.manifests()
    env.manifests(NAMESPACES, cluster="staging")  # in the inventory, never logged
    path = env.logs(
        "hubble",
        [
            deny(0),
            flow(10, "198.51.100.1", fqdn="a.example.com"),
            deny(95),  # 85 minutes without a flow record
            {"lost_events": {"source": "HUBBLE_RING_BUFFER", "num_events_lost": "12"}, "time": "2026-01-05T11:40:00Z"},
            "not json",  # a malformed line: a note, not a gap
            deny(100),
        ],
    )
    result = env.evaluate()["policy-denies-visible"]

    assert result.verdict == "gap"
    ms = timedelta(microseconds=123456)
    assert table(result.gaps, "cluster", "object", "gap_start", "gap_end", "finding") == [
        ("prod", f"log file {named(path)}", at(0) + ms, at(100) + ms,
         "1 lost_events record(s): the hubble log lost records"),
        ("prod", "node node-1", at(10) + ms, at(95) + ms,
         "no flow log record for 85.0 minutes, more than max_log_gap_minutes (60)"),
        ("staging", "cluster staging", None, None,
         "no NetworkPolicy enforcement drop (Hubble DROPPED, POLICY_DENIED) in the window"),
    ]  # fmt: skip
    assert table(result.evidence, "object", "detail") == [
        (f"log file {named(path)}", "note: 1 malformed line(s) rejected; 4 record(s) loaded"),
        ("node node-1", "3 NetworkPolicy drop(s) (POLICY_DENIED)"),
        ("node node-1", "4 flow record(s)"),
    ]

    relaxed = env.evaluate(max_log_gap_minutes=90, lost_data_markers=["SKIPDATA"])["policy-denies-visible"]
    assert table(relaxed.gaps, "cluster") == [("staging",)]


def test_vpc_skipdata_and_window_edges_are_gaps(env: Env) -> None:
    env.manifests()
    start = int(T0.timestamp())
    path = env.logs(
        "vpcflow",
        [
            "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action "
            "log-status",
            f"2 123456789010 eni-1 10.0.0.5 198.51.100.1 49152 443 6 10 840 {start} {start + 60} REJECT OK",
            f"2 123456789010 eni-1 - - - - - - - {start + 600} {start + 660} - SKIPDATA",
            f"2 123456789010 eni-1 10.0.0.5 10.0.0.6 49153 5432 6 4 320 {start + 1200} {start + 1260} ACCEPT OK",
        ],
    )
    result = env.evaluate()
    no_drop = "no NetworkPolicy enforcement drop (Hubble DROPPED, POLICY_DENIED) in the window"
    assert table(result["policy-denies-visible"].gaps, "finding") == [
        ("1 SKIPDATA record(s): the vpcflow log lost records",),
        (f"{no_drop} (only 1 other deny record(s): vpcflow deny)",),  # a security-group/NACL REJECT
    ]
    windowed = env.evaluate(window_since=at(-90).isoformat(), window_until=at(200).isoformat())["policy-denies-visible"]
    assert table(windowed.gaps, "object", "finding")[0] == (
        "cluster prod",
        f"{no_drop} (only 1 other deny record(s): vpcflow deny)",
    )
    assert [row for row in table(windowed.gaps, "object", "gap_start", "gap_end", "finding") if row[1]] == [
        (
            "flow logs of prod",
            at(-90),
            at(0),
            "no flow log record for 90.0 minutes, more than max_log_gap_minutes (60)",
        ),
        (
            "flow logs of prod",
            at(20),
            at(200),
            "no flow log record for 180.0 minutes, more than max_log_gap_minutes (60)",
        ),
        (f"log file {named(path)}", at(0), at(20), "1 SKIPDATA record(s): the vpcflow log lost records"),
    ]


def test_denies_without_evidence(env: Env) -> None:
    env.logs("envoy", [access(0)])
    assert (
        env.evaluate()["policy-denies-visible"].reason == "required evidence not collected: table k8s_inventory absent"
    )


# incidents-traceable ----------------------------------------------------------------------------------


def test_traceable_when_requests_carry_route_backend_and_id(env: Env) -> None:
    env.manifests()  # no gateway: only the requests are judged
    path = env.logs(
        "envoy",
        [
            access(0),
            access(1, upstream_host="-", flags="UH", details="no_healthy_upstream", status=503),  # cluster suffices
            access(
                2, route="-", upstream_host="-", upstream_cluster="-", flags="NR", details="route_not_found", status=404
            ),
            access(3, authority="admin.example.com"),
        ],
    )
    result = env.evaluate()["incidents-traceable"]
    assert result.verdict == "satisfied", result.reason
    assert table(result.evidence, "cluster", "authority", "requests", "first_ts", "last_ts", "location") == [
        ("prod", "admin.example.com", 1, at(3), at(3), named(path)),
        ("prod", "shop.example.com", 3, at(0), at(2), named(path)),
    ]


def test_untraceable_requests_are_counted_per_authority(env: Env) -> None:
    env.manifests()
    path = env.logs(
        "envoy",
        [
            access(0),
            access(1, route="-"),
            access(2, route="-", request_id="-"),
            access(3, upstream_host="-", upstream_cluster="-"),
            access(4, route="-", upstream_host="-", upstream_cluster="-", flags="NR", request_id="-", status=404),
            access(5, authority="admin.example.com", request_id="-"),
            access(6, route="-", authority="-"),  # no route name, and no authority to match a route on
        ],
    )
    result = env.evaluate()["incidents-traceable"]
    assert result.verdict == "gap"
    columns = ("cluster", "log_format", "object", "authority", "requests", "missing_route", "missing_backend")
    unnamed = "access log of (proxy not named)"
    assert table(result.gaps, *columns, "missing_id", "finding", "location") == [
        ("prod", "envoy", unnamed, None, 1, 1, 0, 0, "1 without route of 1 request(s)", named(path)),
        (
            "prod",
            "envoy",
            unnamed,
            "admin.example.com",
            1,
            0,
            0,
            1,
            "1 without trace or request id of 1 request(s)",
            named(path),
        ),
        (
            "prod",
            "envoy",
            unnamed,
            "shop.example.com",
            5,
            0,
            1,
            2,
            "1 without backend, 2 without trace or request id of 5 request(s)",
            named(path),
        ),
    ]  # fmt: skip  (no route name but the authority and path it was matched on: traceable)
    assert table(result.evidence, "authority", "requests") == [("shop.example.com", 2)]


def test_traceable_without_access_logs(env: Env) -> None:
    assert env.evaluate()["incidents-traceable"].reason == (
        "required evidence not collected: table http_access, log_artifacts, k8s_inventory absent"
    )
    env.manifests()
    env.logs("hubble", [deny(0)])
    result = env.evaluate()["incidents-traceable"]
    assert (result.verdict, result.reason) == ("no-evidence", "evidence query returned no rows")


def test_rows_of_failed_runs_do_not_count(env: Env, store: Store) -> None:
    env.manifests()
    env.logs("envoy", [access(0, route="-")])
    store.con.execute("UPDATE runs SET status = 'failed' WHERE source = 'logs'")
    result = env.evaluate()["incidents-traceable"]
    assert (result.verdict, result.gaps.rows) == ("no-evidence", [])


# the demo ---------------------------------------------------------------------------------------------


def test_demo_shows_one_egress_gap_visible_denies_and_an_unlogged_gateway(demo_dir: Path) -> None:
    evidence = demo_dir / "bundle" / "evidence" / "logs"
    [gap] = json.loads((evidence / "egress-controlled" / "gaps.json").read_text())
    assert (gap["cluster"], gap["namespace"], gap["object"], gap["destination"], gap["port"], gap["flows"]) == (
        "casework-prod",
        "admin-console",
        "admin-console",
        "paste.example.org",
        443,
        3,
    )
    assert gap["location"] == "logs:hubble-flows.json"
    allowed = json.loads((evidence / "egress-controlled" / "evidence.json").read_text())
    assert sorted((r["destination"], r["allowed_by"].split(" (")[0]) for r in allowed) == [
        ("10.20.0.15", "10.20.0.0/16"),
        ("api.payments.example.net", "203.0.113.0/24"),  # the SaaS range also holds the payments provider
        ("sqs.eu-west-1.amazonaws.com", "*.amazonaws.com"),
    ]
    assert all("ConfigMap platform/egress-allowlist" in r["allowed_by"] for r in allowed)
    assert json.loads((evidence / "policy-denies-visible" / "gaps.json").read_text()) == []  # both nodes, drops
    [gap] = json.loads((evidence / "incidents-traceable" / "gaps.json").read_text())
    assert gap["object"] == "Gateway gateway-infra/internal-gateway"  # no access log; the public one has its own
    covered = json.loads((evidence / "incidents-traceable" / "evidence.json").read_text())
    assert "Gateway gateway-infra/public-gateway" in {r["object"] for r in covered}
