"""Analysis of the current Kubernetes inventory: NetworkPolicy reachability and Gateway API route attachment.

For each cluster with a current inventory (``k8s_current``), the objects are rebuilt
(``collector.inventory_objects``) and analysed by ``collector.analysis`` (reachability, gateway).
Each cluster's result is kept as one JSON artifact (the kubernetes runs it read, the class-level reachability, the
attachment report) that every row cites. ``analysis_inputs`` records which kubernetes listing of each analysed
kind was read, so that claims use an analysis only while it describes the current inventory. See docs/analysis.md.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

from collector.analysis.gateway.attachment import analyze_gateways
from collector.analysis.gateway.model import GatewayReport, RouteParentStatus
from collector.analysis.mesh import analyze_client_tls, analyze_mesh
from collector.analysis.reachability import Inventory, ReachabilityError, analyze
from collector.analysis.reachability.attribution import Attribution
from collector.analysis.reachability.conns import conn_json, conn_text
from collector.analysis.reachability.result import Classes
from collector.inventory_objects import (
    GATEWAY_KINDS,
    MESH_KINDS,
    REACHABILITY_KINDS,
    current_objects,
    inventory_clusters,
    listing_runs,
)
from collector.plugins import CollectContext, SourceError
from collector.store import PROVENANCE_COLUMNS

EXPOSURE_LABEL = "defensible.io/exposure"  # a Gateway is public unless labelled internal (as the k8s-networking pack)

MIGRATIONS = (
    f"""
    CREATE TABLE analysis_inputs (
        cluster VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,
        input_run_id VARCHAR,       -- the kubernetes run whose listing of the kind was read; NULL: never listed
        objects INTEGER NOT NULL,
        {PROVENANCE_COLUMNS}
    );
    CREATE TABLE analysis_workloads (
        cluster VARCHAR NOT NULL,
        namespace VARCHAR NOT NULL,
        name VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,      -- the top owner's kind (Pods collapse to their Deployment, CronJob, ...)
        labels JSON,                -- the pod template's labels
        {PROVENANCE_COLUMNS}
    );
    CREATE TABLE reachability (
        cluster VARCHAR NOT NULL,
        src VARCHAR NOT NULL,       -- ns/name[Kind] or an external address interval first-last
        dst VARCHAR NOT NULL,
        src_namespace VARCHAR,
        src_workload VARCHAR,
        src_kind VARCHAR,
        dst_namespace VARCHAR,
        dst_workload VARCHAR,
        dst_kind VARCHAR,
        external VARCHAR,           -- the interval, when one side is external
        conn VARCHAR NOT NULL,      -- canonical: All Connections, or TCP 80,443;UDP 53
        conn_json JSON NOT NULL,    -- "all" or {{"TCP": "80,443", ...}}
        {PROVENANCE_COLUMNS}
    );
    CREATE TABLE gateway_attachments (
        cluster VARCHAR NOT NULL,
        route_kind VARCHAR NOT NULL,
        route_namespace VARCHAR NOT NULL,
        route VARCHAR NOT NULL,
        parent_index INTEGER NOT NULL,
        gateway_namespace VARCHAR NOT NULL,
        gateway VARCHAR NOT NULL,
        listener VARCHAR,           -- NULL: the parentRef targets no listener (reason NoMatchingParent)
        hostnames VARCHAR[],        -- effective hostnames; '*' = any host
        accepted BOOLEAN NOT NULL,
        reason VARCHAR NOT NULL,    -- Accepted or the rejection reason
        resolved_refs BOOLEAN,      -- the parentRef's ResolvedRefs condition (backendRefs)
        resolved_refs_reason VARCHAR,
        resolved_refs_message VARCHAR,
        {PROVENANCE_COLUMNS}
    );
    CREATE TABLE gateway_listener_status (
        cluster VARCHAR NOT NULL,
        gateway_namespace VARCHAR NOT NULL,
        gateway VARCHAR NOT NULL,
        listener VARCHAR NOT NULL,
        protocol VARCHAR,
        port INTEGER,
        hostname VARCHAR,
        supported_kinds VARCHAR[],
        attached_routes INTEGER NOT NULL,
        accepted BOOLEAN NOT NULL,
        accepted_reason VARCHAR NOT NULL,
        conflicted BOOLEAN NOT NULL,
        conflicted_reason VARCHAR NOT NULL,
        resolved_refs BOOLEAN NOT NULL,
        resolved_refs_reason VARCHAR NOT NULL,
        resolved_refs_message VARCHAR,
        {PROVENANCE_COLUMNS}
    );
    CREATE TABLE gateway_exposure (
        cluster VARCHAR NOT NULL,
        gateway_namespace VARCHAR NOT NULL,
        gateway VARCHAR NOT NULL,
        public BOOLEAN NOT NULL,    -- the Gateway is not labelled defensible.io/exposure=internal
        listener VARCHAR NOT NULL,
        protocol VARCHAR,
        port INTEGER,
        hostname VARCHAR,
        routes_from VARCHAR NOT NULL,   -- allowedRoutes.namespaces.from: Same | All | Selector
        selector JSON,
        kinds VARCHAR[],
        any_namespace BOOLEAN NOT NULL, -- from All: every namespace, including those created later
        namespaces VARCHAR[],           -- the namespaces of the inventory that could attach routes
        listener_accepted BOOLEAN NOT NULL,
        {PROVENANCE_COLUMNS}
    );
    """,
    # Istio mesh (collector.analysis.mesh): enrollment and effective mTLS per workload port, and the TLS each
    # Gateway's proxy originates to each Service port per its DestinationRules (issue 16, traffic-encrypted).
    f"""
    CREATE TABLE mesh_workload_ports (
        cluster VARCHAR NOT NULL,
        namespace VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,      -- the workload's (top owner's) kind
        workload VARCHAR NOT NULL,
        direction VARCHAR NOT NULL, -- inbound | outbound
        port INTEGER,               -- inbound container port; NULL: none declared (inbound) or outbound
        dataplane VARCHAR NOT NULL, -- sidecar | ambient | none
        revision VARCHAR,
        captured BOOLEAN NOT NULL,
        mode VARCHAR NOT NULL,      -- effective PeerAuthentication mode (inbound)
        encrypted BOOLEAN NOT NULL,
        decided_by VARCHAR NOT NULL,
        policy VARCHAR,             -- the deciding PeerAuthentication, ns/name
        {PROVENANCE_COLUMNS}
    );
    CREATE TABLE mesh_service_ports (
        cluster VARCHAR NOT NULL,
        namespace VARCHAR NOT NULL,
        service VARCHAR NOT NULL,
        port INTEGER NOT NULL,
        port_name VARCHAR,
        workloads INTEGER NOT NULL, -- the workloads the Service selects
        encrypted BOOLEAN NOT NULL, -- every selected workload's target port is encrypted by the mesh
        decided_by VARCHAR NOT NULL,
        {PROVENANCE_COLUMNS}
    );
    CREATE TABLE mesh_client_tls (
        cluster VARCHAR NOT NULL,
        client_namespace VARCHAR NOT NULL,  -- the Gateway's
        client VARCHAR NOT NULL,            -- the Gateway
        namespace VARCHAR NOT NULL,         -- the Service's
        service VARCHAR NOT NULL,
        port INTEGER NOT NULL,
        port_name VARCHAR,
        originates_tls BOOLEAN NOT NULL,
        tls_mode VARCHAR,
        destination_rules VARCHAR,
        finding VARCHAR NOT NULL,
        {PROVENANCE_COLUMNS}
    );
    """,
    # access-restricted (issue 16): which objects admit each connection into a workload, and the workloads that
    # NetworkPolicy does not isolate (hostNetwork, hostPorts)
    """
    ALTER TABLE reachability ADD COLUMN admitted_by VARCHAR;
    ALTER TABLE analysis_workloads ADD COLUMN host_network BOOLEAN;
    ALTER TABLE analysis_workloads ADD COLUMN host_ports VARCHAR;
    """,
    # issue 18: the pods of one workload whose selected labels differ are analysed per label group
    "ALTER TABLE analysis_workloads ADD COLUMN label_group VARCHAR;",
    # issue 19: reachability is stored per equivalence class (workloads every policy selects alike) and class
    # membership; lines per pair of workloads are expanded by the queries. `reachability` (one row per pair) holds
    # the analyses made before and is no longer written; an analysis without reach_classes is not read by claims.
    f"""
    ALTER TABLE analysis_workloads ADD COLUMN reach_class INTEGER;
    ALTER TABLE analysis_inputs ADD COLUMN reach_classes INTEGER;
    CREATE TABLE reach_class_conns (
        cluster VARCHAR NOT NULL,
        src_class INTEGER,          -- analysis_workloads.reach_class; NULL: the source is the external interval
        dst_class INTEGER,          -- NULL: the destination is the external interval
        external VARCHAR,           -- an external address interval first-last, when one side is external
        conn VARCHAR NOT NULL,      -- canonical: All Connections, or TCP 80,443;UDP 53
        conn_json JSON NOT NULL,    -- "all" or {{"TCP": "80,443", ...}}
        admitted_by VARCHAR,        -- into a class: the objects that admit the connection
        {PROVENANCE_COLUMNS}
    );
    """,
)


class AnalysisSource:
    name = "analysis"
    description = "NetworkPolicy reachability and Gateway API route attachment of the current Kubernetes inventory"
    config_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "clusters": {
                "type": "array",
                "items": {"type": "string"},
                "default": [],
                "description": "clusters to analyse (default: every cluster with a current Kubernetes inventory)",
            },
        },
    }
    migrations = MIGRATIONS

    def collect(self, ctx: CollectContext) -> None:
        known = inventory_clusters(ctx.store)
        if not known:
            raise SourceError(
                "analysis: the store has no Kubernetes inventory: run `defensible collect kubernetes` first"
            )
        unknown = [c for c in ctx.config["clusters"] if c not in known]
        if unknown:
            raise SourceError(
                f"analysis: no Kubernetes inventory of cluster {', '.join(unknown)} (clusters: {', '.join(known)})"
            )
        clusters = ctx.config["clusters"] or known
        with ctx.progress("clusters", total=len(clusters), unit="clusters") as progress:
            for cluster in clusters:
                progress.update(detail=cluster)
                analyse_cluster(ctx, cluster)
                progress.advance()


def analyse_cluster(ctx: CollectContext, cluster: str) -> None:
    """Analyse one cluster and emit its rows; a malformed object makes the run partial, skipping the cluster."""
    started = time.monotonic()
    inputs = listing_runs(ctx.store, cluster)
    objects = current_objects(ctx.store, cluster)
    collected = [kind for kind, run in inputs.items() if run is not None]
    try:
        inventory = Inventory.from_objects(o for o in objects if o["kind"] in REACHABILITY_KINDS)
        reach = analyze(inventory)
        gateways = analyze_gateways([o for o in objects if o["kind"] in GATEWAY_KINDS], collected_kinds=collected)
        mesh_objects = [o for o in objects if o["kind"] in MESH_KINDS]
        mesh = analyze_mesh(mesh_objects)
        client_tls = analyze_client_tls(mesh_objects)
    except (ReachabilityError, ValueError, KeyError, TypeError) as exc:
        ctx.partial(f"cluster {cluster}: not analysed: {exc}")
        return
    analysed = time.monotonic()
    classes = reach.classes
    assert classes is not None  # the engine's result is class-level
    counts = Counter(o["kind"] for o in objects)
    public = {
        (o["metadata"]["namespace"], o["metadata"]["name"]): o["metadata"]["labels"].get(EXPOSURE_LABEL) != "internal"
        for o in objects
        if o["kind"] == "Gateway"
    }
    del objects, mesh_objects  # not held while the rows are written
    document = {
        "cluster": cluster,
        "inputs": {kind: {"run_id": run, "objects": counts[kind]} for kind, run in inputs.items()},
        "reachability": classes.to_json(),
        "gateways": gateways.to_json(),
        "mesh": mesh.to_json(),
        "client_tls": [asdict(c) for c in client_tls],
    }
    content = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    del document  # the class-level connections are the bulk of it: not held while the rows load
    sha = ctx.add_artifact(
        content,
        f"analysis of cluster {cluster}",
        "application/json",
    )
    for kind, run in inputs.items():
        row = {"cluster": cluster, "kind": kind, "input_run_id": run, "objects": counts[kind]}
        ctx.emit("analysis_inputs", {**row, "reach_classes": len(classes.members)}, sha)
    for w, reach_class in zip(inventory.workloads, classes.class_of, strict=True):
        row = {
            "cluster": cluster,
            "namespace": w.namespace,
            "name": w.name,
            "kind": w.kind,
            "labels": w.labels,
            "host_network": w.host_network,
            "host_ports": conn_text(w.host_conn) if w.host_ports and not w.host_network else None,
            "label_group": w.group or None,
            "reach_class": reach_class,
        }
        ctx.emit("analysis_workloads", row, sha)
    rows = load_classes(ctx, cluster, classes, sha, Attribution(inventory))
    emit_gateways(ctx, cluster, gateways, public, sha)
    for p in mesh.ports:
        ctx.emit("mesh_workload_ports", {"cluster": cluster, **asdict(p)}, sha)
    for sp in mesh.services:
        ctx.emit("mesh_service_ports", {"cluster": cluster, **asdict(sp)}, sha)
    for c in client_tls:
        ctx.emit("mesh_client_tls", {"cluster": cluster, **asdict(c)}, sha)
    ctx.note(
        f"cluster {cluster}: {len(inventory.workloads)} workloads, {len(inventory.policies)} NetworkPolicies, "
        f"{len(classes.members)} reachability classes, {rows} class connections, "
        f"{len(gateways.attachments)} route attachments "
        f"(analysed in {analysed - started:.1f}s, rows staged in {time.monotonic() - analysed:.1f}s)"
    )


def load_classes(ctx: CollectContext, cluster: str, classes: Classes, sha: str, attribution: Attribution) -> int:
    """Write the ``reach_class_conns`` rows as NDJSON and bulk-load them; return the count. Rows are assembled from
    JSON fragments cached per connection set and attribution. A connection into a class says what admits it
    (``admitted_by``), judged on one member of each side: what admits a pair depends only on their classes."""
    provenance = {"source": ctx.source, "run_id": ctx.run_id, "artifact_sha256": sha, "collected_at": ctx.collected_at}
    tail = json.dumps(provenance, default=str, separators=(",", ":"))[1:] + "\n"
    head = '{"cluster":' + json.dumps(cluster) + ","
    conns = [
        json.dumps({"conn": conn_text(c), "conn_json": conn_json(c)}, separators=(",", ":"))[1:-1] + ","
        for c in classes.conns
    ]
    admitted: dict[tuple[str, ...], str] = {}
    first = [classes.ids[members[0]] for members in classes.members]

    def admitted_by(src: str, dst: int | None) -> str:
        reasons = attribution.ingress(src, first[dst]) if dst is not None else ()
        text = admitted.get(reasons)
        if text is None:
            text = admitted[reasons] = '"admitted_by":' + json.dumps("; ".join(reasons) or None) + ","
        return text

    with tempfile.TemporaryDirectory(prefix="defensible-analysis-") as tmp:
        path = Path(tmp) / "reach_class_conns.ndjson"
        with open(path, "w", encoding="utf-8") as fh:
            for src, dst, external, conn in classes.rows():
                why = admitted_by(first[src] if src is not None else external or "", dst)
                sides = json.dumps({"src_class": src, "dst_class": dst, "external": external})[1:-1] + ","
                fh.write(f"{head}{sides}{why}{conns[conn]}{tail}")
        return ctx.load_ndjson("reach_class_conns", path)


def emit_gateways(
    ctx: CollectContext, cluster: str, report: GatewayReport, public: dict[tuple[str, str], bool], sha: str
) -> None:
    status: dict[tuple[str, str, str, int], RouteParentStatus] = {
        (s.route_kind, s.route_ns, s.route, s.parent_index): s for s in report.route_status
    }
    for a in report.attachments:
        refs = status.get((a.route_kind, a.route_ns, a.route, a.parent_index))
        row = {
            "cluster": cluster,
            "route_kind": a.route_kind,
            "route_namespace": a.route_ns,
            "route": a.route,
            "parent_index": a.parent_index,
            "gateway_namespace": a.gateway_ns,
            "gateway": a.gateway,
            "listener": a.listener,
            "hostnames": list(a.hostnames),
            "accepted": a.accepted,
            "reason": a.reason,
            "resolved_refs": refs.resolved_refs.status == "True" if refs else None,
            "resolved_refs_reason": refs.resolved_refs.reason if refs else None,
            "resolved_refs_message": refs.resolved_refs.message or None if refs else None,
        }
        ctx.emit("gateway_attachments", row, sha)
    for s in report.listener_status:
        row = {
            "cluster": cluster,
            "gateway_namespace": s.gateway_ns,
            "gateway": s.gateway,
            "listener": s.listener,
            "protocol": s.protocol,
            "port": s.port,
            "hostname": s.hostname,
            "supported_kinds": list(s.supported_kinds),
            "attached_routes": s.attached_routes,
            "accepted": s.accepted.status == "True",
            "accepted_reason": s.accepted.reason,
            "conflicted": s.conflicted.status == "True",
            "conflicted_reason": s.conflicted.reason,
            "resolved_refs": s.resolved_refs.status == "True",
            "resolved_refs_reason": s.resolved_refs.reason,
            "resolved_refs_message": s.resolved_refs.message or None,
        }
        ctx.emit("gateway_listener_status", row, sha)
    for gateway_ns, gateway in sorted(public):
        for e in report.exposure(gateway_ns, gateway):
            row = {
                "cluster": cluster,
                "gateway_namespace": gateway_ns,
                "gateway": gateway,
                "public": public[(gateway_ns, gateway)],
                "listener": e.listener,
                "protocol": e.protocol,
                "port": e.port,
                "hostname": e.hostname,
                "routes_from": e.from_,
                "selector": e.selector,
                "kinds": list(e.kinds),
                "any_namespace": e.any_namespace,
                "namespaces": list(e.namespaces),
                "listener_accepted": e.listener_accepted,
            }
            ctx.emit("gateway_exposure", row, sha)
