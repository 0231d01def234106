"""The hand-written NetworkPolicy reachability corpus (tests/data/reachability/*.yaml).

Each case was written from the Kubernetes NetworkPolicy spec before the engine ran. The corpus itself is checked
without the engine (valid YAML, canonical grammar, sorted and self-consistent expectations, size); the engine tests
skip until `collector.analysis.reachability` exists.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from reachability_corpus import CASE_KEYS, case_files, check_case, check_corpus, check_engine_case, engine, load_case

CASES_DIR = Path(__file__).parent / "data" / "reachability"
CASE_FILES = case_files(CASES_DIR)
MIN_CASES = 40
MIN_DIFF_CASES = 2


def test_corpus_size_and_readme() -> None:
    check_corpus(CASES_DIR, MIN_CASES, MIN_DIFF_CASES)


@pytest.mark.parametrize("path", CASE_FILES, ids=[path.stem for path in CASE_FILES])
def test_case_is_well_formed(path: Path) -> None:
    check_case(path, CASE_KEYS - {"unmodelled"})


@pytest.mark.parametrize("path", CASE_FILES, ids=[path.stem for path in CASE_FILES])
def test_engine_matches_case(path: Path) -> None:
    check_engine_case(engine(), load_case(path))
