"""Benchmark: the logs source against a bare DuckDB read of the same file, per format.

For each format a file of N records (default 1,000,000; 10,000,000 for the scale target) is written: VPC
records generated, the other formats' real sample lines (tests/data/logs/…) repeated, audit events each with
its own auditID. Each measurement runs in a fresh process: the tool (``logs`` source into a new store) and the
baseline (``CREATE TABLE AS SELECT * FROM read_csv/read_json(file)`` into a new DuckDB file; JSON read with
``ignore_errors``, as real Network Firewall lines repeat keys). Three figures per format:

- parse+load: the tool's records/s without retention over the bare read's (target >= 0.8), and the same per CPU
  second (process CPU time, all threads: on a machine shared with other jobs it varies far less than wall time);
  next to it the parse floor: the format's own parse SQL into a table of its columns alone (no provenance, no
  accounting), over the bare read, and the tool over that floor. The bare read of a line format DuckDB cannot
  split (envoy, squid; vpcflow, whose space delimiter it does not detect) stores each line as one string, so no
  design that parses while loading can come near it: the floor says how near one can;
- retention: the tool's time hashing and keeping the artifact copy over ``cp`` then ``sha256sum`` of the
  same file (target <= 1.0);
- end-to-end: the tool's records/s over the bare read's, and the tool's peak RSS.

    python benchmarks/ingest.py [--records 1000000] [--formats vpcflow,hubble] [--rss-gb 2]

``--rss-gb X`` additionally ingests a VPC Flow Logs file of about X GB and prints the peak RSS.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "logs"
EPOCH = 1_767_225_600  # 2026-01-01T00:00:00Z

# Runs in a child process: prints {"seconds", "cpu", "retention", "retention_cpu", "records", "status", "rss_mb"} as
# JSON; "retention" is the time spent hashing the file and keeping its copy (timed around the function that does
# both, in one read); "cpu" the process's CPU seconds (all threads), which a machine shared with other jobs changes
# far less than wall time.
TOOL = """
import json, resource, sys, time
from pathlib import Path
from collector.runner import run_source
from collector.store import Store
from sources.logs.source import LogsSource
spent = [0.0, 0.0]
def timed(function):
    def run(*args):
        start, cpu = time.perf_counter(), time.process_time()
        try:
            return function(*args)
        finally:
            spent[0] += time.perf_counter() - start
            spent[1] += time.process_time() - cpu
    return run
Store.put_artifact_file = timed(Store.put_artifact_file)
fmt, path, store = sys.argv[1:4]
with Store.open(Path(store)) as st:
    start, cpu = time.perf_counter(), time.process_time()
    result = run_source(st, LogsSource(), {"inputs": [{"format": fmt, "paths": [path]}]})
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
print(json.dumps({"seconds": seconds, "cpu": cpu, "retention": spent[0], "retention_cpu": spent[1],
                  "records": sum(v for k, v in result.counts.items() if k != "log_artifacts"),
                  "status": result.status, "error": result.error,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""
# The parse floor: the format's own parse (the SQL the tool runs) into a table of its columns alone, no provenance
# and no accounting: what any design that parses while loading spends, next to the bare read that does not parse.
FLOOR = """
import json, sys, time
from pathlib import Path
from collector.store import Store
from sources.logs.formats import FORMATS
from sources.logs.ingest import parsed_sql, reader_sql, required_columns, sniff
from sources.logs.source import MIGRATIONS
fmt, path, db = FORMATS[sys.argv[1]], Path(sys.argv[2]), sys.argv[3]
with Store.open(Path(db)) as store:
    store.migrate("logs", MIGRATIONS)
    store.con.execute("SET preserve_insertion_order = false")  # as the tool loads
    wrapper, first_line, on_line_one = sniff(path, 1 << 20)
    reader = reader_sql(1 << 20, 1 if on_line_one and fmt.header(first_line) else 0)
    parsed = parsed_sql(fmt, reader, wrapper, first_line, {}, required_columns(store.con, fmt.storage))
    start, cpu = time.perf_counter(), time.process_time()
    store.con.execute(f"CREATE TABLE floor AS SELECT * EXCLUDE (_status, raw, line) FROM ({parsed}) "
                      "WHERE _status = 'ok'", {"path": str(path)})
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    records = store.con.execute("SELECT count(*) FROM floor").fetchone()[0]
print(json.dumps({"seconds": seconds, "cpu": cpu, "records": records, "status": "ok"}))
"""
BASELINE = """
import json, resource, sys, time
import duckdb
reader, path, db = sys.argv[1:4]
con = duckdb.connect(db)
start, cpu = time.perf_counter(), time.process_time()
con.execute(f"CREATE TABLE t AS SELECT * FROM {reader.format(path=path)}")
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
records = con.execute("SELECT count(*) FROM t").fetchone()[0]
print(json.dumps({"seconds": seconds, "cpu": cpu, "records": records, "status": "ok", "error": None,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def vpcflow(n: int) -> Iterator[str]:
    yield "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action "
    yield "log-status\n"
    for i in range(n):
        action = "REJECT" if i % 7 == 0 else "ACCEPT"
        yield (
            f"2 123456789010 eni-{i % 997:017x} 10.0.{i % 251}.{i % 199} 52.{i % 211}.{i % 97}.{i % 89} "
            f"{1024 + i % 60000} {443 if i % 3 else 22} 6 {1 + i % 50} {40 + i % 9000} {EPOCH + i} {EPOCH + i + 60} "
            f"{action} OK\n"
        )


def cycled(sample: str, vary: Callable[[str, int], str] = lambda line, i: line) -> Callable[[int], Iterator[str]]:
    """Records taken in turn from the non-blank lines of a sample file under tests/data/logs."""

    def generate(n: int) -> Iterator[str]:
        lines = [line.rstrip("\n") for line in (DATA / sample).read_text().splitlines() if line.strip()]
        for i, line in enumerate(itertools.islice(itertools.cycle(lines), n)):
            yield vary(line, i) + "\n"

    return generate


def unique_audit_id(line: str, i: int) -> str:
    """Audit events are deduplicated on auditID and stage: give each record its own."""
    event = json.loads(line)
    if "auditID" in event:
        event["auditID"] = f"bench-{i:012d}"
    return json.dumps(event, separators=(",", ":"))


CSV = "read_csv('{path}')"
JSON = "read_json('{path}', format = 'newline_delimited', ignore_errors = true)"  # real logs repeat keys
# format -> (generator, baseline reader)
FORMATS: dict[str, tuple[Callable[[int], Iterator[str]], str]] = {
    "vpcflow": (vpcflow, CSV),
    "hubble": (cycled("hubble/basic-sample-10-flows.json"), JSON),
    "envoy": (cycled("envoy/istio-access-failed.log"), CSV),
    "squid": (cycled("squid/access.log"), CSV),
    "route53-resolver": (cycled("route53/resolver.log"), JSON),
    "network-firewall": (cycled("network-firewall/firewall.log"), JSON),
    "k8s-audit": (cycled("k8s-audit/audit.log", unique_audit_id), JSON),
}


def run(script: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, cwd=ROOT, check=False)
    if done.returncode != 0:
        return {"seconds": 0.0, "records": 0, "status": "error", "error": done.stderr.strip().splitlines()[-1]}
    return json.loads(done.stdout[done.stdout.rindex("{") :])


def copy_then_hash(path: Path, work: Path) -> float:
    """Seconds for ``cp`` of the file then ``sha256sum`` of it, run one after the other."""
    start = time.perf_counter()
    subprocess.run(["cp", str(path), str(work / "copy")], check=True)
    subprocess.run(["sha256sum", str(path)], check=True, capture_output=True)
    seconds = time.perf_counter() - start
    (work / "copy").unlink()
    return seconds


def write(path: Path, lines: Iterator[str]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for chunk in iter(lambda: list(itertools.islice(lines, 100_000)), []):
            fh.write("".join(chunk))


def measure(fmt: str, records: int, work: Path) -> None:
    generate, reader = FORMATS[fmt]
    path = work / f"{fmt}.log"
    write(path, generate(records))
    os.sync()  # the file's pages reach the disk before timing, so neither side pays for their write-back
    tool = run(TOOL, fmt, str(path), str(work / f"{fmt}-store.duckdb"))
    base = run(BASELINE, reader, str(path), str(work / f"{fmt}-baseline.duckdb"))
    floor = run(FLOOR, fmt, str(path), str(work / f"{fmt}-floor.duckdb"))
    reference = copy_then_hash(path, work)
    size_mb = path.stat().st_size / 1e6
    if tool["status"] not in ("succeeded", "partial") or base["status"] != "ok" or floor["status"] != "ok":
        print(
            f"{fmt:17} {size_mb:8.1f} MB  tool: {tool['status']} {tool.get('error')}  baseline: {base.get('error')}  "
            f"floor: {floor.get('error')}"
        )
        return
    base_rate = base["records"] / base["seconds"]
    parse_rate = tool["records"] / (tool["seconds"] - tool["retention"])
    cpu = tool["records"] / (tool["cpu"] - tool["retention_cpu"]) / (base["records"] / base["cpu"])  # per CPU second
    floor_rate = floor["records"] / floor["seconds"]
    print(
        f"{fmt:17} {size_mb:8.1f} MB {tool['records']:>9} records  bare {reader.split('(')[0]} {base_rate:>10,.0f}/s  "
        f"parse+load ratio {parse_rate / base_rate:5.2f} (CPU {cpu:4.2f})  parse floor {floor_rate / base_rate:5.2f} "
        f"(tool/floor {parse_rate / floor_rate:4.2f})  retention {tool['retention']:6.2f} s = "
        f"{tool['retention'] / reference:4.2f}x cp+sha256sum  end-to-end ratio "
        f"{tool['records'] / tool['seconds'] / base_rate:5.2f}  tool RSS {tool['rss_mb']:6.0f} MB  ({tool['status']})"
    )
    for leftover in work.glob(f"{fmt}*"):
        if leftover.is_file():
            leftover.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--formats", default=",".join(FORMATS), help="comma-separated formats")
    parser.add_argument("--rss-gb", type=float, default=0.0, help="also ingest a VPC file of this many GB")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="defensible-bench-") as tmp:
        work = Path(tmp)
        print(
            f"{args.records:,} records per format; ratio = tool records/s / bare DuckDB reader records/s "
            "(parse+load: without retention; CPU: the same per CPU second; targets: parse+load >= 0.8, retention "
            "<= 1.0x)"
        )
        for fmt in args.formats.split(","):
            measure(fmt, args.records, work)
        if args.rss_gb:
            path = work / "big-vpcflow.log"
            write(path, vpcflow(int(args.rss_gb * 1e9 / 110)))
            tool = run(TOOL, "vpcflow", str(path), str(work / "big-store.duckdb"))
            print(
                f"vpcflow {path.stat().st_size / 1e9:.2f} GB: {tool['records']:,} records in {tool['seconds']:.1f} s, "
                f"peak RSS {tool.get('rss_mb', 0):.0f} MB ({tool['status']})"
            )


if __name__ == "__main__":
    main()
