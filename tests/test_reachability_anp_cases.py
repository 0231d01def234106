"""The hand-written AdminNetworkPolicy / BaselineAdminNetworkPolicy reachability corpus (tests/data/reachability-anp).

Each case was written from the policy.networking.k8s.io/v1alpha1 API reference before any engine ran. The corpus is
checked with the NetworkPolicy corpus's checks (canonical grammar, sorted, maximal intervals, self-consistent
subsets); the engine tests skip while `collector.analysis.reachability` ignores the kinds a case uses.
"""

from __future__ import annotations

import functools
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from reachability_corpus import (
    UNMODELLED_RE,
    check_case,
    engine,
    json_key,
    load_case,
    unmodelled_entries,
)

CASES_DIR = Path(__file__).parent / "data" / "reachability-anp"
CASE_FILES = sorted(CASES_DIR.glob("*.yaml"))
CASE_KEYS = {"description", "objects", "expected", "ingress_to", "egress_from", "json", "unmodelled"}
ANP, BANP = "AdminNetworkPolicy", "BaselineAdminNetworkPolicy"
API_VERSION = "policy.networking.k8s.io/v1alpha1"
MIN_CASES = {ANP: 30, BANP: 30}

_PROBE_PODS = [
    {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "probe", "labels": {"app": name}},
        "spec": {"containers": [{"name": "main", "image": "app"}]},
    }
    for name in ("a", "b")
]
_DENY_A_INGRESS = {
    "subject": {"pods": {"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "a"}}}},
    "ingress": [{"action": "Deny", "from": [{"namespaces": {}}]}],
}
_PROBES = {
    ANP: {
        "apiVersion": API_VERSION,
        "kind": ANP,
        "metadata": {"name": "probe"},
        "spec": {"priority": 1, **_DENY_A_INGRESS},
    },
    BANP: {"apiVersion": API_VERSION, "kind": BANP, "metadata": {"name": "default"}, "spec": _DENY_A_INGRESS},
}


def policy_kinds(objects: list[dict[str, Any]]) -> set[str]:
    return {obj["kind"] for obj in objects if obj["kind"] in (ANP, BANP)}


@functools.cache
def ignored_kinds() -> frozenset[str]:
    """The admin policy kinds the engine does not evaluate: a Deny of b => a changes nothing."""
    reach = engine()
    line = "probe/b[Pod] => probe/a[Pod] : All Connections"
    return frozenset(
        kind
        for kind, probe in _PROBES.items()
        if line in reach.analyze(reach.Inventory.from_objects([*_PROBE_PODS, probe])).lines()
    )


def understood_engine(kinds: set[str]) -> ModuleType:
    reach = engine()
    if missing := sorted(kinds & ignored_kinds()):
        pytest.skip(f"collector.analysis.reachability does not evaluate {', '.join(missing)} yet")
    return reach


def test_corpus_size() -> None:
    cases = [load_case(path) for path in CASE_FILES]
    for kind, minimum in MIN_CASES.items():
        count = sum(kind in policy_kinds(case["objects"]) for case in cases)
        assert count >= minimum, f"{count} cases use {kind}, at least {minimum} required"
    assert sum("unmodelled" in case for case in cases) >= 2, "the unmodelled convention needs cases"


def test_readme_lists_every_case() -> None:
    readme = (CASES_DIR / "README.md").read_text(encoding="utf-8")
    missing = [path.stem for path in CASE_FILES if f"`{path.stem}`" not in readme]
    assert not missing, f"cases missing from README.md: {missing}"


@pytest.mark.parametrize("path", CASE_FILES, ids=[path.stem for path in CASE_FILES])
def test_case_is_well_formed(path: Path) -> None:
    check_case(path, CASE_KEYS, unmodelled_on_lines=False)
    case = load_case(path)
    where = path.name
    assert policy_kinds(case["objects"]), f"{where}: no AdminNetworkPolicy or BaselineAdminNetworkPolicy"
    for obj in case["objects"]:
        if obj["kind"] in (ANP, BANP):
            assert obj.get("apiVersion") == API_VERSION, f"{where}: {obj['kind']} apiVersion"
            assert "namespace" not in obj["metadata"], f"{where}: {obj['kind']} is cluster-scoped"
        if obj["kind"] == BANP:
            assert obj["metadata"]["name"] == "default", f"{where}: the BANP singleton is named default"
    lines = {tuple(line.split(" : ")[0].split(" => ")) for line in case.get("expected")}
    for entry in case.get("unmodelled", []):
        match = UNMODELLED_RE.fullmatch(entry)
        assert match and match["kind"] in (ANP, BANP), f"{where}: {entry!r}"
        # an Allow or Pass with unknown addresses may open what the lines do not show: never a line's pair
        assert (match["src"], match["dst"]) not in lines, f"{where}: {entry!r} is a line's pair"


@pytest.mark.parametrize("path", CASE_FILES, ids=[path.stem for path in CASE_FILES])
def test_engine_matches_case(path: Path) -> None:
    case = load_case(path)
    reach = understood_engine(policy_kinds(case["objects"]))
    result = reach.analyze(reach.Inventory.from_objects(case["objects"]))
    assert result.lines() == case["expected"]
    for workload, lines in case.get("ingress_to", {}).items():
        assert result.ingress_to(workload) == lines, f"ingress_to({workload})"
    for workload, lines in case.get("egress_from", {}).items():
        assert result.egress_from(workload) == lines, f"egress_from({workload})"
    if "json" in case:
        assert sorted(result.to_json(), key=json_key) == sorted(case["json"], key=json_key)
    assert unmodelled_entries(result) == case.get("unmodelled", []), "unmodelled pairs"
