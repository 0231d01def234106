"""The resilience pack: a compliant baseline (tests/data/resilience/baseline.yaml) on which every claim is satisfied,
and spec-first counter-examples (cases.yaml there), each one change that must turn its claim into a gap whose
rows name the change, leaving the other claims satisfied; plus the pack's parameters and provenance."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from collector.claims import ClaimResult, Settings, evaluate_pack, load_pack, resolve_pack
from collector.runner import run_source
from collector.store import Store
from sources.kubernetes.source import KIND_NAMES, KubernetesSource

DATA = Path(__file__).parent / "data" / "resilience"
CLAIMS = ("timeout-ladder", "retry-budgets", "circuit-breaking", "disruption-budgets", "rollout-abort")
CASE_KEYS = {"id", "claim", "expect", "source", "finding", "also", "set", "add", "remove"}
PROVENANCE = ("source", "run_id", "artifact_sha256", "collected_at", "location")


def baseline() -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((DATA / "baseline.yaml").read_text()) if doc]


def cases() -> list[dict[str, Any]]:
    return yaml.safe_load((DATA / "cases.yaml").read_text())


def find(docs: list[dict[str, Any]], target: str) -> int:
    """The index of the document ``target`` ("Kind namespace/name") names."""
    kind, name = target.split(" ")
    namespace, _, name = name.rpartition("/")
    found = [
        i
        for i, d in enumerate(docs)
        if d["kind"] == kind and d["metadata"]["name"] == name and d["metadata"].get("namespace", "") == namespace
    ]
    assert len(found) == 1, f"{target}: {len(found)} baseline documents"
    return found[0]


def set_path(doc: dict[str, Any], path: str, value: Any) -> None:
    """Set (or with None remove) the value at a dotted path; list items by index, a literal dot as ``\\.``."""
    *parents, last = [p.replace("\\.", ".") for p in re.split(r"(?<!\\)\.", path)]
    node: Any = doc
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    if isinstance(node, list):
        node[int(last)] = value
    elif value is None:
        node.pop(last, None)
    else:
        node[last] = value


def apply(case: dict[str, Any]) -> list[dict[str, Any]]:
    docs = copy.deepcopy(baseline())
    changes = case.get("set", [])
    for change in changes if isinstance(changes, list) else [changes]:
        set_path(docs[find(docs, change["target"])], change["path"], change["value"])
    for target in case.get("remove", []):
        del docs[find(docs, target)]
    return docs + case.get("add", [])


def evaluate(
    store: Store, tmp_path: Path, docs: list[dict[str, Any]], kinds: list[str] = KIND_NAMES, **parameters: Any
) -> dict[str, ClaimResult]:
    """Collect the documents as manifests (only ``kinds``) and judge every claim of the pack (rollout-abort
    enabled)."""
    manifests = tmp_path / "env.yaml"
    manifests.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    config = {"paths": [str(manifests)], "cluster": "test", "kinds": kinds}
    assert run_source(store, KubernetesSource(), config).status == "succeeded"
    settings = Settings(parameters=parameters, enable=frozenset({"resilience/rollout-abort"}))
    return {r.claim.id: r for r in evaluate_pack(store, load_pack(resolve_pack("resilience")), settings)}


def records(result: ClaimResult, query: str = "gaps") -> list[dict[str, Any]]:
    rows = getattr(result, query)
    return [dict(zip(rows.columns, row, strict=True)) for row in rows.rows]


def test_baseline_satisfies_every_claim(store: Store, tmp_path: Path) -> None:
    results = evaluate(store, tmp_path, baseline())
    assert {c: r.verdict for c, r in results.items()} == dict.fromkeys(CLAIMS, "satisfied"), {
        c: r.reason for c, r in results.items()
    }
    for claim in CLAIMS:
        for row in records(results[claim], "evidence"):
            assert all(row[column] for column in PROVENANCE), (claim, row)


def test_every_claim_has_five_counter_examples() -> None:
    for case in cases():
        assert set(case) <= CASE_KEYS and case["claim"] in CLAIMS, case
        if case.get("expect", "gap") == "gap":  # one change: one path set, one document added or removed
            changes = [case.get("set")] * ("set" in case) + case.get("add", []) + case.get("remove", [])
            assert len(changes) == 1 and not isinstance(case.get("set"), list), case["id"]
    for claim in CLAIMS:
        gaps = [c for c in cases() if c["claim"] == claim and c.get("expect", "gap") == "gap"]
        assert len(gaps) >= 5, claim


@pytest.mark.parametrize("case", cases(), ids=lambda c: c["id"])
def test_case(store: Store, tmp_path: Path, case: dict[str, Any]) -> None:
    results = evaluate(store, tmp_path, apply(case))
    claim, expect = case["claim"], case.get("expect", "gap")
    assert results[claim].verdict == expect, (results[claim].reason, records(results[claim]))
    if expect == "gap":
        findings = [row["finding"] for row in records(results[claim])]
        assert any(case["finding"] in f for f in findings), findings
        for row in records(results[claim]):
            assert all(row[column] for column in PROVENANCE), row
    others = {c: r.verdict for c, r in results.items() if c != claim and c not in case.get("also", [])}
    assert others == dict.fromkeys(others, "satisfied"), {c: results[c].reason for c in others}


def test_max_retry_attempts_parameter(store: Store, tmp_path: Path) -> None:
    result = evaluate(store, tmp_path, baseline(), max_retry_attempts=1)["retry-budgets"]
    assert result.verdict == "gap"
    assert sorted(r["rule"] for r in records(result)) == [
        "HTTPRoute payments/api rule 0",
        "VirtualService payments/api http[0]",
    ]


@pytest.mark.parametrize("accept", [False, True])
def test_progress_deadline_counts_only_when_accepted(store: Store, tmp_path: Path, accept: bool) -> None:
    docs = apply({"remove": ["Canary payments/api"]})
    result = evaluate(store, tmp_path, docs, accept_progress_deadline=accept)["rollout-abort"]
    assert result.verdict == ("satisfied" if accept else "gap")
    if accept:
        assert "progressDeadlineSeconds 300" in {r["delivered_by"] for r in records(result, "evidence")}


def test_rollout_abort_is_disabled_by_default() -> None:
    [claim] = [c for c in load_pack(resolve_pack("resilience")).claims if c.id == "rollout-abort"]
    assert not claim.enabled


def test_no_route_to_a_regulated_backend_is_no_evidence(store: Store, tmp_path: Path) -> None:
    docs = [d for d in baseline() if d["kind"] not in ("HTTPRoute", "VirtualService")]
    results = evaluate(store, tmp_path, docs)
    assert results["timeout-ladder"].verdict == "no-evidence"
    assert results["retry-budgets"].verdict == "no-evidence"


def test_kinds_not_listed_are_gaps_of_the_claims_that_read_them(store: Store, tmp_path: Path) -> None:
    kinds = [k for k in KIND_NAMES if k not in ("VirtualService", "Canary")]
    results = evaluate(store, tmp_path, baseline(), kinds=kinds)
    unlisted = {
        claim: sorted(r["object"] for r in records(result) if r["object"].startswith("Kind/"))
        for claim, result in results.items()
    }
    assert unlisted == {
        "timeout-ladder": ["Kind/VirtualService"],
        "retry-budgets": ["Kind/VirtualService"],
        "circuit-breaking": [],
        "disruption-budgets": ["Kind/Canary"],
        "rollout-abort": ["Kind/Canary"],
    }
    [row] = [r for r in records(results["timeout-ladder"]) if r["object"] == "Kind/VirtualService"]
    assert row["finding"] == "Kind VirtualService of cluster test was not listed: what it holds is not judged"
    assert all(row[column] for column in PROVENANCE)


def test_analysis_template_credentials_are_redacted_and_the_claim_still_judged(store: Store, tmp_path: Path) -> None:
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbmFseXNpcyJ9.c2lnbmF0dXJlc2lnbmF0dXJl"
    docs = apply({})
    template = docs[find(docs, "AnalysisTemplate payments/success-rate")]
    template["spec"]["metrics"].append(
        {
            "name": "smoke",
            "failureCondition": "result.status != 'ok'",
            "provider": {
                "web": {
                    "url": "https://smoke.example/check",
                    "headers": [{"key": "Authorization", "value": f"Bearer {token}"}],
                }
            },
        }
    )
    template["spec"]["metrics"].append(
        {
            "name": "e2e",
            "provider": {
                "job": {
                    "spec": {
                        "template": {
                            "spec": {
                                "containers": [
                                    {
                                        "name": "e2e",
                                        "image": "e2e:1",
                                        "command": ["run", f"--token={token}"],
                                        "env": [{"name": "API_TOKEN", "value": token}],
                                    }
                                ]
                            }
                        }
                    }
                }
            },
        }
    )
    assert evaluate(store, tmp_path, docs)["rollout-abort"].verdict == "satisfied"
    [(spec,)] = store.con.execute(
        "SELECT CAST(spec AS VARCHAR) FROM k8s_objects WHERE kind = 'AnalysisTemplate'"
    ).fetchall()
    assert token not in spec and '"job"' in spec and "successCondition" in spec
    assert not [p for p in store.artifacts_dir.rglob("*") if p.is_file() and token.encode() in p.read_bytes()]


def test_istio_makes_backend_request_the_route_timeout_of_a_rule_without_retry(store: Store, tmp_path: Path) -> None:
    """Istio converts an HTTPRoute rule without retry into a route whose timeout is timeouts.backendRequest: that
    is the Gateway's timeout the mesh route's 4s must stay under."""
    docs = apply({})
    route = docs[find(docs, "HTTPRoute payments/api")]
    del route["spec"]["rules"][1]["retry"]
    route["spec"]["rules"][1]["timeouts"]["backendRequest"] = "4s"
    [row] = records(evaluate(store, tmp_path, docs)["timeout-ladder"])
    assert row["rule"] == "HTTPRoute payments/api rule 1"
    assert (
        "gives up (4s: Istio makes timeouts.backendRequest the route timeout of a rule without retry)" in row["finding"]
    )


@pytest.mark.parametrize("target", [None, "Gateway", "HTTPRoute"])
def test_envoy_gateway_backend_traffic_policy_retries_are_judged(
    store: Store, tmp_path: Path, target: str | None
) -> None:
    """Envoy Gateway serves the Gateway: a rule without ``retry`` retries only as a BackendTrafficPolicy targeting
    its route, else its Gateway, says (https://gateway.envoyproxy.io/docs/tasks/traffic/retry/: numRetries default
    2); 5xx and reset may repeat a processed write on a rule matching every method."""
    docs = apply({})
    docs.append(
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "GatewayClass",
            "metadata": {"name": "eg"},
            "spec": {"controllerName": "gateway.envoyproxy.io/gatewayclass-controller"},
        }
    )
    docs[find(docs, "Gateway edge/public")]["spec"]["gatewayClassName"] = "eg"
    del docs[find(docs, "HTTPRoute payments/api")]["spec"]["rules"][1]["retry"]
    if target:
        namespace, name = ("edge", "public") if target == "Gateway" else ("payments", "api")
        docs.append(
            {
                "apiVersion": "gateway.envoyproxy.io/v1alpha1",
                "kind": "BackendTrafficPolicy",
                "metadata": {"name": "retries", "namespace": namespace},
                "spec": {
                    "targetRefs": [{"group": "gateway.networking.k8s.io", "kind": target, "name": name}],
                    "retry": {"retryOn": {"triggers": ["5xx", "reset"]}, "perRetry": {"timeout": "2s"}},
                },
            }
        )
    result = evaluate(store, tmp_path, docs)["retry-budgets"]
    if not target:
        assert result.verdict == "satisfied", records(result)
        return
    [row] = records(result)
    assert row["object"] == "HTTPRoute/api" and row["rule"] == "HTTPRoute payments/api rule 1"
    assert f"retries (BackendTrafficPolicy {namespace}/retries) on 5xx, reset, which may repeat" in row["finding"]
