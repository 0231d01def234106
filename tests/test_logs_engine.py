"""The log ingestion engine (``sources.logs.ingest``) through the ``logs`` source, with VPC Flow Logs lines:
damaged input, time windows, incremental runs, envelopes, missing input and provenance."""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from helpers import collect_logs, named

from collector.runner import RunResult
from collector.store import Store

T0 = 1700000000  # 2023-11-14T22:13:20Z


def rec(i: int, action: str = "ACCEPT") -> str:
    """A v2 VPC flow record identified by its source port (1000 + i), starting at T0 + i minutes."""
    start = T0 + 60 * i
    return f"2 123456789010 eni-0abc 10.0.0.{i % 250} 10.1.0.1 {1000 + i} 443 6 10 840 {start} {start + 59} {action} OK"


def lines(n: int, first: int = 0) -> bytes:
    return "".join(f"{rec(i)}\n" for i in range(first, first + n)).encode()


def iso(i: int) -> str:
    """The start of record ``i`` as an ISO 8601 time."""
    return datetime.fromtimestamp(T0 + 60 * i, UTC).isoformat()


def run(store: Store, *paths: Path | str, **config: Any) -> RunResult:
    return collect_logs(store, *paths, log_format="vpcflow", source_config=config)


def ports(store: Store, run_id: str | None = None) -> list[int]:
    """The records loaded (by ``rec`` number), of one run or of all."""
    where = "WHERE run_id = $run_id" if run_id else ""
    cur = store.con.execute(
        f"SELECT src_port - 1000 FROM flows {where} ORDER BY ts, src_port", {"run_id": run_id} if run_id else {}
    )
    return [row[0] for row in cur.fetchall()]


def artifact_row(store: Store, run_id: str) -> dict[str, Any]:
    cur = store.con.execute(
        "SELECT compression, wrapper, records, rejected, skipped, outside_window, window_since, window_until "
        "FROM log_artifacts WHERE run_id = ?",
        [run_id],
    )
    ((compression, wrapper, records, rejected, skipped, outside, since, until),) = cur.fetchall()
    return {
        "compression": compression,
        "wrapper": wrapper,
        "records": records,
        "rejected": rejected,
        "skipped": json.loads(skipped),
        "outside_window": outside,
        "window": (since, until),
    }


def rejects(store: Store, run_id: str) -> list[tuple[str, int, list[dict]]]:
    cur = store.con.execute(
        "SELECT reason, count, samples FROM ingest_rejects WHERE run_id = ? ORDER BY reason", [run_id]
    )
    return cur.fetchall()


# damaged input -------------------------------------------------------------------------------------------


def test_truncated_gzip_keeps_the_complete_lines_before_the_cut(store: Store, tmp_path: Path) -> None:
    whole = gzip.compress(lines(400), mtime=0)
    path = tmp_path / "flows.log.gz"
    path.write_bytes(whole[: len(whole) // 2])
    result = run(store, path)
    assert result.status == "partial"
    loaded = ports(store)
    kept = len(loaded)
    assert 0 < kept < 400
    assert loaded == list(range(kept))  # a prefix: every complete line before the cut, nothing after
    ((reason, count, samples),) = rejects(store, result.run_id)
    assert (reason, count) == ("truncated gzip stream (file ends mid-stream)", 1)
    assert samples[0]["line"] is None
    assert rec(kept).startswith(samples[0]["text"])  # the line the cut went through
    assert artifact_row(store, result.run_id) == {
        "compression": "gzip",
        "wrapper": "plain",
        "records": kept,
        "rejected": 1,
        "skipped": {},
        "outside_window": 0,
        "window": (None, None),
    }
    assert result.partial_reasons == [
        f"logs: {named(path)} (vpcflow): 1 line(s) rejected: 1 truncated gzip stream (file ends mid-stream)"
    ]


def test_multi_member_gzip_is_read_whole(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "flows.log.gz"
    path.write_bytes(gzip.compress(lines(150), mtime=0) + gzip.compress(lines(250, first=150), mtime=0))
    result = run(store, path)
    assert result.status == "succeeded", result
    assert ports(store) == list(range(400))
    assert artifact_row(store, result.run_id)["compression"] == "gzip"


def random_records(n: int, first: int) -> bytes:
    """Records hard to compress (random interface ids), so a few ten thousand make over 1 MiB of gzip."""
    rnd = random.Random(first)
    return "".join(
        rec(i).replace("eni-0abc", f"eni-{rnd.getrandbits(96):024x}") + "\n" for i in range(first, first + n)
    ).encode()


def test_corrupt_gzip_member_is_dropped_and_earlier_members_kept(store: Store, tmp_path: Path) -> None:
    first = gzip.compress(lines(100), mtime=0)
    damaged = bytearray(gzip.compress(random_records(45000, first=100), mtime=0))
    assert len(first) + len(damaged) > 1 << 20  # many reads of the engine's inflater
    middle = 300_000  # early in the member: deflate goes on decoding garbage until the CRC check
    damaged[middle : middle + 8] = bytes(b ^ 0xFF for b in damaged[middle : middle + 8])
    path = tmp_path / "flows.log.gz"
    path.write_bytes(first + bytes(damaged))
    result = run(store, path)
    assert result.status == "partial"
    assert ports(store) == list(range(100))  # no record of the damaged member, genuine or garbled
    ((reason, count, _),) = rejects(store, result.run_id)
    assert reason.startswith("corrupt gzip stream (Error -3 while decompressing data")
    assert count == 1
    assert artifact_row(store, result.run_id)["records"] == 100


def test_binary_invalid_utf8_and_oversize_lines_are_rejected_with_line_numbers(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "flows.log"
    path.write_bytes(
        b"\n".join(
            [
                rec(0).encode(),
                b"\x00\x01\xff\xfe binary \x01\x02",  # line 2
                rec(1).encode(),
                rec(2).replace("eni-0abc", "eni-caf\xe9").encode("latin-1"),  # line 4: invalid UTF-8
                b"2 " + b"x" * 3000,  # line 5: longer than max_line_bytes
                rec(3).encode(),
            ]
        )
        + b"\n"
    )
    result = run(store, path, max_line_bytes=2048)
    assert result.status == "partial"
    assert ports(store) == [0, 1, 3]
    found = {reason: (count, [s["line"] for s in samples]) for reason, count, samples in rejects(store, result.run_id)}
    assert found == {"invalid UTF-8": (2, [2, 4]), "line longer than max_line_bytes": (1, [5])}
    row = artifact_row(store, result.run_id)
    assert (row["records"], row["rejected"]) == (3, 3)


def test_a_file_of_prose_is_all_rejected(store: Store, tmp_path: Path) -> None:
    prose = [
        "Flow logs were not enabled on this interface until Tuesday.",
        "See the runbook for details.",
        "one two three four five six seven eight nine ten eleven twelve thirteen fourteen",
    ]
    path = tmp_path / "notes.log"
    path.write_text("\n".join(prose) + "\n")
    result = run(store, path)
    assert result.status == "partial"
    assert result.counts["flows"] == 0
    assert [(reason, count) for reason, count, _ in rejects(store, result.run_id)] == [
        ("expected 14 or 21 or 25 or 29 or 39 or 40 fields", 2),
        ("version above that of the number of fields (a custom order): set `fields`", 1),  # "one" is no version
    ]
    row = artifact_row(store, result.run_id)
    assert (row["records"], row["rejected"]) == (0, 3)


def test_earlier_rows_survive_later_bad_runs(store: Store, tmp_path: Path) -> None:
    good = tmp_path / "good.log"
    good.write_bytes(lines(5))
    first = run(store, good)
    assert first.status == "succeeded"
    bad = tmp_path / "bad.log"
    bad.write_text(f"{rec(10)}\nnot a flow record\n")
    partial = run(store, bad)
    assert partial.status == "partial"
    more = tmp_path / "more.log"
    more.write_bytes(lines(3, first=20))
    failed = run(store, more, tmp_path / "missing.log")
    assert failed.status == "failed"
    assert ports(store, first.run_id) == [0, 1, 2, 3, 4]
    assert ports(store, partial.run_id) == [10]
    assert ports(store, failed.run_id) == []  # the failed run's rows were rolled back
    statuses = store.con.execute("SELECT run_id, status FROM runs WHERE source = 'logs'").fetchall()
    assert sorted(statuses) == sorted(
        [(first.run_id, "succeeded"), (partial.run_id, "partial"), (failed.run_id, "failed")]
    )


# time window ---------------------------------------------------------------------------------------------


def test_window_keeps_since_inclusive_until_exclusive(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "flows.log"
    path.write_bytes(lines(10))
    result = run(store, path, since=iso(3), until=iso(7).replace("+00:00", "Z"))
    assert result.status == "succeeded", result
    assert ports(store) == [3, 4, 5, 6]
    row = artifact_row(store, result.run_id)
    assert (row["records"], row["outside_window"], row["rejected"]) == (4, 6, 0)
    assert row["window"] == (datetime.fromisoformat(iso(3)), datetime.fromisoformat(iso(7)))


def test_invalid_window_fails_the_run(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "flows.log"
    path.write_bytes(lines(2))
    cases = {
        ("yesterday", None): "logs: since: 'yesterday' is not an ISO 8601 time (e.g. 2026-11-01T00:00:00Z)",
        ("2023-11-14T00:00:00", None): "logs: since: '2023-11-14T00:00:00' has no time zone (add Z or +00:00)",
        (iso(5), iso(5)): f"logs: since ({iso(5)}) must be before until ({iso(5)})",
        (iso(6), iso(5)): f"logs: since ({iso(6)}) must be before until ({iso(5)})",
    }
    for (since, until), error in cases.items():
        result = run(store, path, since=since, until=until)
        assert (result.status, result.error) == ("failed", error)
    assert store.con.execute("SELECT count(*) FROM flows").fetchone() == (0,)


# incremental runs ----------------------------------------------------------------------------------------


def test_same_bytes_are_not_ingested_twice(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "flows.log"
    path.write_bytes(lines(4))
    first = run(store, path)
    assert (first.status, first.counts["flows"], first.notes) == ("succeeded", 4, [])
    again = run(store, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert again.status == "succeeded"
    assert again.notes == [f"{named(path)}: already ingested (sha256 {digest[:12]}…), skipped"]
    assert again.counts.get("flows", 0) == 0
    renamed = tmp_path / "copy-of-flows.log"
    shutil.copy(path, renamed)
    copy = run(store, renamed)
    assert copy.notes == [f"{named(renamed)}: already ingested (sha256 {digest[:12]}…), skipped"]
    assert len(ports(store)) == 4


def test_a_wider_window_loads_only_records_not_loaded_before(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "flows.log"
    path.write_bytes(lines(10))
    first = run(store, path, since=iso(2), until=iso(6))
    assert ports(store, first.run_id) == [2, 3, 4, 5]
    narrower = run(store, path, since=iso(3), until=iso(5))
    assert "already ingested" in narrower.notes[0]
    assert ports(store, narrower.run_id) == []
    wider = run(store, path, since=iso(0), until=iso(8))
    assert wider.notes == []
    assert ports(store, wider.run_id) == [0, 1, 6, 7]
    skipped = store.con.execute("SELECT skipped FROM log_artifacts WHERE run_id = ?", [wider.run_id]).fetchone()
    assert json.loads(skipped[0]) == {"loaded by an earlier run": 4}
    unbounded = run(store, path)
    assert ports(store, unbounded.run_id) == [8, 9]
    assert ports(store) == list(range(10))  # every record once
    assert "already ingested" in run(store, path, since=iso(9)).notes[0]


def test_other_parse_options_read_the_same_bytes_again(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "flows.log"
    path.write_bytes(lines(2))
    run(store, path)
    other = collect_logs(store, path, log_format="vpcflow", cluster="eu")
    assert other.notes == [] and other.counts["flows"] == 2
    assert store.con.execute("SELECT DISTINCT cluster FROM flows ORDER BY 1").fetchall() == [("default",), ("eu",)]


def test_a_failed_run_does_not_count_as_ingested(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "flows.log"
    path.write_bytes(lines(3))
    assert run(store, path, tmp_path / "missing.log").status == "failed"
    retry = run(store, path)
    assert (retry.status, retry.notes) == ("succeeded", [])
    assert ports(store, retry.run_id) == [0, 1, 2]


# envelopes -----------------------------------------------------------------------------------------------


def test_cri_and_docker_envelopes(store: Store, tmp_path: Path) -> None:
    cri = tmp_path / "cri.log"
    cri.write_text(f"2024-03-05T10:00:00.300000000Z stdout F {rec(0)}\n2024-03-05T10:00:01Z stderr F {rec(1)}\n")
    docker = tmp_path / "docker.log"
    docker.write_text(
        "".join(
            json.dumps({"log": f"{rec(i)}\n", "stream": "stdout", "time": "2024-03-05T10:00:01Z"}) + "\n"
            for i in (2, 3)
        )
    )
    result = run(store, cri, docker)
    assert result.status == "succeeded", result
    assert ports(store) == [0, 1, 2, 3]
    wrappers = store.con.execute("SELECT origin, wrapper, records FROM log_artifacts ORDER BY origin").fetchall()
    assert wrappers == [(named(cri), "cri", 2), (named(docker), "docker", 2)]


def test_broken_envelope_lines_are_rejected(store: Store, tmp_path: Path) -> None:
    cri = tmp_path / "cri.log"
    cri.write_text(f"2024-03-05T10:00:00Z stdout F {rec(0)}\n{rec(1)}\n2024-03-05T10:00:02Z stdout F {rec(2)}\n")
    docker = tmp_path / "docker.log"
    docker.write_text(json.dumps({"log": f"{rec(3)}\n", "stream": "stdout"}) + f"\n{rec(4)}\n")
    result = run(store, cri, docker)
    assert result.status == "partial"
    assert ports(store) == [0, 2, 3]
    found = store.con.execute("SELECT origin, reason, count, samples FROM ingest_rejects ORDER BY origin").fetchall()
    assert found == [
        (named(cri), "not a cri envelope", 1, [{"line": None, "text": rec(1)}]),
        (named(docker), "not a docker envelope", 1, [{"line": None, "text": rec(4)}]),
    ]


# missing input -------------------------------------------------------------------------------------------


def test_missing_path_fails_the_run(store: Store, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "flows.log"
    result = run(store, missing)
    assert (result.status, result.error) == (
        "failed",
        f"logs: input 1: {missing}: no such file, directory or matching files",
    )


def test_empty_directory_is_partial(store: Store, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run(store, empty)
    assert result.status == "partial"
    assert result.partial_reasons == ["logs: input 1 (vpcflow): no files found"]


# provenance ----------------------------------------------------------------------------------------------


def test_every_row_cites_its_run_and_the_file_it_came_from(store: Store, tmp_path: Path) -> None:
    plain = tmp_path / "a.log"
    plain.write_bytes(lines(3))
    packed = tmp_path / "b.log.gz"
    packed.write_bytes(gzip.compress(lines(2, first=3), mtime=0))
    result = run(store, plain, packed)
    assert result.status == "succeeded", result
    digests = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (plain, packed)}
    cited = store.con.execute(
        "SELECT src_port - 1000, source, run_id, artifact_sha256, log_format FROM flows ORDER BY src_port"
    ).fetchall()
    assert cited == [(i, "logs", result.run_id, digests[plain if i < 3 else packed], "vpcflow") for i in range(5)]
    for path, digest in digests.items():
        assert store.artifact_path(digest).read_bytes() == path.read_bytes()
    listed = store.con.execute(
        "SELECT sha256, origin, media_type, size FROM artifacts WHERE run_id = ? ORDER BY origin", [result.run_id]
    ).fetchall()
    assert listed == [
        (digests[plain], named(plain), "text/plain", plain.stat().st_size),
        (digests[packed], named(packed), "application/gzip", packed.stat().st_size),
    ]
    by_origin = store.con.execute(
        "SELECT origin, artifact_sha256, run_id FROM log_artifacts ORDER BY origin"
    ).fetchall()
    assert by_origin == [(named(p), digests[p], result.run_id) for p in (plain, packed)]


# values a table requires, blanks, records-free files, settings ---------------------------------------------


def test_a_record_without_a_required_value_is_a_reject_not_a_failed_run(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "flows.log"
    no_action = rec(1).replace(" ACCEPT OK", " - OK")  # a verdict cannot be derived: flows.verdict is NOT NULL
    path.write_text(f"{rec(0)}\n{no_action}\n\t \n{rec(2)}\n")
    result = run(store, path)
    assert result.status == "partial" and ports(store) == [0, 2]
    row = artifact_row(store, result.run_id)
    assert (row["records"], row["rejected"], row["skipped"]) == (2, 1, {"blank": 1})
    samples = store.con.execute("SELECT reason, samples FROM ingest_rejects").fetchall()
    assert samples == [("action is not ACCEPT or REJECT", [{"line": None, "text": no_action}])]


def test_a_file_whose_lines_are_all_skipped_makes_the_run_partial(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "lost.json"  # a capture that only reports events lost: no record at all
    lost = '{"lost_events": {"source": "PERF_EVENT_RING_BUFFER", "num_events_lost": 5}, "time": "2026-01-01T00:00:00Z"}'
    path.write_text(f"{lost}\n{lost}\n")
    result = collect_logs(store, path, log_format="hubble")
    assert result.status == "partial"
    assert result.partial_reasons == [f"logs: {named(path)} (hubble): no records, every line skipped (2 lost_events)"]


def test_the_source_level_cluster_is_part_of_how_a_file_is_read(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "flows.log"
    path.write_bytes(lines(1))
    run(store, path)
    again = run(store, path, cluster="prod")
    assert again.notes == [] and again.counts["flows"] == 1


def test_duckdb_settings_are_restored_after_collecting(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "flows.log"
    path.write_bytes(lines(1))
    before = store.con.execute("SELECT current_setting('memory_limit')").fetchone()
    run(store, path, memory_limit="256MB")
    assert store.con.execute("SELECT current_setting('memory_limit')").fetchone() == before


def test_a_file_already_ingested_is_not_kept_twice(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "flows.log"
    path.write_bytes(lines(2))
    run(store, path)
    kept = [p for p in store.artifacts_dir.rglob("*") if p.is_file()]
    again = run(store, path)
    assert (again.status, again.counts.get("flows", 0)) == ("succeeded", 0)
    assert "already ingested" in again.notes[0]
    assert run(store, path, cluster="eu").counts["flows"] == 2  # read again under other options
    assert [p for p in store.artifacts_dir.rglob("*") if p.is_file()] == kept  # one copy, no temporary file left
