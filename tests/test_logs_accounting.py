"""No silent loss in log ingestion: every line of a file is loaded or counted (lines DuckDB's reader drops
without a word included), line ends are read alike whatever they are, a failed run leaves no artifact copy
behind, and a full disk is reported as such. ``collect_logs`` checks the accounting of every file loaded."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import collect_logs, named
from test_logs_engine import lines, ports, rec

from collector.store import ArtifactCopy, Store, StoreError
from sources.logs import ingest as log_ingest

MIB = 1 << 20


def run(store: Store, *paths: Path, **config: Any):
    return collect_logs(store, *paths, log_format="vpcflow", source_config=config)


def accounting(store: Store, run_id: str) -> dict[str, Any]:
    row = store.con.execute(
        "SELECT lines, records, rejected, skipped FROM log_artifacts WHERE run_id = ?", [run_id]
    ).fetchone()
    assert row is not None
    return {"lines": row[0], "records": row[1], "rejected": row[2], "skipped": json.loads(row[3])}


def rejects(store: Store, run_id: str) -> dict[str, tuple[int, list[int | None]]]:
    cur = store.con.execute("SELECT reason, count, samples FROM ingest_rejects WHERE run_id = ?", [run_id])
    return {reason: (count, [s["line"] for s in samples]) for reason, count, samples in cur.fetchall()}


def artifact_files(store: Store) -> list[str]:
    """Every file in the artifact directory, temporary copies included."""
    return sorted(str(p.relative_to(store.artifacts_dir)) for p in store.artifacts_dir.rglob("*") if p.is_file())


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sized(i: int, size: int) -> bytes:
    """Record ``i`` as a line of exactly ``size`` bytes (its interface id padded)."""
    line = rec(i).encode()
    return line.replace(b"eni-0abc", b"eni-0abc" + b"f" * (size - len(line)))


# lines longer than the reader's buffer, lines at the limit --------------------------------------------------


@pytest.mark.parametrize("packed", [False, True], ids=["plain", "gzip"])
def test_a_33_mib_line_among_normal_lines_is_a_reject_with_its_line_number(
    store: Store, tmp_path: Path, packed: bool
) -> None:
    """DuckDB's reader drops a line longer than its 32 MB buffer without reporting it: counted all the same."""
    body = lines(5) + b"2 " + b"x" * (33 * MIB) + b"\n" + lines(5, first=5) + b"2 " + b"y" * (2 * MIB) + b"\n"
    path = tmp_path / ("flows.log.gz" if packed else "flows.log")
    path.write_bytes(gzip.compress(body, compresslevel=1, mtime=0) if packed else body)
    result = run(store, path)
    assert result.status == "partial"
    assert ports(store) == list(range(10))
    # line 6 the reader dropped, line 12 (2 MiB) it rejected itself: one reason, both line numbers
    assert rejects(store, result.run_id) == {"line longer than max_line_bytes": (2, [6, 12])}
    assert accounting(store, result.run_id) == {"lines": 12, "records": 10, "rejected": 2, "skipped": {}}
    sample = store.con.execute("SELECT samples[1].text FROM ingest_rejects").fetchone()
    assert sample == ("2 " + "x" * 298,)
    rejected = "2 line(s) rejected: 2 line longer than max_line_bytes"
    assert result.partial_reasons == [f"logs: {named(path)} (vpcflow): {rejected}"]


def test_lines_at_the_limit_are_read_and_one_byte_more_is_rejected(store: Store, tmp_path: Path) -> None:
    limit = 1024
    path = tmp_path / "flows.log"
    path.write_bytes(
        b"".join(
            [
                sized(0, limit) + b"\n",  # exactly the limit
                sized(1, limit + 1) + b"\n",  # line 2: one byte over
                sized(2, limit) + b"\r\n",  # the CR of a CRLF is not part of the line
                sized(3, limit - 1) + b"\n",
                sized(4, 3 * MIB) + b"\n",  # line 5: over the limit and over a read of the line counter
                sized(5, limit),  # the last line, without LF
            ]
        )
    )
    result = run(store, path, max_line_bytes=limit)
    assert ports(store) == [0, 2, 3, 5]
    assert rejects(store, result.run_id) == {"line longer than max_line_bytes": (2, [2, 5])}
    assert accounting(store, result.run_id) == {"lines": 6, "records": 4, "rejected": 2, "skipped": {}}


def test_a_line_the_reader_drops_for_another_reason_is_counted_as_not_read(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever the reader loses is a reject: here a reader that silently drops lines holding 'lost'."""
    real = log_ingest.reader_sql

    def lossy(max_line: int, skip: int) -> str:
        return f"(SELECT * FROM {real(max_line, skip)} WHERE coalesce(raw, '') NOT LIKE '%lost%')"

    monkeypatch.setattr(log_ingest, "reader_sql", lossy)
    path = tmp_path / "flows.log"
    path.write_bytes(lines(2) + b"lost line\n" + lines(2, first=2) + b"lost again\n")
    result = run(store, path)
    assert result.status == "partial"
    assert rejects(store, result.run_id) == {"line not read by DuckDB's CSV reader": (2, [])}
    assert accounting(store, result.run_id) == {"lines": 6, "records": 4, "rejected": 2, "skipped": {}}


# line ends, blank lines, byte order marks -------------------------------------------------------------------


@pytest.mark.parametrize("packed", [False, True], ids=["plain", "gzip"])
def test_lf_crlf_and_lone_cr_each_end_one_line(store: Store, tmp_path: Path, packed: bool) -> None:
    body = (
        f"{rec(0)}\r\n{rec(1)}\n{rec(2)}\r{rec(3)}\n"  # DuckDB alone would lose record 3 (its CRLF mode)
        f"\r\nnot a record\r\n{rec(4)}\r\r\n{rec(5)}"  # line 5 blank, 6 a reject, 8 blank
    ).encode()
    path = tmp_path / ("flows.log.gz" if packed else "flows.log")
    path.write_bytes(gzip.compress(body, mtime=0) if packed else body)
    result = run(store, path)
    assert ports(store) == [0, 1, 2, 3, 4, 5]
    assert accounting(store, result.run_id) == {"lines": 9, "records": 6, "rejected": 1, "skipped": {"blank": 2}}
    assert store.artifact_path(sha256(path)).read_bytes() == path.read_bytes()  # kept with its own line ends


def test_a_crlf_split_between_two_reads_is_one_line_end(store: Store, tmp_path: Path) -> None:
    first = sized(0, log_ingest.CHUNK - 1) + b"\r"  # the CR ends the first read, its LF starts the next
    path = tmp_path / "flows.log"
    path.write_bytes(first + b"\n" + rec(1).encode() + b"\r\n")
    result = run(store, path, max_line_bytes=4 * MIB)
    assert ports(store) == [0, 1]
    assert accounting(store, result.run_id) == {"lines": 2, "records": 2, "rejected": 0, "skipped": {}}


def test_blank_lines_and_a_byte_order_mark_are_accounted(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "flows.log"
    path.write_bytes(b"\xef\xbb\xbf" + lines(1) + b"\n\n   \n" + lines(1, first=1) + b"\n")
    result = run(store, path)
    assert result.status == "succeeded", result
    assert ports(store) == [0, 1]
    assert accounting(store, result.run_id) == {"lines": 6, "records": 2, "rejected": 0, "skipped": {"blank": 4}}


def test_empty_and_blank_files(store: Store, tmp_path: Path) -> None:
    empty, blank = tmp_path / "empty.log", tmp_path / "blank.log"
    empty.write_bytes(b"")
    blank.write_bytes(b"\n\n\r\n")
    result = run(store, empty, blank)
    assert result.status == "succeeded", result
    found = store.con.execute("SELECT origin, lines, skipped FROM log_artifacts ORDER BY origin").fetchall()
    assert found == [(named(blank), 3, '{"blank":3}'), (named(empty), 0, "{}")]


# failed runs leave no copy ---------------------------------------------------------------------------------


def test_a_failed_run_removes_the_copies_it_made_and_keeps_the_shared_ones(store: Store, tmp_path: Path) -> None:
    shared = tmp_path / "shared.log"
    shared.write_bytes(lines(3))
    assert run(store, shared).status == "succeeded"
    before = artifact_files(store)
    fresh = tmp_path / "fresh.log"
    fresh.write_bytes(lines(3, first=10))
    again = tmp_path / "again.log"
    again.write_bytes(lines(3) + lines(1, first=20))  # new bytes, so copied; its first records are the same
    failed = run(store, shared, fresh, again, tmp_path / "missing.log")
    assert failed.status == "failed"
    assert artifact_files(store) == before  # fresh.log's and again.log's copies are gone, shared.log's kept
    assert before == [f"sha256/{sha256(shared)[:2]}/{sha256(shared)}"]
    retry = run(store, fresh, again)  # nothing of the failed run counts: both are copied and read again
    assert (retry.status, retry.counts["flows"]) == ("succeeded", 7)


def test_an_interrupted_run_removes_its_copies_and_is_failed(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "flows.log"
    path.write_bytes(lines(3))

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(log_ingest, "load", interrupted)  # after the copy, while loading
    with pytest.raises(KeyboardInterrupt):
        run(store, path)
    assert artifact_files(store) == []
    assert [(r["status"], r["error"]) for r in store.runs()] == [("failed", "interrupted")]


def test_a_copy_cut_short_by_an_error_leaves_no_file(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = ArtifactCopy.write

    def half_copy(copy: ArtifactCopy, data: bytes) -> int:
        real_write(copy, data[:100])
        raise OSError(28, "No space left on device", str(copy.tmp))

    monkeypatch.setattr(ArtifactCopy, "write", half_copy)
    path = tmp_path / "flows.log"
    path.write_bytes(lines(20))
    result = run(store, path)
    assert result.status == "failed"
    assert result.error.startswith(
        f"logs: {named(path)} (vpcflow): No space left on device (writing {store.artifacts_dir}/.tmp-"
    )
    assert artifact_files(store) == []


# a full disk -----------------------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 8 MiB file system (tmpfs); skipped where mounting one is not permitted (not root)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if not shutil.which("mount"):
        pytest.skip("no mount command")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.decode().strip()}")
    yield disk
    subprocess.run(["umount", str(disk)], check=True)


@pytest.mark.parametrize(
    ("records", "hit"),
    [
        (60_000, "committing the run: No space left on device (writing {disk}/e.duckdb.wal)"),
        (100_000, "{log} (vpcflow): No space left on device (writing {disk}/e.duckdb.artifacts/.tmp-"),
    ],
    ids=["store", "artifact"],
)
def test_a_full_disk_fails_the_run_with_a_clear_message_and_keeps_earlier_runs(
    small_disk: Path, tmp_path: Path, records: int, hit: str
) -> None:
    first, big = tmp_path / "first.log", tmp_path / "big.log"
    first.write_bytes(lines(10))
    big.write_bytes(lines(records, first=100))  # 5.7 MB: its copy fits, not its rows; 9.4 MB: no copy fits
    with Store.open(small_disk / "e.duckdb") as store:
        assert run(store, first).status == "succeeded"
        before = artifact_files(store)
        try:
            result = run(store, big)
            assert result.status == "failed"
            error = result.error
        except StoreError as exc:  # DuckDB invalidated the store: the run is recorded failed when next opened
            error = str(exc)
        assert error.startswith("logs: " + hit.format(disk=small_disk, log=named(big))), error
    with Store.open(small_disk / "e.duckdb") as store:
        assert [r["status"] for r in store.runs()] == ["succeeded", "failed"]
        assert ports(store) == list(range(10))
        assert artifact_files(store) == before


# the lines counted as the file is kept: one DuckDB read when every line is a record ------------------------


@pytest.fixture
def reads(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many lines DuckDB's reader gives the queries of a run, whatever the pass: a file of n lines read once
    gives at most n (the reader wrapped in a function noting each line; a query may filter empty lines first)."""
    counted = [0]

    def seen(raw: str | None) -> bool:
        counted[0] += 1
        return True

    store.con.create_function("reader_saw", seen, ["VARCHAR"], "BOOLEAN", null_handling="special", side_effects=True)
    real = log_ingest.reader_sql
    monkeypatch.setattr(
        log_ingest, "reader_sql", lambda max_line, skip: f"(SELECT * FROM {real(max_line, skip)} WHERE reader_saw(raw))"
    )
    return counted


def test_a_file_whose_every_line_is_a_record_is_read_by_duckdb_once(
    store: Store, tmp_path: Path, reads: list[int]
) -> None:
    path = tmp_path / "flows.log"
    path.write_bytes(lines(5))
    result = run(store, path)
    assert accounting(store, result.run_id) == {"lines": 5, "records": 5, "rejected": 0, "skipped": {}}
    assert reads == [5]  # the INSERT's read only: no second pass to count the lines


def test_a_blank_line_is_counted_by_one_more_pass(store: Store, tmp_path: Path, reads: list[int]) -> None:
    path = tmp_path / "flows.log"
    path.write_bytes(lines(2) + b"\n" + lines(2, first=2))
    result = run(store, path)
    assert result.status == "succeeded", result
    assert accounting(store, result.run_id) == {"lines": 5, "records": 4, "rejected": 0, "skipped": {"blank": 1}}
    assert reads == [4 + 5]  # the INSERT's read (of the lines not empty), then the counting pass


def test_a_last_line_without_lf_counts(store: Store, tmp_path: Path, reads: list[int]) -> None:
    path = tmp_path / "flows.log"
    path.write_bytes(lines(2) + rec(2).encode())
    result = run(store, path)
    assert ports(store) == [0, 1, 2]
    assert accounting(store, result.run_id) == {"lines": 3, "records": 3, "rejected": 0, "skipped": {}}
    assert reads == [3]


def test_a_nodata_line_is_counted_as_skipped(store: Store, tmp_path: Path, reads: list[int]) -> None:
    nodata = "2 123456789010 eni-0abc - - - - - - - 1767225600 1767225659 - NODATA"
    path = tmp_path / "flows.log"
    path.write_bytes(lines(2) + nodata.encode() + b"\n" + lines(1, first=2))
    result = run(store, path)
    assert ports(store) == [0, 1, 2]
    assert accounting(store, result.run_id) == {"lines": 4, "records": 3, "rejected": 0, "skipped": {"NODATA": 1}}
    assert reads == [4 + 4]


@pytest.mark.parametrize("packed", [False, True], ids=["plain", "gzip"])
def test_the_lines_counted_are_those_duckdb_reads(store: Store, tmp_path: Path, reads: list[int], packed: bool) -> None:
    """CRLF and lone CR line ends are read as LF, gzip inflated: the count is of that text, not of the bytes kept."""
    body = f"{rec(0)}\r\n{rec(1)}\r{rec(2)}\r\n{rec(3)}".encode()  # 3 LFs, 4 lines, read once
    path = tmp_path / ("flows.log.gz" if packed else "flows.log")
    path.write_bytes(gzip.compress(body, mtime=0) if packed else body)
    result = run(store, path)
    assert ports(store) == [0, 1, 2, 3]
    assert accounting(store, result.run_id) == {"lines": 4, "records": 4, "rejected": 0, "skipped": {}}
    assert reads == [4]


def test_a_truncated_gzip_stream_counts_the_lines_kept(store: Store, tmp_path: Path, reads: list[int]) -> None:
    path = tmp_path / "flows.log.gz"
    path.write_bytes(gzip.compress(lines(50), mtime=0)[:-30])  # cut inside the last member, mid-line
    result = run(store, path)
    kept = len(ports(store))
    assert 0 < kept < 50
    assert accounting(store, result.run_id) == {"lines": kept + 1, "records": kept, "rejected": 1, "skipped": {}}
    assert reads == [kept]  # the damage is counted as it is inflated: no second pass


@pytest.mark.parametrize("split", range(1, len("EventList")))
def test_a_batch_marker_split_between_two_chunks_is_seen(split: int) -> None:
    text = log_ingest.TextLines("EventList")
    line = b'{"kind":"EventList","items":[]}'
    at = line.index(b"EventList") + split
    text(line[:at])
    text(line[at:])
    assert (text.marked, text.lines, text.carriage_return) == (True, 1, False)
    clean = log_ingest.TextLines("EventList")
    for part in (b'{"kind":"Event"}\nEvent', b"List", b"x\n"):
        clean(part[: len(part) // 2])
        clean(part[len(part) // 2 :])
    assert clean.marked and clean.lines == 2
    unmarked = log_ingest.TextLines("EventList")
    for part in (b'{"kind":"Event"}\n', b"Even", b"tLis", b"\n"):
        unmarked(part)
    assert (unmarked.marked, unmarked.lines) == (False, 2)
