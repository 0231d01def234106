"""Soundness counter-examples for the git-changes claims, written from the platforms' documentation.

A compliant GitOps history (reviewed pull requests, an emergency change reverted in time, Argo CD Applications
rendering Jsonnet and a Helm chart) on which changes-reviewed and emergency-changes-accounted are satisfied; then
one change per case, each of which must turn its claim into a gap whose rows name the offending commit. The
out-of-band, egress-allowlist and signed-commits cases do the same on an audit log, a live allowlist and a signed
history. A case the claim still misses is a strict xfail naming why.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from git_scenario import ALICE, BOB, DAVE, LOGINS, START, ssh_signing_key
from helpers import collect_manifests, write, write_lines
from test_egress_allowlist import git_allowlist
from test_git_governed_paths import PROJECT, TOKEN, History, doc, evaluate
from test_git_objects import EMERGENCY_AT, FLUX, audit_event, only

from collector.claims import ClaimResult, Settings, evaluate_pack
from collector.demo.git_history import GitHistory
from collector.demo.gitops import github_pull
from collector.demo.recorded_api import RecordedAPI
from collector.runner import run_source
from collector.store import Store
from sources.git.source import GitSource
from sources.kubernetes.source import KubernetesSource
from sources.logs.source import LogsSource

POLICY = doc("""
    apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: {name: default-deny, namespace: payments}
    spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
    """)
OPENED = POLICY.replace("[Ingress, Egress]", "[Ingress]")
APPS = doc("""
    apiVersion: argoproj.io/v1alpha1
    kind: Application
    metadata: {name: edge, namespace: argocd}
    spec:
      source:
        repoURL: https://git.example/platform.git
        path: apps/edge
        directory:
          jsonnet:
            libs: [vendor/netlib]
    ---
    apiVersion: argoproj.io/v1alpha1
    kind: Application
    metadata: {name: web, namespace: argocd}
    spec:
      source:
        repoURL: https://git.example/platform.git
        path: charts/web
        helm:
          fileParameters: [{name: allowedCidrs, path: ../../config/web/cidrs.txt}]
    """)
RELEASE = doc("""
    apiVersion: source.toolkit.fluxcd.io/v1
    kind: HelmChart
    metadata: {name: web, namespace: flux-system}
    spec:
      chart: ./charts/web
      sourceRef: {kind: GitRepository, name: platform}
      valuesFiles: [./charts/web/values.yaml, ./config/web/prod-values.yaml]
    ---
    apiVersion: helm.toolkit.fluxcd.io/v2
    kind: HelmRelease
    metadata: {name: web, namespace: flux-system}
    spec:
      chartRef: {kind: HelmChart, name: web}
    """)
BASELINE: dict[str, str | None] = {
    "policies/default-deny.yaml": POLICY,
    "clusters/prod/apps.yaml": APPS,
    "apps/edge/main.jsonnet": "local net = import 'net.libsonnet';\n[net.defaultDeny('edge')]\n",
    "vendor/netlib/net.libsonnet": "{ defaultDeny(ns):: { kind: 'NetworkPolicy', metadata: { namespace: ns } } }\n",
    "charts/web/Chart.yaml": "apiVersion: v2\nname: web\nversion: 1.0.0\n",
    "charts/web/templates/netpol.yaml": "kind: NetworkPolicy\nspec: {{ .Values.allowedCidrs | quote }}\n",
    "config/web/cidrs.txt": "10.0.0.0/8\n",
    "clusters/prod/web-release.yaml": RELEASE,
    "config/web/prod-values.yaml": "allowedCidrs: 10.0.0.0/8\n",
}


def reviewed_by(history: History, number: int, files: dict[str, str | None], branch: str, reviewer: str) -> str:
    """A pull request approved on its head by ``reviewer`` and merged by the platform."""
    repo = history.repo
    repo.switch(branch, create=True)
    head = repo.commit(files, f"Change {branch}", ALICE)
    repo.switch("main")
    history.prs.review(number, reviewer, "APPROVED", head, repo.clock + timedelta(minutes=30))
    repo.tick()
    merge = repo.merge(branch, f"Merge pull request #{number} from casework/{branch}", ALICE)
    history.prs.merged(number, LOGINS[ALICE], branch, head, merge)
    return merge


def baseline(root: Path) -> History:
    """The compliant history: a reviewed layout, and a break-glass push reverted an hour later."""
    history = History(root)
    c = history.commits
    c["init"] = history.repo.commit({"README.md": "# platform\n"}, "Initial commit", ALICE)
    c["layout"] = history.reviewed(1, BASELINE, "feature/layout")
    c["glass"] = history.repo.commit({"policies/default-deny.yaml": OPENED}, "Open ingress\n\nBreak-glass: INC-1", DAVE)
    c["glass-revert"] = history.repo.revert(c["glass"], DAVE)
    return history


# Each case: one change on the baseline; it names the commits the claim's gap rows must name (by key).
Overlay = Callable[[History], None]


def squash_number_reuse(h: History) -> None:
    """GitHub names a squash merge "<title> (#N)" and records it as the pull request's merge_commit_sha
    (https://docs.github.com/en/rest/pulls/pulls#get-a-pull-request): a direct push whose subject reuses the
    number of an earlier, reviewed pull request did not go through it."""
    h.commits["bad"] = h.repo.commit({"policies/default-deny.yaml": OPENED}, "Tighten default deny (#1)", DAVE)


def unmerged_pull_request(h: History) -> None:
    """A pull request approved, then closed without merging (merged: false, merged_at: null); its branch, with one
    more commit, merged locally under the platform's merge message and pushed."""
    repo = h.repo
    repo.switch("feature/open", create=True)
    head = repo.commit({"policies/default-deny.yaml": POLICY.replace("default-deny", "allow-dns")}, "DNS", ALICE)
    h.prs.review(2, LOGINS[BOB], "APPROVED", head, repo.clock + timedelta(minutes=5))
    closed = github_pull(PROJECT, 2, LOGINS[ALICE], "feature/open", head, "2" * 40, "", [])
    h.prs.routes[f"/repos/{PROJECT}/pulls/2"] = [{**closed, "merged": False, "merged_at": None}]
    h.prs.routes[f"/repos/{PROJECT}/pulls/2/commits"] = [[{"sha": head, "author": {"login": "alice"}}]]
    repo.commit({"policies/default-deny.yaml": OPENED}, "and open ingress", ALICE)
    repo.switch("main")
    h.commits["bad"] = repo.merge("feature/open", "Merge pull request #2 from casework/feature/open", ALICE)


def bot_approval(h: History) -> None:
    """GitHub Actions may approve pull requests when the repository allows it ("Allow GitHub Actions to create and
    approve pull requests", https://docs.github.com/en/repositories/managing-your-repositorys-settings-and-features/
    enabling-features-for-your-repository/managing-github-actions-settings-for-a-repository): an approval by
    github-actions[bot] is automation, not an independent reviewer."""
    h.commits["bad"] = reviewed_by(h, 2, {"policies/default-deny.yaml": OPENED}, "feature/bot", "github-actions[bot]")


def jsonnet_library(h: History) -> None:
    """Argo CD's `directory.jsonnet.libs` adds library search directories relative to the repository root
    (https://argo-cd.readthedocs.io/en/stable/user-guide/jsonnet/): a library there shapes the rendered objects."""
    h.commits["bad"] = h.repo.commit({"vendor/netlib/net.libsonnet": "{ defaultDeny(ns):: {} }\n"}, "lib", DAVE)


def helm_file_parameter(h: History) -> None:
    """Argo CD `helm.fileParameters` sets a chart value from a file's content (helm --set-file), a path relative to
    the chart (https://argo-cd.readthedocs.io/en/stable/user-guide/helm/#helm-parameters)."""
    h.commits["bad"] = h.repo.commit({"config/web/cidrs.txt": "0.0.0.0/0\n"}, "widen", DAVE)


def flux_helm_chart_values(h: History) -> None:
    """A Flux HelmRelease may take its chart from a HelmChart (`spec.chartRef`), whose `valuesFiles` are paths in its
    Git source (https://fluxcd.io/flux/components/helm/helmreleases/#helmchart-reference-example,
    https://fluxcd.io/flux/components/source/helmcharts/#values-files)."""
    h.commits["bad"] = h.repo.commit({"config/web/prod-values.yaml": "allowedCidrs: 0.0.0.0/0\n"}, "widen", DAVE)


def false_revert(h: History) -> None:
    """`git revert` writes "This reverts commit <sha>." (https://git-scm.com/docs/git-revert), but the message
    proves nothing: a direct push saying so of a break-glass change, while opening something else, reverted
    nothing and was reviewed by no one."""
    h.commits["glass2"] = h.repo.commit({"policies/default-deny.yaml": OPENED}, "Open\n\nBreak-glass: INC-2", DAVE)
    message = f'Revert "Open"\n\nThis reverts commit {h.commits["glass2"]}.'
    h.commits["bad"] = h.repo.commit({"policies/egress.yaml": POLICY.replace("default-deny", "open")}, message, DAVE)


def revert_undone_before_merge(h: History) -> None:
    """A revert of a break-glass change on a pull request branch, itself reverted on that branch before the merge:
    the protected branch never lost the emergency change (GitHub's "Revert" button opens such a branch,
    https://docs.github.com/en/pull-requests/collaborating-with-pull-requests/incorporating-changes-from-a-pull-request/reverting-a-pull-request)."""
    repo = h.repo
    h.commits["glass2"] = repo.commit({"policies/default-deny.yaml": OPENED}, "Open\n\nBreak-glass: INC-2", DAVE)
    repo.switch("revert-glass", create=True)
    undo = repo.revert(h.commits["glass2"], DAVE)
    head = repo.revert(undo, DAVE)
    repo.switch("main")
    h.prs.review(2, LOGINS[BOB], "APPROVED", head, repo.clock + timedelta(minutes=5))
    repo.tick()
    merge = repo.merge("revert-glass", "Merge pull request #2 from casework/revert-glass", DAVE)
    h.prs.merged(2, LOGINS[DAVE], "revert-glass", head, merge)


def bot_retro_approval(h: History) -> None:
    """An emergency pull request "approved after the fact" only by github-actions[bot] (see bot_approval)."""
    repo = h.repo
    repo.switch("hotfix/open", create=True)
    head = repo.commit({"policies/default-deny.yaml": OPENED}, "Open ingress", DAVE)
    repo.switch("main")
    h.commits["glass2"] = repo.merge("hotfix/open", "Merge pull request #2 from casework/hotfix/open", DAVE)
    h.prs.merged(2, LOGINS[DAVE], "hotfix/open", head, h.commits["glass2"], labels=("emergency",))
    h.prs.review(2, "github-actions[bot]", "APPROVED", head, repo.clock + timedelta(hours=2))


def reviewer_pushed_the_head(h: History) -> None:
    """GitHub's "Require approval of the most recent reviewable push" exists because whoever pushed a commit may
    not approve it (https://docs.github.com/en/repositories/configuring-branches-and-merges-in-your-repository/
    managing-protected-branches/about-protected-branches#require-pull-request-reviews-before-merging): Bob pushes
    the head of Alice's pull request and approves it himself."""
    repo = h.repo
    repo.switch("feature/bob", create=True)
    repo.commit({"policies/default-deny.yaml": POLICY.replace("[Ingress, Egress]", "[Egress]")}, "Tidy", ALICE)
    head = repo.commit({"policies/default-deny.yaml": OPENED}, "Open ingress", BOB)
    repo.switch("main")
    h.prs.review(2, LOGINS[BOB], "APPROVED", head, repo.clock + timedelta(minutes=5))
    repo.tick()
    h.commits["bad"] = repo.merge("feature/bob", "Merge pull request #2 from casework/feature/bob", ALICE)
    h.prs.merged(2, LOGINS[ALICE], "feature/bob", head, h.commits["bad"])


def retro_approval_withdrawn(h: History) -> None:
    """A reviewer's later review supersedes his earlier one (GitHub lists every review; the latest state of each
    reviewer stands, https://docs.github.com/en/rest/pulls/reviews): an emergency pull request approved after the
    merge, then sent back with changes requested, is not approved."""
    bot_retro_approval(h)
    h.prs.review(2, LOGINS[BOB], "APPROVED", h.commits["glass2"], h.repo.clock + timedelta(hours=3))
    h.prs.review(2, LOGINS[BOB], "CHANGES_REQUESTED", h.commits["glass2"], h.repo.clock + timedelta(hours=4))


def symlinked_values(h: History) -> None:
    """Helm reads a chart's files through symbolic links (it warns, and follows them), and Argo CD accepts links that
    stay inside the repository (https://argo-cd.readthedocs.io/en/stable/operator-manual/upgrading/2.3-2.4/,
    "out-of-bounds symlinks"): a chart's values.yaml, linked in a reviewed pull request to a file elsewhere, is
    changed through that file."""
    repo = h.repo
    repo.switch("feature/link", create=True)
    (repo.path / "config/web/values.yaml").write_text("allowedCidrs: 10.0.0.0/8\n")
    os.symlink("../../config/web/values.yaml", repo.path / "charts/web/values.yaml")
    repo.tick()
    repo.git("add", "charts/web/values.yaml", "config/web/values.yaml")
    repo.git("commit", "-q", "-m", "Link values", person=ALICE)
    head = repo.head()
    repo.switch("main")
    h.prs.review(2, LOGINS[BOB], "APPROVED", head, repo.clock + timedelta(minutes=5))
    repo.tick()
    merge = repo.merge("feature/link", "Merge pull request #2 from casework/feature/link", ALICE)
    h.prs.merged(2, LOGINS[ALICE], "feature/link", head, merge)
    h.commits["bad"] = repo.commit({"config/web/values.yaml": "allowedCidrs: 0.0.0.0/0\n"}, "widen", DAVE)


NOT_ACCOUNTED = "not reverted or retro-approved"
CASES: dict[str, tuple[str, Overlay, str, str]] = {  # case: (claim, overlay, commit its gap names, what it says)
    "squash-number-reuse": ("changes-reviewed", squash_number_reuse, "bad", "#1 was merged on github as "),
    "unmerged-pull-request": ("changes-reviewed", unmerged_pull_request, "bad", "#2 was not merged on github"),
    "bot-approval": ("changes-reviewed", bot_approval, "bad", "approved by automation github-actions[bot]"),
    "jsonnet-library": ("changes-reviewed", jsonnet_library, "bad", "vendor/netlib/net.libsonnet (Argo CD"),
    "helm-file-parameter": ("changes-reviewed", helm_file_parameter, "bad", "config/web/cidrs.txt (Argo CD"),
    "flux-helm-chart-values": ("changes-reviewed", flux_helm_chart_values, "bad", "config/web/prod-values.yaml (Flux"),
    "false-revert": ("emergency-changes-accounted", false_revert, "glass2", NOT_ACCOUNTED),
    "false-revert-unreviewed": ("changes-reviewed", false_revert, "bad", "direct push to main"),
    "revert-undone-before-merge": ("emergency-changes-accounted", revert_undone_before_merge, "glass2", NOT_ACCOUNTED),
    "bot-retro-approval": ("emergency-changes-accounted", bot_retro_approval, "glass2", NOT_ACCOUNTED),
    "reviewer-pushed-the-head": ("changes-reviewed", reviewer_pushed_the_head, "bad", "self-approved by bob"),
    "retro-approval-withdrawn": ("emergency-changes-accounted", retro_approval_withdrawn, "glass2", NOT_ACCOUNTED),
    "symlinked-values": (
        "changes-reviewed",
        symlinked_values,
        "bad",
        "config/web/values.yaml (target of symbolic link charts/web/values",
    ),
}


def collect(history: History, store_path: Path) -> dict[str, ClaimResult]:
    config = {"repositories": [{"path": str(history.repo.path), "review": {"platform": "github", "project": PROJECT}}]}
    with pytest.MonkeyPatch.context() as mp, RecordedAPI(copy.deepcopy(history.prs.routes), token=TOKEN) as api:
        mp.setenv("GITHUB_TOKEN", TOKEN)
        config["repositories"][0]["review"]["api_url"] = api.url
        with Store.open(store_path) as store:
            run_source(store, GitSource(), config)
            return evaluate(store)


def gap_rows(result: ClaimResult) -> dict[str, str]:
    """commit (12 hex) -> its gap row's reason and what it changed, as one text."""
    cols = result.gaps.columns
    return {
        r[cols.index("commit")]: f"{r[cols.index('reason')]} {r[cols.index('changed')] if 'changed' in cols else ''}"
        for r in result.gaps.rows
    }


def test_baseline_history_is_satisfied(tmp_path: Path) -> None:
    results = collect(baseline(tmp_path / "repo"), tmp_path / "store.duckdb")
    for claim in ("changes-reviewed", "emergency-changes-accounted"):
        assert results[claim].verdict == "satisfied", (claim, results[claim].gaps.rows)


def judged(cases: dict, known_unsound: dict[str, str]) -> list:
    """Each case, those the claim still misses (``known_unsound``: case -> why) as strict xfails."""
    return [
        pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=known_unsound[c])) if c in known_unsound else c
        for c in cases
    ]


@pytest.mark.parametrize("case", list(CASES))
def test_each_counter_example_is_a_gap_naming_its_commit(tmp_path: Path, case: str) -> None:
    claim, overlay, key, says = CASES[case]
    history = baseline(tmp_path / "repo")
    overlay(history)
    result = collect(history, tmp_path / "store.duckdb")[claim]
    assert result.verdict == "gap", case
    assert says in gap_rows(result).get(history.commits[key][:12], ""), result.gaps.rows


# out-of-band-changes ------------------------------------------------------------------------------------------

ISTIO_GATEWAY = doc("""
    apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata:
      name: edge
      namespace: shop
      annotations: {defensible.io/break-glass: INC-9}
    spec: {selector: {istio: ingressgateway}, servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]}
    """)
K8S_GATEWAY = doc("""
    apiVersion: gateway.networking.k8s.io/v1
    kind: Gateway
    metadata: {name: edge, namespace: shop}
    spec: {gatewayClassName: istio, listeners: [{name: http, port: 80, protocol: HTTP}]}
    """)
ISTIO, GW = "networking.istio.io", "gateway.networking.k8s.io"


def with_user_extra(line: str, extra: dict[str, list[str]]) -> dict:
    """The audit event ``line`` with ``extra`` as its user's extra (what the authenticator adds)."""
    event = json.loads(line)
    event["user"]["extra"] = extra
    return event


OOB_BASELINE = [
    audit_event(1, "patch", "gateways", "shop", "edge", "alice", group=ISTIO),  # under its ticket
    audit_event(3, "patch", "gateways", "shop", "mesh", "alice", group=ISTIO),  # the emergency commit's
]
OUT_OF_BAND = {  # case: (audit event, the (kind, name, user) its gap row names)
    # Istio's Gateway and the Gateway API's share the resource name `gateways` (another API group,
    # https://gateway-api.sigs.k8s.io/api-types/gateway/): the ticket on Istio's edge accounts for nothing on the
    # Gateway API's edge
    "other-api-group": (
        audit_event(2, "patch", "gateways", "shop", "edge", "bob", group=GW),
        ("Gateway", "edge", "bob"),
    ),
    # likewise an emergency commit to Istio's Gateway `mesh` accounts for nothing on the Gateway API's `mesh`
    "emergency-other-api-group": (
        audit_event(4, "patch", "gateways", "shop", "mesh", "bob", group=GW),
        ("Gateway", "mesh", "bob"),
    ),
    # a person with a token of the controller's service account (`kubectl create token kustomize-controller`): the
    # API server names the pod a controller's token is bound to in user.extra
    # (https://kubernetes.io/docs/reference/access-authn-authz/service-accounts-admin/#bound-service-account-tokens);
    # this one is bound to none and comes from kubectl
    "controller-token-outside-its-pod": (
        json.dumps(with_user_extra(audit_event(5, "patch", "networkpolicies", "shop", "allow-all", FLUX,
                                               userAgent="kubectl/v1.31.0"),
                                   {"authentication.kubernetes.io/credential-id": ["JTI=0b5c"]})),
        ("NetworkPolicy", "allow-all", FLUX),
    ),
}  # fmt: skip
KNOWN_UNSOUND_OOB = {
    "controller-token-outside-its-pod": "the audit user's extra (the pod its service account token is bound to) is "
    "not collected: any request by a gitops_identities user is taken for the controller's",
}


@pytest.fixture(scope="module")
def oob(tmp_path_factory: pytest.TempPathFactory) -> ClaimResult:
    """One cluster per case (`base`: the baseline): a live Istio Gateway under a break-glass ticket and a Gateway API
    Gateway of the same name without one; in Git, an emergency commit to another Istio Gateway an hour before the
    audit log's changes."""
    root = tmp_path_factory.mktemp("oob")
    repo = GitHistory(root / "repo", EMERGENCY_AT - timedelta(hours=2))
    mesh = ISTIO_GATEWAY.replace("name: edge", "name: mesh").replace("{defensible.io/break-glass: INC-9}", "{}")
    repo.commit({"istio/mesh-gateway.yaml": mesh}, "Open the mesh gateway\n\nBreak-glass: INC-3", ALICE)
    store = Store.open(root / "store.duckdb")
    assert run_source(store, GitSource(), {"repositories": [{"path": str(repo.path)}]}).status == "succeeded"
    inputs = []
    for cluster, extra in {"base": [], **{case: [line] for case, (line, _) in OUT_OF_BAND.items()}}.items():
        (root / f"{cluster}.yaml").write_text(ISTIO_GATEWAY + "---\n" + K8S_GATEWAY)
        assert collect_manifests(store, root / f"{cluster}.yaml", cluster=cluster).status == "succeeded"
        path = write_lines(root / f"{cluster}.log", *OOB_BASELINE, *extra)
        inputs.append({"format": "k8s-audit", "paths": [str(path)], "cluster": cluster})
    assert run_source(store, LogsSource(), {"inputs": inputs}).status == "succeeded"
    (result,) = evaluate_pack(store, only("git-changes", "out-of-band-changes"))
    return result


def test_oob_baseline_is_satisfied(oob: ClaimResult) -> None:
    assert oob.clusters["base"][0] == "satisfied", oob.gaps.rows


@pytest.mark.parametrize("case", judged(OUT_OF_BAND, KNOWN_UNSOUND_OOB))
def test_each_out_of_band_counter_example_is_a_gap(oob: ClaimResult, case: str) -> None:
    cols = oob.gaps.columns
    rows = [dict(zip(cols, r, strict=True)) for r in oob.gaps.rows if r[cols.index("cluster")] == case]
    assert [(r["kind"], r["name"], r["user"]) for r in rows] == [OUT_OF_BAND[case][1]]
    assert oob.clusters[case][0] == "gap"


# egress-allowlist-approved ------------------------------------------------------------------------------------

ALLOWLISTS = {
    # a ConfigMap's binaryData keys are files of its volume like its data keys
    # (https://kubernetes.io/docs/concepts/configuration/configmap/): an entry added there by hand is an entry the
    # reviewed change never held, and its content cannot be compared with git (it is never collected)
    "binary-data": git_allowlist("partner") + "binaryData:\n  extra-hosts: KiAqCg==\n",
}


@pytest.fixture(scope="module")
def egress(tmp_path_factory: pytest.TempPathFactory) -> ClaimResult:
    """One cluster per case (`base`: the allowlist as its reviewed pull request merged it)."""
    root = tmp_path_factory.mktemp("egress")
    history = History(root / "repo")
    history.repo.commit({"README.md": "# platform\n"}, "Initial commit", ALICE)
    history.reviewed(1, {"egress/partner.yaml": git_allowlist("partner")}, "feature/partner")
    with Store.open(root / "store.duckdb") as store:
        for cluster, live in {"base": git_allowlist("partner"), **ALLOWLISTS}.items():
            config = {
                "paths": [str(write(root / f"{cluster}.yaml", live))],
                "cluster": cluster,
                "egress_allowlists": True,
            }
            assert run_source(store, KubernetesSource(), config).status == "succeeded"
        with pytest.MonkeyPatch.context() as mp, RecordedAPI(history.prs.routes, token=TOKEN) as api:
            mp.setenv("GITHUB_TOKEN", TOKEN)
            review = {"platform": "github", "project": PROJECT, "api_url": api.url}
            assert run_source(
                store, GitSource(), {"repositories": [{"path": str(history.repo.path), "review": review}]}
            )
        (result,) = evaluate_pack(store, only("git-changes", "egress-allowlist-approved"))
        return result


def test_egress_baseline_is_satisfied(egress: ClaimResult) -> None:
    assert egress.clusters["base"][0] == "satisfied", egress.gaps.rows


@pytest.mark.parametrize("case", sorted(ALLOWLISTS))
def test_each_egress_counter_example_is_a_gap(egress: ClaimResult, case: str) -> None:
    cols = egress.gaps.columns
    rows = [dict(zip(cols, r, strict=True)) for r in egress.gaps.rows if r[cols.index("cluster")] == case]
    assert [r["object"] for r in rows] == ["ConfigMap/partner"]
    assert "binaryData" in rows[0]["reason"], rows[0]["reason"]


# signed-commits -------------------------------------------------------------------------------------------------


def signed_history(root: Path, unsigned_on_branch: bool) -> tuple[GitHistory, Path, str]:
    """Every commit signed with an allowed SSH key (merges too), but, if ``unsigned_on_branch``, one commit of the
    merged branch; returns the repository, the allowed-signers file and the branch's commit."""
    key, signers = ssh_signing_key(root, ALICE[1])
    repo = GitHistory(root / "repo", START)
    for name, value in (("gpg.format", "ssh"), ("user.signingkey", str(key)), ("commit.gpgsign", "true")):
        repo.git("config", name, value)
    repo.commit({"policies/default-deny.yaml": POLICY}, "Default deny", ALICE)
    repo.switch("feature/open", create=True)
    repo.tick()
    unsigned = ["-c", "commit.gpgsign=false"] if unsigned_on_branch else []
    repo.git("-c", "core.hooksPath=/dev/null", *unsigned, "commit", "-q", "--allow-empty", "-m", "Open", person=ALICE)
    branch_commit = repo.head()
    repo.switch("main")
    repo.merge("feature/open", "Merge pull request #1 from casework/feature/open", ALICE)
    return repo, signers, branch_commit


@pytest.mark.parametrize("unsigned_on_branch", [False, True])
def test_a_commit_merged_in_unsigned_is_a_gap(tmp_path: Path, unsigned_on_branch: bool) -> None:
    """GitHub's "Require signed commits" rule holds for every commit pushed to the branch, those a merge brings in
    too (https://docs.github.com/en/repositories/configuring-branches-and-merges-in-your-repository/managing-rulesets/
    available-rules-for-rulesets#require-signed-commits): a signed merge does not sign the commits it merges."""
    repo, signers, branch_commit = signed_history(tmp_path, unsigned_on_branch)
    with Store.open(tmp_path / "store.duckdb") as store:
        config = {"repositories": [{"path": str(repo.path), "allowed_signers": str(signers)}]}
        assert run_source(store, GitSource(), config).status == "succeeded"
        enabled = Settings({}, frozenset({"git-changes/signed-commits"}))
        (result,) = evaluate_pack(store, only("git-changes", "signed-commits"), enabled)
    assert result.verdict == ("gap" if unsigned_on_branch else "satisfied"), result.gaps.rows
    assert [row[result.gaps.columns.index("commit")] for row in result.gaps.rows] == (
        [branch_commit[:12]] if unsigned_on_branch else []
    )


def test_a_link_from_before_the_window_still_governs_its_target(tmp_path: Path) -> None:
    history = baseline(tmp_path / "repo")
    symlinked_values(history)
    pushed = datetime.fromisoformat(history.repo.git("show", "-s", "--format=%cI", history.commits["bad"]))
    config = {"path": str(history.repo.path), "since": (pushed - timedelta(minutes=30)).isoformat()}
    with Store.open(tmp_path / "store.duckdb") as store:
        run_source(store, GitSource(), {"repositories": [config]})  # partial: the chart's template is no YAML
        found = gap_rows(evaluate(store)["changes-reviewed"])
    bad = history.commits["bad"][:12]
    assert list(found) == [bad]
    assert "config/web/values.yaml (target of symbolic link charts/web/values.yaml)" in found[bad]
