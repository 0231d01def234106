"""policy-denies-visible at scale: the first and last records it cites are found per log file, then among the files;
records of two files at the same instant are told apart by their provenance exactly as over every record."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from helpers import collect_logs, collect_manifests, write_lines

from collector.claims import builtin_pack_dirs, load_pack, prepare_pack, run_query
from collector.store import Store

T0 = datetime(2026, 3, 2, 8, tzinfo=UTC)
HOURS = (0, 2, 4)  # the same instants in both files: silences of 2 h, longer than max_log_gap_minutes (60)


def vpc_file(path: Path, eni: str) -> Path:
    starts = [int((T0 + timedelta(hours=h)).timestamp()) for h in HOURS]
    lines = [f"2 123456789010 {eni} 10.0.0.1 10.0.0.2 41000 443 6 3 180 {s} {s + 60} ACCEPT OK" for s in starts]
    return write_lines(path, "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets "
                       "bytes start end action log-status", *lines)  # fmt: skip


def test_ties_cite_the_least_provenance_first_and_the_greatest_last(tmp_path: Path) -> None:
    files = [vpc_file(tmp_path / "a.log", "eni-0aaa"), vpc_file(tmp_path / "b.log", "eni-0bbb")]
    low, high = sorted(hashlib.sha256(f.read_bytes()).hexdigest() for f in files)
    namespace = write_lines(tmp_path / "ns.yaml", "apiVersion: v1", "kind: Namespace", "metadata: {name: shop}")
    with Store.open(tmp_path / "s.duckdb") as store:
        collect_manifests(store, namespace, cluster="c")  # the pack's views read the inventory
        collect_logs(store, *files, log_format="vpcflow", source_config={"cluster": "c"})
        pack = load_pack(builtin_pack_dirs()["logs"])
        prepare_pack(store, pack)
        store.con.execute("SET VARIABLE window_until = ?", [(T0 + timedelta(hours=6)).isoformat()])
        claim = next(c for c in pack.claims if c.id == "policy-denies-visible")

        gaps = run_query(store.con, claim.gaps_sql)
        columns = ("object", "gap_start", "gap_end", "artifact_sha256")
        silences = [
            tuple(row[gaps.columns.index(c)] for c in columns)
            for row in gaps.rows
            if row[gaps.columns.index("finding")].startswith("no flow log record for")
        ]
        at = [T0 + timedelta(hours=h) for h in (*HOURS, 6)]
        assert silences == [
            ("flow logs of c", at[0], at[1], low),  # ends at a record: the first of the instant
            ("flow logs of c", at[1], at[2], low),
            ("flow logs of c", at[2], at[3], high),  # after the last record: the last of the instant
        ]

        evidence = run_query(store.con, claim.evidence_sql)
        [flows] = [row for row in evidence.rows if row[evidence.columns.index("object")] == "flow logs of c"]
        cited = {c: flows[evidence.columns.index(c)] for c in ("records", "first_ts", "last_ts", "artifact_sha256")}
        assert cited == {"records": 6, "first_ts": at[0], "last_ts": at[2], "artifact_sha256": low}  # the earliest
