"""No path of the collecting machine in the store or a bundle (issue 21): inputs are named by their roots."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from bundles.build import repository_roots
from collector.demo.git_history import GitHistory
from collector.plugins import SourceError
from collector.roots import Roots, portable_config, portable_text, root_of
from collector.runner import run_source
from collector.store import Store
from sources.git.source import GitSource
from sources.kubernetes.source import KubernetesSource

NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n"


def git_tree(path: Path) -> Path:
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    return path


def test_a_file_in_a_git_working_tree_is_named_relative_to_the_tree(tmp_path: Path) -> None:
    repo = git_tree(tmp_path / "gitops")
    (repo / "k8s" / "apps").mkdir(parents=True)
    roots = Roots("kubernetes", [repo / "k8s"])
    assert roots.label(repo / "k8s" / "apps" / "web.yaml") == "gitops:k8s/apps/web.yaml"
    assert roots.label(repo / "k8s") == "gitops:k8s"
    assert roots.label(repo) == "gitops:"  # the root alone
    assert root_of(repo / "k8s" / "apps").directory == repo.resolve()


def test_outside_git_the_configured_directory_is_the_root(tmp_path: Path) -> None:
    cluster = tmp_path / "cluster"
    (cluster / "sub").mkdir(parents=True)
    (cluster / "secrets.yaml").write_text(NAMESPACE)
    roots = Roots("kubernetes", [cluster, cluster / "secrets.yaml", tmp_path / "logs" / "hubble-*.json"])
    assert roots.label(cluster / "sub" / "x.yaml") == "cluster:sub/x.yaml"
    assert roots.label(cluster / "secrets.yaml") == "cluster:secrets.yaml"  # a file's root: its directory
    assert roots.label(tmp_path / "logs" / "hubble-*.json") == "logs:hubble-*.json"  # a glob's: its directory
    assert roots.label(tmp_path / "logs" / "hubble-1.json") == "logs:hubble-1.json"
    assert str(tmp_path) not in json.dumps([roots.label(p) for p in (cluster, tmp_path / "logs")])


def test_two_directories_of_one_name_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a" / "k8s").mkdir(parents=True)
    (tmp_path / "b" / "k8s").mkdir(parents=True)
    with pytest.raises(SourceError, match="kubernetes: two input roots are named 'k8s'"):
        Roots("kubernetes", [tmp_path / "a" / "k8s", tmp_path / "b" / "k8s"])
    assert len(Roots("kubernetes", [tmp_path / "a" / "k8s", tmp_path / "a" / "k8s" / "x.yaml"]).roots) == 1


def test_configs_and_messages_name_paths_by_their_roots(tmp_path: Path) -> None:
    repo = git_tree(tmp_path / "gitops")
    config = {"paths": [str(repo / "k8s"), {"path": "charts/web", "render": "helm template web {path}"}],
              "probe": "/healthz", "url": "https://example.gov/a/b", "kubeconfig": "~/.kube/config"}  # fmt: skip
    assert portable_config(config) == {
        "paths": ["gitops:k8s", {"path": "charts/web", "render": "helm template web {path}"}],
        "probe": "/healthz",  # an HTTP path: no directory of this machine
        "url": "https://example.gov/a/b",
        "kubeconfig": ".kube:config",  # under the home directory, named without it
    }
    message = f"FileNotFoundError: [Errno 2] No such file: '{repo}/k8s/x.yaml' (see {tmp_path}/notes.txt)"
    assert portable_text(message) == (
        f"FileNotFoundError: [Errno 2] No such file: 'gitops:k8s/x.yaml' (see {tmp_path.name}:notes.txt)"
    )
    assert portable_text(None) is None


def test_a_run_records_no_path_of_this_machine(store: Store, tmp_path: Path) -> None:
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "ns.yaml").write_text(NAMESPACE + "---\nkind: Service\napiVersion: v1\nmetadata: {}\n")
    result = run_source(store, KubernetesSource(), {"paths": [str(manifests)], "kinds": ["Namespace", "Service"]})
    assert result.status == "failed" and f"{manifests / 'ns.yaml'}#2 (line 5)" in (result.error or "")  # as given
    [recorded] = store.con.execute("SELECT error FROM runs WHERE run_id = ?", [result.run_id]).fetchone()
    assert "manifests:ns.yaml#2 (line 5)" in recorded and str(tmp_path) not in recorded  # by its root
    assert run_source(store, KubernetesSource(), {"paths": [str(manifests / "ns.yaml")], "kinds": ["Namespace"]})
    every_text = store.con.execute(
        "SELECT string_agg(CAST(r AS VARCHAR), '') FROM (SELECT * FROM runs) r"
    ).fetchone()[0]
    every_text += "".join(str(row) for row in store.con.execute("SELECT * FROM artifacts").fetchall())
    assert "manifests:ns.yaml" in every_text and str(tmp_path) not in every_text


def test_a_repository_is_recorded_as_its_named_root(store: Store, tmp_path: Path) -> None:
    history = GitHistory(tmp_path / "gitops", datetime(2026, 1, 5, tzinfo=UTC))
    history.commit({"k8s/ns.yaml": NAMESPACE}, "add shop", ("Ann", "ann@example.org"))
    config = {"repositories": [{"path": str(history.path), "name": "platform-gitops"}]}
    assert run_source(store, GitSource(), config).status == "succeeded"
    assert repository_roots(store) == {"platform-gitops": "gitops:"}  # SARIF's base: the checkout, named
    store.con.execute("UPDATE git_repositories SET path = '/srv/gitops'")  # as a store before named roots held it
    assert repository_roots(store) == {}  # its rows are not located, the bundle still builds
    twin = GitHistory(tmp_path / "other" / "gitops", datetime(2026, 1, 5, tzinfo=UTC))
    twin.commit({"a.yaml": NAMESPACE}, "add", ("Ann", "ann@example.org"))
    both = {"repositories": [{"path": str(history.path)}, {"path": str(twin.path), "name": "other"}]}
    result = run_source(store, GitSource(), both)
    assert result.status == "failed" and "git: two input roots are named 'gitops'" in (result.error or "")


def bundle_texts(bundle: Path) -> dict[str, str]:
    """Every file of a bundle as text: Parquet files read back by DuckDB, every other file's bytes decoded."""
    con = duckdb.connect()
    texts = {}
    for path in sorted(p for p in bundle.rglob("*") if p.is_file()):
        name = str(path.relative_to(bundle))
        if path.suffix == ".parquet":
            rows = con.execute("SELECT CAST(t AS VARCHAR) FROM read_parquet(?) t", [str(path)]).fetchall()
            texts[name] = "\n".join(r[0] for r in rows)
        else:
            texts[name] = path.read_bytes().decode("utf-8", "replace")
    return texts


def test_the_demo_bundle_holds_no_path_of_the_collecting_machine(
    demo_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    texts = bundle_texts(demo_dir / "bundle")
    assert {"runs.json", "sarif.json", "assessment-results.json", "data/k8s_objects.parquet"} <= set(texts)
    machine = (str(tmp_path_factory.getbasetemp()), str(Path.home()), str(demo_dir))
    leaks = {name: path for name, text in texts.items() for path in machine if path in text}
    assert not leaks, leaks
    # what they say instead: files relative to their named root, the root named once per run
    assert "gitops:k8s/00-namespaces.yaml#1 (line 2)" in texts["data/k8s_objects.parquet"]
    assert "cluster:70-tls-secrets.yaml" in texts["data/certificates.parquet"]
    assert "logs:hubble-flows.json" in texts["data/log_artifacts.parquet"]
    assert '"paths": ["gitops:k8s", "cluster:"]' in texts["data/runs.parquet"]  # the runs' config
