"""Checks shared by the hand-written reachability corpora (tests/data/reachability*/).

A corpus is a directory of YAML cases written from a policy API's spec before any engine ran. The corpus checks
(valid YAML, canonical grammar, sorted and self-consistent expectations) need no engine; `check_engine_case`
compares an engine's answer with a case.
"""

from __future__ import annotations

import importlib
import ipaddress
import itertools
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

CASE_KEYS = {"description", "objects", "expected", "unmodelled", "ingress_to", "egress_from", "json", "diff"}
DIFF_KEYS = {"objects", "expected", "added", "removed"}

PROTOCOLS = ("TCP", "UDP", "SCTP")
KINDS = "Pod|Deployment|StatefulSet|DaemonSet|ReplicaSet|ReplicationController|Job|CronJob"
_NAME = r"[a-z0-9](?:[-.a-z0-9]*[a-z0-9])?"
_WORKLOAD = rf"{_NAME}/{_NAME}\[(?:{KINDS})\]"
_V4 = r"\d{1,3}(?:\.\d{1,3}){3}"
_V6 = r"[0-9a-f]*:[0-9a-f:]*"
_INTERVAL = rf"(?:{_V4}-{_V4}|{_V6}-{_V6})"
_PORTS = r"\d+(?:-\d+)?(?:,\d+(?:-\d+)?)*"
_CONN = rf"All Connections|(?:TCP|UDP|SCTP) {_PORTS}(?:;(?:TCP|UDP|SCTP) {_PORTS})*"
LINE_RE = re.compile(rf"(?P<src>{_WORKLOAD}|{_INTERVAL}) => (?P<dst>{_WORKLOAD}|{_INTERVAL}) : (?P<conn>{_CONN})")
WORKLOAD_RE = re.compile(_WORKLOAD)
ALL_PORTS = "1-65535"

Interval = tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ipaddress.IPv4Address | ipaddress.IPv6Address]
Conn = dict[str, str] | str


def case_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.yaml"))


def load_case(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        case = yaml.safe_load(fh)
    assert isinstance(case, dict), f"{path.name}: top level must be a mapping"
    return case


def parse_interval(text: str) -> Interval:
    """`first-last` in canonical (compressed) form, same family, first <= last."""
    first_text, last_text = text.split("-")
    first, last = ipaddress.ip_address(first_text), ipaddress.ip_address(last_text)
    assert (str(first), str(last)) == (first_text, last_text), f"{text}: addresses not in canonical form"
    assert first.version == last.version, f"{text}: mixes IPv4 and IPv6"
    assert first <= last, f"{text}: first > last"
    return first, last


def parse_conn(conn: str) -> Conn:
    """Check the connection grammar; return the to_json form ("all" or {protocol: ports})."""
    if conn == "All Connections":
        return "all"
    result: dict[str, str] = {}
    for part in conn.split(";"):
        proto, ports = part.split(" ")
        assert not result or PROTOCOLS.index(proto) > PROTOCOLS.index(list(result)[-1]), f"{conn}: protocol order"
        previous_end = -1
        for item in ports.split(","):
            low, _, high = item.partition("-")
            start, end = int(low), int(high or low)
            assert 1 <= start <= end <= 65535 and (not high or start < end), f"{conn}: bad port item {item}"
            assert start > previous_end + 1, f"{conn}: ports not ascending or not maximal at {item}"
            previous_end = end
        result[proto] = ports
    assert not (set(result) == set(PROTOCOLS) and set(result.values()) == {ALL_PORTS}), (
        f"{conn}: every protocol and port must be written 'All Connections'"
    )
    return result


def check_line(line: str) -> tuple[str, str, Conn]:
    match = LINE_RE.fullmatch(line)
    assert match, f"not a canonical line: {line!r}"
    src, dst = match["src"], match["dst"]
    assert src != dst, f"{line}: a workload to itself is never listed"
    assert WORKLOAD_RE.fullmatch(src) or WORKLOAD_RE.fullmatch(dst), f"{line}: external to external"
    for end in (src, dst):
        if not WORKLOAD_RE.fullmatch(end):
            parse_interval(end)
    return src, dst, parse_conn(match["conn"])


def check_lines(lines: Any, where: str) -> None:
    """A complete canonical listing: valid lines, sorted, unique pairs, externals partitioned and maximal."""
    assert isinstance(lines, list) and all(isinstance(line, str) for line in lines), f"{where}: list of strings"
    assert lines == sorted(set(lines)), f"{where}: lines must be sorted and unique"
    pairs: set[tuple[str, str]] = set()
    external: dict[tuple[str, str, int], list[tuple[Interval, str]]] = {}
    for line in lines:
        src, dst, conn = check_line(line)
        assert (src, dst) not in pairs, f"{where}: two lines for {src} => {dst}"
        pairs.add((src, dst))
        for workload, other, direction in ((dst, src, "in"), (src, dst, "out")):
            if WORKLOAD_RE.fullmatch(workload) and not WORKLOAD_RE.fullmatch(other):
                interval = parse_interval(other)
                external.setdefault((workload, direction, interval[0].version), []).append((interval, repr(conn)))
    for key, items in external.items():
        items.sort(key=lambda item: int(item[0][0]))
        for (prev, prev_conn), (cur, cur_conn) in itertools.pairwise(items):
            assert int(prev[1]) < int(cur[0]), f"{where}: overlapping external intervals for {key}"
            assert prev_conn != cur_conn or int(prev[1]) + 1 < int(cur[0]), f"{where}: unmerged intervals for {key}"


_POLICY_KINDS = (
    r"CiliumNetworkPolicy|CiliumClusterwideNetworkPolicy|NetworkPolicy\.projectcalico\.org|GlobalNetworkPolicy"
    r"|AdminNetworkPolicy|BaselineAdminNetworkPolicy"
)
_END = rf"{_WORKLOAD}|{_INTERVAL}|\*"
UNMODELLED_RE = re.compile(
    rf"(?P<src>{_END}) => (?P<dst>{_END}) : (?P<kind>{_POLICY_KINDS}) (?:{_NAME}/)?[a-z0-9](?:[-.a-z0-9]*[a-z0-9])?"
)


def check_unmodelled(unmodelled: Any, expected: list[str], where: str, on_lines: bool = True) -> None:
    """Sorted unique `SRC => DST : Kind [namespace/]name` entries, each on a pair that `expected` lists unless
    ``on_lines`` is false (entries that may open what the lines do not show)."""
    assert isinstance(unmodelled, list) and unmodelled, f"{where}: unmodelled must be a non-empty list"
    assert unmodelled == sorted(set(unmodelled)), f"{where}: unmodelled must be sorted and unique"
    pairs = {check_line(line)[:2] for line in expected}
    for entry in unmodelled:
        match = UNMODELLED_RE.fullmatch(entry)
        assert match, f"{where}: not an unmodelled entry: {entry!r}"
        for end in (match["src"], match["dst"]):
            if end != "*" and not WORKLOAD_RE.fullmatch(end):
                parse_interval(end)
        assert not on_lines or "*" in (match["src"], match["dst"]) or (match["src"], match["dst"]) in pairs, (
            f"{where}: {entry!r}: an unmodelled allow is counted at L3/L4, so its pair must be in expected"
        )


def unmodelled_entries(result: Any) -> list[str]:
    """The engine's not-modelled parts (`Reachability.unmodelled`) in the corpus's entry form."""
    entries = set()
    for item in result.unmodelled:
        policy = f"{item.policy_namespace}/{item.policy_name}" if item.policy_namespace else item.policy_name
        entries.add(f"{item.src or '*'} => {item.dst or '*'} : {item.policy_kind} {policy}")
    return sorted(entries)


def dst_of(line: str) -> str:
    return check_line(line)[1]


def src_of(line: str) -> str:
    return check_line(line)[0]


def ns_name(workload: str) -> str:
    return workload.split("[", 1)[0]


def as_json(lines: list[str]) -> list[dict[str, Any]]:
    rows = []
    for line in lines:
        src, dst, conn = check_line(line)
        rows.append({"src": src, "dst": dst, "conn": conn})
    return rows


def json_key(row: dict[str, Any]) -> tuple[str, str]:
    return row["src"], row["dst"]


def check_objects(objects: Any, where: str) -> None:
    assert isinstance(objects, list) and objects, f"{where}: objects must be a non-empty list"
    for obj in objects:
        assert isinstance(obj, dict) and isinstance(obj.get("kind"), str), f"{where}: object without kind"
        assert isinstance(obj.get("metadata", {}).get("name"), str), f"{where}: {obj['kind']} without metadata.name"


def check_corpus(directory: Path, min_cases: int, min_diff_cases: int) -> None:
    """Size, diff cases and a README that lists every case."""
    files = case_files(directory)
    cases = [load_case(path) for path in files]
    assert len(cases) >= min_cases, f"{len(cases)} cases in {directory}, at least {min_cases} required"
    assert sum("diff" in case for case in cases) >= min_diff_cases, f"{directory}: too few diff cases"
    readme = (directory / "README.md").read_text(encoding="utf-8")
    missing = [path.stem for path in files if f"`{path.stem}`" not in readme]
    assert not missing, f"cases missing from {directory / 'README.md'}: {missing}"


def check_case(path: Path, allowed_keys: set[str] = CASE_KEYS, unmodelled_on_lines: bool = True) -> None:
    """One case is well formed and its optional sections agree with `expected` (``unmodelled_on_lines``: see
    ``check_unmodelled``)."""
    case = load_case(path)
    where = path.name
    assert set(case) <= allowed_keys, f"{where}: unknown keys {set(case) - allowed_keys}"
    assert isinstance(case.get("description"), str) and case["description"].strip(), f"{where}: description"
    check_objects(case.get("objects"), where)
    expected = case.get("expected")
    check_lines(expected, f"{where} expected")
    if "unmodelled" in case:
        check_unmodelled(case["unmodelled"], expected, where, unmodelled_on_lines)
    for key, select in (("ingress_to", dst_of), ("egress_from", src_of)):
        for workload, lines in case.get(key, {}).items():
            assert lines == [line for line in expected if ns_name(select(line)) == workload], (
                f"{where}: {key}[{workload}] disagrees with expected"
            )
    if "json" in case:
        assert sorted(case["json"], key=json_key) == sorted(as_json(expected), key=json_key), f"{where}: json"
    if "diff" in case:
        diff = case["diff"]
        assert set(diff) == DIFF_KEYS, f"{where}: diff needs exactly {sorted(DIFF_KEYS)}"
        check_objects(diff["objects"], f"{where} diff")
        check_lines(diff["expected"], f"{where} diff.expected")
        old, new = set(expected), set(diff["expected"])
        assert diff["added"] == sorted(new - old), f"{where}: diff.added disagrees with the two listings"
        assert diff["removed"] == sorted(old - new), f"{where}: diff.removed disagrees with the two listings"
        assert diff["added"] or diff["removed"], f"{where}: a diff case must change something"


def engine() -> ModuleType:
    try:
        return importlib.import_module("collector.analysis.reachability")
    except ModuleNotFoundError as exc:
        if exc.name == "collector.analysis.reachability":
            pytest.skip("collector.analysis.reachability is not implemented yet; only the corpus itself is checked")
        raise


PROBE_POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "probe", "namespace": "default", "labels": {"a": "b"}},
    "spec": {"containers": [{"name": "c", "image": "i"}]},
}


def engine_evaluating(isolating: dict[str, Any], kind: str) -> ModuleType:
    """The engine, if it evaluates ``isolating`` (a policy of ``kind`` that isolates the only pod's ingress, so
    nothing may reach it); else the test is skipped and only the corpus is checked."""
    reach = engine()
    if reach.analyze(reach.Inventory.from_objects([PROBE_POD, isolating])).ingress_to("default/probe"):
        pytest.skip(f"the reachability engine does not evaluate {kind} yet; only the corpus is checked")
    return reach


def check_engine_case(reach: ModuleType, case: dict[str, Any]) -> None:
    """The engine's answer for the case's objects is exactly the case's."""
    result = reach.analyze(reach.Inventory.from_objects(case["objects"]))
    assert result.lines() == case["expected"]
    if "unmodelled" in case:
        assert hasattr(result, "unmodelled"), "the engine reports no not-modelled parts (Reachability.unmodelled)"
    if hasattr(result, "unmodelled"):
        assert unmodelled_entries(result) == case.get("unmodelled", []), "not-modelled parts"
    for workload, lines in case.get("ingress_to", {}).items():
        assert result.ingress_to(workload) == lines, f"ingress_to({workload})"
    for workload, lines in case.get("egress_from", {}).items():
        assert result.egress_from(workload) == lines, f"egress_from({workload})"
    if "json" in case:
        assert sorted(result.to_json(), key=json_key) == sorted(case["json"], key=json_key)
    if "diff" in case:
        diff = case["diff"]
        new_result = reach.analyze(reach.Inventory.from_objects(diff["objects"]))
        assert new_result.lines() == diff["expected"]
        added, removed = reach.diff_lines(result, new_result)
        assert (sorted(added), sorted(removed)) == (diff["added"], diff["removed"])
        assert len(added) == len(diff["added"]) and len(removed) == len(diff["removed"]), "duplicate diff lines"
