"""Kubernetes object dicts rebuilt from the store's current inventory (``k8s_current``), one cluster at a time.

The analyses in ``collector.analysis`` (reachability, gateway) read objects as ``kubectl get -o json`` gives
them; the store keeps them as rows. ``current_objects`` turns the rows of a cluster back into objects with
``apiVersion``, ``kind``, ``metadata`` (name, namespace, labels, annotations, ownerReferences) and ``spec`` (RBAC
objects: their ``rules``, ``aggregationRule``, ``roleRef`` and ``subjects``).
"""

from __future__ import annotations

import json
from typing import Any

from collector.store import Store

# What the two analyses read; any other kind is left out of the rebuilt inventory.
REACHABILITY_KINDS = (
    "Namespace", "Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job",
    "CronJob", "Rollout", "NetworkPolicy", "AdminNetworkPolicy", "BaselineAdminNetworkPolicy", "CiliumNetworkPolicy",
    "CiliumClusterwideNetworkPolicy",
    "NetworkPolicy.projectcalico.org", "GlobalNetworkPolicy", "Tier", "NetworkSet", "GlobalNetworkSet",
    "NetworkPolicy.crd.projectcalico.org", "GlobalNetworkPolicy.crd.projectcalico.org", "Tier.crd.projectcalico.org",
    "NetworkSet.crd.projectcalico.org", "GlobalNetworkSet.crd.projectcalico.org",
)  # fmt: skip
GATEWAY_KINDS = (
    "Namespace", "Gateway", "HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute", "UDPRoute", "ReferenceGrant", "Service",
    "Secret",
)  # fmt: skip
# BackendTLSPolicy per Service port (collector.analysis.gateway.backend_tls; traffic-encrypted, backend-reencryption).
# CA ConfigMaps are not inventoried (the certificates source reads them): their existence is not judged here.
BACKEND_TLS_KINDS = ("Service", "BackendTLSPolicy")
# Istio mesh enrollment and DestinationRule lookup (collector.analysis.mesh; issue 16 traffic-encrypted).
MESH_KINDS = (*REACHABILITY_KINDS, "Service", "Gateway", "GatewayClass", "PeerAuthentication", "DestinationRule")
# Who can change an entry point (collector.analysis.rbac; issue 22 exposure-rights-restricted).
RBAC_KINDS = ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")
ANALYSED_KINDS = tuple(dict.fromkeys(REACHABILITY_KINDS + GATEWAY_KINDS + MESH_KINDS + BACKEND_TLS_KINDS + RBAC_KINDS))


class InventoryError(Exception):
    """The store holds no current inventory for what was asked; the message says what to collect."""


def inventory_clusters(store: Store) -> list[str]:
    """Clusters with at least one kind listed successfully (``k8s_inventory_current``), sorted."""
    if not store.has_table("k8s_inventory"):
        return []
    rows = store.con.execute(
        "SELECT DISTINCT cluster FROM k8s_inventory_current WHERE status = 'collected' ORDER BY cluster"
    ).fetchall()
    return [row[0] for row in rows]


def pick_cluster(store: Store, cluster: str | None) -> str:
    """``cluster`` if the store has a current inventory of it; without one, the only cluster there is."""
    known = inventory_clusters(store)
    if not known:
        raise InventoryError("the store has no Kubernetes inventory: run `defensible collect kubernetes` first")
    if cluster is None:
        if len(known) > 1:
            raise InventoryError(f"the store holds several clusters ({', '.join(known)}): name one with --cluster")
        return known[0]
    if cluster not in known:
        raise InventoryError(f"no Kubernetes inventory of cluster {cluster!r} (clusters: {', '.join(known)})")
    return cluster


def listing_runs(store: Store, cluster: str) -> dict[str, str | None]:
    """The kubernetes run whose listing of each analysed kind is current in ``cluster`` (None: never listed)."""
    rows = store.con.execute(
        "SELECT kind, run_id FROM k8s_inventory_current WHERE cluster = ? AND status = 'collected'", [cluster]
    ).fetchall()
    current = dict(rows)
    return {kind: current.get(kind) for kind in ANALYSED_KINDS}


def current_objects(store: Store, cluster: str, kinds: tuple[str, ...] = ANALYSED_KINDS) -> list[dict[str, Any]]:
    """The current objects of ``kinds`` in ``cluster``, as Kubernetes object dicts, in a stable order."""
    # a store whose kubernetes source has not run since created_at was added has no creation times
    created = "created_at" if "created_at" in store.table_columns("k8s_objects") else "NULL"
    rows = store.con.execute(
        f"""
        SELECT api_version, kind, namespace, name, labels, annotations, owner_references, spec, {created}
        FROM k8s_current
        WHERE cluster = ? AND list_contains(?, kind)
        ORDER BY kind, namespace NULLS FIRST, name
        """,
        [cluster, list(kinds)],
    ).fetchall()
    return [to_object(*row) for row in rows]


def to_object(
    api_version: str,
    kind: str,
    namespace: str | None,
    name: str,
    labels: str | None,
    annotations: str | None,
    owner_references: str | None,
    spec: str | None,
    created_at: str | None,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    metadata["labels"] = json.loads(labels) if labels else {}
    metadata["annotations"] = json.loads(annotations) if annotations else {}
    owners = json.loads(owner_references) if owner_references else None
    if owners:
        metadata["ownerReferences"] = owners
    if created_at:
        metadata["creationTimestamp"] = created_at
    content = json.loads(spec) if spec else {}
    if api_version.startswith("rbac.authorization.k8s.io/"):
        return {"apiVersion": api_version, "kind": kind, "metadata": metadata, **content}
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata, "spec": content}
