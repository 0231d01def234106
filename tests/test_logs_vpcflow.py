"""The ``vpcflow`` log format: AWS VPC Flow Logs (default v2 and custom formats) into ``flows``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from helpers import collect_logs, table_rows, write_lines

from collector.store import Store
from sources.logs.formats.vpcflow import ALL_FIELDS

DATA = Path(__file__).parent / "data" / "logs" / "vpcflow"
COLUMNS = (
    "ts",
    "cluster",
    "observer",
    "src_ip",
    "src_port",
    "dst_ip",
    "dst_port",
    "protocol",
    "direction",
    "verdict",
    "reason",
    "policy",
    "bytes",
    "packets",
)
CUSTOM_HEADER = (
    "version vpc-id srcaddr dstaddr srcport dstport protocol start end action log-status pkt-dstaddr flow-direction"
)
CUSTOM_FIELDS = CUSTOM_HEADER.split()
CUSTOM_EGRESS = "5 vpc-0a1b 10.0.1.5 52.94.0.10 40100 443 6 1700000000 1700000059 ACCEPT OK - egress"
CUSTOM_NAT = "5 vpc-0a1b 203.0.113.7 10.0.2.0 51000 8080 6 1700000100 1700000160 REJECT OK 10.0.2.44 ingress"
V2_ACCEPT = "2 123456789010 eni-0abc 10.0.0.1 10.0.0.2 41000 5432 6 3 180 1700000000 1700000060 ACCEPT OK"


ingest = partial(collect_logs, log_format="vpcflow", source_config={"cluster": "vpc-test"})
rows = partial(table_rows, table="flows", columns=COLUMNS, order="ts, src_port")


def artifact(store: Store, file: Path) -> dict[str, Any]:
    cur = store.con.execute(
        "SELECT wrapper, records, rejected, skipped, outside_window, log_format FROM log_artifacts "
        "WHERE ends_with(origin, ?)",  # named by its root: this checkout's working tree for tests/data
        [f"/{file.name}" if file.is_relative_to(DATA) else f":{file.name}"],
    )
    ((wrapper, records, rejected, skipped, outside, fmt),) = cur.fetchall()
    return {
        "wrapper": wrapper,
        "records": records,
        "rejected": rejected,
        "skipped": json.loads(skipped),
        "outside_window": outside,
        "log_format": fmt,
    }


def rejects(store: Store) -> list[tuple[str, int, list[str]]]:
    cur = store.con.execute("SELECT reason, count, samples FROM ingest_rejects ORDER BY reason")
    return [(reason, count, [s["text"] for s in samples]) for reason, count, samples in cur.fetchall()]


def epoch(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def test_v2_with_header(store: Store) -> None:
    result = ingest(store, DATA / "v2-accept-reject.log")
    assert result.status == "succeeded", result
    assert result.counts["flows"] == 4
    assert artifact(store, DATA / "v2-accept-reject.log") == {
        "wrapper": "plain",
        "records": 4,
        "rejected": 0,
        "skipped": {"header": 1},  # the leading header, skipped by the reader
        "outside_window": 0,
        "log_format": "vpcflow",
    }
    ssh, rdp, ping, ping_back = rows(store)
    assert ssh == {
        "ts": datetime(2014, 12, 14, 4, 6, 50, tzinfo=UTC),  # start 1418530010
        "cluster": "vpc-test",
        "observer": "eni-1235b8ca123456789",
        "src_ip": "78.24.182.42",
        "src_port": 20641,
        "dst_ip": "158.109.0.1",
        "dst_port": 22,
        "protocol": "TCP",
        "direction": None,
        "verdict": "allow",
        "reason": None,
        "policy": None,
        "bytes": 4249,
        "packets": 20,
    }
    assert (rdp["verdict"], rdp["dst_port"], rdp["ts"]) == ("deny", 3389, epoch(1418530010))
    assert ping == ssh | {
        "ts": epoch(1432917027),
        "src_ip": "203.0.113.12",
        "src_port": 0,
        "dst_ip": "172.31.16.139",
        "dst_port": 0,
        "protocol": "ICMP",
        "bytes": 336,
        "packets": 4,
    }
    assert (ping_back["verdict"], ping_back["protocol"], ping_back["ts"]) == ("deny", "ICMP", epoch(1432917094))


def test_v2_without_header_ipv6_nodata_skipdata(store: Store) -> None:
    result = ingest(store, DATA / "v2-extra-samples.log")
    assert result.status == "succeeded", result
    assert artifact(store, DATA / "v2-extra-samples.log") == {
        "wrapper": "plain",
        "records": 5,
        "rejected": 0,
        "skipped": {"NODATA": 1, "SKIPDATA": 1},
        "outside_window": 0,
        "log_format": "vpcflow",
    }
    assert store.con.execute("SELECT count(*) FROM flows WHERE observer = 'eni-11111111aaaaaaaaa'").fetchone() == (0,)
    (ipv6,) = rows(store, "src_ip LIKE '%:%'")
    assert ipv6 == {
        "ts": epoch(1477913708),
        "cluster": "vpc-test",
        "observer": "eni-1235b8ca123456789",
        "src_ip": "2001:db8:1234:a100:8d6e:3477:df66:f105",
        "src_port": 34892,
        "dst_ip": "2001:db8:1234:a102:3304:8879:34cf:4071",
        "dst_port": 22,
        "protocol": "TCP",
        "direction": None,
        "verdict": "allow",
        "reason": None,
        "policy": None,
        "bytes": 8855,
        "packets": 54,
    }
    assert [r["verdict"] for r in rows(store)] == ["allow", "deny", "allow", "deny", "allow"]


def test_v5_all_fields_prefers_packet_address_and_falls_back_to_end(store: Store) -> None:
    assert ingest(store, DATA / "v5-all-fields-no-header.log").status == "succeeded"
    assert rows(store) == [
        {
            "ts": datetime(2021, 12, 20, 11, 38, 17, tzinfo=UTC),  # `end`: `start` 164000066 is malformed
            "cluster": "vpc-test",
            "observer": "eni-069xxxxxb7a490",
            "src_ip": "89.160.20.156",
            "src_port": 50041,
            "dst_ip": "10.200.0.80",  # pkt-dstaddr, not the interface's dstaddr 10.200.0.0
            "dst_port": 33004,
            "protocol": "UDP",
            "direction": "ingress",
            "verdict": "deny",
            "reason": None,
            "policy": None,
            "bytes": 1,
            "packets": 52,
        }
    ]


def test_custom_header_order_and_repeated_header(store: Store, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "flows.log", CUSTOM_HEADER, CUSTOM_EGRESS, CUSTOM_HEADER, CUSTOM_NAT)
    result = ingest(store, path)
    assert result.status == "succeeded", result
    assert artifact(store, path)["skipped"] == {"header": 2}  # the first (skipped by the reader) and the repeated
    egress, nat = rows(store)
    assert egress == {
        "ts": epoch(1700000000),
        "cluster": "vpc-test",
        "observer": None,
        "src_ip": "10.0.1.5",
        "src_port": 40100,
        "dst_ip": "52.94.0.10",  # pkt-dstaddr is `-`: the interface's address
        "dst_port": 443,
        "protocol": "TCP",
        "direction": "egress",
        "verdict": "allow",
        "reason": None,
        "policy": None,
        "bytes": None,
        "packets": None,
    }
    assert (nat["src_ip"], nat["dst_ip"], nat["dst_port"], nat["direction"], nat["verdict"]) == (
        "203.0.113.7",
        "10.0.2.44",
        8080,
        "ingress",
        "deny",
    )


def test_fields_option_for_a_headerless_custom_file(store: Store, tmp_path: Path) -> None:
    without = ingest(store, write_lines(tmp_path / "nat.log", CUSTOM_NAT))
    assert without.status == "partial"  # 13 fields match no AWS version: the order must be given
    assert rejects(store) == [("expected 14 or 21 or 25 or 29 or 39 or 40 fields", 1, [CUSTOM_NAT])]
    result = ingest(store, write_lines(tmp_path / "flows.log", CUSTOM_EGRESS, CUSTOM_NAT), fields=CUSTOM_FIELDS)
    assert result.status == "succeeded", result
    assert [(r["dst_ip"], r["direction"], r["verdict"]) for r in rows(store)] == [
        ("52.94.0.10", "egress", "allow"),
        ("10.0.2.44", "ingress", "deny"),
    ]


def test_fields_option_accepts_aws_format_syntax(store: Store, tmp_path: Path) -> None:
    fields = ["${version}", "${interface-id}", "${srcaddr}", "${dstaddr}", "${action}", "${log-status}", "${start}"]
    path = write_lines(tmp_path / "flows.log", "3 eni-9 10.0.0.1 10.0.0.9 ACCEPT OK 1700000000")
    assert ingest(store, path, fields=fields).status == "succeeded"
    (row,) = rows(store)
    assert (row["ts"], row["observer"], row["dst_ip"], row["verdict"]) == (
        epoch(1700000000),
        "eni-9",
        "10.0.0.9",
        "allow",
    )


def test_unknown_field_name_fails_the_run(store: Store, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "flows.log", CUSTOM_EGRESS)
    result = ingest(store, path, fields=[*CUSTOM_FIELDS[:-1], "flow-dir"])
    assert result.status == "failed"
    assert result.error == "logs: vpcflow: unknown field(s) in `fields`: flow-dir"
    assert store.con.execute("SELECT count(*) FROM flows").fetchone() == (0,)


def test_wrong_number_of_fields_is_rejected(store: Store, tmp_path: Path) -> None:
    short = "2 123456789010 eni-0abc 10.0.0.1 10.0.0.2 41000 5432 6 3 180 1700000000 ACCEPT OK"
    later = V2_ACCEPT.replace("41000", "41001").replace("1700000000 1700000060", "1700000100 1700000160")
    path = write_lines(tmp_path / "flows.log", V2_ACCEPT, short, later)
    result = ingest(store, path)
    assert result.status == "partial"
    assert [r["src_port"] for r in rows(store)] == [41000, 41001]
    assert rejects(store) == [("expected 14 or 21 or 25 or 29 or 39 or 40 fields", 1, [short])]
    assert artifact(store, path)["rejected"] == 1
    custom = write_lines(tmp_path / "custom.log", CUSTOM_HEADER, CUSTOM_EGRESS + " extra")
    assert ingest(store, custom).status == "partial"
    assert ("expected 13 fields", 1, [CUSTOM_EGRESS + " extra"]) in rejects(store)


def test_dash_placeholders_are_null(store: Store, tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "flows.log", "2 123456789010 eni-0abc 10.0.0.1 10.0.0.2 - - 1 - - 1700000000 1700000060 ACCEPT OK"
    )
    assert ingest(store, path).status == "succeeded"
    (row,) = rows(store)
    assert (row["src_port"], row["dst_port"], row["bytes"], row["packets"]) == (None, None, None, None)
    assert (row["protocol"], row["verdict"], row["ts"]) == ("ICMP", "allow", epoch(1700000000))


def test_cloudwatch_message_lines(store: Store, tmp_path: Path) -> None:
    events = [
        {"timestamp": 1700000061000, "message": V2_ACCEPT, "ingestionTime": 1700000070000, "eventId": "1"},
        {"timestamp": 1700000062000, "message": V2_ACCEPT.replace("ACCEPT", "REJECT"), "eventId": "2"},
    ]
    path = write_lines(tmp_path / "events.jsonl", *(json.dumps(e) for e in events))
    assert ingest(store, path).status == "succeeded"
    assert artifact(store, path)["wrapper"] == "message"
    assert [(r["observer"], r["dst_port"], r["verdict"], r["ts"]) for r in rows(store)] == [
        ("eni-0abc", 5432, "allow", epoch(1700000000)),
        ("eni-0abc", 5432, "deny", epoch(1700000000)),
    ]


def test_v8_reject_reason(store: Store, tmp_path: Path) -> None:
    header = "version interface-id srcaddr dstaddr srcport dstport protocol start end action log-status reject-reason"
    blocked = "8 eni-0abc 198.51.100.7 10.0.0.5 51515 22 6 1700000000 1700000010 REJECT OK BPA"
    path = write_lines(tmp_path / "flows.log", header, blocked)
    assert ingest(store, path).status == "succeeded"
    (row,) = rows(store)
    assert (row["verdict"], row["reason"], row["src_ip"], row["dst_port"]) == ("deny", "BPA", "198.51.100.7", 22)


def test_headerless_record_with_every_v8_field(store: Store, tmp_path: Path) -> None:
    v5 = (DATA / "v5-all-fields-no-header.log").read_text().split()
    record = ["8", *v5[1:], *["-"] * 10, "BPA"]  # v7 ECS fields absent, then the v8 reject-reason: a version 8 record
    assert len(record) == 40
    assert ingest(store, write_lines(tmp_path / "flows.log", " ".join(record))).status == "succeeded"
    (row,) = rows(store)
    assert (row["reason"], row["dst_ip"], row["direction"], row["verdict"]) == ("BPA", "10.200.0.80", "ingress", "deny")


def test_custom_format_without_end_takes_start(store: Store, tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "flows.log",
        "version srcaddr dstaddr start action log-status",
        "3 10.0.0.1 10.0.0.2 1700000000 ACCEPT OK",
    )
    result = ingest(store, path)
    assert result.status == "succeeded", result
    assert [r["ts"] for r in rows(store)] == [epoch(1700000000)]


def test_headerless_record_whose_version_is_not_that_of_its_length_is_rejected(store: Store, tmp_path: Path) -> None:
    """Without a header or ``fields``, a record is read in AWS's order only when its version is not above the one its
    length implies (a record's version is the highest among its format's fields, AWS VPC Flow Logs "Flow log
    records"): a 21-field version 5 record (v2 fields, vpc-id … type, flow-direction, traffic-path) read as v3 would
    take its flow direction for the packet's source address."""
    custom = V2_ACCEPT.replace("2 ", "5 ", 1) + " vpc-1 subnet-1 i-1 2 IPv4 egress 8"
    v3 = V2_ACCEPT.replace("2 ", "3 ", 1) + " vpc-1 subnet-1 i-1 2 IPv4 10.0.9.9 10.0.0.2"
    result = ingest(store, write_lines(tmp_path / "flows.log", custom, v3, V2_ACCEPT.replace("2 ", "3 ", 1)))
    assert result.status == "partial"
    assert [(r["src_ip"], r["dst_ip"]) for r in rows(store)] == [("10.0.9.9", "10.0.0.2")]
    assert [(reason, count) for reason, count, _ in rejects(store)] == [
        ("version above that of the number of fields (a custom order): set `fields`", 2)
    ]
    fields = [*ALL_FIELDS[:19], "flow-direction", "traffic-path"]  # the custom format, given
    assert ingest(store, write_lines(tmp_path / "custom.log", custom), fields=fields).status == "succeeded"
    assert [(r["src_ip"], r["direction"]) for r in rows(store, "direction IS NOT NULL")] == [("10.0.0.1", "egress")]


def test_public_ecs_and_v8_samples_without_header(store: Store) -> None:
    """elastic/integrations' 39-field (ECS, v7) and 40-field (v8) samples say version 3: a version below that of the
    length is read in AWS's order; NODATA and SKIPDATA records are counted."""
    ecs, v8 = DATA / "ecs-samples-no-header.log", DATA / "v8-sample-no-header.log"
    assert ingest(store, ecs).status == "succeeded"
    assert ingest(store, v8).status == "partial"  # no records: its only record is NODATA
    assert (artifact(store, ecs)["records"], artifact(store, ecs)["skipped"]) == (4, {"NODATA": 4, "SKIPDATA": 2})
    assert (artifact(store, v8)["records"], artifact(store, v8)["rejected"], artifact(store, v8)["skipped"]) == (
        0,
        0,
        {"NODATA": 1},
    )
    assert [(r["src_ip"], r["dst_port"], r["protocol"], r["verdict"], r["direction"]) for r in rows(store)] == [
        ("1.128.0.0", 22, "UDP", "deny", "ingress"),
        ("81.2.69.142", 80, "UDP", "deny", "egress"),
        ("81.2.69.144", 80, "UDP", "allow", "egress"),
        ("81.2.69.192", 8080, "TCP", "allow", "ingress"),
    ]
    assert rows(store)[0]["ts"] == epoch(1755678619)
