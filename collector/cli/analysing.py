"""Commands that analyse the current inventory: `reach`, `routes`, `who-can-expose`."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from collector.analysis.gateway.attachment import analyze_gateways
from collector.analysis.gateway.model import Attachment
from collector.analysis.rbac import Right, analyze_rbac
from collector.analysis.reachability import Inventory, ReachabilityError, analyze
from collector.cli.common import (
    command,
    config_option,
    configured_store,
    fail,
    json_text,
    load_config,
    store_option,
)
from collector.cli.group import example
from collector.inventory_objects import RBAC_KINDS, InventoryError, current_objects, listing_runs, pick_cluster
from collector.store import Store, StoreError


def workload_ref(value: str | None, option: str) -> str | None:
    if value is not None and (value.count("/") != 1 or not all(value.split("/"))):
        fail(f"{option} expects NS/WORKLOAD (e.g. shop/web or shop/web[Deployment]), got {value!r}")
    return value


def current_inventory(store: Path, cluster: str | None) -> tuple[str, list[dict], list[str]]:
    """The cluster asked for (or the only one), its current objects and the kinds listed; exits 2 naming what is
    missing."""
    try:
        with Store.open(store, read_only=True) as st:
            cluster = pick_cluster(st, cluster)
            listed = [kind for kind, run in listing_runs(st, cluster).items() if run]
            return cluster, current_objects(st, cluster), listed
    except (StoreError, InventoryError) as exc:
        fail(str(exc))
        raise  # unreachable: fail exits


@command(
    epilog=example(
        "defensible reach --to enforcement/enforcement-api",
        "defensible reach --from case-workers/case-worker --cluster casework-prod --format json",
        "defensible reach --from case-workers/case-worker --to enforcement/enforcement-api",
    )
)
@click.option("--to", "to", metavar="NS/WORKLOAD", help="Who can connect to this workload.")
@click.option("--from", "from_", metavar="NS/WORKLOAD", help="What this workload can connect to.")
@click.option("--cluster", help="Cluster of the store (default: the only one).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--limit", type=click.IntRange(min=0), default=10000, show_default=True,
              help="Show at most this many lines (0: all); how many more there are goes to stderr.")  # fmt: skip
@config_option
@store_option
def reach(
    to: str | None,
    from_: str | None,
    cluster: str | None,
    fmt: str,
    limit: int,
    config_path: Path | None,
    store: Path,
) -> None:
    """NetworkPolicy (and Cilium and Calico policy) reachability of a workload, computed from the store's current
    inventory: one canonical line `SRC => DST : CONN` per source (--to) or destination (--from) with an allowed
    connection; on stderr, the pairs whose policies the analysis does not fully model. See docs/analysis.md."""
    if not to and not from_:
        fail("name a workload: --to NS/WORKLOAD, --from NS/WORKLOAD, or both")
    workload_ref(to, "--to")
    workload_ref(from_, "--from")
    cluster, objects, _ = current_inventory(configured_store(store, load_config(config_path)), cluster)
    try:
        inventory = Inventory.from_objects(objects)
        result = analyze(inventory)
    except ReachabilityError as exc:
        fail(f"cluster {cluster}: {exc}")
    ids = {w.id for w in inventory.workloads} | {w.id.split("[", 1)[0] for w in inventory.workloads}
    for name, option in ((to, "--to"), (from_, "--from")):
        if name and name not in ids:
            namespace = name.split("/", 1)[0]
            there = sorted(w.id for w in inventory.workloads if w.namespace == namespace)
            fail(
                f"{option}: no workload {name} in cluster {cluster} ({namespace}: {', '.join(there) or 'no workloads'})"
            )

    triples = result.select(src=from_, dst=to)  # expanded from the class-level result for these workloads only
    shown = triples[:limit] if limit else triples
    if fmt == "json":
        click.echo(json_text(result.to_json(shown)))
    for line in result.format(shown) if fmt == "text" else ():
        click.echo(line)
    if len(shown) < len(triples):
        more = len(triples) - len(shown)
        click.echo(f"{more} more lines of {len(triples)} not shown (--limit 0 shows all)", err=True)
    for u in result.unmodelled:  # parts of Cilium and Calico policies the lines do not decide
        if all(
            not name or ep is None or ep == name or ep.split("[", 1)[0] == name
            for name, ep in ((to, u.dst), (from_, u.src))
        ):
            policy = f"{u.policy_kind} {u.policy_namespace + '/' if u.policy_namespace else ''}{u.policy_name}"
            click.echo(f"not modelled: {u.src or '*'} => {u.dst or '*'} ({policy}: {u.why})", err=True)


@command(
    epilog=example(
        "defensible routes --gateway gateway-infra/public-gateway",
        "defensible routes --gateway infra/shared --cluster prod-eu --format json",
    )
)
@click.option("--gateway", required=True, metavar="NS/NAME", help="The Gateway.")
@click.option("--cluster", help="Cluster of the store (default: the only one).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@config_option
@store_option
def routes(gateway: str, cluster: str | None, fmt: str, config_path: Path | None, store: Path) -> None:
    """A Gateway's listeners as a Gateway API controller would see them, from the store's current inventory: the
    hostnames, the namespaces that could attach routes, and the routes attached or rejected (with the reason).
    See docs/gateway-attachment.md."""
    if gateway.count("/") != 1 or not all(gateway.split("/")):
        fail(f"--gateway expects NS/NAME (e.g. infra/shared), got {gateway!r}")
    namespace, name = gateway.split("/")
    cluster, objects, listed = current_inventory(configured_store(store, load_config(config_path)), cluster)
    try:
        report = analyze_gateways(objects, collected_kinds=listed)
        exposure = report.exposure(namespace, name)
    except (ValueError, KeyError) as exc:
        fail(f"cluster {cluster}: {exc.args[0] if exc.args else exc}")
    status = {s.listener: s for s in report.listener_status if (s.gateway_ns, s.gateway) == (namespace, name)}
    attached = [a for a in report.attachments if (a.gateway_ns, a.gateway) == (namespace, name)]
    doc = {
        "cluster": cluster,
        "gateway": gateway,
        "listeners": [
            {
                "listener": e.listener,
                "protocol": e.protocol,
                "port": e.port,
                "hostname": e.hostname,
                "accepted": status[e.listener].accepted.reason,
                "resolved_refs": status[e.listener].resolved_refs.reason,
                "routes_from": e.from_,
                "selector": e.selector,
                "any_namespace": e.any_namespace,
                "namespaces": list(e.namespaces),
                "routes": [route_json(a) for a in attached if a.listener == e.listener],
            }
            for e in exposure
        ],
        "unmatched": [route_json(a) for a in attached if a.listener is None],
    }
    click.echo(json_text(doc) if fmt == "json" else routes_text(doc), nl=fmt == "json")


def route_json(a: Attachment) -> dict[str, Any]:
    return {
        "route": f"{a.route_kind} {a.route_ns}/{a.route}",
        "accepted": a.accepted,
        "reason": a.reason,
        "hostnames": list(a.hostnames),
    }


def routes_text(doc: dict[str, Any]) -> str:
    out = [f"Gateway {doc['gateway']} (cluster {doc['cluster']})"]
    for listener in doc["listeners"]:
        state = "accepted" if listener["accepted"] == "Accepted" else f"not accepted: {listener['accepted']}"
        if listener["resolved_refs"] != "ResolvedRefs":
            state += f", refs not resolved: {listener['resolved_refs']}"
        out.append(
            f"  listener {listener['listener']}: {listener['protocol']} {listener['port']}, "
            f"hostname {listener['hostname'] or '* (any)'}, {state}"
        )
        selector = f" {json.dumps(listener['selector'], sort_keys=True)}" if listener["selector"] else ""
        could = "every namespace, including future ones" if listener["any_namespace"] else None
        out.append(
            f"    namespaces that can attach ({listener['routes_from']}{selector}): "
            f"{could or ', '.join(listener['namespaces']) or 'none'}"
        )
        out += [f"    {route_line(r)}" for r in listener["routes"]] or ["    no routes"]
    out += [f"  not attached to any listener: {route_line(r)}" for r in doc["unmatched"]]
    return "\n".join(out) + "\n"


def route_line(route: dict[str, Any]) -> str:
    if route["accepted"]:
        return f"accepted {route['route']} for {', '.join(route['hostnames']) or 'any host'}"
    return f"rejected {route['route']}: {route['reason']}"


@command(
    epilog=example(
        "defensible who-can-expose",
        "defensible who-can-expose --namespace shop --cluster prod --format json",
    )
)
@click.option("--namespace", help="Only the rights that apply in this namespace (those in every namespace too).")
@click.option("--cluster", help="Cluster of the store (default: the only one).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@config_option
@store_option
def who_can_expose(namespace: str | None, cluster: str | None, fmt: str, config_path: Path | None, store: Path) -> None:
    """Who can create or change an entry point (Gateway API Gateways, routes and ReferenceGrants, Ingresses,
    Services, Istio Gateways and VirtualServices), from the RBAC of the store's current inventory: each subject, what
    it can do where, and the binding, role and rule it comes from, or the privilege escalation. Bindings that grant
    nothing go to stderr. See docs/analysis.md."""
    cluster, objects, listed = current_inventory(configured_store(store, load_config(config_path)), cluster)
    if missing := [k for k in RBAC_KINDS if k not in listed]:
        fail(f"cluster {cluster}: {', '.join(missing)} not listed: collect kubernetes with its RBAC kinds first")
    try:
        report = analyze_rbac([o for o in objects if o["kind"] in RBAC_KINDS])
    except ValueError as exc:
        fail(f"cluster {cluster}: {exc}")
    rights = [r for r in report.rights if namespace is None or r.namespace in ("*", namespace)]
    if fmt == "json":
        doc = [{"subject": r.subject, "resource": r.resource_id, **asdict(r)} for r in rights]
        click.echo(json_text({"cluster": cluster, "rights": doc}))
    else:
        paths: dict[tuple[Any, ...], list[str]] = {}
        for r in rights:
            paths.setdefault(right_path(r), []).append(r.resource_id)
        for path, resources in paths.items():
            click.echo(right_line(path, resources))
    for u in report.unresolved:
        click.echo(f"grants nothing: {u.binding} ({u.reason})", err=True)


def right_path(r: Right) -> tuple[Any, ...]:
    return (r.subject, r.verbs, r.namespace, r.resource_names, r.binding, r.role, r.rule_role, r.rule, r.indirect,
            r.via)  # fmt: skip


def right_line(path: tuple[Any, ...], resources: list[str]) -> str:
    """``Group:dev can create, update httproutes.gateway.networking.k8s.io in shop via RoleBinding shop/dev ->
    ClusterRole edit (rule 0 of ClusterRole gateway-api-edit)``, as the claim's findings read."""
    subject, verbs, namespace, names, binding, role, rule_role, rule, indirect, via = path
    where = "every namespace" if namespace == "*" else namespace
    named = f" named {', '.join(names)}" if names else ""
    line = f"{subject} can {', '.join(verbs)} {', '.join(resources)}{named} in {where}"
    if binding is None:
        return f"{line} (superuser group)"
    line += f" via {binding} -> {role} (rule {rule} of {rule_role})"
    return f"{line} [indirect: {indirect}{f' as {via}' if via else ''}]" if indirect else line
