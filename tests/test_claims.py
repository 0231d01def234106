"""The claim engine: verdict rules and clear errors for broken packs."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import collect_manifests, write

from collector.claims import PackError, evaluate_pack, load_pack, resolve_pack
from collector.runner import run_source
from collector.store import Store
from sources.kubernetes.source import KubernetesSource

PACK = """
    id: test-pack
    title: Test pack
    version: 1
    claims:
      - id: services-exist
        title: Services exist
        statement: There is at least one Service and none is named forbidden.
        requires: {k8s_kinds: [Service]}
        evidence: services.sql
        gaps: forbidden.sql
"""


def make_pack(root: Path, pack_yaml: str = PACK, **sql: str) -> Path:
    files = {
        "services.sql": "SELECT name FROM k8s_current WHERE kind = 'Service';\n",
        "forbidden.sql": "SELECT name FROM k8s_current WHERE kind = 'Service' AND name = 'forbidden'",
    }
    files.update(sql)
    write(root / "pack.yaml", pack_yaml)
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def services(tmp_path: Path, *names: str) -> Path:
    docs = [f"apiVersion: v1\nkind: Service\nmetadata: {{name: {n}, namespace: app}}\n" for n in names]
    return write(
        tmp_path / "services.yaml", "---\n".join(docs) or "apiVersion: v1\nkind: Namespace\nmetadata: {name: app}\n"
    )


def verdict(store: Store, pack_dir: Path) -> tuple[str, str]:
    [result] = evaluate_pack(store, load_pack(pack_dir))
    return result.verdict, result.reason


def test_satisfied_when_evidence_and_no_gaps(store: Store, tmp_path: Path) -> None:
    collect_manifests(store, services(tmp_path, "web", "api"))
    assert verdict(store, make_pack(tmp_path / "p")) == ("satisfied", "2 supporting row(s), no gaps")


def test_gap_when_gap_query_returns_rows(store: Store, tmp_path: Path) -> None:
    collect_manifests(store, services(tmp_path, "web", "forbidden"))
    [result] = evaluate_pack(store, load_pack(make_pack(tmp_path / "p")))
    assert result.verdict == "gap"
    assert result.gaps.columns == ["name"] and result.gaps.rows == [("forbidden",)]


def test_no_evidence_when_nothing_collected_or_evidence_empty(store: Store, tmp_path: Path) -> None:
    pack = make_pack(tmp_path / "p")
    v, reason = verdict(store, pack)
    assert v == "no-evidence" and "no Kubernetes inventory" in reason
    collect_manifests(store, services(tmp_path))  # inventory collected, but no Service
    assert verdict(store, pack) == ("no-evidence", "evidence query returned no rows")


def test_no_evidence_when_required_kind_not_collectible(store: Store, tmp_path: Path) -> None:
    run_source(store, KubernetesSource(), {"paths": [str(services(tmp_path, "web"))], "kinds": ["Namespace"]})
    v, reason = verdict(store, make_pack(tmp_path / "p"))
    assert v == "no-evidence" and "kind Service" in reason


def test_no_evidence_when_required_table_absent(store: Store, tmp_path: Path) -> None:
    pack = make_pack(tmp_path / "p", PACK.replace("{k8s_kinds: [Service]}", "{tables: [git_commits]}"))
    v, reason = verdict(store, pack)
    assert v == "no-evidence" and "git_commits" in reason


def test_error_when_query_fails(store: Store, tmp_path: Path) -> None:
    collect_manifests(store, services(tmp_path, "web"))
    pack = make_pack(tmp_path / "p", **{"forbidden.sql": "SELECT nonexistent_column FROM k8s_current"})
    v, reason = verdict(store, pack)
    assert v == "error" and "nonexistent_column" in reason


def test_latest_run_wins(store: Store, tmp_path: Path) -> None:
    collect_manifests(store, services(tmp_path / "a", "web", "forbidden"))
    collect_manifests(store, services(tmp_path / "b", "web"))
    assert verdict(store, make_pack(tmp_path / "p"))[0] == "satisfied"


@pytest.mark.parametrize(
    ("pack_yaml", "files", "message"),
    [
        (
            PACK.replace("        gaps: forbidden.sql\n", ""),
            {},
            r"claim 'services-exist': 'gaps' is a required property",
        ),
        (
            PACK.replace("gaps: forbidden.sql", "gaps: missing.sql"),
            {},
            r"claim 'services-exist': SQL file missing.sql not found",
        ),
        (PACK.replace("evidence: services.sql", "evidence: 42"), {}, r"claim 'services-exist' field 'evidence'"),
        (PACK + PACK[PACK.index("      - id") :], {}, r"claim 'services-exist' is defined twice"),
        (PACK.replace("id: services-exist", "id: Bad_Id"), {}, r"claim 'Bad_Id' field 'id'"),
        ("id: [unclosed\n", {}, r"pack\.yaml: line 2: invalid YAML: .* \(while parsing a flow sequence on line 1\)"),
        (PACK, {"services.sql": "  ;\n"}, r"services\.sql: claim 'services-exist': SQL file is empty"),
    ],
)
def test_broken_pack_names_file_and_claim(tmp_path: Path, pack_yaml: str, files: dict[str, str], message: str) -> None:
    pack = make_pack(tmp_path / "p", pack_yaml, **files)
    with pytest.raises(PackError, match=message) as info:
        load_pack(pack)
    assert "pack.yaml" in str(info.value) or "services.sql" in str(info.value)


def test_resolve_pack_builtin_and_unknown(tmp_path: Path) -> None:
    assert resolve_pack("k8s-networking").name == "k8s-networking"
    with pytest.raises(PackError, match="no query pack 'nope'"):
        resolve_pack("nope")
