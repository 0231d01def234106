"""Git object content: what each manifest in history declares, its desired-state digest and the files at the head."""

from __future__ import annotations

from pathlib import Path

from git_scenario import ALICE, START

from collector.demo.git_history import GitHistory
from collector.runner import run_source
from collector.store import Store
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
