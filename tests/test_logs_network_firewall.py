"""The ``network-firewall`` log format: AWS Network Firewall alert, flow and TLS logs into ``flows``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from helpers import collect_logs, table_rows, write_lines

from collector.store import Store

DATA = Path(__file__).parent / "data" / "logs" / "network-firewall"
COLUMNS = (
    "ts",
    "observer",
    "src_ip",
    "src_port",
    "dst_ip",
    "dst_port",
    "protocol",
    "dst_fqdn",
    "verdict",
    "reason",
    "policy",
    "bytes",
    "packets",
)


ingest = partial(collect_logs, log_format="network-firewall")
rows = partial(table_rows, table="flows", columns=COLUMNS)


def record(event: dict[str, Any], event_timestamp: Any = "1772445600") -> str:
    return json.dumps(
        {
            "firewall_name": "egress-fw",
            "availability_zone": "eu-west-1a",
            "event_timestamp": event_timestamp,
            "event": event,
        }
    )


def suricata(event_type: str, **fields: Any) -> dict[str, Any]:
    return {
        "timestamp": "2026-03-02T10:00:00.250000+0000",
        "flow_id": 1234567890123456,
        "event_type": event_type,
        "src_ip": "10.0.2.15",
        "src_port": 49822,
        "dest_ip": "198.51.100.20",
        "dest_port": 443,
        "proto": "TCP",
        **fields,
    }


def test_network_firewall_corpus(store: Store) -> None:
    result = ingest(store, DATA / "firewall.log")
    assert result.status == "succeeded", result
    blocked, netflow, allowed = rows(store)
    assert blocked == {
        "ts": datetime(2021, 11, 8, 14, 22, 12, 637611, UTC),
        "observer": "AWSNetworkFirewall",
        "src_ip": "81.2.69.143",
        "src_port": 51254,
        "dst_ip": "216.160.83.57",
        "dst_port": 80,
        "protocol": "TCP",
        "dst_fqdn": "216.160.83.57",
        "verdict": "deny",
        "reason": "Deny all other TCP traffic",
        "policy": "sid:1000003",
        "bytes": None,
        "packets": None,
    }
    assert netflow == {
        "ts": datetime(2021, 11, 8, 18, 20, 43, 324542, UTC),
        "observer": "AWSNetworkFirewall",
        "src_ip": "216.160.83.61",
        "src_port": 61953,
        "dst_ip": "89.160.20.156",
        "dst_port": 5060,
        "protocol": "TCP",
        "dst_fqdn": None,
        "verdict": "allow",
        "reason": None,
        "policy": None,
        "bytes": 40,
        "packets": 1,
    }
    assert (allowed["observer"], allowed["dst_port"], allowed["verdict"]) == ("outbound", 443, "allow")
    assert (allowed["dst_fqdn"], allowed["reason"], allowed["policy"]) == (
        "sqs.eu-central-1.amazonaws.com",
        "aws:alert_established action",
        "sid:4",
    )


def test_blocked_sni_netflow_and_tls_log(store: Store, tmp_path: Path) -> None:
    blocked_sni = suricata(
        "alert",
        app_proto="tls",
        alert={"action": "blocked", "signature_id": 3000012, "rev": 1, "signature": "not allow-listed", "severity": 1},
        tls={"sni": "exfil.example.net", "version": "TLS 1.3"},
    )
    netflow = suricata(
        "netflow",
        timestamp="2026-03-02T10:00:01.000000+0000",
        proto="UDP",
        dest_port=53,
        netflow={"pkts": 18, "bytes": 4200000000, "start": "2026-03-02T09:59:00.0+0000", "age": 61},
    )
    # TLS log entry: no event_type, epoch-number event_timestamp, ports as strings, no event.timestamp.
    tls_error = {
        "src_ip": "10.0.2.16",
        "src_port": "40110",
        "dest_ip": "203.0.113.7",
        "dest_port": "443",
        "sni": "api.partner.example",
        "tls_error": {"error_message": "SNI: api.partner.example Match Failed to server certificate names"},
    }
    revoked = {k: v for k, v in tls_error.items() if k != "tls_error"} | {
        "timestamp": "2026-03-02T10:00:03Z",
        "sni": "-",
        "revocation_check": {"leaf_cert_fpr": "ab12", "action": "REJECT", "status": "REVOKED"},
    }
    icmp6 = suricata(
        "alert",
        timestamp="2026-03-02T10:00:04.000000+0000",
        proto="IPv6-ICMP",
        src_ip="2001:db8::1",
        dest_ip="2001:db8::2",
        alert={"action": "allowed", "signature_id": 5, "signature": ""},
    )
    tls_event = suricata("tls", tls={"sni": "example.org"})
    lines = [
        record(blocked_sni),
        record(netflow),
        record(tls_error, event_timestamp=1772445602),
        record(revoked),
        record(icmp6),
        record(tls_event),
    ]
    path = write_lines(tmp_path / "alert.log", *lines)
    assert ingest(store, path).status == "succeeded"
    alert, flow, reset, revocation, ping = rows(store)
    assert (alert["verdict"], alert["dst_fqdn"], alert["reason"], alert["policy"]) == (
        "deny",
        "exfil.example.net",
        "not allow-listed",
        "sid:3000012",
    )
    assert (alert["ts"], alert["observer"]) == (datetime(2026, 3, 2, 10, 0, 0, 250000, UTC), "egress-fw")
    assert (flow["verdict"], flow["protocol"], flow["bytes"], flow["packets"]) == ("allow", "UDP", 4200000000, 18)
    assert reset == {
        "ts": datetime(2026, 3, 2, 10, 0, 2, tzinfo=UTC),
        "observer": "egress-fw",
        "src_ip": "10.0.2.16",
        "src_port": 40110,
        "dst_ip": "203.0.113.7",
        "dst_port": 443,
        "protocol": None,
        "dst_fqdn": "api.partner.example",
        "verdict": "deny",
        "reason": "TLS error: SNI: api.partner.example Match Failed to server certificate names",
        "policy": None,
        "bytes": None,
        "packets": None,
    }
    assert (revocation["verdict"], revocation["dst_fqdn"], revocation["reason"]) == (
        "deny",
        None,
        "certificate revocation check: REVOKED",
    )
    assert (ping["protocol"], ping["src_ip"], ping["verdict"], ping["reason"]) == (
        "ICMPv6",
        "2001:db8::1",
        "allow",
        None,
    )
    assert store.con.execute("SELECT records, skipped FROM log_artifacts").fetchall() == [(5, '{"tls":1}')]


def test_malformed_lines(store: Store, tmp_path: Path) -> None:
    good = record(suricata("alert", alert={"action": "rejected", "signature_id": 7, "signature": "reject ssh"}))
    odd_action = record(suricata("alert", alert={"action": "quarantined", "signature_id": 8}))
    no_event = json.dumps({"firewall_name": "egress-fw", "event_timestamp": "1772445600"})
    path = write_lines(tmp_path / "alert.log", good, '{"firewall_name": "egress-fw", "event": {', odd_action, no_event)
    result = ingest(store, path)
    assert result.status == "partial"
    assert [(r["verdict"], r["reason"], r["policy"]) for r in rows(store)] == [("deny", "reject ssh", "sid:7")]
    rejects = store.con.execute("SELECT reason, count FROM ingest_rejects ORDER BY reason").fetchall()
    assert rejects == [("invalid JSON", 1), ("no event", 1), ("unknown alert action", 1)]
    assert store.con.execute("SELECT records, rejected FROM log_artifacts").fetchall() == [(1, 3)]
