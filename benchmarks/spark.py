"""Benchmark: the logs source on DuckDB and on Spark ``local[2]``, side by side, over one VPC Flow Logs corpus.

Writes N VPC flow records (default 10,000,000, about 1 GB) spread over ``--files`` files, then runs the logs
source into a new store with each engine, each in a fresh process: DuckDB (parse and load every record, then
the logs claims judged in the store) and Spark (parse on Spark, write Parquet partitioned by date and cluster,
judge the claims there, bring back the evidence). Prints seconds, records/s and records/s per core of both.
On one machine Spark is expected to be slower: its JVM start, per-file jobs and the Parquet write cost more
than DuckDB's in-process read; what it buys is running where one machine no longer holds the logs.

    python benchmarks/spark.py [--records 10000000] [--files 8] [--cores 2]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EPOCH = 1_767_225_600  # 2026-01-01T00:00:00Z
HEADER = (
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
)

# Runs in a child process: prints {"seconds", "status", "error", "verdicts"} as JSON.
RUN = """
import json, sys, time
from pathlib import Path
from collector.claims import evaluate_pack, load_pack, resolve_pack
from collector.runner import run_source
from collector.store import Store
from sources.logs.source import LogsSource
config, store = json.loads(sys.argv[1]), sys.argv[2]
with Store.open(Path(store)) as st:
    start = time.perf_counter()
    result = run_source(st, LogsSource(), config)
    verdicts = {r.claim.id: r.verdict for r in evaluate_pack(st, load_pack(resolve_pack("logs")))}
    seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "status": result.status, "error": result.error, "verdicts": verdicts}))
"""


def write_corpus(directory: Path, records: int, files: int) -> list[str]:
    """``files`` VPC Flow Logs files holding ``records`` records in all (one record a second per interface)."""
    rng = random.Random(7)
    paths = []
    per_file = records // files
    for number in range(files):
        path = directory / f"vpc-{number}.log"
        with open(path, "w") as fh:
            fh.write(HEADER + "\n")
            batch = []
            for i in range(per_file):
                start = EPOCH + i // 50
                action = "REJECT" if rng.random() < 0.05 else "ACCEPT"
                batch.append(
                    f"2 123456789012 eni-{number:04d} 10.0.{i % 250}.{i % 200} 198.51.100.{i % 250} "
                    f"{1024 + i % 60000} 443 6 10 840 {start} {start + 60} {action} OK\n"
                )
                if len(batch) == 100_000:
                    fh.writelines(batch)
                    batch.clear()
            fh.writelines(batch)
        paths.append(str(path))
    return paths


def run(config: dict, store: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SPARK_LOCAL_IP": "127.0.0.1"}
    out = subprocess.run(
        [sys.executable, "-c", RUN, json.dumps(config), str(store)], capture_output=True, text=True, env=env
    )
    if out.returncode:
        return {"seconds": float("nan"), "status": "crashed", "error": out.stderr.strip().splitlines()[-1:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="defensible-bench-") as tmp:
        root = Path(tmp)
        (root / "logs").mkdir()
        paths = write_corpus(root / "logs", args.records, args.files)
        size = sum(Path(p).stat().st_size for p in paths)
        print(f"{args.records:,} VPC flow records in {args.files} files, {size / 1e9:.2f} GB")
        inputs = [{"format": "vpcflow", "paths": paths}]
        engines = {
            "duckdb": {"inputs": inputs, "memory_limit": "1GB"},
            f"spark local[{args.cores}]": {
                "inputs": inputs,
                "engine": {"name": "spark", "master": f"local[{args.cores}]", "output": str(root / "lake"),
                           "conf": {"spark.driver.memory": "2g"}},
            },
        }  # fmt: skip
        print(f"{'engine':<16} {'seconds':>9} {'records/s':>12} {'per core':>11}  status, verdicts")
        for name, config in engines.items():
            result = run(config, root / f"{name.split()[0]}.duckdb")
            rate = args.records / result["seconds"]
            print(
                f"{name:<16} {result['seconds']:>9.1f} {rate:>12,.0f} {rate / args.cores:>11,.0f}  "
                f"{result['status']}, {result.get('verdicts') or result.get('error')}"
            )


if __name__ == "__main__":
    main()
