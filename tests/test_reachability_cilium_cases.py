"""The hand-written Cilium reachability corpus (tests/data/reachability-cilium/*.yaml).

Each case was written from the Cilium policy documentation (CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy)
before any engine ran; see the corpus README. The corpus checks always run; the engine checks skip while the engine
does not evaluate CiliumNetworkPolicy.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from types import ModuleType

import pytest
from reachability_corpus import case_files, check_case, check_corpus, check_engine_case, engine, load_case

CASES_DIR = Path(__file__).parent / "data" / "reachability-cilium"
CASE_FILES = case_files(CASES_DIR)
MIN_CASES = 30
MIN_DIFF_CASES = 1

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "probe", "namespace": "default", "labels": {"a": "b"}},
    "spec": {"containers": [{"name": "c", "image": "i"}]},
}
CNP_DENY_INGRESS = {
    "apiVersion": "cilium.io/v2",
    "kind": "CiliumNetworkPolicy",
    "metadata": {"name": "probe", "namespace": "default"},
    "spec": {"endpointSelector": {}, "ingress": [{"fromEndpoints": [{"matchLabels": {"a": "nobody"}}]}]},
}


@cache
def supports_cilium(reach: ModuleType) -> bool:
    """A CiliumNetworkPolicy that isolates the only pod's ingress must leave nothing reaching it."""
    result = reach.analyze(reach.Inventory.from_objects([POD, CNP_DENY_INGRESS]))
    return result.ingress_to("default/probe") == []


def cilium_engine() -> ModuleType:
    reach = engine()
    if not supports_cilium(reach):
        pytest.skip("the reachability engine does not evaluate CiliumNetworkPolicy yet; only the corpus is checked")
    return reach


def test_corpus_size_and_readme() -> None:
    check_corpus(CASES_DIR, MIN_CASES, MIN_DIFF_CASES)


@pytest.mark.parametrize("path", CASE_FILES, ids=[path.stem for path in CASE_FILES])
def test_case_is_well_formed(path: Path) -> None:
    check_case(path)


@pytest.mark.parametrize("path", CASE_FILES, ids=[path.stem for path in CASE_FILES])
def test_engine_matches_case(path: Path) -> None:
    check_engine_case(cilium_engine(), load_case(path))
