"""The ``squid`` log format: Squid access.log (native, common, combined) into ``http_access``."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from helpers import collect_logs, table_rows, write_lines

from collector.store import Store

DATA = Path(__file__).parent / "data" / "logs" / "squid"
COLUMNS = (
    "ts",
    "duration_ms",
    "src_ip",
    "response_flags",
    "status",
    "bytes_sent",
    "method",
    "authority",
    "path",
    "src_principal",
    "upstream_host",
    "verdict",
)


ingest = partial(collect_logs, log_format="squid")
rows = partial(table_rows, table="http_access", columns=COLUMNS)


def epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def test_squid_corpus(store: Store) -> None:
    result = ingest(store, DATA / "access.log")
    assert result.status == "succeeded", result
    assert result.counts["http_access"] == 21
    (get,) = rows(store, "ts = to_timestamp(1157689320.327)")
    assert get == {
        "ts": datetime(2006, 9, 8, 4, 22, 0, 327000, UTC),
        "duration_ms": 2864,
        "src_ip": "10.105.21.199",
        "response_flags": "TCP_MISS",
        "status": 200,
        "bytes_sent": 10182,
        "method": "GET",
        "authority": "www.goonernews.com",
        "path": "/",
        "src_principal": "badeyek",
        "upstream_host": "175.16.199.61",
        "verdict": "allow",
    }
    (port_in_url,) = rows(store, "duration_ms = 1226")
    assert (port_in_url["authority"], port_in_url["path"]) == ("natrocket.kmip.net:5288", "/iesocks?")
    (connect,) = rows(store, "ts = to_timestamp(1157689312.049)")
    assert (connect["method"], connect["authority"], connect["path"]) == ("CONNECT", "login.yahoo.com:443", None)
    assert (connect["upstream_host"], connect["bytes_sent"], connect["verdict"]) == ("175.16.199.115", 19763, "allow")
    verdicts = store.con.execute("SELECT verdict, count(*) FROM http_access GROUP BY ALL ORDER BY ALL").fetchall()
    assert verdicts == [("allow", 14), ("deny", 7)]


def test_denied_connect_and_denied_get(store: Store) -> None:
    ingest(store, DATA / "access.log")
    (denied_connect,) = rows(store, "ts = to_timestamp(1157689382.622)")
    assert denied_connect == {
        "ts": epoch(1157689382.622),
        "duration_ms": 1,
        "src_ip": "10.105.37.180",
        "response_flags": "TCP_DENIED",
        "status": 407,
        "bytes_sent": 1670,
        "method": "CONNECT",
        "authority": "login.live.com:443",
        "path": None,
        "src_principal": None,
        "upstream_host": None,
        "verdict": "deny",
    }
    (denied_get,) = rows(store, "ts = to_timestamp(1157689337.481)")
    assert (denied_get["verdict"], denied_get["authority"], denied_get["path"]) == ("deny", "hi5.com", "/")


def test_aborted_transaction_and_malformed_line(store: Store, tmp_path: Path) -> None:
    aborted = "1700000000.5      0 192.0.2.10 NONE_NONE/000 0 - error:transaction-end-before-headers - HIER_NONE/- -"
    denied = "1700000001.250    12 192.0.2.11 TCP_DENIED/403 3900 GET http://blocked.example/x?y=1 alice HIER_NONE/- -"
    path = write_lines(tmp_path / "access.log", aborted, "not a squid line", denied)
    result = ingest(store, path)
    assert result.status == "partial"
    first, second = rows(store)
    assert (first["ts"], first["status"], first["response_flags"], first["method"]) == (
        datetime(2023, 11, 14, 22, 13, 20, 500000, UTC),
        0,
        "NONE_NONE",
        None,
    )
    assert (first["authority"], first["path"], first["verdict"]) == (None, None, "allow")
    assert (second["status"], second["verdict"], second["src_principal"]) == (403, "deny", "alice")
    assert (second["authority"], second["path"], second["duration_ms"]) == ("blocked.example", "/x?y=1", 12)
    rejects = store.con.execute("SELECT reason, count, samples FROM ingest_rejects").fetchall()
    assert rejects == [("not a Squid access log line", 1, [{"line": None, "text": "not a squid line"}])]


def test_fields_are_split_on_any_whitespace_run_and_a_near_miss_is_rejected(store: Store, tmp_path: Path) -> None:
    tabs = "\t1700000002.0\t7 192.0.2.12  TCP_MISS/200\t10 GET http://a.example/p?q  bob DIRECT/192.0.2.99/x text/html "
    query_first = "1700000002.5 8 192.0.2.12 TCP_MISS/200 10 GET HTTPS://e.example:8443?x/y#z - HIER_NONE/- -"
    near_misses = (
        "1700000003.0 7 192.0.2.13 TCP_MISS/200 10 GET http://b.example/ bob DIRECT/192.0.2.1",  # no type field
        "1700000004.0 7 192.0.2.14 TCP_MISS/200 10 GET http://c.example/ bob DIRECT/192.0.2.1 - extra",
        "1700000005.0 7 192.0.2.15 TCP_MISS/2x0 10 GET http://d.example/ bob DIRECT/192.0.2.1 -",
    )
    result = ingest(store, write_lines(tmp_path / "access.log", tabs, query_first, *near_misses))
    assert result.status == "partial"
    row, other = rows(store)
    assert (other["authority"], other["path"], other["src_principal"]) == ("e.example:8443", "?x/y#z", None)
    assert (row["duration_ms"], row["src_ip"], row["status"], row["bytes_sent"]) == (7, "192.0.2.12", 200, 10)
    assert (row["authority"], row["path"], row["src_principal"]) == ("a.example", "/p?q", "bob")
    assert (row["upstream_host"], row["response_flags"]) == ("192.0.2.99/x", "TCP_MISS")
    rejects = store.con.execute("SELECT reason, count FROM ingest_rejects").fetchall()
    assert rejects == [("not a Squid access log line", 3)]


def test_common_and_combined_formats(store: Store, tmp_path: Path) -> None:
    """Squid's built-in ``common`` and ``combined`` logformats (squid-cache.org/Doc/config/logformat): client, ident,
    user, ``[%tl]``, the quoted request, code, size, (combined: quoted referer and user agent) and action:hierarchy;
    a line of either is read beside native ones, a near miss is rejected."""
    day = "[07/Dec/2026:13:00:0"
    common = f'192.0.2.20 - - {day}0 +0000] "GET http://a.example/p?q HTTP/1.1" 200 1234 TCP_MISS:HIER_DIRECT'
    denied = (
        '192.0.2.21 - alice [07/Dec/2026:14:00:01 +0100] "CONNECT b.example:443 HTTP/1.1" 403 3900 TCP_DENIED:HIER_NONE'
    )
    combined = (
        f'2001:db8::22 - - {day}2 +0000] "GET http://c.example/ HTTP/1.1" 407 3900 "-" '
        '"Mozilla/5.0 (X11; \\"quoted\\")" TCP_DENIED:HIER_NONE'
    )
    aborted = (
        f'192.0.2.23 - - {day}3 +0000] "NONE error:transaction-end-before-headers HTTP/0.0" 0 0 NONE_NONE:HIER_NONE'
    )
    native = "1796648404.5      7 192.0.2.24 TCP_MISS/200 10 GET http://d.example/ - HIER_DIRECT/192.0.2.99 text/html"
    near_miss = f'192.0.2.25 - - {day}5 +0000] "GET http://e.example/ HTTP/1.1" 200 10'  # no action
    result = ingest(store, write_lines(tmp_path / "access.log", common, denied, combined, aborted, native, near_miss))
    assert result.status == "partial"
    got = rows(store)
    assert [(r["ts"], r["src_ip"], r["status"], r["response_flags"], r["verdict"]) for r in got] == [
        (datetime(2026, 12, 7, 13, 0, 0, tzinfo=UTC), "192.0.2.20", 200, "TCP_MISS", "allow"),
        (datetime(2026, 12, 7, 13, 0, 1, tzinfo=UTC), "192.0.2.21", 403, "TCP_DENIED", "deny"),
        (datetime(2026, 12, 7, 13, 0, 2, tzinfo=UTC), "2001:db8::22", 407, "TCP_DENIED", "deny"),
        (datetime(2026, 12, 7, 13, 0, 3, tzinfo=UTC), "192.0.2.23", 0, "NONE_NONE", "allow"),
        (epoch(1796648404.5), "192.0.2.24", 200, "TCP_MISS", "allow"),
    ]
    first, connect, _, none, _ = got
    assert (first["authority"], first["path"], first["bytes_sent"]) == ("a.example", "/p?q", 1234)
    assert (first["duration_ms"], first["src_principal"], first["upstream_host"]) == (None, None, None)
    assert (connect["method"], connect["authority"], connect["path"], connect["src_principal"]) == (
        "CONNECT",
        "b.example:443",
        None,
        "alice",
    )
    assert (none["method"], none["authority"], none["path"]) == ("NONE", None, None)
    rejects = store.con.execute("SELECT reason, count, samples FROM ingest_rejects").fetchall()
    assert rejects == [("not a Squid access log line", 1, [{"line": None, "text": near_miss}])]
