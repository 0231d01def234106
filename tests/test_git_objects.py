"""Git object content: what each manifest in history declares, its desired-state digest and the files at the head."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from git_scenario import ALICE, START
from helpers import collect_manifests

from collector.claims import ClaimResult, Pack, QueryResult, evaluate_pack, load_pack, resolve_pack
from collector.demo.git_history import GitHistory
from collector.runner import run_source
from collector.store import Store
from sources.analysis.source import AnalysisSource
from sources.git.source import GitSource, desired_digest
from sources.logs.source import LogsSource

POLICY = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: deny
  namespace: pay
  labels: {team: pay}
  annotations: {owner: pay-team}
spec: {podSelector: {}, policyTypes: [Ingress]}
"""


def test_content_and_digest_of_each_manifest_object(store: Store, tmp_path: Path) -> None:
    repo = GitHistory(tmp_path / "repo", START)
    repo.commit({"base/deny.yaml": POLICY}, "policy before the window", ALICE)
    secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: pay}\nstringData: {password: hunter2}\n"
    repo.commit({"other.yaml": secret}, "secret in the window", ALICE)
    since = repo.git("show", "-s", "--format=%cI", "HEAD")
    result = run_source(store, GitSource(), {"repositories": [{"path": str(repo.path), "since": since}]})
    assert result.status == "succeeded"
    got = store.con.execute(
        "SELECT kind, labels, annotations, body, desired_sha256, location FROM git_manifest_objects ORDER BY kind"
    ).fetchall()
    # the policy was last changed before the window: it is parsed from the files at the head
    assert got[0][:4] == ("NetworkPolicy", '{"team":"pay"}', '{"owner":"pay-team"}',
                          '{"spec":{"podSelector":{},"policyTypes":["Ingress"]}}')  # fmt: skip
    assert got[0][5].startswith("base/deny.yaml@" + repo.head()[:12])
    assert got[1][0] == "Secret" and "hunter2" not in "".join(map(str, got[1]))
    assert store.con.execute("SELECT path FROM git_tree_files ORDER BY path").fetchall() == [
        ("base/deny.yaml",),
        ("other.yaml",),
    ]
    obj = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
           "metadata": {"namespace": "pay", "name": "deny", "labels": {"team": "pay"},
                        "annotations": {"owner": "pay-team"}},
           "spec": {"policyTypes": ["Ingress"], "podSelector": {}}}  # fmt: skip
    assert got[0][4] == desired_digest(obj)  # key order does not matter
    served_elsewhere = {**obj, "apiVersion": "networking.k8s.io/v2", "status": {"x": 1}}
    served_elsewhere["metadata"] = {**obj["metadata"], "uid": "u", "resourceVersion": "7", "annotations": {
        "owner": "pay-team", "kubectl.kubernetes.io/last-applied-configuration": "{}"}}  # fmt: skip
    assert desired_digest(served_elsewhere) == got[0][4]  # version, status, server metadata are not desired state
    relabelled = {**obj, "metadata": {**obj["metadata"], "labels": {"team": "other"}}}
    assert desired_digest(relabelled) != got[0][4]


def test_blobs_parsed_before_content_was_kept_are_parsed_again(store: Store, tmp_path: Path) -> None:
    repo = GitHistory(tmp_path / "repo", START)
    repo.commit({"deny.yaml": POLICY}, "policy", ALICE)
    config = {"repositories": [{"path": str(repo.path)}]}
    run_source(store, GitSource(), config)
    store.con.execute("UPDATE git_manifest_objects SET labels = NULL, body = NULL, desired_sha256 = NULL")
    again = run_source(store, GitSource(), config)
    assert again.counts["git_manifest_objects"] == 1
    assert run_source(store, GitSource(), config).counts.get("git_manifest_objects") is None


# Descoping from Git history (issue 16) ------------------------------------------------------------------------

REGULATED = 'labels: {defensible.io/regulated: "true"}'


def namespace(name: str, labels: str = REGULATED) -> str:
    return f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {name}, {labels}}}\n"


LIVE = "---\n".join(
    [
        namespace("shop"),
        namespace("ledger", "labels: {}"),
        namespace("audit", 'labels: {defensible.io/regulated: "false"}'),
        namespace("cards", "labels: {team: cards}"),
        namespace("vault", "labels: {}"),
        namespace("early", "labels: {}"),
        namespace("plain", "labels: {}"),
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: shop}\n"
        "spec: {podSelector: {}, policyTypes: [Ingress]}\n",
    ]
)


@pytest.fixture(scope="module")
def descoping(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, dict[str, str]]:
    """A live inventory (shop regulated) and a Git history in which five other namespaces were regulated."""
    root = tmp_path_factory.mktemp("descoping")
    repo = GitHistory(root / "repo", START)
    c = {}
    c["early"] = repo.commit({"ns/early.yaml": namespace("early")}, "early regulated", ALICE)
    c["early-off"] = repo.commit({"ns/early.yaml": namespace("early", "labels: {}")}, "early descoped", ALICE)
    c["add"] = repo.commit(
        {f"ns/{n}.yaml": namespace(n) for n in ("shop", "ledger", "audit", "cards", "vault")}
        | {"ns/plain.yaml": namespace("plain", "labels: {team: plain}")},
        "namespaces",
        ALICE,
    )
    c["ledger"] = repo.commit({"ns/ledger.yaml": namespace("ledger", "labels: {team: ledger}")}, "drop label", ALICE)
    c["audit"] = repo.commit(
        {"ns/audit.yaml": namespace("audit", 'labels: {defensible.io/regulated: "false"}')}, "audit off", ALICE
    )
    c["cards"] = repo.commit({"ns/cards.yaml": None}, "cards out of git", ALICE)
    store = Store.open(root / "store.duckdb")
    (root / "env").mkdir()
    (root / "env" / "live.yaml").write_text(LIVE)
    assert collect_manifests(store, root / "env").status == "succeeded"
    assert run_source(store, AnalysisSource(), {}).status == "succeeded"
    window = {"path": str(repo.path), "since": repo.git("show", "-s", "--format=%cI", c["early-off"])}
    assert run_source(store, GitSource(), {"repositories": [window]}).status == "succeeded"
    return store, c


def access_restricted(store: Store) -> ClaimResult:
    (result,) = evaluate_pack(store, only("k8s-networking", "access-restricted"))
    return result


def test_namespaces_regulated_in_git_history_and_not_now_are_descoped(descoping: tuple[Store, dict]) -> None:
    store, c = descoping
    result = access_restricted(store)
    assert result.verdict == "gap"
    cols = result.gaps.columns
    found = {row[cols.index("namespace")]: row[cols.index("finding")] for row in result.gaps.rows}
    assert set(found) == {"ledger", "audit", "cards", "vault", "early"}  # never-regulated plain and shop stay out
    label = "label defensible.io/regulated=true in Git repo"
    ledger = f"descoped: namespace ledger was regulated ({label} ns/ledger.yaml@{c['add'][:12]} "
    assert found["ledger"].startswith(ledger)
    assert f"removed by {c['ledger'][:12]} changed ns/ledger.yaml (alice@example.org" in found["ledger"]
    assert found["ledger"].endswith(": drop label); label now (absent)) and is not now")
    assert f"removed by {c['audit'][:12]} changed ns/audit.yaml" in found["audit"]
    assert found["audit"].endswith("label now false) and is not now")
    assert f"removed by {c['cards'][:12]} deleted ns/cards.yaml" in found["cards"]
    assert f"ns/vault.yaml@{c['cards'][:12]}; still labelled at the head; label now (absent)" in found["vault"]
    # regulated only before the window: the commit that removed the label shows its parent carried it
    assert f"ns/early.yaml@{c['early-off'][:12]}^" in found["early"]
    assert f"removed by {c['early-off'][:12]} changed ns/early.yaml" in found["early"]


def test_without_git_history_scope_comes_from_the_cluster_only(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "store.duckdb")
    (tmp_path / "live.yaml").write_text(LIVE)
    assert collect_manifests(store, tmp_path / "live.yaml").status == "succeeded"
    assert run_source(store, AnalysisSource(), {}).status == "succeeded"
    assert access_restricted(store).verdict == "satisfied"


# live-matches-git ---------------------------------------------------------------------------------------------

GIT_ROUTE = """\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: shop, labels: {team: shop}}
spec:
  parentRefs: [{name: public, namespace: gateway-infra}]
  rules:
    - backendRefs: [{name: web, port: 8080}]
"""
GIT_POLICY = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-gateway}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress:
    - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: gateway-infra}}}]
  egress: []
"""
# As the API server returns them after a GitOps controller applied the manifests: defaults filled in, controller
# labels and annotations, server metadata and status.
LIVE_ROUTE = """\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: web
  namespace: shop
  uid: 0b5c
  resourceVersion: "4711"
  generation: 3
  creationTimestamp: "2026-01-05T09:00:00Z"
  labels: {team: shop, kustomize.toolkit.fluxcd.io/name: apps, kustomize.toolkit.fluxcd.io/namespace: flux-system}
  annotations: {kubectl.kubernetes.io/last-applied-configuration: '{"kind":"HTTPRoute"}'}
  managedFields: [{manager: kustomize-controller, operation: Apply}]
spec:
  parentRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: public, namespace: gateway-infra}]
  rules:
    - backendRefs: [{group: "", kind: Service, name: web, port: 8080, weight: 1}]
      matches: [{path: {type: PathPrefix, value: /}}]
status: {parents: [{parentRef: {name: public}, controllerName: example.net/gateway}]}
"""
LIVE_POLICY = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-gateway, namespace: shop, uid: 77ab, resourceVersion: "12"}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress:
    - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: gateway-infra}}}]
"""
LIVE_SERVICE = "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec: {ports: [{port: 80}]}\n"


OPENED = LIVE_POLICY.replace(
    "{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: gateway-infra}}}", "{namespaceSelector: {}}"
)
DRIFT = {  # case: (live documents besides the Service, the object named, what its gap row says)
    # a backend retargeted live (kubectl edit): a field the manifest sets differs
    "port": ([LIVE_ROUTE.replace("port: 8080, weight: 1", "port: 9090, weight: 1"), LIVE_POLICY],
             "HTTPRoute shop/web", "spec.rules[0].backendRefs[0].port: git 8080, live 9090"),
    # a rule added live: a list the manifest sets has another length
    "rule": ([LIVE_ROUTE.replace("    - backendRefs: [{group", "    - backendRefs: [{name: x, port: 1}]\n"
                                 "    - backendRefs: [{group"), LIVE_POLICY],
             "HTTPRoute shop/web", "spec.rules: 1 item(s) in git, 2 live"),
    # the parentRef removed live: attached to no Gateway
    "parent": ([LIVE_ROUTE.replace("  parentRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: public, "
                                   "namespace: gateway-infra}]\n", ""), LIVE_POLICY],
               "HTTPRoute shop/web", "spec.parentRefs: absent live"),
    # a label the manifest sets changed live
    "label": ([LIVE_ROUTE.replace("labels: {team: shop,", "labels: {team: other,"), LIVE_POLICY],
              "HTTPRoute shop/web", "label team: git shop, live other"),
    # an annotation added live that Git does not declare
    "annotation": ([LIVE_ROUTE.replace("annotations: {", "annotations: {example.net/mirror: 'on', "), LIVE_POLICY],
                   "HTTPRoute shop/web", "annotation example.net/mirror=on live, not in git"),
    # a NetworkPolicy opened to every namespace live: the selector the manifest sets is gone
    "opened": ([LIVE_ROUTE, OPENED], "NetworkPolicy shop/allow-gateway",
               "spec.ingress[0].from[0].namespaceSelector.matchLabels: absent live"),
    # an egress rule added live where the manifest says there is none
    "egress": ([LIVE_ROUTE, LIVE_POLICY + "  egress: [{to: [{ipBlock: {cidr: 0.0.0.0/0}}]}]\n"],
               "NetworkPolicy shop/allow-gateway", "spec.egress: 0 item(s) in git, 1 live"),
    # a policy created with kubectl: no manifest defines it
    "kubectl": ([LIVE_ROUTE, LIVE_POLICY, LIVE_POLICY.replace("name: allow-gateway", "name: allow-all")],
                "NetworkPolicy shop/allow-all",
                "no Git origin: no manifest at the head of any collected repository defines NetworkPolicy "
                "shop/allow-all"),
    # Istio's Gateway of the same name as a Gateway API manifest: another API group, no origin
    "istio": ([LIVE_ROUTE, LIVE_POLICY, "apiVersion: networking.istio.io/v1\nkind: Gateway\n"
               "metadata: {name: web, namespace: shop}\nspec: {selector: {istio: ingressgateway}}\n"],
              "Gateway.networking.istio.io shop/web", "no Git origin"),
}  # fmt: skip


def only(pack_id: str, claim: str) -> Pack:
    pack = load_pack(resolve_pack(pack_id))
    return replace(pack, claims=tuple(c for c in pack.claims if c.id == claim))


@pytest.fixture(scope="module")
def drift(tmp_path_factory: pytest.TempPathFactory) -> ClaimResult:
    """One cluster per case: `base` is the baseline as applied, each other the baseline with one change; and
    `ledger`, where the namespace-less manifest is applied to another namespace."""
    root = tmp_path_factory.mktemp("drift")
    repo = GitHistory(root / "repo", START)
    repo.commit(
        {
            "apps/shop/route.yaml": GIT_ROUTE,
            "apps/shop/policy.yaml": GIT_POLICY,
            "apps/shop/service.yaml": LIVE_SERVICE,
        },
        "shop",
        ALICE,
    )
    store = Store.open(root / "store.duckdb")
    assert run_source(store, GitSource(), {"repositories": [{"path": str(repo.path)}]}).status == "succeeded"
    clusters = {
        "base": [LIVE_ROUTE, LIVE_POLICY],
        "ledger": [LIVE_POLICY.replace("namespace: shop", "namespace: ledger")],
    }
    for cluster, documents in (clusters | {case: docs for case, (docs, *_) in DRIFT.items()}).items():
        (root / f"{cluster}.yaml").write_text("---\n".join([LIVE_SERVICE, *documents]))
        assert collect_manifests(store, root / f"{cluster}.yaml", cluster=cluster).status == "succeeded"
    (result,) = evaluate_pack(store, only("git-changes", "live-matches-git"))
    return result


def rows_of(result: QueryResult, cluster: str) -> list[dict[str, Any]]:
    return [r for r in (dict(zip(result.columns, row, strict=True)) for row in result.rows) if r["cluster"] == cluster]


def test_live_objects_as_applied_match_git(drift: ClaimResult) -> None:
    assert drift.clusters["base"][0] == "satisfied", rows_of(drift.gaps, "base")
    evidence = rows_of(drift.evidence, "base")
    assert [(r["object"], r["git_location"].split("@")[0]) for r in evidence] == [
        ("HTTPRoute shop/web", "apps/shop/route.yaml"),
        ("NetworkPolicy shop/allow-gateway", "apps/shop/policy.yaml"),
        ("Service shop/web", "apps/shop/service.yaml"),
    ]
    route = yaml.safe_load(GIT_ROUTE)
    assert evidence[0]["git_desired_sha256"] == desired_digest(route)  # the Git version it matches
    assert drift.clusters["ledger"][0] == "satisfied"  # a manifest without namespace matches any


@pytest.mark.parametrize("case", sorted(DRIFT))
def test_an_object_changed_or_created_live_is_a_gap(drift: ClaimResult, case: str) -> None:
    _, named, says = DRIFT[case]
    gaps = rows_of(drift.gaps, case)
    assert [f"{r['kind']} {r['namespace']}/{r['name']}" for r in gaps] == [named]
    assert says in gaps[0]["reason"], gaps[0]["reason"]
    assert drift.clusters[case][0] == "gap"


def test_without_git_or_audit_log_the_claims_have_no_evidence(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "store.duckdb")
    (tmp_path / "live.yaml").write_text(LIVE_ROUTE)
    assert collect_manifests(store, tmp_path / "live.yaml").status == "succeeded"
    pack = load_pack(resolve_pack("git-changes"))
    claims = ("live-matches-git", "out-of-band-changes")
    results = evaluate_pack(store, replace(pack, claims=tuple(c for c in pack.claims if c.id in claims)))
    assert [(r.claim.id, r.verdict) for r in results] == [(c, "no-evidence") for c in claims]
    assert "git_tree_files" in results[0].reason and "audit_events" in results[1].reason


# out-of-band-changes ------------------------------------------------------------------------------------------

FLUX = "system:serviceaccount:flux-system:kustomize-controller"
ARGO = "system:serviceaccount:argocd:argocd-application-controller"


def audit_event(n: int, verb: str, resource: str, namespace: str, name: str, user: str, hours: float = 0,
                code: int | None = 200, group: str = "networking.k8s.io", **extra: Any) -> str:  # fmt: skip
    """One audit.k8s.io/v1 Event line, as the API server's log backend writes it (ResponseComplete unless a
    ``stage`` is given), ``hours`` after the scenario's emergency commit."""
    event: dict[str, Any] = {
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": f"id-{n}",
        "stage": "ResponseComplete", "verb": verb, "user": {"username": user, "groups": ["system:authenticated"]},
        "requestURI": f"/apis/{group}/v1/namespaces/{namespace}/{resource}/{name}",
        "objectRef": {"resource": resource, "namespace": namespace, "name": name, "apiGroup": group,
                      "apiVersion": "v1"},
        "stageTimestamp": (EMERGENCY_AT + timedelta(hours=hours)).isoformat().replace("+00:00", "Z"),
    }  # fmt: skip
    if code is not None:
        event["responseStatus"] = {"code": code}
    for key, value in extra.items():
        event[key] = {**event.get(key, {}), **value} if isinstance(value, dict) else value
    return json.dumps(event)


EMERGENCY_AT = START + timedelta(hours=3)  # the third commit of the oob fixture's repository
GW = "gateway.networking.k8s.io"
BASELINE = [
    audit_event(1, "patch", "networkpolicies", "shop", "allow-gateway", FLUX),  # the GitOps controllers
    audit_event(2, "create", "httproutes", "shop", "web", ARGO, group=GW),
    audit_event(3, "patch", "httproutes", "shop", "web", "alice", hours=1, group=GW),  # the emergency change's
    audit_event(4, "patch", "networkpolicies", "shop", "x", "alice",
                requestURI="/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies/x?dryRun=All"),  # dry run
    audit_event(5, "delete", "networkpolicies", "shop", "allow-gateway", "mallory", code=403),  # refused
    audit_event(6, "update", "httproutes", "shop", "web", "system:serviceaccount:gw:controller", group=GW,
                objectRef={"subresource": "status"}),  # status written by the Gateway controller
    audit_event(7, "get", "networkpolicies", "shop", "allow-gateway", "alice"),  # not a change
    audit_event(8, "patch", "deployments", "shop", "web", "alice", group="apps"),  # not a governed kind
]  # fmt: skip
OUT_OF_BAND = {
    # kubectl edit of a NetworkPolicy by a person
    "edit": (audit_event(9, "patch", "networkpolicies", "shop", "allow-gateway", "alice"),
             "NetworkPolicy shop/allow-gateway", "patch of NetworkPolicy shop/allow-gateway by alice at"),
    # a person impersonating the GitOps controller is not the controller
    "impersonation": (audit_event(10, "update", "networkpolicies", "shop", "allow-gateway", "alice",
                                  impersonatedUser={"username": FLUX}),
                      "NetworkPolicy shop/allow-gateway", f"by alice as {FLUX} at"),
    # an Istio AuthorizationPolicy deleted by hand
    "delete": (audit_event(11, "delete", "authorizationpolicies", "shop", "allow-web", "bob",
                           group="security.istio.io"),
               "AuthorizationPolicy shop/allow-web", "delete of AuthorizationPolicy shop/allow-web by bob"),
    # every NetworkPolicy of a namespace deleted at once (kubectl delete networkpolicies --all): no name logged
    "delete all": (audit_event(15, "deletecollection", "networkpolicies", "shop", "", "bob",
                               objectRef={"name": None}),
                   "NetworkPolicy shop/None", "deletecollection of NetworkPolicy shop/(name not logged) by bob"),
    # a change to the object of the emergency commit, but long after its window
    "late": (audit_event(12, "patch", "httproutes", "shop", "web", "alice", hours=100, group=GW),
             "HTTPRoute shop/web", "no emergency change in Git touched it within 72h"),
    # only the RequestReceived stage logged: the change may have happened
    "unknown outcome": (audit_event(13, "create", "gateways", "shop", "edge", "carol", code=None, group=GW,
                                    stage="RequestReceived"),
                        "Gateway shop/edge", "outcome not logged: last stage RequestReceived"),
}  # fmt: skip


@pytest.fixture(scope="module")
def oob(tmp_path_factory: pytest.TempPathFactory) -> ClaimResult:
    """One cluster per case: `base` holds the compliant baseline, each other the baseline and one change."""
    root = tmp_path_factory.mktemp("oob")
    repo = GitHistory(root / "repo", START)
    repo.commit({"apps/shop/policy.yaml": GIT_POLICY}, "policy", ALICE)
    repo.commit({"apps/shop/hotfix.yaml": GIT_ROUTE.replace("name: web,", "name: hotfix,")}, "hotfix route", ALICE)
    emergency = GIT_ROUTE.replace("port: 8080", "port: 8081")
    repo.commit({"apps/shop/route.yaml": emergency}, "reroute web\n\nBreak-glass: INC-7", ALICE)
    store = Store.open(root / "store.duckdb")
    assert run_source(store, GitSource(), {"repositories": [{"path": str(repo.path)}]}).status == "succeeded"
    hotfix = LIVE_ROUTE.replace("name: web", "name: hotfix").replace("annotations: {", "annotations: {"
                                "defensible.io/break-glass: INC-9, ")  # fmt: skip
    (root / "live.yaml").write_text(hotfix)
    assert collect_manifests(store, root / "live.yaml", cluster="base").status == "succeeded"
    accounted = audit_event(14, "update", "httproutes", "shop", "hotfix", "alice", hours=500, group=GW)
    logs = {"base": [*BASELINE, accounted]} | {case: [*BASELINE, line] for case, (line, *_) in OUT_OF_BAND.items()}
    inputs = []
    for cluster, lines in logs.items():
        path = root / f"{cluster}.log"
        path.write_text("".join(f"{line}\n" for line in lines))
        inputs.append({"format": "k8s-audit", "paths": [str(path)], "cluster": cluster})
    assert run_source(store, LogsSource(), {"inputs": inputs}).status == "succeeded"
    pack = load_pack(resolve_pack("git-changes"))
    (result,) = evaluate_pack(
        store, replace(pack, claims=tuple(c for c in pack.claims if c.id == "out-of-band-changes"))
    )
    return result


def test_in_band_and_accounted_changes_satisfy_out_of_band_changes(oob: ClaimResult) -> None:
    assert oob.clusters["base"][0] == "satisfied", oob.clusters["base"]
    cols = oob.evidence.columns
    status = {(r[cols.index("cluster")], r[cols.index("name")]): r[cols.index("status")] for r in oob.evidence.rows}
    assert status[("base", "web")].startswith("emergency change ") and "Break-glass: INC-7" in status[("base", "web")]
    assert status[("base", "hotfix")] == "annotation defensible.io/break-glass: INC-9"
    assert status[("base", None)].endswith(": 2 change(s) to governed kinds by the GitOps controllers")


@pytest.mark.parametrize("case", sorted(OUT_OF_BAND))
def test_a_change_outside_gitops_is_a_gap(oob: ClaimResult, case: str) -> None:
    _, named, says = OUT_OF_BAND[case]
    cols = oob.gaps.columns
    rows = [dict(zip(cols, r, strict=True)) for r in oob.gaps.rows if r[cols.index("cluster")] == case]
    assert [f"{r['kind']} {r['namespace']}/{r['name']}" for r in rows] == [named]
    assert says in rows[0]["reason"], rows[0]["reason"]
    assert oob.clusters[case][0] == "gap"
