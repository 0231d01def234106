"""Benchmark: Gateway API attachment of a synthetic inventory, against a linear baseline.

The inventory (deterministic for a seed): Gateways of 100 HTTPS listeners each (one hostname per listener, routes
admitted from the same namespace, from all, or through a team label selector), labelled namespaces, Services,
ReferenceGrants, and HTTPRoutes naming a listener (most) or the whole Gateway, some with identical matches on one
hostname (route conflicts). The baseline is the time to parse the same inventory from JSON: the analysis reads
every object once, so a near-linear analysis keeps the ratio analysis / parse constant as the inventory grows.

    python benchmarks/gateway_attachment.py [--routes 10000 --listeners 2000 --seed 7]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from random import Random
from typing import Any

from collector.analysis.gateway.attachment import analyze_gateways
from collector.analysis.gateway.model import GatewayReport

PER_GATEWAY = 100  # listeners per Gateway
TEAMS = 10


def synthetic_inventory(routes: int, listeners: int, seed: int = 7) -> list[dict[str, Any]]:
    """A Gateway API inventory of `routes` HTTPRoutes and `listeners` listeners."""
    rng = Random(seed)
    gateways = max(1, listeners // PER_GATEWAY)
    namespaces = max(TEAMS, routes // 50)
    objects: list[dict[str, Any]] = []
    for n in range(namespaces):
        labels = {"team": f"t{n % TEAMS}", "env": rng.choice(("prod", "staging"))}
        objects.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"ns{n}", "labels": labels}})
        objects.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": f"ns{n}"}})
    for g in range(gateways):
        ns = f"infra{g}"
        objects.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "cert", "namespace": ns}})
        objects.append(
            gateway(g, ns, listeners // gateways if g else listeners - (gateways - 1) * (listeners // gateways))
        )
    for j in range(routes):
        objects.append(route(rng, j, namespaces, gateways))
    for n in range(0, namespaces, 10):  # routes of the next namespace may use this one's Services
        spec = {
            "from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": f"ns{n + 1}"}],
            "to": [{"group": "", "kind": "Service"}],
        }
        meta = {"name": "grant", "namespace": f"ns{n}"}
        objects.append({"apiVersion": "gateway.networking.k8s.io/v1beta1", "kind": "ReferenceGrant", "metadata": meta,
                        "spec": spec})  # fmt: skip
    return objects


def gateway(g: int, ns: str, count: int) -> dict[str, Any]:
    froms = (
        {"from": "All"},
        {"from": "Selector", "selector": {"matchLabels": {"team": f"t{g % TEAMS}"}}},
        {"from": "Selector", "selector": {"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]}},
    )
    listeners = [
        {
            "name": f"l{i}",
            "port": 443,
            "protocol": "HTTPS",
            "hostname": f"app{i}.gw{g}.example.com",
            "tls": {"certificateRefs": [{"name": "cert"}]},
            "allowedRoutes": {"namespaces": froms[i % len(froms)]},
        }
        for i in range(count)
    ]
    meta = {"name": f"gw{g}", "namespace": ns}
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "metadata": meta,
            "spec": {"gatewayClassName": "example", "listeners": listeners}}  # fmt: skip


def route(rng: Random, j: int, namespaces: int, gateways: int) -> dict[str, Any]:
    g, n, i = rng.randrange(gateways), j % namespaces, rng.randrange(PER_GATEWAY)
    parent: dict[str, Any] = {"name": f"gw{g}", "namespace": f"infra{g}"}
    if rng.random() < 0.9:
        parent["sectionName"] = f"l{i}"
    backend = {"name": "web", "port": 80}
    if n % 10 == 1 and rng.random() < 0.5:
        backend["namespace"] = f"ns{n - 1}"
    rule = {
        "matches": [{"path": {"type": "PathPrefix", "value": f"/svc{rng.randrange(20)}"}}],
        "backendRefs": [backend],
    }
    meta = {
        "name": f"r{j}",
        "namespace": f"ns{n}",
        "creationTimestamp": f"2026-01-01T00:{j // 60 % 60:02d}:{j % 60:02d}Z",
    }
    spec = {"parentRefs": [parent], "hostnames": [f"app{i}.gw{g}.example.com"], "rules": [rule]}
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": meta, "spec": spec}


def measure(routes: int, listeners: int, seed: int) -> tuple[float, float, GatewayReport]:
    """(parse seconds, analysis seconds, report) for the synthetic inventory."""
    text = json.dumps(synthetic_inventory(routes, listeners, seed))
    started = time.perf_counter()
    objects = json.loads(text)
    parsed = time.perf_counter()
    report = analyze_gateways(objects)
    return parsed - started, time.perf_counter() - parsed, report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routes", type=int, default=10000)
    parser.add_argument("--listeners", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    parse, analysis, report = measure(args.routes, args.listeners, args.seed)
    print(
        f"inventory: {args.routes} routes, {args.listeners} listeners: {len(report.attachments)} attachment rows, "
        f"{len(report.conflicts)} conflicts, {len(report.errors)} errors"
    )
    print(f"parse (baseline): {parse:.2f} s, analysis: {analysis:.2f} s, ratio analysis/parse: {analysis / parse:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
