"""The ``envoy`` log format: Envoy/Istio text and JSON access logs into ``http_access``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import duckdb
from helpers import collect_logs, table_rows, write_lines

from collector.store import Store
from sources.logs.formats import envoy

DATA = Path(__file__).parent / "data" / "logs" / "envoy"
COLUMNS = (
    "ts",
    "route",
    "upstream_cluster",
    "upstream_host",
    "authority",
    "method",
    "path",
    "protocol",
    "status",
    "response_flags",
    "response_details",
    "duration_ms",
    "bytes_received",
    "bytes_sent",
    "src_ip",
    "src_principal",
    "dst_principal",
    "mtls",
    "verdict",
    "trace_id",
    "request_id",
    "user_agent",
    "gateway",
)
PLAIN = (
    '[2024-03-05T10:00:00.250Z] "POST /api/v1/orders?x=1 HTTP/2" 201 - 512 64 12 10 "203.0.113.9, 10.0.0.1" '
    '"okhttp/4.9" "req-plain" "orders.example.com" "10.1.2.3:8080"'
)
RBAC_DENIED = (
    '[2024-03-05T10:00:01.000Z] "GET /admin HTTP/1.1" 403 - '
    'rbac_access_denied_matched_policy[ns[foo]-policy[deny-all]-rule[0]] - "-" 0 19 0 - "-" "curl/8.5.0" '
    '"req-rbac" "admin.foo:8000" "-" inbound|8000|| - 10.244.0.12:8000 [2001:db8::7]:40312 '
    "outbound_.8000_._.admin.foo.svc.cluster.local default"
)
UPSTREAM_403 = (
    '[2024-03-05T10:00:02.000Z] "GET /private HTTP/1.1" 403 - via_upstream - "-" 0 9 3 2 "-" "curl/8.5.0" '
    '"req-403" "web.foo:80" "10.244.0.20:80" outbound|80||web.foo.svc.cluster.local 10.244.0.12:51000 '
    "10.96.0.5:80 10.244.0.12:50999 - default"
)


ingest = partial(collect_logs, log_format="envoy")
rows = partial(table_rows, table="http_access", columns=COLUMNS)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_istio_corpus(store: Store) -> None:
    result = ingest(store, DATA / "istio-access-failed.log")
    assert result.status == "succeeded", result
    assert result.counts["http_access"] == 8
    by_request = {r["request_id"]: r for r in rows(store)}
    ok = by_request["adc1465d-589f-9119-bdcf-2ea373ff7d7a"]
    assert ok == {
        "ts": at("2022-06-22T10:27:00.362"),
        "route": "default",
        "upstream_cluster": "outbound|8000||httpbin.default.svc.cluster.local",
        "upstream_host": "172.17.0.7:80",
        "authority": "httpbin:8000",
        "method": "GET",
        "path": "/status/418",
        "protocol": "HTTP/1.1",
        "status": 418,
        "response_flags": None,
        "response_details": "via_upstream",
        "duration_ms": 25,
        "bytes_received": 0,
        "bytes_sent": 135,
        "src_ip": "172.17.0.6",
        "src_principal": None,
        "dst_principal": None,
        "mtls": None,
        "verdict": "allow",
        "trace_id": None,
        "request_id": "adc1465d-589f-9119-bdcf-2ea373ff7d7a",
        "user_agent": "curl/7.83.1-DEV",
        "gateway": None,
    }
    failed = by_request["56446678-64f3-9fbf-9c4a-eca01fafba4d"]
    assert failed["response_flags"] == "UF"
    assert (
        failed["response_details"]
        == "upstream_reset_before_response_started{connection_failure,delayed_connect_error:_111}"
    )
    assert (failed["upstream_cluster"], failed["upstream_host"], failed["src_ip"]) == (
        "inbound|9080||",
        "10.124.2.14:9080",
        "10.124.1.6",
    )
    not_found = by_request["5169ae9d-b98e-9d3c-bf74-2fb5bc5102f3"]
    assert (not_found["status"], not_found["response_flags"], not_found["route"], not_found["upstream_cluster"]) == (
        404,
        "NR",
        None,
        None,
    )
    disconnected = by_request["2dc64af2-bd13-9962-819e-0b72064e7909"]
    assert (disconnected["status"], disconnected["response_flags"], disconnected["duration_ms"]) == (0, "DC", 746)
    (codec_error,) = rows(store, "response_flags = 'DPE'")
    assert (codec_error["method"], codec_error["path"], codec_error["request_id"], codec_error["src_ip"]) == (
        None,
        None,
        None,
        "10.128.0.60",
    )
    assert {r["verdict"] for r in rows(store)} == {"allow"}


def test_plain_envoy_line_takes_client_from_x_forwarded_for(store: Store, tmp_path: Path) -> None:
    assert ingest(store, write_lines(tmp_path / "access.log", PLAIN)).status == "succeeded"
    (row,) = rows(store)
    assert row["ts"] == at("2024-03-05T10:00:00.250")
    assert (row["method"], row["path"], row["protocol"], row["status"]) == ("POST", "/api/v1/orders?x=1", "HTTP/2", 201)
    assert (row["bytes_received"], row["bytes_sent"], row["duration_ms"]) == (512, 64, 12)
    assert (row["src_ip"], row["authority"], row["upstream_host"]) == (
        "203.0.113.9",
        "orders.example.com",
        "10.1.2.3:8080",
    )
    assert (row["upstream_cluster"], row["route"], row["response_details"]) == (None, None, None)


def test_access_prefix(store: Store, tmp_path: Path) -> None:
    assert ingest(store, write_lines(tmp_path / "access.log", f"ACCESS {PLAIN}")).status == "succeeded"
    assert [(r["request_id"], r["status"]) for r in rows(store)] == [("req-plain", 201)]


def test_rbac_denial_is_deny_but_upstream_403_is_allow(store: Store, tmp_path: Path) -> None:
    assert ingest(store, write_lines(tmp_path / "access.log", RBAC_DENIED, UPSTREAM_403)).status == "succeeded"
    denied, upstream = rows(store)
    assert denied["verdict"] == "deny"
    assert denied["response_details"] == "rbac_access_denied_matched_policy[ns[foo]-policy[deny-all]-rule[0]]"
    assert (denied["status"], denied["src_ip"], denied["route"]) == (403, "2001:db8::7", "default")
    assert (upstream["verdict"], upstream["status"], upstream["response_details"]) == ("allow", 403, "via_upstream")


def test_cri_and_docker_envelopes_are_unwrapped(store: Store, tmp_path: Path) -> None:
    cri = write_lines(tmp_path / "cri.log", f"2024-03-05T10:00:00.300000000Z stdout F {PLAIN}")
    docker = write_lines(
        tmp_path / "docker.log",
        json.dumps({"log": RBAC_DENIED + "\n", "stream": "stdout", "time": "2024-03-05T10:00:01.1Z"}),
    )
    result = ingest(store, cri, docker)
    assert result.status == "succeeded", result
    wrappers = store.con.execute("SELECT wrapper, records FROM log_artifacts ORDER BY wrapper").fetchall()
    assert wrappers == [("cri", 1), ("docker", 1)]
    assert [(r["request_id"], r["verdict"]) for r in rows(store)] == [("req-plain", "allow"), ("req-rbac", "deny")]


def istio_json(**overrides: Any) -> str:
    entry = {
        "start_time": "2024-03-05T11:00:00.500Z",
        "method": "GET",
        "path": "/reviews/1",
        "protocol": "HTTP/1.1",
        "response_code": 200,
        "response_flags": "-",
        "response_code_details": "via_upstream",
        "connection_termination_details": None,
        "bytes_received": 0,
        "bytes_sent": 358,
        "duration": 7,
        "upstream_service_time": "6",
        "x_forwarded_for": None,
        "user_agent": "Go-http-client/1.1",
        "request_id": "req-json",
        "authority": "reviews:9080",
        "upstream_host": "10.244.1.9:9080",
        "upstream_cluster": "inbound|9080||",
        "upstream_local_address": "127.0.0.6:43210",
        "downstream_local_address": "10.244.1.9:9080",
        "downstream_remote_address": "10.244.2.4:51234",
        "requested_server_name": "outbound_.9080_._.reviews.default.svc.cluster.local",
        "route_name": "default",
        "downstream_peer_uri_san": "spiffe://cluster.local/ns/default/sa/productpage",
        "traceparent": "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
    }
    return json.dumps(entry | overrides)


def test_json_lines(store: Store, tmp_path: Path) -> None:
    denied_tcp = istio_json(
        start_time="2024-03-05T11:00:01Z",
        method=None,
        path=None,
        protocol=None,
        response_code=0,
        response_flags="-",
        response_code_details=None,
        connection_termination_details="rbac_access_denied_matched_policy[none]",
        request_id=None,
        downstream_peer_uri_san="-",
        traceparent=None,
        x_b3_traceid="80f198ee56343ba864fe8b2a57d3eff7",
    )
    ext_authz = istio_json(
        start_time="2024-03-05T11:00:02Z",
        response_code=403,
        response_flags="UAEX",
        response_code_details="ext_authz_denied",
    )
    path = write_lines(tmp_path / "access.log", istio_json(), denied_tcp, ext_authz)
    assert ingest(store, path).status == "succeeded"
    allowed, denied, ext_denied = rows(store)
    assert allowed["ts"] == at("2024-03-05T11:00:00.500")
    assert (allowed["status"], allowed["response_details"], allowed["bytes_sent"], allowed["duration_ms"]) == (
        200,
        "via_upstream",
        358,
        7,
    )
    assert (allowed["src_ip"], allowed["upstream_cluster"], allowed["route"]) == (
        "10.244.2.4",
        "inbound|9080||",
        "default",
    )
    assert allowed["src_principal"] == "spiffe://cluster.local/ns/default/sa/productpage"
    assert (allowed["mtls"], allowed["verdict"]) == (True, "allow")
    assert allowed["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert (denied["verdict"], denied["status"], denied["response_flags"]) == ("deny", 0, None)
    assert (denied["mtls"], denied["src_principal"], denied["method"]) == (False, None, None)
    assert denied["trace_id"] == "80f198ee56343ba864fe8b2a57d3eff7"
    assert (ext_denied["verdict"], ext_denied["response_flags"], ext_denied["response_details"]) == (
        "deny",
        "UAEX",
        "ext_authz_denied",
    )


# Envoy Gateway's default JSON access log (gateway.envoyproxy.io, "Proxy Access Logs"): request headers under their
# own names; a line as `kubectl logs` of an Envoy Gateway proxy prints it (an envoyproxy/gateway example).
ENVOY_GATEWAY = {
    ":authority": "backend:3000", "bytes_received": 0, "bytes_sent": 466, "connection_termination_details": None,
    "downstream_local_address": "10.244.0.14:3000", "downstream_remote_address": "10.244.0.12:34805", "duration": 1,
    "method": "GET", "protocol": "HTTP/1.1", "requested_server_name": None, "response_code": 200,
    "response_code_details": "via_upstream", "response_flags": "-",
    "route_name": "httproute/envoy-gateway-system/backend/rule/0/match/0/backend",
    "start_time": "2025-04-09T11:44:45.639Z", "upstream_cluster": "httproute/envoy-gateway-system/backend/rule/0",
    "upstream_host": "10.244.0.13:3000", "upstream_local_address": "10.244.0.14:58822",
    "upstream_transport_failure_reason": None, "user-agent": "curl/7.88.1", "x-envoy-origin-path": "/",
    "x-envoy-upstream-service-time": None, "x-forwarded-for": "10.244.0.12",
    "x-request-id": "ab1e4da7-5f1d-45ea-bb4a-fa1ccd03b82b",
}  # fmt: skip


def test_envoy_gateway_json_keys_named_as_the_headers(store: Store, tmp_path: Path) -> None:
    """Envoy Gateway's default JSON keys ``:authority``, ``x-envoy-origin-path``, ``user-agent``, ``x-request-id``
    and ``x-forwarded-for`` give the request's authority, path, user agent, id and client; Istio's keys, when a line
    has both, come first."""
    denied = ENVOY_GATEWAY | {
        ":authority": "admin.example.com", "x-envoy-origin-path": "/admin?x=1", "response_code": 403,
        "response_flags": "RBAC", "response_code_details": "rbac_access_denied_matched_policy[none]",
        "downstream_remote_address": None, "x-forwarded-for": "203.0.113.7, 10.0.0.1", "x-request-id": "-",
        "start_time": "2025-04-09T11:44:46Z",
    }  # fmt: skip
    both = ENVOY_GATEWAY | {"authority": "istio.example", "path": "/istio", "start_time": "2025-04-09T11:44:47Z"}
    path = write_lines(tmp_path / "access.log", *(json.dumps(x) for x in (ENVOY_GATEWAY, denied, both)))
    assert ingest(store, path).status == "succeeded"
    allowed, rbac, istio_keys = rows(store)
    assert (allowed["authority"], allowed["path"], allowed["method"], allowed["status"]) == (
        "backend:3000",
        "/",
        "GET",
        200,
    )
    assert (allowed["user_agent"], allowed["request_id"]) == ("curl/7.88.1", "ab1e4da7-5f1d-45ea-bb4a-fa1ccd03b82b")
    assert (allowed["src_ip"], allowed["upstream_host"], allowed["verdict"]) == (
        "10.244.0.12",
        "10.244.0.13:3000",
        "allow",
    )
    assert allowed["route"] == "httproute/envoy-gateway-system/backend/rule/0/match/0/backend"
    assert (rbac["authority"], rbac["path"], rbac["src_ip"], rbac["request_id"], rbac["verdict"]) == (
        "admin.example.com",
        "/admin?x=1",
        "203.0.113.7",
        None,
        "deny",
    )
    assert (istio_keys["authority"], istio_keys["path"]) == ("istio.example", "/istio")


def test_each_line_is_read_as_json_or_text_on_its_own(store: Store, tmp_path: Path) -> None:
    """A proxy container's log (kubelet's file, ``kubectl logs -c istio-proxy``) starts with the agent's and Envoy's
    own lines, text or JSON: the access log lines after them, JSON or text, are read, the proxy's own lines skipped
    (Istio's "<time>\\t<level>\\t", Istio's JSON with level and msg, Envoy's "[<time>][<thread>][<level>]"), anything
    else rejected."""
    agent = "2022-09-08T12:51:00.000000Z\tinfo\tEnvoy proxy is ready"
    agent_json = '{"level":"info","time":"2022-09-08T12:51:00.000000Z","scope":"xdsproxy","msg":"connected"}'
    envoy_own = "[2022-09-08 12:51:00.123][14][warning][config] [source/common/config/grpc_stream.h:201] closed"
    broken = '{"start_tim": "2022-09-08T12:51:01Z", "method": "GET"}'
    as_json = json.dumps(ENVOY_GATEWAY)
    path = write_lines(tmp_path / "istio-proxy.log", agent, as_json, agent_json, PLAIN, envoy_own, RBAC_DENIED, broken)
    assert ingest(store, path).status == "partial"
    assert [(r["request_id"], r["authority"], r["verdict"]) for r in rows(store, order="request_id")] == [
        ("ab1e4da7-5f1d-45ea-bb4a-fa1ccd03b82b", "backend:3000", "allow"),
        ("req-plain", "orders.example.com", "allow"),
        ("req-rbac", "admin.foo:8000", "deny"),
    ]
    assert store.con.execute("SELECT records, rejected, skipped FROM log_artifacts").fetchall() == [
        (3, 1, '{"proxy log line":3}')
    ]
    rejects = store.con.execute("SELECT reason, count, samples FROM ingest_rejects").fetchall()
    assert rejects == [("not an Envoy access log line", 1, [{"line": None, "text": broken}])]


def test_istio_json_and_text_samples(store: Store) -> None:
    """Public Istio samples (elastic/integrations): JSON lines with a bracketed IPv6 client and a codec error whose
    fields are ``-``, and default text lines, inbound and outbound, with IPv6 addresses."""
    assert ingest(store, DATA / "istio-access-json.log").status == "succeeded"
    assert ingest(store, DATA / "istio-access-text.log").status == "succeeded"
    json_rows = rows(store, "ts >= '2022-09-01'", order="ts, src_ip")
    assert [(r["src_ip"], r["status"], r["response_flags"], r["authority"], r["path"]) for r in json_rows] == [
        ("10.128.0.60", 400, "DPE", None, None),
        ("10.124.0.13", 200, None, "reviews:9080", "/reviews/0"),
        ("2a02:cf40::4e36", 200, None, "reviews:9080", "/reviews/0"),
    ]
    codec_error = json_rows[0]
    assert (codec_error["method"], codec_error["request_id"], codec_error["route"]) == (None, None, None)
    assert (codec_error["upstream_host"], codec_error["upstream_cluster"], codec_error["verdict"]) == (
        None,
        None,
        "allow",
    )
    text = rows(store, "ts < '2022-09-01'", order="ts, src_ip")
    assert len(text) == 8
    assert {r["verdict"] for r in text} == {"allow"}
    ipv6 = text[-1]
    assert (ipv6["src_ip"], ipv6["upstream_host"], ipv6["upstream_cluster"]) == (
        "2a02:cf40::4e36",
        "[2a02:cf40::7]:3000",
        "inbound|9080||",
    )
    gateway = text[1]  # through the ingress gateway: downstream remote address 10.128.0.64:0, port removed
    assert (gateway["authority"], gateway["src_ip"], gateway["bytes_sent"]) == ("35.184.82.199", "10.128.0.64", 18028)


def test_malformed_line_is_rejected_and_the_rest_loaded(store: Store, tmp_path: Path) -> None:
    bad = "[2024-03-05T10:00:09Z] upstream connect error or disconnect/reset before headers"
    result = ingest(store, write_lines(tmp_path / "access.log", PLAIN, bad, RBAC_DENIED))
    assert result.status == "partial"
    assert [r["request_id"] for r in rows(store)] == ["req-plain", "req-rbac"]
    ((reason, count, samples),) = store.con.execute("SELECT reason, count, samples FROM ingest_rejects").fetchall()
    assert (reason, count) == ("not an Envoy access log line", 1)
    assert samples == [{"line": None, "text": bad}]


def test_text_fields_are_read_as_the_full_regular_expression_reads_them() -> None:
    """Splitting a line at its quotes gives, field for field, what TEXT's groups capture, for every shape of line
    (Istio 1.8 fields or not, Istio's fields or not, custom fields, ACCESS prefix, trailing blanks); lines where a
    quote sits in an unquoted field take the full expression."""
    istio = '[2022-06-22T10:27:00.362Z] "GET /s/418 HTTP/1.1" 418 - via_upstream - "-" 0 135 25 25 "-" "curl/8" "id-1"'
    lines = [
        istio + ' "httpbin:8000" "172.17.0.7:80" outbound|8000||h 172.17.0.6:57130 10.9.3.1:80 172.17.0.6:50 - default',
        istio + ' "a:1" "-" c l d r sni route custom "quoted custom" \t',
        istio + ' "a:1" "-"  \t',
        'ACCESS [2024-03-05T10:00:00Z] "POST /x HTTP/2" 200 - 10 20 30 7 "10.0.0.1, 10.0.0.2" "ua [x]" "r" "a" "u"',
        '[2024-03-05T10:00:00Z] "GET /x HTTP/2" 200 - 10 20 30 - "-" "u a" "r" "a" "u" c l d r sni route',
        '[2024-03-05T10:00:00Z] "GET /a"b HTTP/2" 200 - 10 20 30 - "-" "ua" "r" "a" "u" c l d r sni route',  # quote
        '[2024-03-05 "10:00:00Z"] "GET / HTTP/2" 200 - 10 20 30 - "-" "ua" "r" "a" "u"',  # quotes in the time
        '[2024-03-05T10:00:00Z] "GET / HTTP/2" 200 - 10 20 30 - "-" "ua" "r" "a"',  # a field short: no match
    ]
    con = duckdb.connect()
    names = ", ".join(f"'{n}'" for n in envoy.TEXT_FIELDS)
    read = f"""
        WITH lines AS (SELECT $line AS raw, raw AS line)
        SELECT CASE WHEN quote_free THEN {envoy.text_fields()} END,
               CASE WHEN regexp_matches(line, '{envoy.TEXT}') THEN regexp_extract(line, '{envoy.TEXT}', [{names}]) END
        FROM {envoy.TEXT_PARTS}
        """
    fast, full = zip(*(con.execute(read, {"line": line}).fetchone() for line in lines), strict=True)
    assert [f is None for f in fast] == [False] * 5 + [True] * 3
    assert [g is None for g in full] == [False] * 7 + [True]
    assert [f or g for f, g in zip(fast, full, strict=True)] == list(full)
