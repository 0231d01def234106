"""The ``route53-resolver`` log format: Route 53 Resolver query logs into ``dns_queries``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from helpers import collect_logs, table_rows, write_lines

from collector.store import Store

DATA = Path(__file__).parent / "data" / "logs" / "route53"
COLUMNS = (
    "ts",
    "vpc_id",
    "src_ip",
    "src_port",
    "src_id",
    "qname",
    "qtype",
    "rcode",
    "answers",
    "firewall_action",
    "firewall_rule",
    "transport",
)


ingest = partial(collect_logs, log_format="route53-resolver")
rows = partial(table_rows, table="dns_queries", columns=COLUMNS, order="ts, qname")


def query(**fields: Any) -> str:
    record = {
        "version": "1.100000",
        "account_id": "111122223333",
        "region": "eu-west-1",
        "vpc_id": "vpc-0a1b2c3d4e5f60718",
        "query_timestamp": "2026-03-02T10:00:00Z",
        "query_name": "api.example.com.",
        "query_type": "A",
        "query_class": "IN",
        "rcode": "NOERROR",
        "answers": [],
        "srcaddr": "10.0.1.20",
        "srcport": "53001",
        "transport": "UDP",
        "srcids": {},
    }
    return json.dumps({**record, **fields})


def test_route53_corpus(store: Store) -> None:
    result = ingest(store, DATA / "resolver.log")
    assert result.status == "succeeded", result
    assert result.counts["dns_queries"] == 6
    (blocked,) = rows(store, "firewall_action IS NOT NULL")
    assert blocked == {
        "ts": datetime(2021, 2, 4, 17, 51, 55, tzinfo=UTC),
        "vpc_id": "vpc-7example",
        "src_ip": "81.2.69.143",
        "src_port": 56067,
        "src_id": "i-0d15cd0d3example",
        "qname": "15.199.16.175.in-addr.arpa.",
        "qtype": "PTR",
        "rcode": "NOERROR",
        "answers": ["203.0.113.9"],
        "firewall_action": "BLOCK",
        "firewall_rule": "rslvr-frg-01234567890abcdef/rslvr-fdl-01234567890abcdef",
        "transport": "UDP",
    }
    (cname_chain,) = rows(store, "qname = 'abcd.example.com.'")
    assert cname_chain["answers"] == ["test.example.com.", "1.128.3.4"]
    assert (cname_chain["src_id"], cname_chain["src_port"], cname_chain["firewall_rule"]) == (
        "i-079c44232510ca8ff",
        52785,
        None,
    )
    (nxdomain,) = rows(store, "rcode = 'NXDOMAIN'")
    assert (nxdomain["qname"], nxdomain["answers"], nxdomain["src_id"]) == ("does-not-exist.abc.com.", [], None)
    assert nxdomain["ts"] == datetime(2021, 12, 11, 22, 46, 23, tzinfo=UTC)


def test_resolver_endpoint_and_firewall_alert(store: Store, tmp_path: Path) -> None:
    inbound = query(
        query_name="db.corp.internal.",
        srcids={"resolver_endpoint": "rslvr-in-0123456789abcdef0"},
        transport="TCP",
        answers=[{"Rdata": "10.8.0.5", "Type": "A", "Class": "IN"}],
    )
    alert = query(
        query_timestamp="2026-03-02T10:00:01Z",
        query_name="pastebin.com.",
        firewall_rule_action="ALERT",
        firewall_rule_group_id="rslvr-frg-0f1e2d3c4b5a69788",
        srcids={"instance": "i-0123456789abcdef0"},
    )
    path = write_lines(tmp_path / "resolver.log", inbound, alert)
    assert ingest(store, path).status == "succeeded"
    first, second = rows(store)
    assert (first["src_id"], first["transport"], first["answers"], first["firewall_action"]) == (
        "rslvr-in-0123456789abcdef0",
        "TCP",
        ["10.8.0.5"],
        None,
    )
    assert (second["qname"], second["firewall_action"], second["firewall_rule"], second["src_id"]) == (
        "pastebin.com.",
        "ALERT",
        "rslvr-frg-0f1e2d3c4b5a69788",
        "i-0123456789abcdef0",
    )


def test_cloudwatch_envelope(store: Store, tmp_path: Path) -> None:
    lines = (DATA / "resolver.log").read_text().splitlines()
    envelopes = (json.dumps({"timestamp": 1638000000000, "message": line}) for line in lines)
    path = write_lines(tmp_path / "cloudwatch.jsonl", *envelopes)
    assert ingest(store, path).status == "succeeded"
    assert store.con.execute("SELECT wrapper, records FROM log_artifacts").fetchall() == [("message", 6)]
    assert [r["firewall_action"] for r in rows(store)] == ["BLOCK", None, None, None, None, None]


def test_malformed_lines(store: Store, tmp_path: Path) -> None:
    no_name = query(query_name="")
    path = write_lines(
        tmp_path / "resolver.log", query(), '{"query_name": "x.example.", broken', no_name, '["not", "an", "object"]'
    )
    result = ingest(store, path)
    assert result.status == "partial"
    assert [(r["qname"], r["src_port"]) for r in rows(store)] == [("api.example.com.", 53001)]
    rejects = store.con.execute("SELECT reason, count, samples FROM ingest_rejects ORDER BY reason").fetchall()
    assert rejects == [
        ("invalid JSON", 1, [{"line": None, "text": '{"query_name": "x.example.", broken'}]),
        ("no query_name", 1, [{"line": None, "text": no_name[:300]}]),
        ("not a JSON object", 1, [{"line": None, "text": '["not", "an", "object"]'}]),
    ]
    assert store.con.execute("SELECT records, rejected FROM log_artifacts").fetchall() == [(1, 3)]
