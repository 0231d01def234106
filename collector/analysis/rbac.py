"""Kubernetes RBAC: who can create or change a public entry point, in which namespace, and through which binding,
role and rule.

``analyze_rbac(objects)`` reads Roles, ClusterRoles, RoleBindings and ClusterRoleBindings as ``kubectl get -o json``
gives them and returns every right to create, update or patch an exposure resource (``EXPOSURE``), with the RBAC
authorizer's semantics (https://kubernetes.io/docs/reference/access-authn-authz/rbac/):

- a RoleBinding grants its Role (of its own namespace) or ClusterRole in its namespace; a ClusterRoleBinding grants a
  ClusterRole in every namespace (``"*"``); a binding whose role is missing or cannot be bound grants nothing and is
  reported (``RbacReport.unresolved``);
- ``*`` matches every verb, API group and resource; a subresource (``gateways/status``) is not its resource;
  ``resourceNames`` limit a right to the named objects (reported with it; a create right so limited is reported as
  a create right, the conservative reading);
- an aggregated ClusterRole holds its own rules (written by the controller, possibly stale) and the rules of every
  ClusterRole its ``clusterRoleSelectors`` match, transitively (a label whose value was redacted matches);
- a ServiceAccount subject without a namespace is of the RoleBinding's namespace (of a ClusterRoleBinding: no one);
  a User ``system:serviceaccount:<ns>:<name>`` is that ServiceAccount;
- ``Group:system:masters`` is a superuser: it can change every exposure resource everywhere.

Privilege escalation gives indirect rights (``Right.indirect``), each counted on its own because a user's groups are
unknown and another binding may supply the rest. Every exposure right in the grant's namespace: ``rbac-write`` (create,
update or patch Roles or RoleBindings), ``escalate`` on roles, ``bind`` on roles or clusterroles. Through a
ClusterRoleBinding only, every right everywhere: ``rbac-write`` on ClusterRoles or their bindings, ``escalate`` on
clusterroles, ``impersonate`` users or groups, ``webhook`` (write mutating admission webhooks or policies),
``certificate`` (approve client certificates for the kube-apiserver-client signer). ``gitops``: write a Flux
Kustomization, HelmRelease or source, or an Argo CD Application or ApplicationSet, in any namespace, and have the
controller apply manifests as its ServiceAccount (every ServiceAccount of its name). The rights of a namespace's
ServiceAccounts and of their groups, transitively: ``impersonate`` ServiceAccounts, or ``serviceaccount`` (create or
change workloads or pods (a pod's container images may be updated), exec or attach into pods or add ephemeral
containers, read Secrets, create tokens in the namespace; node proxies, cluster-wide).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from collector.analysis.reachability.selectors import Selector

RBAC_GROUP = "rbac.authorization.k8s.io"
GATEWAY_API = "gateway.networking.k8s.io"
ISTIO = "networking.istio.io"
ADMISSION = "admissionregistration.k8s.io"
# (API group, resource) of every object that makes or changes an entry point; Services: RBAC cannot restrict type
EXPOSURE: tuple[tuple[str, str], ...] = (
    *((GATEWAY_API, r) for r in ("gateways", "httproutes", "grpcroutes", "tlsroutes", "tcproutes", "udproutes")),
    (GATEWAY_API, "referencegrants"),
    (GATEWAY_API, "listenersets"),  # adds listeners to a Gateway that allows them (standard since v1.5)
    ("gateway.networking.x-k8s.io", "xlistenersets"),  # its experimental predecessor
    ("networking.k8s.io", "ingresses"),
    ("extensions", "ingresses"),  # served before Kubernetes 1.22
    ("", "services"),
    (ISTIO, "gateways"),
    (ISTIO, "virtualservices"),
    (ISTIO, "envoyfilters"),  # patches any proxy's configuration: a listener or route on an ingress gateway
)
WRITE = ("create", "patch", "update")
SUPERUSER = "system:masters"
REDACTED = "[redacted]"  # a label value the collector redacted (collector.redaction): unknown, so it may match
SA_USER = "system:serviceaccount:"
# (reason, group, resource, verbs): rights that lead to exposure rights without holding one, in the namespace a
# RoleBinding grants them in (bind is checked in the namespace of the binding being made, even for a ClusterRole)
ESCALATION: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("rbac-write", RBAC_GROUP, "roles", WRITE),
    ("rbac-write", RBAC_GROUP, "rolebindings", WRITE),
    ("escalate", RBAC_GROUP, "roles", ("escalate",)),
    ("bind", RBAC_GROUP, "roles", ("bind",)),
    ("bind", RBAC_GROUP, "clusterroles", ("bind",)),
)
# cluster-scoped rights, granted only by a ClusterRoleBinding: every right everywhere (reason, group, resource, verbs)
CLUSTER_ESCALATION: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("rbac-write", RBAC_GROUP, "clusterroles", WRITE),
    ("rbac-write", RBAC_GROUP, "clusterrolebindings", WRITE),
    ("escalate", RBAC_GROUP, "clusterroles", ("escalate",)),
    ("impersonate", "", "users", ("impersonate",)),  # as any user or group, system:masters among them
    ("impersonate", "", "groups", ("impersonate",)),
    # a mutating admission webhook or policy rewrites any object admitted (a Service into a LoadBalancer)
    *(
        ("webhook", ADMISSION, r, WRITE)
        for r in ("mutatingwebhookconfigurations", "mutatingadmissionpolicies", "mutatingadmissionpolicybindings")
    ),
)
CLIENT_SIGNERS = ("kubernetes.io/kube-apiserver-client", "kubernetes.io/*")  # may sign a system:masters client cert
# (reason, group, resource, verbs): rights to act as the ServiceAccounts of the namespace they apply in
ACT_AS_SERVICE_ACCOUNTS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("impersonate", "", "serviceaccounts", ("impersonate",)),
    ("serviceaccount", "", "serviceaccounts/token", ("create",)),
    ("serviceaccount", "", "secrets", ("get", "list", "watch")),
    ("serviceaccount", "", "pods", WRITE),  # an update may change a running container's image
    ("serviceaccount", "", "pods/exec", ("create", "get")),
    ("serviceaccount", "", "pods/attach", ("create", "get")),
    ("serviceaccount", "", "pods/ephemeralcontainers", ("update", "patch")),
    ("serviceaccount", "", "nodes/proxy", ("create", "get")),  # the kubelet API: exec into any pod of the node
    ("serviceaccount", "", "replicationcontrollers", WRITE),
    *(("serviceaccount", "apps", r, WRITE) for r in ("deployments", "replicasets", "statefulsets", "daemonsets")),
    *(("serviceaccount", "batch", r, WRITE) for r in ("jobs", "cronjobs")),
)
FLUX_SOURCES = ("gitrepositories", "ocirepositories", "buckets", "helmrepositories", "helmcharts")
# (group, resource, ServiceAccount name): objects, in any namespace, whose manifests a GitOps controller applies as
# its own ServiceAccount (a source object: what they apply); a right to write one acts as every ServiceAccount of
# that name (the controller's, wherever it is installed)
GITOPS: tuple[tuple[str, str, str], ...] = (
    ("kustomize.toolkit.fluxcd.io", "kustomizations", "kustomize-controller"),
    ("helm.toolkit.fluxcd.io", "helmreleases", "helm-controller"),
    *(("source.toolkit.fluxcd.io", r, sa) for r in FLUX_SOURCES for sa in ("kustomize-controller", "helm-controller")),
    ("argoproj.io", "applications", "argocd-application-controller"),
    ("argoproj.io", "applicationsets", "argocd-application-controller"),
)


class RbacError(ValueError):
    """A malformed RBAC object: the message starts with ``Kind namespace/name``."""


@dataclass(frozen=True)
class Right:
    """A subject's right to create, update or patch one exposure resource, and its path."""

    subject_kind: str  # User, Group, ServiceAccount
    subject_name: str
    subject_namespace: str | None  # of a ServiceAccount
    api_group: str
    resource: str
    namespace: str  # where the right applies; "*": every namespace
    verbs: tuple[str, ...]  # among create, patch, update
    resource_names: tuple[str, ...]  # the rule's resourceNames (empty: every object)
    binding: str | None  # RoleBinding ns/name, ClusterRoleBinding name; None: superuser group
    role: str | None  # the role bound: Role ns/name, ClusterRole name
    rule_role: str | None  # the role whose rule it is (another ClusterRole when aggregated)
    rule: int | None  # index in rule_role's rules
    indirect: str | None = (
        None  # None: direct; rbac-write, escalate, bind, impersonate, webhook, certificate, serviceaccount, gitops
    )
    via: str | None = None  # an indirect right taken from a ServiceAccount or group: that subject

    @property
    def subject(self) -> str:
        return subject_id(self.subject_kind, self.subject_name, self.subject_namespace)

    @property
    def resource_id(self) -> str:
        return f"{self.resource}.{self.api_group}" if self.api_group else self.resource

    def sort_key(self) -> tuple[Any, ...]:
        path = (self.binding or "", self.role or "", self.rule_role or "", -1 if self.rule is None else self.rule)
        subject = (self.subject_kind, self.subject_name, self.subject_namespace or "")
        right = (self.api_group, self.resource, self.namespace, self.verbs, self.resource_names)
        return (*subject, *right, *path, self.indirect or "", self.via or "")


@dataclass(frozen=True, order=True)
class Unresolved:
    """A binding that grants nothing: its role is missing, or of a kind it cannot bind."""

    binding: str
    role_ref: str
    reason: str


@dataclass
class RbacReport:
    rights: list[Right] = field(default_factory=list)
    unresolved: list[Unresolved] = field(default_factory=list)

    def unresolved_bindings(self) -> list[str]:
        return [u.binding for u in self.unresolved]

    def to_json(self) -> dict[str, Any]:
        return {
            "rights": [{**asdict(r), "subject": r.subject} for r in self.rights],
            "unresolved": [asdict(u) for u in self.unresolved],
        }


def subject_id(kind: str, name: str, namespace: str | None) -> str:
    """``User:alice``, ``Group:dev``, ``ServiceAccount:ns/name``."""
    return f"{kind}:{namespace}/{name}" if kind == "ServiceAccount" else f"{kind}:{name}"


def rights_of(report: RbacReport, subject: str) -> list[Right]:
    """The rights a subject holds itself and through the groups it is known to be in: a ServiceAccount is in
    ``system:serviceaccounts``, ``system:serviceaccounts:<ns>`` and ``system:authenticated``, a User in
    ``system:authenticated`` (its other groups come from the authenticator and are unknown here)."""
    kind, _, name = subject.partition(":")
    held = {subject}
    if kind == "ServiceAccount":
        namespace = name.split("/", 1)[0]
        held |= {"Group:system:serviceaccounts", f"Group:system:serviceaccounts:{namespace}"}
    if kind in ("ServiceAccount", "User"):
        held.add("Group:system:authenticated")
    return [r for r in report.rights if r.subject in held]


# the analysis -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    role: str  # Role ns/name, ClusterRole name
    index: int
    api_groups: tuple[str, ...]
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    names: tuple[str, ...]

    def allows(self, group: str, resource: str, verbs: Iterable[str]) -> tuple[str, ...]:
        """The ``verbs`` this rule allows on ``resource`` (``name/subresource``) of ``group``."""
        if not ("*" in self.api_groups or group in self.api_groups):
            return ()
        if not any(resource_matches(r, resource) for r in self.resources):
            return ()
        return tuple(v for v in verbs if "*" in self.verbs or v in self.verbs)


def resource_matches(rule_resource: str, requested: str) -> bool:
    """The authorizer's ResourceMatches: ``*``, the exact ``resource[/subresource]``, or ``*/subresource``."""
    if rule_resource in ("*", requested):
        return True
    _, slash, sub = requested.partition("/")
    return bool(slash) and rule_resource == f"*/{sub}"


@dataclass(frozen=True)
class Grant:
    """A rule granted to a subject through a binding, in a namespace (``*``: everywhere)."""

    subject: tuple[str, str, str | None]
    namespace: str
    binding: str
    role: str
    rule: Rule

    def right(self, group: str, resource: str, verbs: tuple[str, ...], indirect: str | None = None) -> Right:
        kind, name, ns = self.subject
        return Right(kind, name, ns, group, resource, self.namespace, verbs, self.rule.names, self.binding,
                     self.role, self.rule.role, self.rule.index, indirect)  # fmt: skip


def analyze_rbac(objects: Iterable[dict[str, Any]]) -> RbacReport:
    """Every right to create, update or patch an exposure resource the RBAC objects give, with its path."""
    roles: dict[str, dict[str, Any]] = {}  # "Role ns/name" or "ClusterRole name" -> object
    bindings: list[dict[str, Any]] = []
    for obj in objects:
        kind = obj.get("kind")
        if kind in ("Role", "ClusterRole"):
            roles[object_id(obj)] = obj
        elif kind in ("RoleBinding", "ClusterRoleBinding"):
            bindings.append(obj)
    rules = {key: tuple(effective_rules(key, roles)) for key in roles}
    report = RbacReport()
    grants: list[Grant] = []
    for binding in sorted(bindings, key=object_id):
        role, why = bound_role(binding, roles)
        if role is None:
            ref = binding.get("roleRef") or {}
            report.unresolved.append(Unresolved(object_id(binding), f"{ref.get('kind')} {ref.get('name')}", why))
            continue
        namespace = (binding.get("metadata") or {}).get("namespace") if binding["kind"] == "RoleBinding" else None
        for subject in subjects(binding, namespace):
            grants += [Grant(subject, namespace or "*", object_id(binding), role, r) for r in rules[role]]
    rights = {superuser(group, resource) for group, resource in EXPOSURE}
    for grant in grants:
        rights.update(direct_rights(grant))
        rights.update(escalation_rights(grant))
    rights.update(acting_rights(grants, rights))
    report.rights = sorted(rights, key=Right.sort_key)
    return report


def object_id(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
        raise RbacError(f"{obj.get('kind')} ?: no metadata.name")
    namespaced = obj["kind"] in ("Role", "RoleBinding")
    if namespaced and not isinstance(meta.get("namespace"), str):
        raise RbacError(f"{obj['kind']} {meta['name']}: no metadata.namespace")
    return f"{obj['kind']} {meta['namespace']}/{meta['name']}" if namespaced else f"{obj['kind']} {meta['name']}"


def strings(value: Any, where: str, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RbacError(f"{where}: {what} must be a list of strings, got {value!r}")
    return tuple(value)


def own_rules(key: str, role: dict[str, Any]) -> Iterator[Rule]:
    raw = role.get("rules") or []
    if not isinstance(raw, list):
        raise RbacError(f"{key}: rules must be a list")
    for i, rule in enumerate(raw):
        if not isinstance(rule, dict):
            raise RbacError(f"{key}: rules[{i}] is not a mapping")
        where = f"{key}: rules[{i}]"
        yield Rule(key, i, strings(rule.get("apiGroups"), where, "apiGroups"),
                   strings(rule.get("resources"), where, "resources"), strings(rule.get("verbs"), where, "verbs"),
                   strings(rule.get("resourceNames"), where, "resourceNames"))  # fmt: skip


def effective_rules(key: str, roles: dict[str, dict[str, Any]], seen: frozenset[str] = frozenset()) -> Iterator[Rule]:
    """A role's own rules and, for an aggregated ClusterRole, those of every ClusterRole it aggregates."""
    role = roles[key]
    yield from own_rules(key, role)
    aggregation = role.get("aggregationRule") if role["kind"] == "ClusterRole" else None
    if not aggregation:
        return
    if not isinstance(aggregation, dict) or not isinstance(aggregation.get("clusterRoleSelectors") or [], list):
        raise RbacError(f"{key}: aggregationRule.clusterRoleSelectors must be a list")
    selectors = [
        Selector.parse(s, f"{key}: aggregationRule.clusterRoleSelectors[{i}]")
        for i, s in enumerate(aggregation.get("clusterRoleSelectors") or [])
        if s is not None  # a null selector selects nothing
    ]
    seen = seen | {key}
    for other, obj in sorted(roles.items()):
        labels = (obj.get("metadata") or {}).get("labels") or {}
        unknown = {k for k, v in labels.items() if v == REDACTED}
        if (
            obj["kind"] == "ClusterRole"
            and other not in seen
            and any(s.matches(labels) or unknown & s.keys for s in selectors)
        ):
            yield from effective_rules(other, roles, seen)


def bound_role(binding: dict[str, Any], roles: dict[str, dict[str, Any]]) -> tuple[str | None, str]:
    """The role a binding grants, or None and why it grants nothing."""
    ref = binding.get("roleRef")
    if not isinstance(ref, dict) or not isinstance(ref.get("name"), str):
        raise RbacError(f"{object_id(binding)}: roleRef must name a role")
    if ref.get("apiGroup", RBAC_GROUP) != RBAC_GROUP:
        return None, f"roleRef apiGroup {ref.get('apiGroup')!r} is not {RBAC_GROUP}"
    if ref.get("kind") == "ClusterRole":
        key = f"ClusterRole {ref['name']}"
    elif ref.get("kind") == "Role" and binding["kind"] == "RoleBinding":
        key = f"Role {binding['metadata']['namespace']}/{ref['name']}"
    else:
        return None, f"a {binding['kind']} cannot bind a {ref.get('kind')}"
    return (key, "") if key in roles else (None, f"{key} does not exist")


def subjects(binding: dict[str, Any], namespace: str | None) -> Iterator[tuple[str, str, str | None]]:
    """(kind, name, ServiceAccount namespace) of each subject that can match a request."""
    raw = binding.get("subjects") or []
    if not isinstance(raw, list) or not all(isinstance(s, dict) and isinstance(s.get("name"), str) for s in raw):
        raise RbacError(f"{object_id(binding)}: subjects must be a list of mappings with a name")
    for s in raw:
        kind, name = s.get("kind"), s["name"]
        if kind == "User" and name.startswith(SA_USER) and name.count(":") == 3:
            sa_namespace, _, sa_name = name[len(SA_USER) :].partition(":")
            yield "ServiceAccount", sa_name, sa_namespace
        elif kind in ("User", "Group"):
            yield kind, name, None
        elif kind == "ServiceAccount" and (s.get("namespace") or namespace):
            yield kind, name, s.get("namespace") or namespace


def superuser(group: str, resource: str) -> Right:
    return Right("Group", SUPERUSER, None, group, resource, "*", WRITE, (), None, None, None, None)


def direct_rights(grant: Grant) -> Iterator[Right]:
    for group, resource in EXPOSURE:
        if verbs := grant.rule.allows(group, resource, WRITE):
            yield grant.right(group, resource, verbs)


def escalation_rights(grant: Grant) -> Iterator[Right]:
    """Every exposure right, in the grant's namespace, for rights that let a subject grant itself any right."""
    reasons = {reason for reason, g, r, verbs in ESCALATION if grant.rule.allows(g, r, verbs)}
    if grant.namespace == "*":
        reasons |= {reason for reason, g, r, verbs in CLUSTER_ESCALATION if grant.rule.allows(g, r, verbs)}
        signers = grant.rule.allows("certificates.k8s.io", "signers", ("approve",))
        if signers and (not grant.rule.names or set(grant.rule.names) & set(CLIENT_SIGNERS)):
            reasons.add("certificate")  # approve a client certificate for any user and group
    for reason in sorted(reasons):
        for group, resource in EXPOSURE:
            yield grant.right(group, resource, WRITE, reason)


def holder_namespace(right: Right) -> str | None:
    """The namespace whose ServiceAccounts hold ``right`` (``*``: every ServiceAccount): it is a ServiceAccount's, or
    a group's every ServiceAccount of a namespace is in; None: no ServiceAccount's."""
    if right.subject_kind == "ServiceAccount":
        return right.subject_namespace
    if right.subject_kind == "Group" and right.subject_name == "system:serviceaccounts":
        return "*"
    if right.subject_kind == "Group" and right.subject_name.startswith("system:serviceaccounts:"):
        return right.subject_name.removeprefix("system:serviceaccounts:")
    return None


def covers(held: Right, namespace: str, verbs: tuple[str, ...], names: tuple[str, ...]) -> bool:
    """Whether ``held`` gives at least the right to ``verbs`` on ``names`` (empty: all) of its resource there."""
    return (
        held.namespace in ("*", namespace)
        and set(verbs) <= set(held.verbs)
        and (not held.resource_names or (bool(names) and set(names) <= set(held.resource_names)))
    )


def acting_rights(grants: list[Grant], rights: set[Right]) -> set[Right]:
    """The rights subjects take by acting as ServiceAccounts (impersonation, workloads, tokens), to a fixpoint; each
    round derives only from the rights the previous one found, and not what the subject already holds otherwise
    (a cluster-admin acting as another cluster-admin gains nothing to report)."""
    # namespace ("*": any) -> the first grant (the path reported) of each subject and reason acting as its accounts
    first: dict[tuple[str, tuple[str, str, str | None], str], Grant] = {}
    # ServiceAccount name -> the first grant of each subject that has a GitOps controller of that name apply for it
    delegating: dict[str, dict[tuple[str, str, str | None], Grant]] = {}
    for grant in grants:
        for reason, g, res, verbs in ACT_AS_SERVICE_ACCOUNTS:
            cluster_scoped = res == "nodes/proxy"  # a RoleBinding cannot grant it
            if grant.rule.allows(g, res, verbs) and (grant.namespace == "*" or not cluster_scoped):
                first.setdefault((grant.namespace, grant.subject, reason), grant)
        for g, res, account in GITOPS:
            if grant.rule.allows(g, res, WRITE):
                delegating.setdefault(account, {}).setdefault(grant.subject, grant)
    acting: dict[str, list[tuple[str, Grant, str]]] = {}
    for (namespace, subject, reason), grant in first.items():
        acting.setdefault(namespace, []).append((subject_id(*subject), grant, reason))
    gitops = {
        account: [(subject_id(*subject), grant, "gitops") for subject, grant in firsts.items()]
        for account, firsts in delegating.items()
    }
    held: dict[tuple[str, str, str], list[Right]] = {}  # (subject, group, resource) -> its rights
    for right in rights:
        held.setdefault((right.subject, right.api_group, right.resource), []).append(right)
    found: set[Right] = set()
    seen: set[tuple[Any, ...]] = set()  # rights already derived from: another path to one gives nothing new
    fresh = rights
    while fresh:
        new: set[Right] = set()
        for right in fresh:
            namespace = holder_namespace(right)
            what = (right.subject, right.api_group, right.resource, right.namespace, right.verbs, right.resource_names)
            if namespace is None or what in seen:
                continue
            seen.add(what)
            actors = acting.get("*", []) + (
                [a for ns, actors_ in acting.items() if ns != "*" for a in actors_]
                if namespace == "*"
                else acting.get(namespace, [])
            )
            if right.subject_kind == "ServiceAccount":
                actors += gitops.get(right.subject_name, [])
            for actor, grant, reason in actors:
                mine = held.setdefault((actor, right.api_group, right.resource), [])
                if actor == right.subject or any(
                    covers(h, right.namespace, right.verbs, right.resource_names) for h in mine
                ):
                    continue
                derived = replace(
                    grant.right(right.api_group, right.resource, right.verbs, reason),
                    namespace=right.namespace,
                    resource_names=right.resource_names,
                    via=right.subject,
                )
                mine.append(derived)
                new.add(derived)
        fresh = new
        found |= new
    return found
