"""Git object content: what each manifest in history declares, its desired-state digest and the files at the head."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from git_scenario import ALICE, START
from helpers import collect_manifests

from collector.claims import ClaimResult, evaluate_pack, load_pack, resolve_pack
from collector.demo.git_history import GitHistory
from collector.runner import run_source
from collector.store import Store
from sources.analysis.source import AnalysisSource
from sources.git.source import GitSource, desired_digest

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
    pack = load_pack(resolve_pack("k8s-networking"))
    pack = replace(pack, claims=tuple(c for c in pack.claims if c.id == "access-restricted"))
    (result,) = evaluate_pack(store, pack)
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


@pytest.fixture(scope="module")
def drift(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, Path]:
    """A store with a GitOps repository collected; each test collects its live inventory into it."""
    root = tmp_path_factory.mktemp("drift")
    repo = GitHistory(root / "repo", START)
    repo.commit({"apps/shop/route.yaml": GIT_ROUTE, "apps/shop/policy.yaml": GIT_POLICY}, "shop", ALICE)
    store = Store.open(root / "store.duckdb")
    assert run_source(store, GitSource(), {"repositories": [{"path": str(repo.path)}]}).status == "succeeded"
    return store, root


def live_matches_git(store: Store, root: Path, *documents: str) -> ClaimResult:
    live = root / "live.yaml"
    live.write_text("---\n".join(documents))
    assert collect_manifests(store, live).status == "succeeded"
    pack = load_pack(resolve_pack("git-changes"))
    pack = replace(pack, claims=tuple(c for c in pack.claims if c.id == "live-matches-git"))
    (result,) = evaluate_pack(store, pack)
    return result


def drift_gaps(result: ClaimResult) -> dict[str, str]:
    cols = result.gaps.columns
    return {
        f"{row[cols.index('kind')]} {row[cols.index('namespace')]}/{row[cols.index('name')]}": row[cols.index("reason")]
        for row in result.gaps.rows
    }


def test_live_objects_as_applied_match_git(drift: tuple[Store, Path]) -> None:
    result = live_matches_git(*drift, LIVE_ROUTE, LIVE_POLICY, LIVE_SERVICE)
    assert result.verdict == "satisfied", drift_gaps(result)
    assert len(result.evidence.rows) == 2  # the Service is not of a governed kind


@pytest.mark.parametrize(
    ("old", "new", "differs"),
    [
        # a backend retargeted live (kubectl edit): the field the manifest sets differs
        ("port: 8080, weight: 1", "port: 9090, weight: 1", "spec.rules[0].backendRefs[0].port: git 8080, live 9090"),
        # a rule added live: the list the manifest sets has another length
        ("    - backendRefs: [{group", "    - backendRefs: [{name: x, port: 1}]\n    - backendRefs: [{group",
         "spec.rules: 1 item(s) in git, 2 live"),
        # the parentRef removed live: attached to no Gateway
        ("  parentRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: public, namespace: gateway-infra}]\n",
         "", "spec.parentRefs: absent live"),
        # a label the manifest sets changed live
        ("labels: {team: shop,", "labels: {team: other,", "label team: git shop, live other"),
        # an annotation added live that Git does not declare (e.g. a mirror filter switched on by hand)
        ("annotations: {", "annotations: {example.net/mirror: 'on', ",
         "annotation example.net/mirror=on live, not in git"),
    ],
)  # fmt: skip
def test_a_route_changed_live_is_a_gap(drift: tuple[Store, Path], old: str, new: str, differs: str) -> None:
    assert old in LIVE_ROUTE
    result = live_matches_git(*drift, LIVE_ROUTE.replace(old, new), LIVE_POLICY)
    gaps = drift_gaps(result)
    assert list(gaps) == ["HTTPRoute shop/web"], gaps
    assert gaps["HTTPRoute shop/web"].startswith("differs from apps/shop/route.yaml@"), gaps
    assert differs in gaps["HTTPRoute shop/web"], gaps


def test_policy_loosened_live_or_created_outside_git_is_a_gap(drift: tuple[Store, Path]) -> None:
    # a NetworkPolicy opened to every namespace live: the selector the manifest sets is gone
    opened = LIVE_POLICY.replace("{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: gateway-infra}}}",
                                 "{namespaceSelector: {}}")  # fmt: skip
    gaps = drift_gaps(live_matches_git(*drift, LIVE_ROUTE, opened))
    assert list(gaps) == ["NetworkPolicy shop/allow-gateway"]
    assert (
        "spec.ingress[0].from[0].namespaceSelector.matchLabels: absent live" in gaps["NetworkPolicy shop/allow-gateway"]
    )
    # an egress rule added live where the manifest says there is none
    egress = LIVE_POLICY + "  egress: [{to: [{ipBlock: {cidr: 0.0.0.0/0}}]}]\n"
    gaps = drift_gaps(live_matches_git(*drift, LIVE_ROUTE, egress))
    assert "spec.egress: 0 item(s) in git, 1 live" in gaps["NetworkPolicy shop/allow-gateway"], gaps
    # a policy created with kubectl, and one of another group of the same kind and name (Istio's Gateway): no origin
    extra = LIVE_POLICY.replace("name: allow-gateway", "name: allow-all")
    gaps = drift_gaps(live_matches_git(*drift, LIVE_ROUTE, LIVE_POLICY, extra))
    assert gaps == {"NetworkPolicy shop/allow-all": "no Git origin: no manifest at the head of any collected "
                    "repository defines NetworkPolicy shop/allow-all"}  # fmt: skip
    # the same policy in another namespace than the manifest's: a manifest without namespace matches any
    elsewhere = LIVE_POLICY.replace("namespace: shop", "namespace: ledger")
    assert live_matches_git(*drift, LIVE_ROUTE, elsewhere).verdict == "satisfied"


def test_without_git_repository_live_matches_git_has_no_evidence(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "store.duckdb")
    result = live_matches_git(store, tmp_path, LIVE_ROUTE)
    assert result.verdict == "no-evidence" and "git_tree_files" in result.reason
