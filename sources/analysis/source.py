"""Analysis of the current Kubernetes inventory: network policy reachability, Gateway API route attachment, RBAC.

For each cluster with a current inventory (``k8s_current``), the objects are rebuilt
(``collector.inventory_objects``) and analysed by ``collector.analysis`` (reachability, gateway, mesh, rbac).
Each cluster's result is kept as one JSON artifact (the kubernetes runs it read, the class-level reachability, the
attachment report, the RBAC exposure rights) that every row cites. ``analysis_inputs`` records which kubernetes
listing of each analysed kind was read, so that claims use an analysis only while it describes the current
inventory. See docs/analysis.md.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

from collector.analysis.gateway.attachment import analyze_gateways
from collector.analysis.gateway.backend_tls import analyze_backend_tls
from collector.analysis.gateway.model import GatewayReport, RouteParentStatus
from collector.analysis.mesh import analyze_client_tls, analyze_mesh
from collector.analysis.rbac import RbacReport, analyze_rbac
from collector.analysis.reachability import Inventory, Reachability, analyze
from collector.analysis.reachability.attribution import Attribution
from collector.analysis.reachability.conns import conn_json, conn_text
from collector.analysis.reachability.dns import analyze_dns
from collector.analysis.reachability.result import Classes
from collector.inventory_objects import (
    BACKEND_TLS_KINDS,
    GATEWAY_KINDS,
    MESH_KINDS,
    RBAC_KINDS,
    REACHABILITY_KINDS,
    current_objects,
    inventory_clusters,
    listing_runs,
)
from collector.plugins import CollectContext, SourceError
from collector.store import PROVENANCE_COLUMNS

# "Kind namespace/name" at the start of an analysis error: the object it names
NAMED_OBJECT = re.compile(r"^(?P<kind>[A-Z][A-Za-z]*) (?:(?P<namespace>[a-z0-9][-a-z0-9.]*)/)?(?P<name>[^\s:/\[]+)")
MAX_LEFT_OUT = 20  # malformed objects one analysis may leave out before it gives up
FAILURES = (ValueError, KeyError, TypeError, AttributeError)  # how an analysis fails on malformed input
T = TypeVar("T")

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
    # dns-exceptions-modelled (issue 17): whether each workload of an egress-isolated namespace can reach cluster
    # DNS; route-conflicts-absent: listener and route conflicts on each Gateway listener
    f"""
    CREATE TABLE dns_resolution (
        cluster VARCHAR NOT NULL,
        namespace VARCHAR NOT NULL,
        workload VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,
        resolves BOOLEAN NOT NULL,
        via VARCHAR,                -- the resolver it reaches on UDP and TCP 53
        blocked VARCHAR,            -- what stops it, when it does not resolve
        {PROVENANCE_COLUMNS}
    );
    CREATE TABLE gateway_conflicts (
        cluster VARCHAR NOT NULL,
        gateway_namespace VARCHAR NOT NULL,
        gateway VARCHAR NOT NULL,
        listener VARCHAR NOT NULL,
        port INTEGER,
        reason VARCHAR NOT NULL,    -- HostnameConflict | ProtocolConflict (listeners) or the route conflict's kind
        first VARCHAR NOT NULL,     -- the objects in conflict: a listener, or Kind ns/name of a route
        second VARCHAR NOT NULL,
        winner VARCHAR,             -- the one the spec's precedence keeps; NULL: neither, or not decidable
        detail VARCHAR NOT NULL,
        {PROVENANCE_COLUMNS}
    );
    """,
    # issue 16: whether a Gateway is public is decided from evidence by the k8s-networking pack (gateway_public), never
    # from its defensible.io/exposure label alone
    "ALTER TABLE gateway_exposure DROP COLUMN public;",
    # issue 18: what of the Cilium and Calico policies the analysis does not model (L7 rules, DNS names, ...),
    # on the pairs it concerns
    f"""
    CREATE TABLE reachability_unmodelled (
        cluster VARCHAR NOT NULL,
        src VARCHAR,                -- ns/name[Kind]{{group}} or an external interval first-last; NULL: every source
        dst VARCHAR,                -- NULL: every destination
        policy_kind VARCHAR NOT NULL,
        policy_namespace VARCHAR,   -- NULL: cluster-wide
        policy_name VARCHAR NOT NULL,
        why VARCHAR NOT NULL,
        {PROVENANCE_COLUMNS}
    );
    """,
    # issue 18: a malformed object is left out of its analysis, which still runs; the claims using that analysis
    # are gaps for the object
    f"""
    CREATE TABLE analysis_errors (
        cluster VARCHAR NOT NULL,
        analysis VARCHAR NOT NULL,  -- reachability | gateway | backend-tls | mesh
        kind VARCHAR,               -- the object left out; all NULL: not identified, the whole analysis is missing
        namespace VARCHAR,
        name VARCHAR,
        error VARCHAR NOT NULL,
        {PROVENANCE_COLUMNS}
    );
    CREATE TABLE gateway_backend_tls (
        cluster VARCHAR NOT NULL,
        namespace VARCHAR NOT NULL,
        service VARCHAR NOT NULL,
        port INTEGER,               -- NULL: the Service, or the port its sectionName names, is not in the inventory
        port_name VARCHAR,
        policy VARCHAR NOT NULL,    -- a BackendTLSPolicy of the Service's namespace targeting it
        section VARCHAR,            -- its sectionName; NULL: every port of the Service
        accepted BOOLEAN NOT NULL,
        accepted_reason VARCHAR NOT NULL,       -- Accepted | Conflicted | NoValidCACertificate | Invalid
        resolved_refs_reason VARCHAR NOT NULL,  -- ResolvedRefs | InvalidKind | InvalidCACertificateRef
        message VARCHAR,
        encrypts BOOLEAN NOT NULL,  -- the policy applies to the port and is accepted: the gateway originates TLS
        {PROVENANCE_COLUMNS}
    );
    """,
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
    # issue 22: who can create or change an exposure resource (collector.analysis.rbac), and bindings granting nothing
    f"""
    CREATE TABLE rbac_exposure_rights (
        cluster VARCHAR NOT NULL,
        subject VARCHAR NOT NULL,   -- User:name, Group:name, ServiceAccount:ns/name
        subject_kind VARCHAR NOT NULL,
        subject_name VARCHAR NOT NULL,
        subject_namespace VARCHAR,  -- of a ServiceAccount
        api_group VARCHAR NOT NULL, -- '' for the core group (services)
        resource VARCHAR NOT NULL,  -- plural: gateways, httproutes, ingresses, services, ...
        namespace VARCHAR NOT NULL, -- where the right applies; '*': every namespace
        verbs VARCHAR[] NOT NULL,   -- among create, patch, update
        resource_names VARCHAR[] NOT NULL,  -- the rule's resourceNames; empty: every object
        binding VARCHAR,            -- RoleBinding ns/name or ClusterRoleBinding name; NULL: superuser group
        role VARCHAR,               -- the role bound
        rule_role VARCHAR,          -- the role whose rule grants (an aggregated ClusterRole's source)
        rule_index INTEGER,         -- index in rule_role's rules
        indirect VARCHAR,           -- NULL: direct; rbac-write, escalate, bind, impersonate, serviceaccount
        via VARCHAR,                -- an indirect right taken from a ServiceAccount or group: that subject
        {PROVENANCE_COLUMNS}
    );
    CREATE TABLE rbac_unresolved_bindings (
        cluster VARCHAR NOT NULL,
        binding VARCHAR NOT NULL,
        role_ref VARCHAR NOT NULL,
        reason VARCHAR NOT NULL,
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
    """Analyse one cluster and emit its rows. A malformed object is left out of its analysis (an
    ``analysis_errors`` row names it) and the rest of the inventory is analysed."""
    started = time.monotonic()
    inputs = listing_runs(ctx.store, cluster)
    objects = current_objects(ctx.store, cluster)
    collected = [kind for kind, run in inputs.items() if run is not None]
    errors: list[dict[str, Any]] = []

    def reachability(usable: list[dict[str, Any]]) -> tuple[Inventory, Reachability, list[Any]]:
        inventory = Inventory.from_objects(usable)
        reach = analyze(inventory)
        return inventory, reach, analyze_dns(inventory, reach, objects)

    reachable = isolated(errors, "reachability", [o for o in objects if o["kind"] in REACHABILITY_KINDS], reachability)
    gateways = isolated(
        errors,
        "gateway",
        [o for o in objects if o["kind"] in GATEWAY_KINDS],
        lambda usable: analyze_gateways(usable, collected_kinds=collected),
    )
    errors += [{"analysis": "gateway", **asdict(e)} for e in gateways.errors] if gateways else []
    backend_tls = isolated(
        errors,
        "backend-tls",
        [o for o in objects if o["kind"] in BACKEND_TLS_KINDS],
        lambda usable: analyze_backend_tls(usable, collected_kinds=collected),
    )
    tls_ports = backend_tls[0] if backend_tls else []
    errors += [{"analysis": "backend-tls", **asdict(e)} for e in backend_tls[1]] if backend_tls else []
    meshed = isolated(
        errors,
        "mesh",
        [o for o in objects if o["kind"] in MESH_KINDS],
        lambda usable: (analyze_mesh(usable), analyze_client_tls(usable)),
    )
    rbac = isolated(errors, "rbac", [o for o in objects if o["kind"] in RBAC_KINDS], analyze_rbac)
    if errors:
        ctx.partial(f"cluster {cluster}: {len(errors)} object(s) left out of the analysis (analysis_errors)")
    inventory, reach, dns = reachable or (None, None, [])
    mesh, client_tls = meshed or (None, [])
    analysed = time.monotonic()
    classes = reach.classes if reach else None  # the engine's result is class-level
    counts = Counter(o["kind"] for o in objects)
    document = {
        "cluster": cluster,
        "inputs": {kind: {"run_id": run, "objects": counts[kind]} for kind, run in inputs.items()},
        "reachability": None,  # written below, row by row
        "unmodelled": [asdict(u) for u in reach.unmodelled] if reach else None,
        "gateways": gateways.to_json() if gateways else None,
        "mesh": mesh.to_json() if mesh else None,
        "client_tls": [asdict(c) for c in client_tls],
        "backend_tls": [asdict(p) for p in tls_ports],
        "dns": [vars(d) for d in dns],  # flat records: vars is asdict without its deep copy
        "rbac": rbac.to_json() if rbac else None,
        "errors": errors,
    }
    parts = {key: json.dumps(value, sort_keys=True, separators=(",", ":")) for key, value in document.items()}
    if classes:  # the class-level connections are the bulk of it: written as text, never as lists
        parts["reachability"] = classes.json_text()
    content = ("{" + ",".join(f"{json.dumps(key)}:{parts[key]}" for key in sorted(parts)) + "}").encode()
    del document, parts
    sha = ctx.add_artifact(
        content,
        f"analysis of cluster {cluster}",
        "application/json",
    )
    for kind, run in inputs.items():
        row = {"cluster": cluster, "kind": kind, "input_run_id": run, "objects": counts[kind]}
        ctx.emit("analysis_inputs", {**row, "reach_classes": len(classes.members) if classes else 0}, sha)
    for error in errors:
        ctx.emit("analysis_errors", {"cluster": cluster, **error}, sha)
    rows = 0
    if inventory is not None and reach is not None and classes is not None:
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
        load_unmodelled(ctx, cluster, reach, sha)
    if gateways is not None:
        emit_gateways(ctx, cluster, gateways, sha)
    if mesh is not None:
        for p in mesh.ports:
            ctx.emit("mesh_workload_ports", {"cluster": cluster, **vars(p)}, sha)
        for sp in mesh.services:
            ctx.emit("mesh_service_ports", {"cluster": cluster, **vars(sp)}, sha)
    for c in client_tls:
        ctx.emit("mesh_client_tls", {"cluster": cluster, **asdict(c)}, sha)
    for p in tls_ports:
        ctx.emit("gateway_backend_tls", {"cluster": cluster, **asdict(p)}, sha)
    for d in dns:
        ctx.emit("dns_resolution", {"cluster": cluster, **vars(d)}, sha)
    if rbac is not None:
        emit_rbac(ctx, cluster, rbac, sha)
    workloads = len(inventory.workloads) if inventory else 0
    policies = len(inventory.policies) if inventory else 0
    attachments = len(gateways.attachments) if gateways else 0
    ordered = len(inventory.ordered) if inventory else 0
    admin = len(inventory.admin) + bool(inventory.baseline) if inventory else 0
    unmodelled = len(reach.unmodelled) if reach else 0
    ctx.note(
        f"cluster {cluster}: {workloads} workloads, {policies} NetworkPolicies, {admin} admin network policies, "
        f"{ordered} Cilium/Calico policies ({unmodelled} unmodelled parts), {len(classes.members) if classes else 0} "
        f"reachability classes, {rows} class connections, {attachments} route attachments, "
        f"{len(rbac.rights) if rbac else 0} exposure rights, {len(errors)} errors "
        f"(analysed in {analysed - started:.1f}s, rows staged in {time.monotonic() - analysed:.1f}s)"
    )


def isolated(
    errors: list[dict[str, Any]], analysis: str, objects: list[dict[str, Any]], run: Callable[[list[dict[str, Any]]], T]
) -> T | None:
    """`run(objects)`; when it fails on an object, that object is left out (an error row) and the analysis runs
    again without it, up to MAX_LEFT_OUT objects. The object is the one the message names (Kind namespace/name),
    else the first that fails alone; when there is none, the error is a row with no object: the analysis is
    missing."""
    usable = objects
    for _ in range(MAX_LEFT_OUT + 1):
        try:
            return run(usable)
        except FAILURES as exc:
            message = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
            named = NAMED_OBJECT.match(message)
            who = (named["kind"], named["namespace"] or "", named["name"]) if named else None
            culprit = next((o for o in usable if identity(o) == who), None)
            if culprit is None and (culprit := next((o for o in usable if fails_alone(run, o)), None)):
                kind, namespace, name = identity(culprit)
                message = f"{kind} {namespace + '/' if namespace else ''}{name}: malformed ({message})"
            if culprit is None:
                errors.append({"analysis": analysis, "kind": None, "namespace": None, "name": None, "error": message})
                return None
            kind, namespace, name = identity(culprit)
            errors.append(
                {"analysis": analysis, "kind": kind, "namespace": namespace or None, "name": name, "error": message}
            )
            usable = [o for o in usable if o is not culprit]
    errors.append({"analysis": analysis, "kind": None, "namespace": None, "name": None,
                   "error": f"more than {MAX_LEFT_OUT} malformed objects: not analysed"})  # fmt: skip
    return None


def fails_alone(run: Callable[[list[dict[str, Any]]], Any], obj: dict[str, Any]) -> bool:
    """Whether the analysis of `obj` alone fails (how an error that names no object is traced to one)."""
    try:
        run([obj])
    except FAILURES:
        return True
    return False


def identity(obj: dict[str, Any]) -> tuple[str, str, str]:
    meta = obj.get("metadata") or {}
    return str(obj.get("kind")), str(meta.get("namespace") or ""), str(meta.get("name"))


INSERT_CLASS_CONNS = """
INSERT INTO reach_class_conns BY NAME
SELECT *, $cluster AS cluster, $source AS source, $run_id AS run_id, $artifact AS artifact_sha256,
       $collected_at AS collected_at
FROM read_csv($rows, header = false, auto_detect = false, allow_quoted_nulls = false, quote = '"', escape = '"',
              columns = {'src_class': 'INTEGER', 'dst_class': 'INTEGER', 'external': 'VARCHAR',
                         'admitted_by': 'VARCHAR', 'conn': 'VARCHAR', 'conn_json': 'JSON'})
"""


def load_classes(ctx: CollectContext, cluster: str, classes: Classes, sha: str, attribution: Attribution) -> int:
    """Write the ``reach_class_conns`` rows as CSV and bulk-load them with DuckDB's reader; return the count. Rows
    are assembled from CSV fields quoted once per connection set and attribution. A connection into a class says
    what admits it (``admitted_by``), judged on one member of each side: what admits a pair depends only on their
    classes; a connection to external addresses says what lets the class out."""
    conns = [
        f"{quoted(conn_text(c))},{quoted(json.dumps(conn_json(c), separators=(',', ':')))}\n" for c in classes.conns
    ]
    admitted: dict[tuple[str, ...], str] = {}
    first = [classes.ids[members[0]] for members in classes.members]

    def admitted_by(src: int | None, dst: int | None, external: str | None) -> str:
        if classes.admitting is not None:  # read off the engine's rules
            reasons = classes.admitting.reasons(src, dst, external)
        elif dst is not None:
            reasons = attribution.ingress(first[src] if src is not None else external or "", first[dst])
        else:
            reasons = attribution.egress(first[src] if src is not None else "", external or "")
        text = admitted.get(reasons)
        if text is None:
            joined = "; ".join(reasons)
            text = admitted[reasons] = quoted(joined) if joined else ""  # an empty field: NULL
        return text

    with tempfile.TemporaryDirectory(prefix="defensible-analysis-") as tmp:
        path = Path(tmp) / "reach_class_conns.csv"
        with open(path, "w", encoding="utf-8") as fh:
            for src, dst, external, conn in classes.rows():  # an empty field is NULL; an interval needs no quotes
                why = admitted_by(src, dst, external)
                fh.write(
                    f"{'' if src is None else src},{'' if dst is None else dst},{external or ''},{why},{conns[conn]}"
                )
        params = {"rows": str(path), "cluster": cluster, "source": ctx.source, "run_id": ctx.run_id}
        return ctx.insert(
            "reach_class_conns", INSERT_CLASS_CONNS, {**params, "artifact": sha, "collected_at": ctx.collected_at}
        )


def quoted(text: str) -> str:
    """A CSV field (RFC 4180): in double quotes, a double quote doubled."""
    return '"' + text.replace('"', '""') + '"'


def load_unmodelled(ctx: CollectContext, cluster: str, reach: Reachability, sha: str) -> int:
    """Write the ``reachability_unmodelled`` rows (one per unmodelled part and pair) and bulk-load them."""
    provenance = {"source": ctx.source, "run_id": ctx.run_id, "artifact_sha256": sha, "collected_at": ctx.collected_at}
    with tempfile.TemporaryDirectory(prefix="defensible-analysis-") as tmp:
        path = Path(tmp) / "unmodelled.ndjson"
        with open(path, "w", encoding="utf-8") as fh:
            for u in reach.unmodelled:
                fh.write(json.dumps({"cluster": cluster, **asdict(u), **provenance}, default=str) + "\n")
        return ctx.load_ndjson("reachability_unmodelled", path)


def emit_gateways(ctx: CollectContext, cluster: str, report: GatewayReport, sha: str) -> None:
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
    for c in report.conflicts:
        row = {
            "cluster": cluster,
            "gateway_namespace": c.gateway_ns,
            "gateway": c.gateway,
            "listener": c.listener,
            "port": c.port,
            "reason": c.reason,
            "first": c.first,
            "second": c.second,
            "winner": c.winner,
            "detail": c.detail,
        }
        ctx.emit("gateway_conflicts", row, sha)
    for gateway_ns, gateway in report.gateways():
        for e in report.exposure(gateway_ns, gateway):
            row = {
                "cluster": cluster,
                "gateway_namespace": gateway_ns,
                "gateway": gateway,
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


def emit_rbac(ctx: CollectContext, cluster: str, report: RbacReport, sha: str) -> None:
    """Write the ``rbac_exposure_rights`` rows as NDJSON and bulk-load them (a large cluster has 100,000s);
    emit the unresolved bindings."""
    provenance = {"source": ctx.source, "run_id": ctx.run_id, "artifact_sha256": sha, "collected_at": ctx.collected_at}
    with tempfile.TemporaryDirectory(prefix="defensible-analysis-") as tmp:
        path = Path(tmp) / "rbac_exposure_rights.ndjson"
        with open(path, "w", encoding="utf-8") as fh:
            for r in report.rights:
                row = {"cluster": cluster, "subject": r.subject, **asdict(r), **provenance}
                row["rule_index"] = row.pop("rule")
                fh.write(json.dumps(row, default=str) + "\n")
        ctx.load_ndjson("rbac_exposure_rights", path)
    for u in report.unresolved:
        ctx.emit("rbac_unresolved_bindings", {"cluster": cluster, **asdict(u)}, sha)
