"""The kubernetes source over inputs as they come (issue 18): a GitOps repository as it is laid out (Flux and
kustomize files, a Helm chart, values and schema files), rendered output (a configured render command, standard
input), and raw API list responses whose items carry no kind."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import write

from collector.analysis.reachability import Inventory
from collector.cli import main
from collector.runner import RunResult, run_source
from collector.store import Store
from sources.certificates.source import CertificatesSource
from sources.kubernetes.source import KubernetesSource

FILES = {
    # Flux bootstrap: objects of kinds this source does not collect
    "clusters/prod/flux-system/gotk-sync.yaml": """
        apiVersion: source.toolkit.fluxcd.io/v1
        kind: GitRepository
        metadata: {name: flux-system, namespace: flux-system}
        spec: {url: https://example.com/platform.git}
        ---
        apiVersion: kustomize.toolkit.fluxcd.io/v1
        kind: Kustomization
        metadata: {name: apps, namespace: flux-system}
        spec: {path: ./apps/overlays/prod}
    """,
    ".fluxschema.yml": """
        $schema: http://json-schema.org/draft-07/schema#
        type: object
    """,
    "infra/namespaces.yaml": """
        apiVersion: v1
        kind: Namespace
        metadata: {name: web, labels: {defensible.io/regulated: "true"}}
    """,
    "apps/base/web/kustomization.yaml": """
        apiVersion: kustomize.config.k8s.io/v1beta1
        kind: Kustomization
        resources: [deployment.yaml, service.yaml]
    """,
    "apps/base/web/deployment.yaml": """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web, namespace: web}
        spec:
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec: {containers: [{name: web, image: nginx}]}
    """,
    "apps/base/web/service.yaml": """
        apiVersion: v1
        kind: Service
        metadata: {name: web, namespace: web}
        spec: {selector: {app: web}, ports: [{port: 80}]}
    """,
    "apps/overlays/prod/kustomization.yaml": """
        apiVersion: kustomize.config.k8s.io/v1beta1
        kind: Kustomization
        resources: [../../base/web]
        patches:
          - path: expose.yaml
        patchesStrategicMerge:
          - replicas.yaml
    """,
    "apps/overlays/prod/expose.yaml": """
        apiVersion: v1
        kind: Service
        metadata: {name: web, namespace: web}
        spec: {type: LoadBalancer}
    """,
    "apps/overlays/prod/replicas.yaml": """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web, namespace: web}
        spec: {replicas: 3}
    """,
    "charts/api/Chart.yaml": """
        apiVersion: v2
        name: api
        version: 1.2.0
    """,
    "charts/api/values.yaml": """
        replicas: 2
        networkPolicy: {enabled: true}
    """,
    "charts/api/values-prod.yaml": """
        replicas: 4
    """,
    "charts/api/values.schema.json": '{"$schema": "https://json-schema.org/draft-07/schema#", "type": "object"}',
    "charts/api/templates/networkpolicy.yaml": """
        {{- if .Values.networkPolicy.enabled }}
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata:
          name: {{ include "api.fullname" . }}
        spec:
          podSelector: {}
        {{- end }}
    """,
    "charts/api/templates/service.yaml": """
        apiVersion: v1
        kind: Service
        metadata:
          name: {{ .Release.Name }}
    """,
    "README.md": "# platform\n",
}
# what `helm template api charts/api` prints for the chart above
RENDERED = """---
# Source: api/templates/networkpolicy.yaml
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: api
spec:
  podSelector: {}
---
# Source: api/templates/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: api
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "platform"
    for name, text in FILES.items():
        write(root / name, text)
    return root


def collect(store: Store, **config: object) -> RunResult:
    return run_source(store, KubernetesSource(), {"cluster": "prod", **config})


def objects(store: Store) -> list[tuple[str, str | None, str]]:
    return store.con.execute("SELECT kind, namespace, name FROM k8s_objects ORDER BY ALL").fetchall()


def listing(store: Store, result: RunResult) -> dict:
    (sha,) = store.con.execute(
        "SELECT DISTINCT artifact_sha256 FROM k8s_inventory WHERE run_id = ?", [result.run_id]
    ).fetchone()
    return json.loads(store.artifact_path(sha).read_bytes())


def test_a_gitops_repository_is_read_as_it_is_laid_out(store: Store, repo: Path) -> None:
    result = collect(store, paths=[str(repo)])
    # what the repository deploys is not what was read: the run says so, and keeps what it could read
    assert result.status == "partial", result.error
    assert objects(store) == [("Deployment", "web", "web"), ("Namespace", None, "web"), ("Service", "web", "web")]
    reasons = "\n".join(result.partial_reasons)
    assert "skipped 2 Helm template(s) not rendered: " in reasons and "render them" in reasons
    assert "skipped 2 kustomization(s) not built: " in reasons and "kustomize build {path}" in reasons
    notes = "\n".join(result.notes)
    assert "skipped 4 Helm chart file(s) (Chart.yaml, values): " in notes
    assert "skipped 2 kustomize patch file(s), not applied: " in notes  # expose.yaml is no second Service
    assert f"skipped 1 document(s) that are no Kubernetes object: {repo.name}:.fluxschema.yml#1 (line 1)" in notes
    assert "skipped 2 object(s) of kinds not collected: GitRepository, Kustomization" in notes
    skipped = listing(store, result)["skipped"]
    assert skipped["Helm template(s) not rendered"] == {
        f"{repo.name}:charts/api/templates/networkpolicy.yaml": 1,
        f"{repo.name}:charts/api/templates/service.yaml": 1,
    }
    assert skipped["object(s) of kinds not collected"] == {"GitRepository": 1, "Kustomization": 1}


def test_the_certificates_source_reads_the_same_repository(store: Store, repo: Path) -> None:
    result = run_source(store, CertificatesSource(), {"paths": [str(repo)], "cluster": "prod"})
    assert result.status == "partial", result.error
    assert any("Helm template(s) not rendered" in r for r in result.partial_reasons)


def render_command(tmp_path: Path, output: str, code: int = 0) -> str:
    """A stand-in for `helm template api {path}`: prints ``output`` and the path it was given on stderr."""
    script = write(
        tmp_path / "render.py",
        f"""
        import sys
        sys.stderr.write("rendering " + sys.argv[1] + "\\n")
        sys.stdout.write({output!r})
        sys.exit({code})
        """,
    )
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(script))} {{path}}"


def test_a_configured_render_command_is_run_and_kept_as_provenance(store: Store, repo: Path, tmp_path: Path) -> None:
    command = render_command(tmp_path, RENDERED)
    chart = str(repo / "charts/api")
    result = collect(store, paths=[{"path": chart, "render": command}, str(repo / "infra")])
    assert result.status == "succeeded", (result.error, result.partial_reasons)
    assert objects(store) == [
        ("Namespace", None, "web"),
        ("NetworkPolicy", "default", "api"),
        ("Service", "default", "api"),
    ]
    (location, sha) = store.con.execute(
        "SELECT location, artifact_sha256 FROM k8s_objects WHERE kind = 'NetworkPolicy'"
    ).fetchone()
    # recorded without this machine's paths: the chart by its root, the renderer and its script by theirs
    renderer, *argv = shlex.split(location.removeprefix("api: rendered by `").removesuffix("`#1 (line 3)"))
    assert argv == [f"{tmp_path.name}:render.py", "api:"] and "python" in renderer
    assert str(tmp_path) not in location and not renderer.startswith("/")
    argv = [renderer, *argv]
    assert store.artifact_path(sha).read_text() == RENDERED  # the output itself, by its digest
    rendered = [i for i in listing(store, result)["inputs"] if "render" in i]
    assert rendered == [{"path": f"api: rendered by `{shlex.join(argv)}`", "render": argv, "sha256": sha}]


def test_a_failing_render_fails_the_run_and_keeps_earlier_evidence(store: Store, repo: Path, tmp_path: Path) -> None:
    assert collect(store, paths=[str(repo / "infra")]).status == "succeeded"
    command = render_command(tmp_path, "", code=3)
    result = collect(store, paths=[{"path": str(repo / "charts/api"), "render": command}])
    assert result.status == "failed"
    assert f"render of {repo / 'charts/api'}" in (result.error or "") and "exited with 3" in (result.error or "")
    assert f"rendering {repo / 'charts/api'}" in (result.error or "")  # its stderr
    assert objects(store) == [("Namespace", None, "web")]
    result = collect(store, paths=[{"path": str(repo / "charts/api"), "render": "no-such-renderer {path}"}])
    assert result.status == "failed" and "no-such-renderer" in (result.error or "")


def test_rendered_manifests_on_standard_input(tmp_path: Path) -> None:
    store = tmp_path / "evidence.duckdb"
    args = ["collect", "kubernetes", "--stdin", "--set", "cluster=prod", "--store", str(store), "--format", "json"]
    result = CliRunner().invoke(main, args, input=RENDERED)
    assert result.exit_code == 0, result.output
    with Store.open(store, read_only=True) as st:
        rows = st.con.execute("SELECT kind, name, location FROM k8s_objects ORDER BY kind").fetchall()
    assert rows == [("NetworkPolicy", "api", "<stdin>#1 (line 3)"), ("Service", "api", "<stdin>#2 (line 11)")]
    refused = CliRunner().invoke(main, ["collect", "git", "--stdin", "--store", str(store)])
    assert refused.exit_code != 0 and "source git reads no standard input" in refused.output
    refused = CliRunner().invoke(main, ["collect", "--stdin", "--store", str(store)])
    assert refused.exit_code != 0 and "--stdin applies to exactly one named source" in refused.output


POD_LIST = {
    "kind": "PodList",
    "apiVersion": "v1",
    "metadata": {"resourceVersion": "42"},
    "items": [
        {"metadata": {"name": "db-0", "namespace": "db", "labels": {"app": "pg", "role": "primary"}}, "spec": {}},
        {"metadata": {"name": "db-1", "namespace": "db", "labels": {"app": "pg", "role": "replica"}}, "spec": {}},
    ],
}
NAMESPACE_LIST = {"kind": "NamespaceList", "apiVersion": "v1", "items": [{"metadata": {"name": "db"}}]}


def test_raw_api_list_responses_type_their_items(store: Store, tmp_path: Path) -> None:
    (tmp_path / "pods.json").write_text(json.dumps(POD_LIST))
    (tmp_path / "namespaces.json").write_text(json.dumps(NAMESPACE_LIST))
    assert collect(store, paths=[str(tmp_path)]).status == "succeeded"
    assert objects(store) == [("Namespace", None, "db"), ("Pod", "db", "db-0"), ("Pod", "db", "db-1")]
    # the reachability library reads the same dumps: no item is dropped for lacking a kind
    inventory = Inventory.from_objects([POD_LIST, NAMESPACE_LIST])
    assert "db" in inventory.namespaces and inventory.workloads, inventory
