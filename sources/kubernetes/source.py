"""Kubernetes inventory: Gateway API (with BackendTLSPolicy), NetworkPolicy, admin network policies, Cilium and
Calico policies, Istio policy and DestinationRules, Services, Namespaces, Nodes, workloads (Pods and their
controllers, for reachability) and RBAC (Roles, ClusterRoles and their bindings: who can change an entry point).

Offline from manifest files or ``kubectl get -A -o json`` dumps (``paths``), live through the
``kubernetes`` client from kubeconfig contexts (``contexts``). A kind the API server does not serve (404)
or does not let us list (403) is recorded in ``k8s_inventory`` as not collectible, not a failure.
With ``egress_allowlists``, ConfigMaps labelled ``defensible.io/egress-allowlist=true`` are collected too,
with their ``data``; live, they are listed with that label selector, so no other ConfigMap is ever fetched.
The run then also records the rules of the Public Suffix List bundled with ``publicsuffixlist`` (``public_suffixes``),
with which the logs pack judges wildcard allowlist entries, offline.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from importlib import metadata
from importlib.resources import files
from typing import Any

from kubernetes import config as kube_config
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from collector.plugins import CollectContext, SourceError
from collector.redaction import redact_object
from collector.safe_yaml import InputError, load_json
from collector.store import PROVENANCE_COLUMNS
from sources.kubernetes.manifests import PATHS_SCHEMA, STDIN_SCHEMA, api_group, listing, read_inputs, report_skips

GATEWAY_API = "gateway.networking.k8s.io"
ISTIO_SECURITY = "security.istio.io"
ISTIO_NETWORKING = "networking.istio.io"
CILIUM = "cilium.io"
CALICO = "projectcalico.org"
CALICO_CRD = "crd.projectcalico.org"
ADMIN_POLICY = "policy.networking.k8s.io"
MCS = "multicluster.x-k8s.io"
# ConfigMaps the platform pack reads, by namespace and name, and the only data keys kept of each
PLATFORM_CONFIGMAPS = (
    (
        "kube-system",
        "cilium-config",
        (
            "enable-policy",
            "policy-audit-mode",
            "kube-proxy-replacement",
            "ipam",
            "cluster-pool-ipv4-cidr",
            "cluster-pool-ipv6-cidr",
            "cluster-name",
            "cluster-id",
            "cni-chaining-mode",
        ),
    ),
    ("kube-system", "kube-proxy", ("config.conf",)),
    ("kube-system", "dns-autoscaler", ("linear", "ladder")),
    ("kube-system", "kube-dns-autoscaler", ("linear", "ladder")),
    ("kube-system", "coredns-autoscaler", ("linear", "ladder")),  # AKS
    ("istio-system", "istio-ca-root-cert", ("root-cert.pem",)),
    ("istio-system", "istio", ("mesh",)),
)
RBAC = "rbac.authorization.k8s.io"
RBAC_FIELDS = ("rules", "aggregationRule", "roleRef", "subjects")  # an RBAC object's content: it has no spec


@dataclass(frozen=True)
class Kind:
    kind: str
    group: str
    versions: tuple[str, ...]  # preferred first
    plural: str
    labels: tuple[tuple[str, str], ...] = ()  # only objects carrying these labels are collected (label selector)
    field_selector: str = ""  # listed with this field selector only (e.g. type=kubernetes.io/tls)
    qualified: bool = False  # stored as Kind.group (as kubectl names it): another collected group has this kind
    # only these objects are collected, listed one by one (namespace, name, the data keys kept); stored under alias
    named: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    alias: str = ""

    @property
    def key(self) -> str:
        """The name the store keys this kind by (``k8s_objects.kind``, ``k8s_inventory.kind``, the ``kinds``
        setting, a claim's ``requires``): the kind, qualified by its API group when another group collected here
        has a kind of the same name (Istio's ``Gateway.networking.istio.io`` beside the Gateway API ``Gateway``),
        or its alias when only named objects of it are collected (``PlatformConfigMap``)."""
        return self.alias or (f"{self.kind}.{self.group}" if self.qualified else self.kind)

    @property
    def label_selector(self) -> str:
        return ",".join(f"{key}={value}" for key, value in self.labels)

    def list_url(self, server: str, version: str) -> str:
        selectors = (("labelSelector", self.label_selector), ("fieldSelector", self.field_selector))
        query = "&".join(f"{name}={value}" for name, value in selectors if value)
        return f"{server}{self.list_path(version)}" + (f"?{query}" if query else "")

    def selects(self, obj: dict) -> bool:
        meta = obj.get("metadata") or {}
        labels = meta.get("labels") or {}
        named = not self.named or any(
            (meta.get("namespace"), meta.get("name")) == (ns, name) for ns, name, _ in self.named
        )
        return named and all(labels.get(key) == value for key, value in self.labels)

    def kept(self, obj: dict) -> dict:
        """``obj`` with only the data keys collected of it (named objects), the rest dropped."""
        meta = obj.get("metadata") or {}
        for ns, name, keys in self.named:
            if (meta.get("namespace"), meta.get("name")) == (ns, name):
                return {**obj, "data": {k: v for k, v in (obj.get("data") or {}).items() if k in keys}}
        return obj

    def list_path(self, version: str) -> str:
        prefix = f"/apis/{self.group}/{version}" if self.group else f"/api/{version}"
        return f"{prefix}/{self.plural}"

    def listings(self) -> list[Kind]:
        """One list call per named object (its namespace's list, by field selector), else this kind itself."""
        return [
            replace(self, plural=f"namespaces/{ns}/{self.plural}", field_selector=f"metadata.name={name}")
            for ns, name, _ in self.named
        ] or [self]


KINDS: tuple[Kind, ...] = (
    Kind("Namespace", "", ("v1",), "namespaces"),
    Kind("Node", "", ("v1",), "nodes"),  # the nodes whose flow logs policy-denies-visible expects
    Kind("Service", "", ("v1",), "services"),
    Kind("Pod", "", ("v1",), "pods"),
    Kind("ReplicationController", "", ("v1",), "replicationcontrollers"),
    Kind("Deployment", "apps", ("v1",), "deployments"),
    Kind("StatefulSet", "apps", ("v1",), "statefulsets"),
    Kind("DaemonSet", "apps", ("v1",), "daemonsets"),
    Kind("ReplicaSet", "apps", ("v1",), "replicasets"),
    Kind("Job", "batch", ("v1",), "jobs"),
    Kind("CronJob", "batch", ("v1", "v1beta1"), "cronjobs"),
    Kind("GatewayClass", GATEWAY_API, ("v1", "v1beta1"), "gatewayclasses"),
    Kind("Gateway", GATEWAY_API, ("v1", "v1beta1"), "gateways"),
    Kind("HTTPRoute", GATEWAY_API, ("v1", "v1beta1"), "httproutes"),
    Kind("GRPCRoute", GATEWAY_API, ("v1", "v1alpha2"), "grpcroutes"),
    Kind("TLSRoute", GATEWAY_API, ("v1", "v1alpha3", "v1alpha2"), "tlsroutes"),
    Kind("ReferenceGrant", GATEWAY_API, ("v1", "v1beta1"), "referencegrants"),
    Kind("NetworkPolicy", "networking.k8s.io", ("v1",), "networkpolicies"),
    Kind("PeerAuthentication", ISTIO_SECURITY, ("v1", "v1beta1"), "peerauthentications"),
    Kind("AuthorizationPolicy", ISTIO_SECURITY, ("v1", "v1beta1"), "authorizationpolicies"),
    Kind("BackendTLSPolicy", GATEWAY_API, ("v1", "v1alpha3", "v1alpha2"), "backendtlspolicies"),
    Kind("DestinationRule", ISTIO_NETWORKING, ("v1", "v1beta1", "v1alpha3"), "destinationrules"),
    # issue 16: every entry point and hop (Ingress, the other Gateway API routes, Istio's own Gateway API)
    Kind("Ingress", "networking.k8s.io", ("v1",), "ingresses"),
    Kind("IngressClass", "networking.k8s.io", ("v1",), "ingressclasses"),
    Kind("TCPRoute", GATEWAY_API, ("v1alpha2",), "tcproutes"),
    Kind("UDPRoute", GATEWAY_API, ("v1alpha2",), "udproutes"),
    Kind("Gateway", ISTIO_NETWORKING, ("v1", "v1beta1", "v1alpha3"), "gateways", qualified=True),
    Kind("VirtualService", ISTIO_NETWORKING, ("v1", "v1beta1", "v1alpha3"), "virtualservices"),
    # issue 18: the SIG Network admin policies, evaluated by the reachability engine
    Kind("AdminNetworkPolicy", ADMIN_POLICY, ("v1alpha1",), "adminnetworkpolicies"),
    Kind("BaselineAdminNetworkPolicy", ADMIN_POLICY, ("v1alpha1",), "baselineadminnetworkpolicies"),
    # their successor (Admin and Baseline tiers in one kind): listed so that the claims can tell it is not analysed
    Kind("ClusterNetworkPolicy", ADMIN_POLICY, ("v1alpha2",), "clusternetworkpolicies"),
    # issue 18: CNI policies of the reachability analysis (Calico's through its API server and as its operator
    # stores them; the namespaced Calico NetworkPolicy is qualified beside Kubernetes' own)
    Kind("CiliumNetworkPolicy", CILIUM, ("v2",), "ciliumnetworkpolicies"),
    Kind("CiliumClusterwideNetworkPolicy", CILIUM, ("v2",), "ciliumclusterwidenetworkpolicies"),
    Kind("NetworkPolicy", CALICO, ("v3",), "networkpolicies", qualified=True),
    Kind("GlobalNetworkPolicy", CALICO, ("v3",), "globalnetworkpolicies"),
    Kind("Tier", CALICO, ("v3",), "tiers"),
    Kind("NetworkSet", CALICO, ("v3",), "networksets"),
    Kind("GlobalNetworkSet", CALICO, ("v3",), "globalnetworksets"),
    Kind("NetworkPolicy", CALICO_CRD, ("v1",), "networkpolicies", qualified=True),
    Kind("GlobalNetworkPolicy", CALICO_CRD, ("v1",), "globalnetworkpolicies", qualified=True),
    Kind("Tier", CALICO_CRD, ("v1",), "tiers", qualified=True),
    Kind("NetworkSet", CALICO_CRD, ("v1",), "networksets", qualified=True),
    Kind("GlobalNetworkSet", CALICO_CRD, ("v1",), "globalnetworksets", qualified=True),
    # issue 22 (i22-platform): cluster networking, service discovery, multi-cluster services and the mesh trust root
    Kind("ServiceCIDR", "networking.k8s.io", ("v1", "v1beta1"), "servicecidrs"),
    Kind("HorizontalPodAutoscaler", "autoscaling", ("v2", "v1"), "horizontalpodautoscalers"),
    Kind("ServiceEntry", ISTIO_NETWORKING, ("v1", "v1beta1", "v1alpha3"), "serviceentries"),
    Kind("IPPool", CALICO, ("v3",), "ippools"),
    Kind("IPPool", CALICO_CRD, ("v1",), "ippools", qualified=True),
    Kind("ServiceExport", MCS, ("v1alpha1",), "serviceexports"),
    Kind("ServiceImport", MCS, ("v1alpha1",), "serviceimports"),
    Kind("ConfigMap", "", ("v1",), "configmaps", named=PLATFORM_CONFIGMAPS, alias="PlatformConfigMap"),
    # issue 22 (i22-resilience): disruption budgets and progressive delivery (Argo Rollouts, Flagger); the
    # HorizontalPodAutoscaler above gives the autoscaling floors
    Kind("PodDisruptionBudget", "policy", ("v1",), "poddisruptionbudgets"),
    Kind("Rollout", "argoproj.io", ("v1alpha1",), "rollouts"),
    Kind("AnalysisTemplate", "argoproj.io", ("v1alpha1",), "analysistemplates"),
    Kind("ClusterAnalysisTemplate", "argoproj.io", ("v1alpha1",), "clusteranalysistemplates"),
    Kind("Canary", "flagger.app", ("v1beta1",), "canaries"),
    # the retries Envoy Gateway attaches to its Gateways and routes (retry-budgets, timeout-ladder)
    Kind("BackendTrafficPolicy", "gateway.envoyproxy.io", ("v1alpha1",), "backendtrafficpolicies"),
    # issue 22 (i22-rbac): who can expose a public endpoint (collector/analysis/rbac.py)
    Kind("Role", RBAC, ("v1",), "roles"),
    Kind("ClusterRole", RBAC, ("v1",), "clusterroles"),
    Kind("RoleBinding", RBAC, ("v1",), "rolebindings"),
    Kind("ClusterRoleBinding", RBAC, ("v1",), "clusterrolebindings"),
)
KIND_NAMES = [k.key for k in KINDS]
EGRESS_ALLOWLIST_LABEL = "defensible.io/egress-allowlist"
EGRESS_ALLOWLISTS = Kind("ConfigMap", "", ("v1",), "configmaps", ((EGRESS_ALLOWLIST_LABEL, "true"),))

MIGRATIONS = (
    f"""
    CREATE TABLE k8s_objects (
        cluster VARCHAR NOT NULL,
        api_version VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,
        namespace VARCHAR,
        name VARCHAR NOT NULL,
        uid VARCHAR,
        labels JSON,
        annotations JSON,
        spec JSON,
        status JSON,
        location VARCHAR NOT NULL,  -- file#document or API list path the object came from
        {PROVENANCE_COLUMNS}
    );
    CREATE TABLE k8s_inventory (
        cluster VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,
        api_version VARCHAR,
        status VARCHAR NOT NULL,  -- collected | not-collectible
        reason VARCHAR,           -- crd-absent | forbidden
        http_status INTEGER,
        message VARCHAR,
        object_count INTEGER NOT NULL,
        location VARCHAR NOT NULL,
        {PROVENANCE_COLUMNS}
    );
    -- The latest successful listing of each kind in each cluster.
    CREATE VIEW k8s_inventory_current AS
        SELECT i.* FROM k8s_inventory i JOIN runs r USING (run_id)
        WHERE r.status IN ('succeeded', 'partial')
        QUALIFY row_number() OVER (PARTITION BY i.cluster, i.kind ORDER BY r.started_at DESC, r.run_id DESC) = 1;
    CREATE VIEW k8s_current AS
        SELECT o.* FROM k8s_objects o
        JOIN k8s_inventory_current i USING (run_id, cluster, kind)
        WHERE i.status = 'collected';
    """,
    # ConfigMaps (egress allowlists) keep their data; the views read o.* and pick the column up.
    "ALTER TABLE k8s_objects ADD COLUMN data JSON;",
    # Pods and controllers name their owners: reachability collapses them to the top owner.
    "ALTER TABLE k8s_objects ADD COLUMN owner_references JSON;",
    # Rules of the Public Suffix List (`com`, `co.uk`, `*.ck`, `!www.ck`), as of the run that used it.
    f"CREATE TABLE public_suffixes (rule VARCHAR NOT NULL, {PROVENANCE_COLUMNS});",
    # Gateway API route precedence: the older route (metadata.creationTimestamp) wins a conflict.
    "ALTER TABLE k8s_objects ADD COLUMN created_at VARCHAR;",
)
# One row per rule: the first word of each line that is not blank nor a // comment.
INSERT_PUBLIC_SUFFIXES = """
INSERT INTO public_suffixes BY NAME
SELECT DISTINCT lower(split_part(trim(line), ' ', 1)) AS rule,
       $source AS source, $run_id AS run_id, $artifact AS artifact_sha256, $collected_at AS collected_at
FROM (SELECT unnest(string_split(content, chr(10))) AS line FROM read_text($path))
WHERE trim(line) <> '' AND NOT starts_with(trim(line), '//')
"""


class KubernetesSource:
    name = "kubernetes"
    description = "Kubernetes networking inventory (Gateway API, NetworkPolicy, Istio policy, Services)"
    config_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "paths": PATHS_SCHEMA,
            "stdin": STDIN_SCHEMA,
            "cluster": {
                "type": "string",
                "default": "default",
                "description": "cluster name recorded for objects read from paths",
            },
            "contexts": {
                "type": "array",
                "items": {"type": "string"},
                "default": [],
                "description": "kubeconfig contexts to list live; each context is recorded as a cluster",
            },
            "kubeconfig": {"type": ["string", "null"], "default": None},
            "kinds": {"type": "array", "items": {"enum": KIND_NAMES}, "default": KIND_NAMES},
            "page_size": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 500},
            "egress_allowlists": {
                "type": "boolean",
                "default": False,
                "description": f"also collect ConfigMaps labelled {EGRESS_ALLOWLIST_LABEL}=true (listed by label)",
            },
        },
    }

    migrations = MIGRATIONS

    def collect(self, ctx: CollectContext) -> None:
        cfg = ctx.config
        if not cfg["paths"] and not cfg["contexts"] and not cfg["stdin"]:
            raise SourceError(
                "kubernetes: configure `paths` (manifests), `contexts` (kubeconfig contexts) or read --stdin"
            )
        kinds = [k for k in KINDS if k.key in cfg["kinds"]] + ([EGRESS_ALLOWLISTS] if cfg["egress_allowlists"] else [])
        if cfg["paths"] or cfg["stdin"]:
            collect_manifests(ctx, cfg["paths"], cfg["stdin"], cfg["cluster"], kinds)
        for context in cfg["contexts"]:
            collect_live(ctx, context, cfg["kubeconfig"], kinds, cfg["page_size"])
        if cfg["egress_allowlists"]:
            record_public_suffixes(ctx)


def record_public_suffixes(ctx: CollectContext) -> None:
    """Keep the Public Suffix List that ``publicsuffixlist`` ships as an artifact and load its rules in bulk."""
    content = (files("publicsuffixlist") / "public_suffix_list.dat").read_bytes()
    origin = f"Public Suffix List (publicsuffixlist {metadata.version('publicsuffixlist')})"
    sha = ctx.add_artifact(content, origin, "text/plain")
    params = {"source": ctx.source, "run_id": ctx.run_id, "collected_at": ctx.collected_at, "artifact": sha}
    ctx.insert("public_suffixes", INSERT_PUBLIC_SUFFIXES, {**params, "path": str(ctx.store.artifact_path(sha))})


# offline ----------------------------------------------------------------------------------------------


def collect_manifests(
    ctx: CollectContext, paths: list[str | dict], stdin: bool, cluster: str, kinds: list[Kind]
) -> None:
    """Objects are matched by API group and kind (sources.kubernetes.manifests): a kind of a group that is not
    collected (an Istio Gateway when only the Gateway API one is, a Knative Service, ...) is skipped and counted,
    never misfiled."""
    wanted: dict[tuple[str, str], list[Kind]] = {}
    for k in kinds:
        wanted.setdefault((k.group, k.kind), []).append(k)
    reading = read_inputs(ctx, paths, stdin, set(wanted))
    counts = dict.fromkeys(sorted(k.key for k in kinds), 0)
    for location, obj, sha in reading.objects:
        for kind in wanted[(api_group(obj["apiVersion"]), obj["kind"])]:
            if kind.selects(obj):
                counts[kind.key] += 1
                ctx.emit("k8s_objects", object_row(cluster, kind.kept(obj), location, kind.key), sha)
    listing_sha = ctx.add_artifact(
        listing(cluster, reading, report_skips(ctx, reading)), "manifest listing", "application/json"
    )
    for kind in kinds:
        ctx.emit(
            "k8s_inventory",
            inventory_row(cluster, kind.key, None, "collected", counts[kind.key], reading.where),
            listing_sha,
        )


# live -------------------------------------------------------------------------------------------------


def collect_live(ctx: CollectContext, context: str, kubeconfig: str | None, kinds: list[Kind], page_size: int) -> None:
    try:
        api = kube_config.new_client_from_config(config_file=kubeconfig, context=context)
    except (kube_config.ConfigException, OSError) as exc:
        raise SourceError(f"kubernetes: cannot load kubeconfig context {context!r}: {exc}") from None
    with api:
        server = api.configuration.host
        with ctx.progress(f"context {context}", total=len(kinds), unit="kinds") as progress:
            for kind in kinds:
                progress.update(detail=kind.key)
                collect_kind(ctx, api, context, server, kind, page_size)
                progress.advance()


@dataclass(frozen=True)
class Listing:
    """A kind listed at its first served version: its pages, or the refusal (403, or 404 at every version)."""

    url: str
    api_version: str | None
    pages: list[tuple[bytes, dict]]
    refusal: ApiException | None = None


def list_kind(api: ApiClient, source: str, cluster: str, server: str, kind: Kind, page_size: int) -> Listing:
    """List ``kind`` at its first served version; any failure but a refusal raises, naming the URL."""
    refusal: Listing | None = None
    for version in kind.versions:
        url = kind.list_url(server, version)
        path = kind.list_path(version)
        try:
            pages = list_pages(api, path, page_size, url, kind.label_selector, kind.field_selector)
        except ApiException as exc:
            if exc.status not in (403, 404):
                raise SourceError(
                    f"{source}: {url} (context {cluster}) answered HTTP {exc.status} {exc.reason}"
                ) from None
            refusal = Listing(url, None, [], exc)
            if exc.status == 403:
                break
            continue
        except HTTPError as exc:
            raise SourceError(f"{source}: cannot reach {server} (context {cluster}): {exc}") from None
        return Listing(url, f"{kind.group}/{version}" if kind.group else version, pages)
    assert refusal is not None
    return refusal


def collect_kind(ctx: CollectContext, api: ApiClient, cluster: str, server: str, kind: Kind, size: int) -> None:
    """List ``kind`` at its first served version (each named object on its own); record a refusal (404 everywhere,
    403) as evidence."""
    listings = []
    for part in kind.listings():
        listing = list_kind(api, "kubernetes", cluster, server, part, size)
        if listing.refusal is not None:
            break
        listings.append(listing)
    url, exc = listing.url, listing.refusal
    if exc is None:
        sha = ""
        count = 0
        for listing in listings:
            for page_no, (body, page) in enumerate(listing.pages, start=1):
                # the list path names the group: a listed item is of this kind whatever it says
                items = [
                    kind.kept({**i, "apiVersion": listing.api_version, "kind": kind.kind})
                    for i in page.get("items") or []
                ]
                doc = {**page, "items": items}
                sha = ctx.add_document_artifact(
                    body, doc, f"{listing.url} page {page_no}", "application/json", complete=not kind.named
                )
                for item in items:
                    ctx.emit("k8s_objects", object_row(cluster, redact_object(item), listing.url, kind.key), sha)
                    count += 1
        where = " ".join(listing.url for listing in listings)
        ctx.emit("k8s_inventory", inventory_row(cluster, kind.key, listing.api_version, "collected", count, where), sha)
        return
    body = exc.body if isinstance(exc.body, bytes) else str(exc.body or "").encode()
    row = inventory_row(
        cluster,
        kind.key,
        None,
        "not-collectible",
        0,
        url,
        reason="forbidden" if exc.status == 403 else "crd-absent",
        http_status=exc.status,
        message=status_message(body) or exc.reason,
    )
    ctx.emit("k8s_inventory", row, ctx.add_artifact(body, url, "application/json"))


def list_pages(
    api: ApiClient, path: str, page_size: int, url: str, label_selector: str = "", field_selector: str = ""
) -> list[tuple[bytes, dict]]:
    """Every page (raw body, decoded) of a list call, following ``continue``; ApiException on refusal."""
    pages: list[tuple[bytes, dict]] = []
    token = ""
    while True:
        query: list[tuple[str, Any]] = [("limit", page_size)]
        if label_selector:
            query.append(("labelSelector", label_selector))
        if field_selector:
            query.append(("fieldSelector", field_selector))
        if token:
            query.append(("continue", token))
        response = api.call_api(
            path,
            "GET",
            query_params=query,
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
            _preload_content=False,
            _return_http_data_only=True,
            _request_timeout=60,
        )
        body = response.data
        try:
            listing = load_json(body, f"kubernetes: {url} page {len(pages) + 1}")
        except InputError as exc:
            raise SourceError(str(exc)) from None
        if not isinstance(listing, dict):
            raise SourceError(f"kubernetes: {url} page {len(pages) + 1}: response is not a list object")
        pages.append((body, listing))
        token = (listing.get("metadata") or {}).get("continue") or ""
        if not token:
            return pages


def status_message(body: bytes) -> str | None:
    try:
        return load_json(body, "status").get("message")
    except (InputError, AttributeError):
        return None


# rows -------------------------------------------------------------------------------------------------


def object_row(cluster: str, obj: dict, location: str, key: str | None = None) -> dict:
    """A ``k8s_objects`` row; ``key``: the kind as the store names it (``Kind.key``, default the object's kind)."""
    meta = obj.get("metadata") or {}
    return {
        "cluster": cluster,
        "api_version": obj["apiVersion"],
        "kind": key or obj["kind"],
        "namespace": meta.get("namespace") or ("default" if obj["kind"] not in CLUSTER_SCOPED else None),
        "name": meta["name"],
        "uid": meta.get("uid"),
        "labels": meta.get("labels") or {},
        "annotations": meta.get("annotations") or {},
        "spec": spec_of(obj),
        "status": obj.get("status") or {},
        "data": obj.get("data"),
        "owner_references": meta.get("ownerReferences"),
        "created_at": str(meta["creationTimestamp"]) if meta.get("creationTimestamp") else None,
        "location": location,
    }


def spec_of(obj: dict) -> dict:
    """The object's spec; a Cilium policy's ``specs`` (rules beside its ``spec``) are kept in it as ``specs``; an
    RBAC object's ``rules``, ``aggregationRule``, ``roleRef`` and ``subjects`` are its spec; a ConfigMap's
    ``binaryData`` (values redacted: its keys are files of its volume like those of ``data``) is its spec."""
    if api_group(obj["apiVersion"]) == RBAC:
        return {key: obj[key] for key in RBAC_FIELDS if key in obj}
    if obj.get("kind") == "ConfigMap" and api_group(obj["apiVersion"]) == "":
        return {"binaryData": obj["binaryData"]} if isinstance(obj.get("binaryData"), dict) else {}
    spec = obj.get("spec") or {}
    return {**spec, "specs": obj["specs"]} if obj.get("specs") and isinstance(spec, dict) else spec


CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "GatewayClass",
        "IngressClass",
        "AdminNetworkPolicy",
        "BaselineAdminNetworkPolicy",
        "ClusterNetworkPolicy",
        "CiliumClusterwideNetworkPolicy",
        "GlobalNetworkPolicy",
        "Tier",
        "GlobalNetworkSet",
        "ClusterRole",
        "ClusterRoleBinding",
    }
)


def inventory_row(
    cluster: str,
    kind: str,
    api_version: str | None,
    status: str,
    count: int,
    location: str,
    *,
    reason: str | None = None,
    http_status: int | None = None,
    message: str | None = None,
) -> dict:
    return {
        "cluster": cluster,
        "kind": kind,
        "api_version": api_version,
        "status": status,
        "reason": reason,
        "http_status": http_status,
        "message": message,
        "object_count": count,
        "location": location,
    }
