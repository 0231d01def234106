"""Pack parameters are typed: every value (--param, defensible.yaml, the API) is checked against the type its pack
declares before any SQL runs, and a bundle shows the parameters judged with another value than their default."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from helpers import write

from bundles.build import build_bundle
from collector.claims import PackError, Settings, builtin_pack_dirs, evaluate_pack, load_pack, resolve_pack
from collector.cli import main
from collector.store import Store


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


# --param NAME=VALUE (YAML) -> pack, the expected type in words, the value as shown
REFUSED = {
    "min_approvals=null": ("git-changes", "an integer >= 1", "null"),
    "min_approvals=": ("git-changes", "an integer >= 1", "null"),
    "min_approvals=0": ("git-changes", "an integer >= 1", "0"),
    "min_approvals=true": ("git-changes", "an integer >= 1", "true"),
    "min_approvals=2.0": ("git-changes", "an integer >= 1", "2.0"),
    "min_approvals='2'": ("git-changes", "an integer >= 1", '"2"'),
    "min_approvals=[2]": ("git-changes", "an integer >= 1", "[2]"),
    "min_approvals=99999999999999999999": ("git-changes", "an integer >= 1", "99999999999999999999"),
    "governed_kinds=[[x]]": ("git-changes", "a non-empty list, each a non-empty string", '[["x"]]'),
    "governed_kinds={a: 1}": ("git-changes", "a non-empty list, each a non-empty string", '{"a": 1}'),
    "governed_kinds=HTTPRoute": ("git-changes", "a non-empty list, each a non-empty string", '"HTTPRoute"'),
    "governed_kinds=[]": ("git-changes", "a non-empty list, each a non-empty string", "[]"),
    "governed_kinds=['']": ("git-changes", "a non-empty list, each a non-empty string", '[""]'),
    "trust_trailer_approvals=maybe": ("git-changes", "true or false", '"maybe"'),
    "emergency_branch_pattern=(?=lookahead)": ("git-changes", "a regular expression (RE2)", '"(?=lookahead)"'),
    "emergency_window_hours=-1": ("git-changes", "an integer >= 0", "-1"),
    "accepted_signature_statuses=[G, Q]": ("git-changes", 'a list, each one of "G", "B"', '["G", "Q"]'),
    "max_log_gap_minutes=.nan": ("logs", "a number > 0", "NaN"),
    "max_log_gap_minutes=.inf": ("logs", "a number > 0", "Infinity"),
    "max_log_gap_minutes=0": ("logs", "a number > 0", "0"),
    "window_since=yesterday": ("logs", "an ISO 8601 time, or null", '"yesterday"'),
    "window_until=2026-13-45T00:00:00Z": ("logs", "an ISO 8601 time, or null", '"2026-13-45T00:00:00Z"'),
    "regulated_label=regulated": ("k8s-networking", "a label key=value", '"regulated"'),
    "expiry_warning_days=30d": ("certificates", "an integer >= 0", '"30d"'),
}
# A YAML alias bomb: 10 * 9**8 strings if expanded; refused as fast as any value.
BOMB = "[x, x, x, x, x, x, x, x, x, x]"
for level in "abcdefgh":
    BOMB = f"[&{level} {BOMB}, " + ", ".join([f"*{level}"] * 8) + "]"


@pytest.mark.parametrize(
    ("assignment", "why"),
    [
        ('governed_kinds=["\\uD800"]', "invalid YAML: "),  # a lone surrogate cannot be text
        ("min_approvals=&a [*a]", "alias *a is inside the node it names"),
    ],
)
def test_param_that_yaml_cannot_hold_is_refused_as_yaml(tmp_path: Path, assignment: str, why: str) -> None:
    """The YAML reader refuses it, in one line, before the store is opened."""
    name = assignment.partition("=")[0]
    result = run("check", "--param", assignment, "--store", str(tmp_path / "absent.duckdb"))
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(f"error: --param {name}: line 1: {why}"), result.stderr
    assert len(result.stderr.splitlines()) == 1 and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("assignment", REFUSED)
def test_param_of_another_type_is_refused_before_the_store_is_opened(tmp_path: Path, assignment: str) -> None:
    name = assignment.partition("=")[0]
    pack, expects, shown = REFUSED[assignment]
    store = tmp_path / "absent.duckdb"  # never opened: the value is refused first
    for command in (["check"], ["bundle", "--out", str(tmp_path / "b")]):
        result = run(*command, "--param", assignment, "--store", str(store))
        assert result.exit_code == 2 and result.stdout == ""
        message = f"error: parameter {name} of pack {pack} expects {expects}"
        assert result.stderr.startswith(message) and result.stderr.endswith(f", got {shown}\n"), result.stderr
        assert len(result.stderr.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["min_approvals", "governed_kinds"])
def test_param_alias_bomb_is_refused_at_once(tmp_path: Path, name: str) -> None:
    started = time.monotonic()
    result = run("check", "--param", f"{name}={BOMB}", "--store", str(tmp_path / "s.duckdb"))
    assert result.exit_code == 2 and result.stderr.startswith(f"error: --param {name}: line 1: aliases would add")
    assert len(result.stderr.splitlines()) == 1
    assert time.monotonic() - started < 5


def test_param_that_is_not_yaml_or_not_defined_is_refused(tmp_path: Path) -> None:
    broken = run("check", "--param", "governed_kinds=[HTTPRoute", "--store", str(tmp_path / "s.duckdb"))
    assert broken.exit_code == 2 and broken.stderr.startswith("error: --param governed_kinds: line ")
    assert "invalid YAML: " in broken.stderr
    assert len(broken.stderr.splitlines()) == 1
    unknown = run("check", "--param", "min_aprovals=2", "--store", str(tmp_path / "s.duckdb"))
    assert unknown.exit_code == 2 and "no pack defines parameter min_aprovals" in unknown.stderr
    elsewhere = run("check", "--pack", "logs", "--param", "min_approvals=2", "--store", str(tmp_path / "s.duckdb"))
    assert elsewhere.exit_code == 2 and "no pack defines parameter min_approvals" in elsewhere.stderr


def test_config_parameter_of_another_type_names_its_line(tmp_path: Path) -> None:
    config = write(tmp_path / "defensible.yaml", "store: s.duckdb\nparameters:\n  min_approvals: null\n")
    result = run("check", "--config", str(config))
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {config}: line 3: parameters.min_approvals: parameter min_approvals of pack git-changes "
        "expects an integer >= 1, got null\n"
    )
    shorthand = write(tmp_path / "short.yaml", "egress_allowlist: [10.0.0.0/8]\nparameters:\n  window_since: 1\n")
    result = run("check", "--config", str(shorthand))
    assert result.exit_code == 2 and "line 3: parameters.window_since: parameter window_since of pack logs" in (
        result.stderr
    )


def test_every_builtin_parameter_declares_a_type_its_default_has() -> None:
    for directory in builtin_pack_dirs().values():
        pack = load_pack(directory)
        assert pack.parameter_types.keys() == pack.parameters.keys()
        for name, default in pack.parameters.items():
            assert pack.parameter_types[name].accepts(default), (pack.id, name)


@pytest.mark.parametrize(
    ("declaration", "message"),
    [
        ("    default: 1\n", "parameters/n: 'type' is a required property"),
        ("    type: integer\n    default: one\n", "parameter 'n': default \"one\" is not an integer"),
        ("    type: integer\n    minimum: 1\n    default: 0\n", "parameter 'n': default 0 is not an integer >= 1"),
        ("    type: array\n    default: []\n", "parameters/n: 'items' is a required property"),
        ("    type: object\n    default: {}\n", "parameters/n/type: 'object' is not one of"),
        ("    type: string\n    format: email\n    default: a\n", "parameters/n/format: 'email' is not one of"),
        ("    type: string\n    default: null\n", "parameter 'n': default null is not a string"),
    ],
)
def test_a_pack_declaring_a_parameter_badly_is_refused(tmp_path: Path, declaration: str, message: str) -> None:
    pack = shutil.copytree(resolve_pack("certificates"), tmp_path / "pack")
    text = (pack / "pack.yaml").read_text()
    start, end = text.index("parameters:\n"), text.index("freshness:")
    (pack / "pack.yaml").write_text(text[:start] + f"parameters:\n  n:\n{declaration}    description: d\n" + text[end:])
    with pytest.raises(PackError) as raised:
        load_pack(pack)
    assert str(raised.value).startswith(f"{pack / 'pack.yaml'}: ") and message in str(raised.value)


def test_values_of_the_declared_type_pass(tmp_path: Path) -> None:
    packs = [load_pack(d) for d in builtin_pack_dirs().values()]
    Settings(
        {
            "min_approvals": 2,
            "governed_kinds": ["HTTPRoute"],
            "trust_trailer_approvals": True,
            "emergency_branch_pattern": "^release/",
            "max_log_gap_minutes": 7.5,
            "window_since": "2026-03-02T09:00:00Z",
            "window_until": None,
            "accepted_signature_statuses": ["G", "U"],
            "regulated_label": "compliance.example.gov/scope=pci",
            "egress_allowlist": [],
        }
    ).validate(packs)


def test_the_engine_refuses_a_mistyped_value_before_any_sql(tmp_path: Path) -> None:
    """Through the API too: evaluate_pack checks the values before it sets a variable or runs a query."""
    pack = load_pack(resolve_pack("git-changes"))
    with Store.open(tmp_path / "s.duckdb") as store:
        with pytest.raises(PackError, match="parameter min_approvals of pack git-changes expects an integer >= 1"):
            evaluate_pack(store, pack, Settings({"min_approvals": None}))
        assert store.con.execute("SELECT count(*) FROM duckdb_variables()").fetchone() == (0,)


def test_bundle_shows_the_parameters_changed_from_their_defaults(tmp_path: Path) -> None:
    packs = [load_pack(resolve_pack(name)) for name in ("certificates", "git-changes")]
    changed = {"min_approvals": 2, "governed_paths": ["<script>alert(1)</script>"]}
    with Store.open(tmp_path / "s.duckdb") as store:
        build_bundle(store, packs, tmp_path / "bundle", [], Settings({**changed, "expiry_warning_days": 30}))
    claims = json.loads((tmp_path / "bundle" / "claims.json").read_text())
    by_pack = {p["id"]: p for p in claims["packs"]}
    assert by_pack["certificates"]["changed_parameters"] == {}  # 30 is the default: not a change
    assert by_pack["git-changes"]["changed_parameters"] == {
        "min_approvals": {"value": 2, "default": 1},
        "governed_paths": {"value": ["<script>alert(1)</script>"], "default": ["deployed", "*egress*allow*"]},
    }
    assert by_pack["git-changes"]["parameters"]["min_approvals"] == 2
    markdown = (tmp_path / "bundle" / "report.md").read_text()
    assert markdown.count("Judged with parameters changed from the pack's defaults") == 1
    assert "`min_approvals` = `2` (default `1`)" in markdown
    html = (tmp_path / "bundle" / "report.html").read_text()
    assert html.count("Judged with parameters changed from the pack's defaults") == 1
    assert "<code>min_approvals</code> = <code>2</code> (default <code>1</code>)" in html
    assert "<script>" not in html and "[&#34;&lt;script&gt;alert(1)&lt;/script&gt;&#34;]" in html
