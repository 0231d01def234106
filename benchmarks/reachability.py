"""Benchmark: NetworkPolicy reachability of a synthetic inventory, engine against the naive all-pairs evaluator.

The inventory (deterministic for a seed) has team namespaces labelled by team and environment, apps of a few
roles with named ports (Deployments, some with their ReplicaSet and Pods, StatefulSets, DaemonSets, CronJobs,
Jobs, bare Pods), and policies: default deny (ingress everywhere, egress in half the namespaces, with a DNS
allowance), ingress controller and monitoring allowances through namespace selectors, app-to-app allowances,
cross-namespace allowances with matchExpressions, egress to ipBlocks with exceptions and port ranges.

With ``--admin N``, N AdminNetworkPolicies (cluster guardrails and per-team rules: Allow, Deny and Pass, namespace
and pod subjects, named ports, port ranges, networks) and the BaselineAdminNetworkPolicy come on top.

The naive evaluator checks every policy for every pair; above ``--naive-full`` workloads it runs on a sample
of source workloads and its time is extrapolated (said so in the output). The sample's lines must equal the
engine's, or the benchmark fails.

    python benchmarks/reachability.py [--workloads 2000 --policies 500 --admin 0 --seed 7]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from random import Random
from string import Template

import yaml

from collector.analysis.reachability import Inventory, Reachability, analyze
from collector.analysis.reachability.naive import naive_analyze

ROLES = ("frontend", "backend", "backend", "worker", "db", "cache")
PORTS = {
    "frontend": [("http", 8080), ("metrics", 9090)],
    "backend": [("http", 8080), ("grpc", 9000), ("metrics", 9090)],
    "worker": [("metrics", 9090)],
    "db": [("postgres", 5432), ("metrics", 9187)],
    "cache": [("redis", 6379)],
}
ENVS = ("prod", "prod", "staging", "dev")
APP_PORTS = (8080, 9000, 5432)


def meta(name: str, namespace: str | None = None, labels: dict | None = None, owner: tuple | None = None) -> dict:
    out: dict = {"name": name}
    if namespace:
        out["namespace"] = namespace
    if labels:
        out["labels"] = labels
    if owner:
        out["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": owner[0], "name": owner[1], "controller": True}]
    return out


def pod_template(labels: dict, ports: list[tuple[str, int]]) -> dict:
    container_ports = [{"name": name, "containerPort": number} for name, number in ports]
    return {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "main", "ports": container_ports}]}}


def workload(rng: Random, namespace: str, name: str, labels: dict, ports: list[tuple[str, int]]) -> list[dict]:
    """The objects of one workload (a Deployment sometimes comes with its ReplicaSet and Pods)."""
    template = pod_template(labels, ports)
    roll = rng.random()
    api, kind, spec = "apps/v1", "Deployment", {"template": template}
    if labels.get("role") in ("db", "cache") or roll < 0.05:
        kind = "StatefulSet"
    elif roll < 0.08:
        kind = "DaemonSet"
    elif roll < 0.15:
        api, kind, spec = "batch/v1", "CronJob", {"jobTemplate": {"spec": {"template": template}}}
    elif roll < 0.18:
        api, kind = "batch/v1", "Job"
    elif roll < 0.25:
        return [
            {"apiVersion": "v1", "kind": "Pod", "metadata": meta(name, namespace, labels), "spec": template["spec"]}
        ]
    objects = [{"apiVersion": api, "kind": kind, "metadata": meta(name, namespace), "spec": spec}]
    if kind == "Deployment" and roll < 0.35:
        rs = f"{name}-7d9f8c6b5"
        rs_meta = meta(rs, namespace, labels, ("Deployment", name))
        objects.append({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": rs_meta, "spec": spec})
        for suffix in ("x2x4z", "k9p7q"):
            pod_meta = meta(f"{rs}-{suffix}", namespace, labels, ("ReplicaSet", rs))
            objects.append({"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": template["spec"]})
    return objects


# The policies of a team namespace, most important first ($-placeholders filled per namespace).
TEAM = """
default-deny-ingress: {podSelector: {}, policyTypes: [Ingress]}
default-deny-egress:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - to: [&dns {namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}},
               podSelector: {matchLabels: {app: coredns}}}]
    ports: [{protocol: UDP, port: 53}, {port: 53}]
allow-ingress-controller:
  podSelector: {matchLabels: {role: frontend}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ingress-nginx}}}]
    ports: [{port: http}]
allow-monitoring:
  podSelector: {}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {team: platform}}, podSelector: {matchLabels: {app: prometheus}}}]
    ports: [{port: metrics}]
frontend-to-backend:
  podSelector: {matchLabels: {role: backend}}
  ingress:
  - from: [{podSelector: {matchLabels: {role: frontend}}}]
    ports: [{port: http}, {port: grpc}]
backend-to-data:
  podSelector: {matchExpressions: [{key: role, operator: In, values: [db, cache]}]}
  ingress:
  - from: [{podSelector: {matchExpressions: [{key: role, operator: In, values: [backend, worker]}]}}]
    ports: [{port: 5432}, {port: 6379}]
egress-internet:
  podSelector: {matchLabels: {role: backend}}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16]}}]
    ports: [{port: 443}]
  - to: [{ipBlock: {cidr: 10.$net.0.0/16, except: [10.$net.9.0/24]}}, {ipBlock: {cidr: "2001:db8:$hex::/48"}}]
    ports: [{port: 30000, endPort: 32767}, {protocol: UDP, port: 514}]
from-prod-teams:
  podSelector: {matchLabels: {app: $first}}
  ingress:
  - from:
    - namespaceSelector:
        matchExpressions: [{key: env, operator: In, values: [prod]}, {key: team, operator: NotIn, values: [$team]}]
      podSelector: {matchExpressions: [{key: role, operator: Exists}]}
    ports: [{port: http}]
"""
# A team namespace without ingress policies: open to every source whose egress allows it.
OPEN_TEAM = """
egress-dns-only:
  podSelector: {matchLabels: {role: worker}}
  policyTypes: [Egress]
  egress:
  - to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}}]
    ports: [{protocol: UDP, port: 53}]
"""


def policy(namespace: str, name: str, spec: dict) -> dict:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta(name, namespace),
        "spec": spec,
    }


def namespace_policies(rng: Random, ns: str, apps: list[tuple[str, str]], index: int) -> list[dict]:
    """Candidate policies of one team namespace, most important first; every fifth team has no ingress policy."""
    if index % 5 == 4:
        return [policy(ns, name, spec) for name, spec in yaml.safe_load(OPEN_TEAM).items()]
    values = {"net": index % 200, "hex": f"{index:x}", "first": apps[0][0], "team": f"team-{index % 7}"}
    specs = yaml.safe_load(Template(TEAM).substitute(values))
    if index % 2:
        del specs["default-deny-egress"]
    out = [policy(ns, name, spec) for name, spec in specs.items()]
    for app, _ in rng.sample(apps, len(apps)):  # app-to-app allowances fill the rest
        peer, _ = rng.choice(apps)
        rule = {"from": [{"podSelector": {"matchLabels": {"app": peer}}}], "ports": [{"port": rng.choice(APP_PORTS)}]}
        out.append(
            policy(ns, f"allow-{peer}-to-{app}", {"podSelector": {"matchLabels": {"app": app}}, "ingress": [rule]})
        )
    return out


# The admin policies: guardrails first, then per-team rules ($-placeholders filled per policy).
GUARDRAILS = """
allow-monitoring:
  subject: {namespaces: {}}
  ingress:
  - action: Allow
    from: [{pods: {namespaceSelector: {matchLabels: {team: platform}}, podSelector: {matchLabels: {app: prometheus}}}}]
    ports: [{namedPort: metrics}]
deny-dev-to-prod:
  subject: {namespaces: {matchLabels: {env: prod}}}
  ingress: [{action: Deny, from: [{namespaces: {matchLabels: {env: dev}}}]}]
allow-cluster-dns:
  subject: {namespaces: {}}
  egress:
  - action: Allow
    to: [{networks: [10.96.0.10/32]}]
    ports: [{portNumber: {protocol: UDP, port: 53}}, {portNumber: {protocol: TCP, port: 53}}]
pass-ingress-controller:
  subject: {pods: {namespaceSelector: {}, podSelector: {matchLabels: {role: frontend}}}}
  ingress:
  - action: Pass
    from: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: ingress-nginx}}}]
    ports: [{portNumber: {protocol: TCP, port: 8080}}]
"""
TEAM_ADMIN = """
subject: {namespaces: {matchLabels: {team: $team}}}
ingress:
- action: Allow
  from: [{pods: {namespaceSelector: {matchLabels: {team: $team}}, podSelector: {matchLabels: {role: backend}}}}]
  ports: [{portRange: {protocol: TCP, start: 5432, end: 6379}}]
egress:
- action: Deny
  to: [{networks: [169.254.169.254/32]}]
- action: Pass
  to: [{namespaces: {matchLabels: {env: $env}}}]
  ports: [{namedPort: http}, {portNumber: {protocol: UDP, port: 53}}]
"""
BASELINE = """
subject: {namespaces: {}}
ingress:
- action: Allow
  from: [{namespaces: {matchLabels: {team: platform}}}]
- action: Deny
  from: [{namespaces: {}}]
egress:
- action: Allow
  to: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: kube-system}}}]
  ports: [{portNumber: {protocol: UDP, port: 53}}]
- action: Deny
  to: [{networks: [10.0.0.0/8, 192.168.0.0/16]}]
"""


def admin_policies(count: int) -> list[dict]:
    """``count`` AdminNetworkPolicies (every fourth shares its priority with the previous one) and the baseline."""
    api = "policy.networking.k8s.io/v1alpha1"
    specs = list(yaml.safe_load(GUARDRAILS).items())
    for i in range(len(specs), count):
        values = {"team": f"team-{i % 7}", "env": ENVS[i % len(ENVS)]}
        specs.append((f"team-rules-{i}", yaml.safe_load(Template(TEAM_ADMIN).substitute(values))))
    out = [
        {
            "apiVersion": api,
            "kind": "AdminNetworkPolicy",
            "metadata": meta(name),
            "spec": {"priority": i - (i % 4 == 3), **spec},
        }
        for i, (name, spec) in enumerate(specs[:count])
    ]
    baseline = {"apiVersion": api, "kind": "BaselineAdminNetworkPolicy", "metadata": meta("default")}
    return [*out, {**baseline, "spec": yaml.safe_load(BASELINE)}] if count else []


def synthetic_inventory(workloads: int, policies: int, seed: int, admin: int = 0) -> list[dict]:
    """Kubernetes objects: ``workloads`` workloads and ``policies`` NetworkPolicies (deterministic for ``seed``)."""
    rng = Random(seed)
    n_teams = max(2, (workloads - 3) // 40)
    objects: list[dict] = []
    for ns, labels in (("kube-system", {}), ("monitoring", {"team": "platform"}), ("ingress-nginx", {})):
        objects.append({"apiVersion": "v1", "kind": "Namespace", "metadata": meta(ns, labels=labels)})
    for ns, name, labels, ports in (
        ("kube-system", "coredns", {"app": "coredns"}, [("dns", 53)]),
        ("monitoring", "prometheus", {"app": "prometheus"}, [("http", 9090)]),
        ("ingress-nginx", "controller", {"app": "ingress-nginx"}, [("https", 443)]),
    ):
        objects.extend(workload(Random(0), ns, name, labels, ports))
    per_team: list[tuple[str, list[tuple[str, str]]]] = []
    for t in range(n_teams):
        ns = f"team-{t:03d}"
        labels = {"team": f"team-{t % 7}", "env": ENVS[t % len(ENVS)]}
        objects.append({"apiVersion": "v1", "kind": "Namespace", "metadata": meta(ns, labels=labels)})
        per_team.append((ns, []))
    for i in range(workloads - 3):
        ns, apps = per_team[i % n_teams]
        role = ROLES[rng.randrange(len(ROLES))]
        app = f"{role}-{len(apps):02d}"
        apps.append((app, role))
        labels = {"app": app, "role": role, "version": rng.choice(["v1", "v2"])}
        objects.extend(workload(rng, ns, app, labels, PORTS[role]))
    candidates = [namespace_policies(rng, ns, apps, t) for t, (ns, apps) in enumerate(per_team)]
    chosen: list[dict] = []
    depth = 0
    while len(chosen) < policies and any(depth < len(c) for c in candidates):
        chosen.extend(c[depth] for c in candidates if depth < len(c))
        depth += 1
    return objects + chosen[:policies] + admin_policies(admin)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", type=int, default=2000)
    parser.add_argument("--policies", type=int, default=500)
    parser.add_argument("--admin", type=int, default=0, help="AdminNetworkPolicies (and the baseline) on top")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--naive-full", type=int, default=200, help="largest inventory the naive run covers fully")
    parser.add_argument("--naive-sample", type=int, default=8, help="source workloads of a sampled naive run")
    args = parser.parse_args()

    objects = synthetic_inventory(args.workloads, args.policies, args.seed, args.admin)
    started = time.perf_counter()
    inv = Inventory.from_objects(objects)
    parsed = time.perf_counter()
    result = analyze(inv)
    lines = result.lines()
    engine = time.perf_counter() - parsed
    n = len(inv.workloads)
    print(
        f"inventory: {len(objects)} objects, {n} workloads, {len(inv.policies)} policies, "
        f"{len(inv.admin) + bool(inv.baseline)} admin policies, "
        f"{len(inv.namespaces)} namespaces (parsed in {parsed - started:.2f} s)"
    )
    print(f"engine: {engine:.2f} s, {len(lines)} lines")

    sampled = n > args.naive_full
    sample = [w.id for w in inv.workloads[:: max(1, n // args.naive_sample)]] if sampled else None
    if sample is None:
        expected = lines
    else:
        wanted = set(sample)  # lines from the sample, and from external addresses to it
        expected = Reachability(t for t in result.triples if t[0] in wanted or (t[1] in wanted and "[" not in t[0]))
        expected = expected.lines()
    del result, lines
    gc.collect()
    started = time.perf_counter()
    naive_lines = naive_analyze(inv, sample).lines()
    naive = time.perf_counter() - started
    if sample is None:
        naive_total = naive
        print(f"naive: {naive:.2f} s")
    else:
        naive_total = naive * n / len(sample)
        print(f"naive: {naive_total:.1f} s (estimated: {naive:.2f} s measured for {len(sample)} of {n} workloads)")
    print(f"ratio naive/engine: {naive_total / engine:.0f}")
    if expected != naive_lines:
        print(f"DISAGREEMENT: engine and naive differ on {len(set(expected) ^ set(naive_lines))} lines")
        return 1
    print(f"engine and naive agree on {len(naive_lines)} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
