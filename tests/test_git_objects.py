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
