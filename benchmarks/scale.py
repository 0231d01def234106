"""Benchmark: a large cluster collected, analysed and judged, each step timed with its peak memory.

The cluster (deterministic for a seed) is benchmarks/reachability.py's synthetic inventory (team namespaces,
apps of a few roles with named ports, default-deny, ingress-controller, monitoring, app-to-app, cross-namespace
and ipBlock egress NetworkPolicies) with, as a live cluster has them, a ReplicaSet and a Pod for every Deployment
and a Service per workload; every tenth team namespace is regulated. Defaults: 16,666 workloads and 5,000
NetworkPolicies, about 55,000 objects (issue 19). Then ``--flows`` VPC Flow Logs records of that cluster
(benchmarks/ingest.py's generator; default 10,000,000, 0 for none) are collected, every pack is checked and the
store is bundled twice: the two bundles must be byte-identical.

Each step runs `defensible` in a child process; its wall time and peak RSS (``os.wait4``) are printed against the
targets of docs/performance.md. The store's DuckDB memory limit is $DEFENSIBLE_MEMORY_LIMIT (unset: half the RAM).

    python benchmarks/scale.py [--workloads 16666 --policies 5000 --flows 10000000 --seed 7 --keep DIR]
"""

from __future__ import annotations

import argparse
import filecmp
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from ingest import vpcflow, write
from reachability import meta, synthetic_inventory

ROOT = Path(__file__).parents[1]
CLUSTER = "scale"
# step -> (seconds, peak RSS in MB): the targets of issue 19 (None: measured, no target)
TARGETS: dict[str, tuple[float, float] | None] = {
    "collect kubernetes": None,
    "collect analysis": (30, 1536),
    "write after analysis": None,  # "not dominated by the analysis": compare with the same write to a small store
    "check reachability": None,
    "check k8s-networking": None,
    "reach --to": None,
    "collect logs": None,
    "check (all packs)": (8, 1536),
    "bundle": (25, 1536),
    "bundle again": (25, 1536),
}


def cluster_objects(workloads: int, policies: int, seed: int) -> list[dict]:
    """The synthetic inventory, with a ReplicaSet and a Pod per Deployment, a Service per workload, and every tenth
    team namespace regulated."""
    objects = synthetic_inventory(workloads, policies, seed)
    owned = {(o["metadata"]["namespace"], o["metadata"]["ownerReferences"][0]["name"])
             for o in objects if o["kind"] == "ReplicaSet"}  # fmt: skip
    extra: list[dict] = []
    for o in objects:
        kind, m = o["kind"], o["metadata"]
        if kind == "Namespace" and m["name"].startswith("team-") and int(m["name"][5:]) % 10 == 0:
            m.setdefault("labels", {})["defensible.io/regulated"] = "true"
        if kind not in ("Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job", "Pod") or "ownerReferences" in m:
            continue
        template = o["spec"]["jobTemplate"]["spec"]["template"] if kind == "CronJob" else o["spec"].get("template")
        labels = m.get("labels", {}) if kind == "Pod" else template["metadata"]["labels"]
        containers = (o["spec"] if kind == "Pod" else template["spec"])["containers"]
        ports = [
            {"port": p["containerPort"], "targetPort": p["name"], "name": p["name"]}
            for c in containers
            for p in c.get("ports", [])
        ]
        if ports:
            service = {"selector": {"app": labels["app"]}, "ports": ports}
            extra.append({"apiVersion": "v1", "kind": "Service", "metadata": meta(m["name"], m["namespace"]),
                          "spec": service})  # fmt: skip
        if kind == "Deployment" and (m["namespace"], m["name"]) not in owned:
            rs = f"{m['name']}-5c7d8b9f4"
            rs_meta = meta(rs, m["namespace"], labels, ("Deployment", m["name"]))
            extra.append({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": rs_meta, "spec": o["spec"]})
            pod_meta = meta(f"{rs}-q7x2k", m["namespace"], labels, ("ReplicaSet", rs))
            extra.append({"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": template["spec"]})
    return objects + extra


def step(name: str, args: list[str], env: dict[str, str]) -> tuple[float, float, float, str]:
    """Run `defensible ARGS` in a child process; (wall seconds, CPU seconds, peak RSS in MB, stdout). Exits if it
    fails."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "-c", "from collector.cli import main; main()", *args],
            stdout=out, stderr=err, env=env, cwd=ROOT,
        )  # fmt: skip
        _, status, usage = os.wait4(child.pid, 0)  # the child's own peak RSS (KiB on Linux)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if child.returncode not in (0, 1):  # check exits 1 when a claim is not satisfied
            sys.exit(f"{name} failed ({child.returncode}): {err.read().strip()[-2000:]}")
        return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out.read()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", type=int, default=16666)
    parser.add_argument("--policies", type=int, default=5000)
    parser.add_argument("--flows", type=int, default=10_000_000, help="VPC flow records to collect (0: none)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it (default: a temporary one)")
    args = parser.parse_args()

    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        return run(args, args.keep)
    with tempfile.TemporaryDirectory(prefix="defensible-scale-") as tmp:
        return run(args, Path(tmp))


def run(args: argparse.Namespace, work: Path) -> int:
    """Generate the cluster in ``work`` and run every step on a store there."""
    objects = cluster_objects(args.workloads, args.policies, args.seed)
    manifests = work / "manifests"
    manifests.mkdir(exist_ok=True)
    with open(manifests / "cluster.yaml", "w", encoding="utf-8") as fh:
        yaml.dump_all(objects, fh, Dumper=yaml.CSafeDumper, sort_keys=False)
    store = work / "evidence.duckdb"
    for leftover in (store, work / "evidence.duckdb.wal"):
        leftover.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DEFENSIBLE_STORE": str(store)}
    kinds: dict[str, int] = {}
    for o in objects:
        kinds[o["kind"]] = kinds.get(o["kind"], 0) + 1
    print(f"cluster: {len(objects)} objects ({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))})")
    regulated = next(o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"
                     and o["metadata"].get("labels", {}).get("defensible.io/regulated"))  # fmt: skip
    target = next(f"{o['metadata']['namespace']}/{o['metadata']['name']}" for o in objects
                  if o["kind"] == "Deployment" and o["metadata"]["namespace"] == regulated)  # fmt: skip
    one = work / "one.yaml"  # a small write to the store holding the analysis
    one.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "one"}}))
    steps = {
        "collect kubernetes": ["collect", "kubernetes", "--set", f"paths=[{manifests}]", "--set", f"cluster={CLUSTER}"],
        "collect analysis": ["collect", "analysis"],
        "write after analysis": ["collect", "kubernetes", "--set", f"paths=[{one}]", "--set", "cluster=other"],
        "check reachability": ["check", "--pack", "reachability", "--format", "json"],
        "check k8s-networking": ["check", "--pack", "k8s-networking", "--format", "json"],
        "reach --to": ["reach", "--to", target, "--cluster", CLUSTER],
    }
    if args.flows:
        flows = work / "flows.log"
        write(flows, vpcflow(args.flows))
        inputs = f"inputs=[{{format: vpcflow, paths: [{flows}]}}]"
        steps |= {
            "collect logs": ["collect", "logs", "--set", inputs, "--set", f"cluster={CLUSTER}"],
            "check (all packs)": ["check", "--format", "json"],
            "bundle": ["bundle", "--out", str(work / "bundle-1"), "--force"],
            "bundle again": ["bundle", "--out", str(work / "bundle-2"), "--force"],
        }
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    print(f"{'step':24} {'seconds':>8} {'CPU s':>8} {'peak MB':>8}   target (on wall time)")
    failed = []
    for name, cli_args in steps.items():
        seconds, cpu, rss, out = step(name, cli_args, env)
        goal = TARGETS[name]
        verdict = (
            ""
            if goal is None
            else f"< {goal[0]:g} s, < {goal[1]:g} MB: " + ("met" if seconds < goal[0] and rss < goal[1] else "NOT met")
        )
        if goal is not None and verdict.endswith("NOT met"):
            failed.append(name)
        detail = f" ({len(out.splitlines())} lines)" if name == "reach --to" else ""
        if name == "bundle again":
            if not same_files(work / "bundle-1", work / "bundle-2"):
                sys.exit("the two bundles of the same store differ")
            detail = " (byte-identical to the first)"
        print(f"{name:24} {seconds:8.1f} {cpu:8.1f} {rss:8.0f}   {verdict}{detail}", flush=True)
    size = sum(p.stat().st_size for p in work.glob("evidence.duckdb*") if p.is_file())
    artifacts = sum(p.stat().st_size for p in (work / "evidence.duckdb.artifacts").rglob("*") if p.is_file())
    print(f"store: {size / 2**20:.0f} MB, artifacts: {artifacts / 2**20:.0f} MB, load average after: "
          f"{os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"targets not met: {', '.join(failed)}" if failed else "every target met")
    return 0


def same_files(one: Path, two: Path) -> bool:
    """Whether the two directories hold the same files with the same bytes."""
    names = sorted(p.relative_to(one) for p in one.rglob("*") if p.is_file())
    if names != sorted(p.relative_to(two) for p in two.rglob("*") if p.is_file()):
        return False
    return all(filecmp.cmp(one / name, two / name, shallow=False) for name in names)


if __name__ == "__main__":
    sys.exit(main())
