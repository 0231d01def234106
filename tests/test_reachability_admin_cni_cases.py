"""The hand-written corpus of admin network policies beside Cilium and Calico (tests/data/reachability-admin-cni).

Each case was written from the AdminNetworkPolicy API reference, the Cilium docs (Cilium does not implement
AdminNetworkPolicy) and the Calico docs (admin policies in tiers around Calico's own); see the corpus README. The
engine's answer, and the naive evaluator's, must be exactly the case's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from reachability_corpus import case_files, check_case, check_corpus, check_engine_case, load_case, unmodelled_entries

from collector.analysis import reachability
from collector.analysis.reachability.naive import naive_analyze

CASES_DIR = Path(__file__).parent / "data" / "reachability-admin-cni"
CASE_FILES = case_files(CASES_DIR)


def test_corpus_size_and_readme() -> None:
    check_corpus(CASES_DIR, 10, 0)


@pytest.mark.parametrize("path", CASE_FILES, ids=[path.stem for path in CASE_FILES])
def test_case_is_well_formed(path: Path) -> None:
    check_case(path, unmodelled_on_lines=False)  # what the order decides may be beyond the lines


@pytest.mark.parametrize("path", CASE_FILES, ids=[path.stem for path in CASE_FILES])
def test_engine_and_naive_match_case(path: Path) -> None:
    case = load_case(path)
    check_engine_case(reachability, case)
    naive = naive_analyze(reachability.Inventory.from_objects(case["objects"]))
    assert naive.lines() == case["expected"]
    assert unmodelled_entries(naive) == case.get("unmodelled", [])
