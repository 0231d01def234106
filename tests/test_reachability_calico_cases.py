"""The hand-written Calico reachability corpus (tests/data/reachability-calico/*.yaml).

Each case was written from the Calico policy reference (projectcalico.org/v3 NetworkPolicy, GlobalNetworkPolicy, Tier)
before any engine ran; see the corpus README. The corpus checks always run; the engine checks skip while the engine
does not evaluate Calico policies.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from reachability_corpus import case_files, check_case, check_corpus, check_engine_case, engine_evaluating, load_case

CASES_DIR = Path(__file__).parent / "data" / "reachability-calico"
CASE_FILES = case_files(CASES_DIR)
MIN_CASES = 30
MIN_DIFF_CASES = 1

CALICO_DENY_INGRESS = {
    "apiVersion": "projectcalico.org/v3",
    "kind": "NetworkPolicy",
    "metadata": {"name": "probe", "namespace": "default"},
    "spec": {"selector": "all()", "types": ["Ingress"]},
}


def test_corpus_size_and_readme() -> None:
    check_corpus(CASES_DIR, MIN_CASES, MIN_DIFF_CASES)


@pytest.mark.parametrize("path", CASE_FILES, ids=[path.stem for path in CASE_FILES])
def test_case_is_well_formed(path: Path) -> None:
    check_case(path)


@pytest.mark.parametrize("path", CASE_FILES, ids=[path.stem for path in CASE_FILES])
def test_engine_matches_case(path: Path) -> None:
    check_engine_case(engine_evaluating(CALICO_DENY_INGRESS, "Calico NetworkPolicy"), load_case(path))
