"""The soundness corpus (issue 16): a compliant baseline platform on which the six platform claims are
``satisfied``, and minimal counter-examples, each of which must turn exactly its claim into a ``gap`` whose rows
name the offending object. The corpus and its format are in tests/data/soundness/ (README.md there).

Each case is collected the way an operator would after making the change: the baseline's store (collected once
per session) is copied, the baseline manifests with the case's overlay applied are collected into it with the
real CLI (``collect kubernetes``, ``collect certificates``, ``collect analysis``), and ``check --format json
--as-of`` gives the verdicts. The gap rows come from the same packs and settings through the engine, since the
JSON output carries only their count.

A case that today's claims get wrong carries ``known_unsound: <why>`` and runs as a strict xfail: the fix that
makes it pass must remove the field.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import shutil
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from certs import Issued, issue
from helpers import cli

from collector.claims import evaluate_pack
from collector.cli.common import load_packs
from collector.config import load_config as read_config
from collector.store import Store

DATA = Path(__file__).parent / "data" / "soundness"
BASELINE = DATA / "baseline"
AS_OF = datetime(2026, 6, 1, tzinfo=UTC)  # the instant every case is judged at
CLUSTER = "casework-prod"
PACKS = ("k8s-networking", "certificates")
CLAIMS = (
    "public-exposure-controlled",
    "access-restricted",
    "traffic-encrypted",
    "backend-reencryption",
    "certificates-valid",
    "rotation-works",
)
GENERATE = "x-soundness-certificates"  # on a Secret or ConfigMap: certificates the test generates into its data
CASE_KEYS = {
    "description", "source", "expect", "other_claims_unchanged", "known_unsound", "add", "replace", "patch", "remove"
}  # fmt: skip
PROVENANCE = {"location", "source", "run_id", "artifact_sha256", "collected_at"}
CONFIG = "regulated_namespaces: defensible.io/regulated=true\n"


# manifests and overlays ----------------------------------------------------------------------------------------


@dataclass
class Doc:
    """One Kubernetes object and the manifest file it is written to."""

    file: str
    obj: dict[str, Any]


def read_yaml_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def baseline_docs() -> list[Doc]:
    return [Doc(path.name, obj) for path in sorted(BASELINE.glob("*.yaml")) for obj in read_yaml_documents(path)]


def group_of(api_version: str) -> str:
    return api_version.split("/")[0] if "/" in api_version else ""


def matches(obj: dict[str, Any], target: dict[str, Any]) -> bool:
    """Whether ``obj`` is the object ``target`` names: kind and name, namespace (when given or on the object), and
    the API group when ``target`` gives an apiVersion."""
    meta = obj.get("metadata") or {}
    if obj.get("kind") != target["kind"] or meta.get("name") != target["name"]:
        return False
    if meta.get("namespace") != target.get("namespace"):
        return False
    return "apiVersion" not in target or group_of(obj["apiVersion"]) == group_of(target["apiVersion"])


def ref(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    return {"kind": obj["kind"], "name": meta["name"], "apiVersion": obj["apiVersion"]} | (
        {"namespace": meta["namespace"]} if "namespace" in meta else {}
    )


def describe(target: dict[str, Any]) -> str:
    where = f"{target['namespace']}/" if target.get("namespace") else ""
    return f"{target['kind']} {where}{target['name']}"


def find(docs: list[Doc], target: dict[str, Any]) -> int:
    found = [i for i, d in enumerate(docs) if matches(d.obj, target)]
    if len(found) != 1:
        raise ValueError(f"{describe(target)}: {len(found)} baseline objects match, expected exactly one")
    return found[0]


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge recursively, null removes a member, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def json_patch(target: Any, operations: list[dict[str, Any]]) -> Any:
    """RFC 6902 JSON patch, the operations add, remove and replace (paths are JSON pointers, RFC 6901)."""
    doc = copy.deepcopy(target)
    for operation in operations:
        *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in operation["path"].split("/")[1:]]
        node = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        op = operation["op"]
        if isinstance(node, list):
            index = len(node) if last == "-" else int(last)
            if op == "add":
                node.insert(index, copy.deepcopy(operation["value"]))
            elif op == "remove":
                del node[index]
            else:
                node[index] = copy.deepcopy(operation["value"])
        elif op == "remove":
            del node[last]
        else:
            if op == "replace" and last not in node:
                raise ValueError(f"json patch: {operation['path']} does not exist")
            node[last] = copy.deepcopy(operation["value"])
    return doc


def apply_overlay(docs: list[Doc], case: dict[str, Any], name: str) -> list[Doc]:
    """The baseline with the case's changes, in this order: remove, patch, replace, add."""
    docs = copy.deepcopy(docs)
    for target in case.get("remove") or []:
        del docs[find(docs, target)]
    for patch in case.get("patch") or []:
        i = find(docs, patch["target"])
        patched = merge_patch(docs[i].obj, patch["merge"]) if "merge" in patch else docs[i].obj
        docs[i] = Doc(docs[i].file, json_patch(patched, patch.get("json") or []))
    for obj in case.get("replace") or []:
        i = find(docs, ref(obj))
        docs[i] = Doc(docs[i].file, copy.deepcopy(obj))
    for obj in case.get("add") or []:
        if any(matches(d.obj, ref(obj)) for d in docs):
            raise ValueError(f"{describe(ref(obj))} is in the baseline: use replace or patch")
        docs.append(Doc(f"overlay-{name}.yaml", copy.deepcopy(obj)))
    return docs


# certificates ----------------------------------------------------------------------------------------------------


def instant(value: Any) -> datetime:
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def days_from_as_of(value: Any) -> float:
    return (instant(value) - AS_OF) / timedelta(days=1)


@dataclass
class Forge:
    """Generates the certificates of ``x-soundness-certificates``. An issuer is looked up by subject among the
    certificates of the same object, else it is an implicit CA of that name (valid 2020-2040, shared)."""

    implicit: dict[str, Issued] = field(default_factory=dict)

    def implicit_ca(self, subject: str) -> Issued:
        if subject not in self.implicit:
            span = (days_from_as_of("2020-01-01T00:00:00+00:00"), days_from_as_of("2040-01-01T00:00:00+00:00"))
            self.implicit[subject] = issue(subject, ca=True, days=span, at=AS_OF)
        return self.implicit[subject]

    def materialize(self, obj: dict[str, Any]) -> dict[str, Any]:
        """``obj`` with its generated certificates in ``data`` (base64 for a Secret, PEM text for a ConfigMap)."""
        obj = copy.deepcopy(obj)
        spec: dict[str, list[dict[str, Any]]] = obj.pop(GENERATE)
        local = {c["subject"]: c for certificates in spec.values() for c in certificates}
        made: dict[str, Issued] = {}

        def build(cert: dict[str, Any]) -> Issued:
            if cert["subject"] not in made:
                signer = cert.get("issuer")
                parent = (
                    None if signer is None else build(local[signer]) if signer in local else self.implicit_ca(signer)
                )
                sans = tuple(cert.get("sans", [cert["subject"]]))
                span = (days_from_as_of(cert["not_before"]), days_from_as_of(cert["not_after"]))
                made[cert["subject"]] = issue(
                    cert["subject"], issuer=parent, ca=bool(cert.get("ca")), sans=sans, days=span,
                    key=cert.get("key", "ec"), at=AS_OF,
                )  # fmt: skip
            return made[cert["subject"]]

        data = dict(obj.get("data") or {})
        for key, certificates in spec.items():
            pem = b"".join(build(c).pem for c in certificates)
            data[key] = pem.decode() if obj["kind"] == "ConfigMap" else base64.b64encode(pem).decode()
        obj["data"] = data
        return obj


def write_manifests(docs: list[Doc], folder: Path, forge: Forge) -> Path:
    folder.mkdir(parents=True)
    files: dict[str, list[dict[str, Any]]] = {}
    for d in docs:
        files.setdefault(d.file, []).append(forge.materialize(d.obj) if GENERATE in d.obj else d.obj)
    for name, objects in files.items():
        (folder / name).write_text(yaml.safe_dump_all(objects, sort_keys=False))
    return folder


# collect and judge -----------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """The verdicts of the claims judged on a store, and their gap rows."""

    verdicts: dict[str, str]
    rows: dict[str, list[dict[str, Any]]]

    def gaps(self, claim: str) -> list[dict[str, Any]]:
        return self.rows[claim]

    def summary(self, *claims: str) -> str:
        lines = [f"{claim}: {self.verdicts.get(claim)}" for claim in CLAIMS]
        for claim in claims or [c for c in self.verdicts if self.verdicts[c] == "gap"]:
            lines += [f"  {claim} gap: {row_text(row)}" for row in self.rows.get(claim, [])]
        return "\n".join(lines)


def collect(store: Path, manifests: Path, config: Path) -> None:
    common = ("--store", str(store), "--config", str(config), "--quiet", "--allow-partial")
    where = ("--set", f"paths=[{manifests}]", "--set", f"cluster={CLUSTER}")
    for source in (("kubernetes", *where), ("certificates", *where), ("analysis",)):
        result = cli("collect", *source, *common)
        assert result.exit_code == 0, f"collect {source[0]}: {result.output}"


def judge(store: Path, config: Path, claims: tuple[str, ...] = CLAIMS) -> Outcome:
    """Judge ``claims`` with the packs and settings `check --config` uses (the engine, once: verdicts and rows)."""
    judging = load_packs(PACKS, (), (), AS_OF, config=read_config(config))
    verdicts, rows = {}, {}
    with Store.open(store, read_only=True) as st:
        for pack in judging.packs:
            mine = tuple(c for c in pack.claims if c.id in claims)
            for r in evaluate_pack(st, replace(pack, claims=mine), judging.settings) if mine else []:
                verdicts[r.claim.id] = r.verdict
                rows[r.claim.id] = [dict(zip(r.gaps.columns, row, strict=True)) for row in r.gaps.rows]
    return Outcome(verdicts, rows)


def cells(row: dict[str, Any]) -> dict[str, Any]:
    """A gap row's cells but its provenance (the location would name the manifest files) and empty ones."""
    return {k: v for k, v in row.items() if k not in PROVENANCE and v not in (None, "", [])}


def row_text(row: dict[str, Any]) -> str:
    return " | ".join(f"{k}={v}" for k, v in cells(row).items())


def mentions(row: dict[str, Any], name: str) -> bool:
    """Whether a gap row names the object ``name`` ("Kind ns/name" or "Kind name"): its kind (any case) and its
    name appear in the row's cells (their values, not the column names), and its namespace too when it has one.
    Names are matched as whole words."""
    kind, _, rest = name.partition(" ")
    namespace, _, obj = rest.rpartition("/")
    text = " | ".join(str(v) for v in cells(row).values())

    def token(word: str, flags: int = 0) -> bool:
        return re.search(rf"(?<![\w.-]){re.escape(word)}(?![\w-])", text, flags) is not None

    return token(kind, re.IGNORECASE) and token(obj) and (not namespace or token(namespace))


class ClaimMissed(AssertionError):
    """The case's claim is not a gap naming the offending objects (or another claim changed): what a
    ``known_unsound`` case expects today. Any other failure of a case (collection, overlay) is a real failure."""


def require(condition: bool, message: str) -> None:
    if not condition:
        raise ClaimMissed(message)


@dataclass(frozen=True)
class Baseline:
    store: Path
    outcome: Outcome


@pytest.fixture(scope="session")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("soundness-config") / "defensible.yaml"
    path.write_text(CONFIG)
    return path


@pytest.fixture(scope="session")
def forge() -> Forge:
    return Forge()


@pytest.fixture(scope="session")
def baseline(tmp_path_factory: pytest.TempPathFactory, config_file: Path, forge: Forge) -> Baseline:
    """The baseline, collected once: the store each case starts from (its history), and its verdicts."""
    root = tmp_path_factory.mktemp("soundness-baseline")
    manifests = write_manifests(baseline_docs(), root / "manifests", forge)
    store = root / "evidence.duckdb"
    collect(store, manifests, config_file)
    return Baseline(store, judge(store, config_file))


# the corpus ------------------------------------------------------------------------------------------------------


def case_files() -> list[Path]:
    return sorted(p for claim in CLAIMS for p in (DATA / claim).glob("*.yaml"))


def case_param(path: Path) -> Any:
    case = yaml.safe_load(path.read_text())
    unsound = case.get("known_unsound")
    marks = [pytest.mark.xfail(strict=True, raises=ClaimMissed, reason=unsound)] if unsound else []
    return pytest.param(path, id=f"{path.parent.name}/{path.stem}", marks=marks)


def test_baseline_satisfies_every_claim(baseline: Baseline, config_file: Path) -> None:
    assert baseline.outcome.verdicts == dict.fromkeys(CLAIMS, "satisfied"), baseline.outcome.summary()
    # as the real command line judges it too
    packs = [arg for p in PACKS for arg in ("--pack", p)]
    result = cli("check", *packs, "--format", "json", "--as-of", AS_OF.isoformat(), "--store", str(baseline.store),
                 "--config", str(config_file))  # fmt: skip
    verdicts = {c["claim"]: c["verdict"] for c in json.loads(result.output)}
    # route-conflicts-absent (k8s-networking) is judged by tests/test_route_conflicts.py, not by this corpus;
    # exposure-rights-restricted by tests/test_exposure_rights_claim.py (no RBAC here: no evidence, exit code 1)
    assert verdicts == {
        **dict.fromkeys(CLAIMS, "satisfied"),
        "route-conflicts-absent": "satisfied",
        "exposure-rights-restricted": "no-evidence",
    }
    assert result.exit_code == 1, result.output
    # and the reachability pack's claims too: its declared callers are those its policies admit
    result = cli("check", "--pack", "reachability", "--format", "json", "--as-of", AS_OF.isoformat(),
                 "--store", str(baseline.store), "--config", str(config_file))  # fmt: skip
    assert {c["claim"]: c["verdict"] for c in json.loads(result.output)} == {
        "lateral-movement-restricted": "satisfied",
        "egress-restricted-by-policy": "satisfied",
        # the baseline inventory holds no cluster DNS Service (kube-system/kube-dns), and ledger's default deny has
        # no DNS exception: a gap, not a soundness case of this corpus
        "dns-exceptions-modelled": "gap",
    }, result.output


def test_corpus_is_well_formed() -> None:
    """Every claim has at least six cases; each names its claim, an upstream source and the offending objects."""
    docs = baseline_docs()
    for claim in CLAIMS:
        assert len(list((DATA / claim).glob("*.yaml"))) >= 6, claim
    for path in case_files():
        case = yaml.safe_load(path.read_text())
        assert set(case) <= CASE_KEYS, f"{path}: unknown keys {set(case) - CASE_KEYS}"
        assert case["description"].strip() and case["source"].strip(), path
        assert re.match(r"https://", case["source"].strip().split()[0]), f"{path}: source must start with a URL"
        assert case["expect"]["claim"] == path.parent.name and case["expect"]["verdict"] == "gap", path
        assert case["expect"]["names"], path
        assert any(case.get(op) for op in ("add", "replace", "patch", "remove")), f"{path}: no change"
        apply_overlay(docs, case, path.stem)  # every target exists, no addition shadows a baseline object


def test_overlay_and_name_matching() -> None:
    docs = [Doc("a.yaml", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a", "labels": {"x": "1"}}})]
    case = {
        "patch": [
            {"target": {"kind": "Namespace", "name": "a"}, "merge": {"metadata": {"labels": {"x": None, "y": "2"}}}},
            {"target": {"kind": "Namespace", "name": "a"}, "json": [{"op": "add", "path": "/spec", "value": {}}]},
        ],
        "add": [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "b"}}],
    }
    patched = apply_overlay(docs, case, "case")
    assert [(d.file, d.obj["metadata"]["name"]) for d in patched] == [("a.yaml", "a"), ("overlay-case.yaml", "b")]
    assert patched[0].obj["metadata"]["labels"] == {"y": "2"} and patched[0].obj["spec"] == {}
    assert docs[0].obj["metadata"]["labels"] == {"x": "1"}  # the baseline is not modified
    with pytest.raises(ValueError, match="in the baseline"):
        apply_overlay(docs, {"add": [docs[0].obj]}, "case")
    with pytest.raises(ValueError, match="0 baseline objects match"):
        apply_overlay(docs, {"remove": [{"kind": "Namespace", "name": "c"}]}, "case")
    row = {"namespace": "shop", "object": "Service/payments-api", "finding": "f", "location": "ledger.yaml#1"}
    assert mentions(row, "Service shop/payments-api") and mentions(row, "service shop/payments-api")
    assert not mentions(row, "Service shop/payments")  # whole words: payments-api is not payments
    assert not mentions(row, "Namespace shop")  # a column name is not a mention
    assert not mentions(row, "Service ledger/payments-api")  # neither is the provenance (location)


@pytest.mark.parametrize("path", [case_param(p) for p in case_files()])
def test_counter_example_turns_its_claim_into_a_gap(
    path: Path, baseline: Baseline, config_file: Path, forge: Forge, tmp_path: Path
) -> None:
    case = yaml.safe_load(path.read_text())
    expect = case["expect"]
    claim = expect["claim"]
    assert baseline.outcome.verdicts == dict.fromkeys(CLAIMS, "satisfied"), "the baseline must be satisfied"
    manifests = write_manifests(apply_overlay(baseline_docs(), case, path.stem), tmp_path / "manifests", forge)
    store = tmp_path / "evidence.duckdb"
    shutil.copyfile(baseline.store, store)
    shutil.copytree(
        baseline.store.with_name(baseline.store.name + ".artifacts"), tmp_path / (store.name + ".artifacts")
    )
    collect(store, manifests, config_file)
    outcome = judge(store, config_file, CLAIMS if case.get("other_claims_unchanged") else (claim,))
    require(outcome.verdicts[claim] == "gap", f"{claim} is not a gap\n{outcome.summary()}")
    for name in expect["names"]:
        named = any(mentions(row, name) for row in outcome.gaps(claim))
        require(named, f"no gap row of {claim} names {name}\n{outcome.summary(claim)}")
    if case.get("other_claims_unchanged"):
        others = {c: v for c, v in outcome.verdicts.items() if c != claim}
        unchanged = others == {c: v for c, v in baseline.outcome.verdicts.items() if c != claim}
        require(unchanged, f"another claim changed\n{outcome.summary(claim)}")
