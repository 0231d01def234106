"""Change control by path as well as kind: a real GitOps history with a Helm chart, a kustomization (base and
overlay), a Flux Kustomization and an Argo CD Application, all changed through reviewed pull requests, then
spec-first counter-examples, each one unreviewed direct push that must be a gap naming what it changed."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from git_scenario import ALICE, BOB, DAVE, LOGINS, START

from collector.claims import ClaimResult, Settings, evaluate_pack, load_pack, resolve_pack
from collector.demo.git_history import GitHistory
from collector.demo.gitops import PullRequests
from collector.demo.recorded_api import RecordedAPI
from collector.runner import run_source
from collector.store import Store
from sources.git.deployed import deployed_paths
from sources.git.source import GitSource

PROJECT = "casework/platform"
TOKEN = "ghp_governed_paths_token"


def doc(text: str) -> str:
    return textwrap.dedent(text).lstrip()


NETPOL_TEMPLATE = doc("""
    apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata:
      name: {{ include "web.fullname" . }}
      namespace: {{ .Release.Namespace }}
    spec:
      podSelector:
        matchLabels: {{- include "web.selectorLabels" . | nindent 6 }}
      policyTypes: [Ingress]
      ingress:
        - from: [{podSelector: {matchLabels: {role: frontend}}}]
    """)
REVIEWED_TEMPLATE = NETPOL_TEMPLATE.replace("role: frontend", "role: web")
NAMESPACE = doc("""
    apiVersion: v1
    kind: Namespace
    metadata:
      name: payments
      labels: {defensible.io/regulated: "true", pod-security.kubernetes.io/enforce: restricted}
    """)
SERVICE = doc("""
    apiVersion: v1
    kind: Service
    metadata: {name: api, namespace: payments}
    spec:
      type: ClusterIP
      selector: {app: api}
      ports: [{port: 443, targetPort: 8443}]
    """)
ALLOWLIST = doc("""
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: payments-allowlist
      namespace: egress
      labels: {defensible.io/egress-allowlist: "true"}
    data:
      hosts: |
        api.psp.example.net
    """)
CILIUM = doc("""
    apiVersion: cilium.io/v2
    kind: CiliumNetworkPolicy
    metadata: {name: payments-egress, namespace: payments}
    spec:
      endpointSelector: {matchLabels: {app: api}}
      egress:
        - toFQDNs: [{matchName: api.psp.example.net}]
    """)
BASELINE: dict[str, str | None] = {
    "docs/runbook.md": "Runbook\n",
    "charts/web/Chart.yaml": "apiVersion: v2\nname: web\nversion: 1.0.0\n",
    "charts/web/values.yaml": "networkPolicy:\n  enabled: true\nreplicas: 2\n",
    "charts/web/templates/_helpers.tpl": '{{- define "web.fullname" -}}web{{- end }}\n',
    "charts/web/templates/networkpolicy.yaml": NETPOL_TEMPLATE,
    "kustomize/base/kustomization.yaml": "resources: [namespace.yaml, service.yaml]\n",
    "kustomize/base/namespace.yaml": NAMESPACE,
    "kustomize/base/service.yaml": SERVICE,
    "kustomize/overlays/prod/kustomization.yaml": doc("""
        apiVersion: kustomize.config.k8s.io/v1beta1
        kind: Kustomization
        resources: [../../base]
        patches:
          - path: ../../patches/service-ports.yaml
            target: {kind: Service, name: api}
        """),
    "kustomize/patches/service-ports.yaml": "- op: replace\n  path: /spec/ports/0/port\n  value: 443\n",
    "clusters/prod/apps.yaml": doc("""
        apiVersion: kustomize.toolkit.fluxcd.io/v1
        kind: Kustomization
        metadata: {name: apps, namespace: flux-system}
        spec:
          path: ./kustomize/overlays/prod
          sourceRef: {kind: GitRepository, name: platform}
        ---
        apiVersion: argoproj.io/v1alpha1
        kind: Application
        metadata: {name: reports, namespace: argocd}
        spec:
          source: {repoURL: "https://git.example/platform.git", path: apps/reports, targetRevision: main}
        """),
    "apps/reports/settings.env": "RETENTION_DAYS=30\n",
    "egress/payments-allowlist.yaml": ALLOWLIST,
    "cilium/payments.yaml": CILIUM,
    "policies/default-deny.yaml": doc("""
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {name: default-deny, namespace: payments}
        spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
        """),
}

# Counter-examples: one direct push each, to the path, and what its gap must name.
COUNTER_EXAMPLES: dict[str, tuple[dict[str, str | None], str]] = {
    "template": (
        {"charts/web/templates/networkpolicy.yaml": REVIEWED_TEMPLATE.replace("[Ingress]", "[]")},
        "charts/web/templates/networkpolicy.yaml (unparseable manifest; Helm chart charts/web)",
    ),
    "helper": (
        {"charts/web/templates/_helpers.tpl": '{{- define "web.fullname" -}}other{{- end }}\n'},
        "charts/web/templates/_helpers.tpl (Helm chart charts/web)",
    ),
    "values": (
        {"charts/web/values.yaml": "networkPolicy:\n  enabled: false\nreplicas: 2\n"},
        "charts/web/values.yaml (Helm chart charts/web)",
    ),
    "kustomize-patch": (
        {"kustomize/patches/service-ports.yaml": "- op: replace\n  path: /spec/type\n  value: NodePort\n"},
        "kustomize/patches/service-ports.yaml (patches of kustomize/overlays/prod/kustomization.yaml)",
    ),
    "overlay": (
        {"kustomize/overlays/prod/kustomization.yaml": "resources: [../../base]\n"},
        "kustomize/overlays/prod/kustomization.yaml "
        "(Flux Kustomization flux-system/apps; kustomization kustomize/overlays/prod)",
    ),
    "namespace-label": (
        {"kustomize/base/namespace.yaml": NAMESPACE.replace('defensible.io/regulated: "true", ', "")},
        "Namespace payments (kustomize/base/namespace.yaml)",
    ),
    "load-balancer": (
        {"kustomize/base/service.yaml": SERVICE.replace("ClusterIP", "LoadBalancer")},
        "Service payments/api (kustomize/base/service.yaml)",
    ),
    "ingress": (
        {
            "apps/payments/ingress.yaml": doc("""
            apiVersion: networking.k8s.io/v1
            kind: Ingress
            metadata: {name: api, namespace: payments}
            spec:
              rules: [{host: pay.example.gov, http: {paths: [{path: /, pathType: Prefix,
                       backend: {service: {name: api, port: {number: 443}}}}]}}]
            """)
        },
        "Ingress payments/api (apps/payments/ingress.yaml)",
    ),
    "backend-tls": (
        {
            "gateway/backend-tls.yaml": doc("""
            apiVersion: gateway.networking.k8s.io/v1
            kind: BackendTLSPolicy
            metadata: {name: api, namespace: payments}
            spec:
              targetRefs: [{group: "", kind: Service, name: api}]
              validation: {hostname: api.payments.svc, wellKnownCACertificates: System}
            """)
        },
        "BackendTLSPolicy payments/api (gateway/backend-tls.yaml)",
    ),
    "allowlist": (
        {"egress/payments-allowlist.yaml": ALLOWLIST + "    '*'\n"},
        "ConfigMap egress/payments-allowlist (egress/payments-allowlist.yaml)",
    ),
    "cilium": (
        {"cilium/payments.yaml": CILIUM.replace("matchName: api.psp.example.net", "matchPattern: '*'")},
        "CiliumNetworkPolicy payments/payments-egress (cilium/payments.yaml)",
    ),
    "policy-deleted": (
        {"policies/default-deny.yaml": None},
        "NetworkPolicy payments/default-deny (policies/default-deny.yaml)",
    ),
    "argo-path": (
        {"apps/reports/settings.env": "RETENTION_DAYS=1\n"},
        "apps/reports/settings.env (Argo CD Application argocd/reports)",
    ),
}
# Direct pushes to what the repository does not deploy: never gaps.
UNGOVERNED = {"readme": {"README.md": "# platform (moved)\n"}, "docs": {"docs/runbook.md": "Runbook v2\n"}}


class History:
    """The repository, its pull requests and the commits by name."""

    def __init__(self, root: Path) -> None:
        self.repo = GitHistory(root, START)
        self.prs = PullRequests(self.repo, PROJECT)
        self.commits: dict[str, str] = {}

    def reviewed(self, number: int, files: dict[str, str | None], branch: str) -> str:
        self.repo.switch(branch, create=True)
        head = self.repo.commit(files, f"Change {branch}", ALICE)
        self.repo.switch("main")
        self.prs.review(number, LOGINS[BOB], "APPROVED", head, self.repo.clock + timedelta(minutes=30))
        self.repo.tick()
        merge = self.repo.merge(branch, f"Merge pull request #{number} from casework/{branch}", ALICE)
        self.prs.merged(number, LOGINS[ALICE], branch, head, merge)
        return merge


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, Store, History]]:
    """The baseline collected alone, then with every counter-example pushed on top (one collection each)."""
    root = tmp_path_factory.mktemp("governed")
    history = History(root / "platform")
    history.commits["init"] = history.repo.commit({"README.md": "# platform\n"}, "Initial commit", ALICE)
    history.commits["layout"] = history.reviewed(1, BASELINE, "feature/layout")
    history.commits["reviewed-template"] = history.reviewed(
        2, {"charts/web/templates/networkpolicy.yaml": REVIEWED_TEMPLATE}, "feature/template"
    )
    config = {"repositories": [{"path": str(history.repo.path), "review": {"platform": "github", "project": PROJECT}}]}
    with pytest.MonkeyPatch.context() as mp, RecordedAPI(history.prs.routes, token=TOKEN) as api:
        mp.setenv("GITHUB_TOKEN", TOKEN)
        config["repositories"][0]["review"]["api_url"] = api.url
        baseline = Store.open(root / "baseline.duckdb")
        run_source(baseline, GitSource(), config)
        for name, files in {**{n: f for n, (f, _) in COUNTER_EXAMPLES.items()}, **UNGOVERNED}.items():
            history.commits[name] = history.repo.commit(files, f"Quick fix: {name}", DAVE)
        history.repo.switch("tweak", create=True)  # a branch merged locally and pushed: no pull request
        history.repo.commit({"charts/web/values.yaml": "networkPolicy:\n  enabled: false\nreplicas: 3\n"}, "x", DAVE)
        history.repo.switch("main")
        history.commits["local-merge"] = history.repo.merge("tweak", "Merge branch 'tweak'", DAVE)
        pushed = Store.open(root / "pushed.duckdb")
        run_source(pushed, GitSource(), config)
    yield baseline, pushed, history
    baseline.close()
    pushed.close()


@pytest.fixture(scope="module")
def pushed_results(stores: tuple[Store, Store, History]) -> dict[str, ClaimResult]:
    return evaluate(stores[1])


def evaluate(store: Store, **parameters: Any) -> dict[str, ClaimResult]:
    return {r.claim.id: r for r in evaluate_pack(store, load_pack(resolve_pack("git-changes")), Settings(parameters))}


def gaps(result: ClaimResult) -> dict[str, list[str]]:
    """commit (12 hex) -> what the gap says it changed."""
    cols = result.gaps.columns
    return {row[cols.index("commit")]: row[cols.index("changed")] for row in result.gaps.rows}


def test_reviewed_history_with_charts_and_kustomizations_is_satisfied(stores: tuple[Store, Store, History]) -> None:
    baseline, _, history = stores
    results = evaluate(baseline)
    assert results["changes-reviewed"].verdict == "satisfied"
    cols = results["changes-reviewed"].evidence.columns
    changed = {r[cols.index("commit")]: r[cols.index("changed")] for r in results["changes-reviewed"].evidence.rows}
    assert changed[history.commits["reviewed-template"][:12]] == [
        "charts/web/templates/networkpolicy.yaml (unparseable manifest; Helm chart charts/web)"
    ]
    assert "README.md" not in " ".join(changed[history.commits["layout"][:12]])
    assert results["emergency-changes-accounted"].verdict == "satisfied"


def test_deployed_paths_are_derived_from_the_repository(stores: tuple[Store, Store, History]) -> None:
    baseline, _, _ = stores
    rows = set(baseline.con.execute("SELECT path, reason FROM git_deployed_paths_current").fetchall())
    assert rows == {
        ("charts/web", "Helm chart charts/web"),
        ("kustomize/base", "kustomization kustomize/base"),
        ("kustomize/base/namespace.yaml", "resources of kustomize/base/kustomization.yaml"),
        ("kustomize/base/service.yaml", "resources of kustomize/base/kustomization.yaml"),
        ("kustomize/overlays/prod", "kustomization kustomize/overlays/prod"),
        ("kustomize/base", "resources of kustomize/overlays/prod/kustomization.yaml"),
        ("kustomize/patches/service-ports.yaml", "patches of kustomize/overlays/prod/kustomization.yaml"),
        ("kustomize/overlays/prod", "Flux Kustomization flux-system/apps"),
        ("apps/reports", "Argo CD Application argocd/reports"),
    }
    assert baseline.con.execute(
        "SELECT count(*) FROM git_deployed_paths WHERE artifact_sha256 IS NULL OR declared_in NOT LIKE '%@%'"
    ).fetchone() == (0,)


@pytest.mark.parametrize("name", sorted(COUNTER_EXAMPLES))
def test_each_unreviewed_change_to_what_is_deployed_is_a_gap(
    stores: tuple[Store, Store, History], pushed_results: dict[str, ClaimResult], name: str
) -> None:
    found = gaps(pushed_results["changes-reviewed"])
    history = stores[2]
    assert found[history.commits[name][:12]] == [COUNTER_EXAMPLES[name][1]]


def test_only_the_counter_examples_are_gaps(
    stores: tuple[Store, Store, History], pushed_results: dict[str, ClaimResult]
) -> None:
    history, results = stores[2], pushed_results
    found = gaps(results["changes-reviewed"])
    assert set(found) == {history.commits[name][:12] for name in [*COUNTER_EXAMPLES, "local-merge"]}
    assert found[history.commits["local-merge"][:12]] == ["charts/web/values.yaml (Helm chart charts/web)"]
    assert results["emergency-changes-accounted"].verdict == "satisfied"


def test_charts_and_kustomizations_from_before_the_window_still_govern(
    stores: tuple[Store, Store, History], tmp_path: Path
) -> None:
    history = stores[2]
    reviewed = history.repo.git("show", "-s", "--format=%cI", history.commits["reviewed-template"])
    since = (datetime.fromisoformat(reviewed) + timedelta(minutes=30)).isoformat()  # the pushes only
    with Store.open(tmp_path / "window.duckdb") as store:
        run_source(store, GitSource(), {"repositories": [{"path": str(history.repo.path), "since": since}]})
        base = history.commits["reviewed-template"][:12]
        declared = store.con.execute("SELECT declared_in FROM git_deployed_paths WHERE path = 'charts/web'").fetchall()
        assert declared == [(f"charts/web/Chart.yaml@{base}",)]
        found = gaps(evaluate(store)["changes-reviewed"])
    assert history.commits["layout"][:12] not in found and history.commits["readme"][:12] not in found
    caught = {name for name in COUNTER_EXAMPLES if history.commits[name][:12] in found}
    assert {"template", "helper", "values", "kustomize-patch", "overlay", "namespace-label"} <= caught


def test_governed_kinds_alone_still_catch_kinds_and_unparseable_manifests(stores: tuple[Store, Store, History]) -> None:
    _, pushed, history = stores
    found = gaps(evaluate(pushed, governed_paths=["*egress*allow*"])["changes-reviewed"])
    caught = {name for name in COUNTER_EXAMPLES if history.commits[name][:12] in found}
    kinds = {"namespace-label", "load-balancer", "ingress", "backend-tls", "allowlist", "cilium", "policy-deleted"}
    assert caught == {"template", *kinds}
    by_group = gaps(
        evaluate(pushed, governed_paths=[], governed_kinds=["cilium.io/CiliumNetworkPolicy"])["changes-reviewed"]
    )
    assert {name for name in COUNTER_EXAMPLES if history.commits[name][:12] in by_group} == {"template", "cilium"}


@pytest.mark.parametrize(
    ("path", "content", "expected"),
    [
        (
            "env/Chart.yaml",
            "dependencies: [{name: lib, repository: 'file://../lib'}, {name: r, repository: 'https://charts.example'}]",
            {("env", "Helm chart env"), ("lib", "dependency of env/Chart.yaml")},
        ),
        (
            "k/kustomization.yaml",
            "resources: [https://github.com/x/y//base?ref=v1, ../../../outside, a.yaml]\n"
            "configMapGenerator: [{name: c, files: [key=conf/app.properties], envs: [vars.env]}]\n"
            "helmCharts: [{name: redis, valuesFile: values-redis.yaml}]",
            {
                ("k", "kustomization k"),
                ("k/a.yaml", "resources of k/kustomization.yaml"),
                ("k/conf/app.properties", "configMapGenerator of k/kustomization.yaml"),
                ("k/vars.env", "configMapGenerator of k/kustomization.yaml"),
                ("k/charts/redis", "helmCharts of k/kustomization.yaml"),
                ("k/values-redis.yaml", "helmCharts of k/kustomization.yaml"),
            },
        ),
        (
            "c/apps.yaml",
            "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {name: s}\nspec:\n"
            "  generators: [{matrix: {generators: [{git: {directories: [{path: 'clusters/*/apps'}, "
            "{path: clusters/old, exclude: true}]}}]}}]\n  template: {spec: {source: {path: '{{.path.path}}'}}}",
            {("clusters", "Argo CD ApplicationSet s"), ("", "Argo CD ApplicationSet s")},
        ),
        (
            "c/hr.yaml",
            "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: web, namespace: f}\n"
            "spec: {chart: {spec: {chart: ./charts/web, sourceRef: {kind: GitRepository, name: p}, "
            "valuesFiles: [./charts/web/values-prod.yaml]}}}",
            {("charts/web", "Flux HelmRelease f/web"), ("charts/web/values-prod.yaml", "Flux HelmRelease f/web")},
        ),
        (
            "c/multi.yaml",
            "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: m, namespace: argocd}\nspec:\n"
            "  sources: [{repoURL: 'https://charts.example', chart: web, helm: {valueFiles: "
            "[$values/envs/prod/web.yaml, local.yaml]}}, {repoURL: 'https://git.example/p.git', ref: values}]",
            {("envs/prod/web.yaml", "Argo CD Application argocd/m")},
        ),
        (
            "c/root.yaml",
            "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: all}\n"
            "spec: {sourceRef: {kind: GitRepository, name: p}}",
            {("", "Flux Kustomization all")},
        ),
    ],
)
def test_deployed_paths_follow_each_declaration(path: str, content: str, expected: set[tuple[str, str]]) -> None:
    from collector.safe_yaml import load_all

    assert set(deployed_paths(path, [d for *_, d in load_all(content, path)])) == expected
