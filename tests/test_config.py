"""The configuration file: `defensible init`, environment expansion, errors with lines, secrets, precedence."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from helpers import cli, collect_manifests, write

from collector.claims import Settings, builtin_pack_dirs, evaluate_pack, evaluation_time, load_pack, resolve_pack
from collector.config import ConfigError, load_config
from collector.plugins import discover_sources, validate_config
from collector.runner import run_source
from collector.store import Store
from sources.analysis.source import AnalysisSource

MANIFESTS = """
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {defensible.io/regulated: "true"}}
---
apiVersion: v1
kind: Namespace
metadata: {name: cards, labels: {tier: pci}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: shop}
spec: {podSelector: {}, policyTypes: [Ingress]}
"""


def config_error(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> str:
    path = write(tmp_path / "defensible.yaml", text)
    with pytest.raises(ConfigError) as exc:
        load_config(path, environ or {})
    return str(exc.value)


def uncomment(text: str, key: str) -> str:
    """``text`` with the commented-out block of ``key`` (``# key:`` and its deeper lines) uncommented once."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith(f"# {key}:"))
    indent = len(lines[start]) - len(lines[start].lstrip())
    end = start + 1
    while end < len(lines) and lines[end].startswith(" " * indent + "#   "):
        end += 1
    for i in range(start, end):
        lines[i] = lines[i][:indent] + lines[i][indent + 2 :]
    return "\n".join(lines) + "\n"


# init ----------------------------------------------------------------------------------------------------------


def test_init_writes_a_template_that_loads_and_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "defensible.yaml"
    result = cli("init", "--out", str(out))
    assert result.exit_code == 0, result.output
    config = load_config(out, {})
    assert config.store == Path("evidence.duckdb") and config.sources == {}
    assert config.parameters == {"regulated_label": "defensible.io/regulated=true", "egress_allowlist": []}
    assert (config.packs, config.enable, config.waivers, config.freshness) == ((), (), None, {})
    text = out.read_text()
    assert all(f"\n# {key}:" in text or f"\n{key}:" in text for key in ("packs", "signing", "freshness", "waivers"))
    assert all(f"  # {name}:  # " in text for name in discover_sources())
    assert "token_env" in text and not re.search(r"(?m)^\W*token:", text)
    again = cli("init", "--out", str(out))
    assert again.exit_code == 2 and "exists; pass --force" in again.output
    out.write_text("changed")
    assert cli("init", "--out", str(out), "--force").exit_code == 0 and out.read_text() == text


def test_template_blocks_uncommented_load_with_the_defaults(tmp_path: Path) -> None:
    out = tmp_path / "defensible.yaml"
    cli("init", "--out", str(out))
    text = out.read_text()
    for key in (*discover_sources(), "packs", "parameters", "enable", "waivers", "signing", "freshness"):
        text = uncomment(text, key)
    out.write_text(text)
    config = load_config(out, {})
    sources = {name: entry.source for name, entry in discover_sources().items()}
    for name in ("kubernetes", "certificates"):  # every setting has a default: uncommented, they are the defaults
        assert validate_config(sources[name], config.sources[name]) == validate_config(sources[name], {})
    assert config.sources["git"] == {
        "repositories": [{"path": "", "attestations": ["docs/adr/*.md", "attestations/**/*.md"]}]
    }
    assert config.sources["logs"]["inputs"] == [{"format": "envoy", "paths": []}]
    packs = [load_pack(d) for d in builtin_pack_dirs().values()]
    assert config.parameters == {name: value for pack in packs for name, value in pack.parameters.items()}
    assert config.packs == tuple(builtin_pack_dirs())
    assert config.enable == ("git-changes/signed-commits", "resilience/rollout-abort")  # the claims off by default
    assert config.signing.keys == (Path("defensible-signing.key"),) and config.signing.kms_region == "eu-west-1"
    assert config.freshness == {"analysis": "7d", "certificates": "1d", "git": "30d", "kubernetes": "7d", "logs": "2d"}


# environment ---------------------------------------------------------------------------------------------------


def test_environment_variables_expand_in_strings(tmp_path: Path) -> None:
    path = write(
        tmp_path / "defensible.yaml",
        """
        store: ${DATA}/evidence.duckdb
        waivers: ${WAIVERS:-waivers.yaml}
        sources:
          kubernetes:
            contexts: ["${CONTEXT}", "cost$$center"]
            page_size: ${PAGE_SIZE:-200}
            cluster: "${PAGE_SIZE:-200}"
        """,
    )
    config = load_config(path, {"DATA": "/srv/data", "CONTEXT": "prod-eu", "WAIVERS": ""})
    assert config.store == Path("/srv/data/evidence.duckdb")
    assert config.waivers == Path("waivers.yaml")  # set but empty: the default
    assert config.sources["kubernetes"] == {"contexts": ["prod-eu", "cost$center"], "page_size": 200, "cluster": "200"}
    message = config_error(tmp_path, "sources:\n  kubernetes:\n    contexts:\n      - ${KUBE_CONTEXT}\n")
    assert message == (
        f"{tmp_path / 'defensible.yaml'}: line 4: sources.kubernetes.contexts[0]: environment variable KUBE_CONTEXT "
        "is not set (write ${KUBE_CONTEXT:-default} for a default)"
    )
    assert "line 1: store: malformed reference" in config_error(tmp_path, "store: ${oops\n")


# errors --------------------------------------------------------------------------------------------------------


def test_schema_errors_name_the_key_and_line(tmp_path: Path) -> None:
    message = config_error(
        tmp_path,
        """
        store: evidence.duckdb
        colour: blue
        sources:
          logs:
            inputs:
              - {format: hubble, paths: [a]}
              - format: vpc
                paths: [b]
          kubernetes:
            page_size: many
        signing:
          keys: [a.key, 3]
        """,
    )
    path = tmp_path / "defensible.yaml"
    assert message.splitlines() == [
        f"{path}: line 2: colour: unknown key (known: store, memory_limit, sources, packs, parameters, enable, "
        "waivers, signing, freshness, regulated_namespaces, egress_allowlist)",
        f"{path}: line 7: sources.logs.inputs[1].format: 'vpc' is not one of ['envoy', 'hubble', 'k8s-audit', "
        "'network-firewall', 'route53-resolver', 'squid', 'vpcflow']",
        f"{path}: line 10: sources.kubernetes.page_size: 'many' is not of type 'integer'",
        f"{path}: line 12: signing.keys[1]: 3 is not of type 'string'",
    ]
    assert config_error(
        tmp_path, "sources:\n  logs:\n    inputs: [{format: hubble, paths: [a], s3: {bucket: b}}]\n"
    ) == (f"{path}: line 3: sources.logs.inputs[0]: needs exactly one of paths, s3, cloudwatch")
    assert (
        config_error(tmp_path, "freshness: {git: 3w}\n")
        == f"{path}: line 1: freshness.git: '3w' is not a duration (30d, 12h or 90m)"
    )
    assert config_error(tmp_path, "sources:\n  nosuch: {}\n").startswith(
        f"{path}: line 2: sources.nosuch: unknown source"
    )
    assert config_error(tmp_path, "store: [\n") == f"{path}: line 2: invalid YAML: did not find expected node content"
    result = cli("check", "--config", str(write(path, "regulated_namespaces: 'a b'\n")))
    assert result.exit_code == 2 and "line 1: regulated_namespaces: 'a b' is not a label key=value" in result.output


def test_inline_secrets_are_refused(tmp_path: Path) -> None:
    review = """
    sources:
      git:
        repositories:
          - path: .
            review:
              platform: github
              project: a/b
              %s
    """
    for inline in ("token: ghp_s3cr3t", "token: ${GITHUB_TOKEN}"):
        message = config_error(tmp_path, review % inline, {"GITHUB_TOKEN": "ghp_s3cr3t"})
        assert message.startswith(
            f"{tmp_path / 'defensible.yaml'}: line 8: sources.git.repositories[0].review.token: secrets are not "
            "written in the config file"
        )
        assert "s3cr3t" not in message and "token_env: MY_TOKEN" in message
    config = load_config(write(tmp_path / "ok.yaml", review % "token_env: ${TOKEN_VAR:-GITHUB_TOKEN}"), {})
    assert config.sources["git"]["repositories"][0]["review"]["token_env"] == "GITHUB_TOKEN"
    pem = (
        "signing:\n  keys:\n    - |\n      -----BEGIN PRIVATE KEY-----\n      MC4CAQ\n      -----END PRIVATE KEY-----\n"
    )
    assert "line 3: signing.keys[0]: private key material" in config_error(tmp_path, pem)
    result = cli("collect", "--config", str(write(tmp_path / "c.yaml", "parameters: {db_password: hunter2}\n")))
    assert result.exit_code == 2 and "parameters.db_password: secrets are not written" in result.output
    assert "hunter2" not in result.output


# precedence ----------------------------------------------------------------------------------------------------


def collected(tmp_path: Path, extra: str = "") -> tuple[Path, Path]:
    """A config naming its store and the kubernetes source, collected with `defensible collect`."""
    manifests = write(tmp_path / "m" / "all.yaml", MANIFESTS)
    store = tmp_path / "from-config.duckdb"
    config = write(
        tmp_path / "defensible.yaml",
        f"store: {store}\nsources:\n  kubernetes:\n    paths: [{manifests}]\n  analysis: {{}}\n{extra}",
    )
    result = cli("collect", "--config", str(config))
    assert result.exit_code == 0 and "kubernetes: succeeded" in result.output, result.output
    assert store.is_file()
    return config, store


def verdicts(*args: str) -> dict[str, str]:
    result = cli("check", "--pack", "k8s-networking", "--format", "json", *args)
    return {c["claim"]: c["verdict"] for c in json.loads(result.output)}


def test_command_line_beats_the_config(tmp_path: Path) -> None:
    config, store = collected(tmp_path, "parameters: {regulated_label: tier=pci, min_approvals: 2}\n")
    # the store of the config; min_approvals (git-changes) is dropped as --pack k8s-networking narrows the packs
    assert verdicts("--config", str(config))["access-restricted"] == "gap"  # cards (tier=pci) has no deny policy
    default = "--param", "regulated_label=defensible.io/regulated=true"
    assert verdicts("--config", str(config), *default)["access-restricted"] == "satisfied"  # shop has one
    missing = cli("check", "--config", str(config), "--store", str(tmp_path / "other.duckdb"))
    assert missing.exit_code == 2 and f"no evidence store at {tmp_path / 'other.duckdb'}" in missing.output
    write(config, config.read_text().replace("min_approvals", "no_such"))
    unknown = cli("check", "--config", str(config))
    assert unknown.exit_code == 2 and "line 6: parameters.no_such: no pack defines this parameter" in unknown.output
    write(config, f"store: {store}\nwaivers: {tmp_path / 'none.yaml'}\n")
    result = cli("check", "--config", str(config))
    assert result.exit_code == 2 and "cannot read waivers file" in result.output


def test_config_freshness_overrides_the_packs(tmp_path: Path) -> None:
    config, store = collected(tmp_path, "freshness: {kubernetes: 1h}\n")
    with Store.open(store, read_only=True) as st:
        later = (evaluation_time(st, Settings()) + timedelta(hours=2)).isoformat()
    assert verdicts("--store", str(store), "--as-of", later)["access-restricted"] == "satisfied"  # the pack's 7d
    assert verdicts("--config", str(config), "--as-of", later)["access-restricted"] == "stale"


def test_bundle_signs_with_the_config_keys(tmp_path: Path) -> None:
    assert cli("keygen", "--out", str(tmp_path / "signing")).exit_code == 0
    config, _ = collected(tmp_path, f"signing:\n  keys: [{tmp_path / 'signing.key'}]\npacks: [k8s-networking]\n")
    result = cli("bundle", "--config", str(config), "--out", str(tmp_path / "bundle"))
    assert result.exit_code == 0 and "signed with key" in result.output, result.output
    verified = cli("verify", str(tmp_path / "bundle"), "--pubkey", str(tmp_path / "signing.pub"))
    assert verified.exit_code == 0 and verified.output.startswith("OK:")
    claims = json.loads((tmp_path / "bundle" / "claims.json").read_text())
    assert [p["id"] for p in claims["packs"]] == ["k8s-networking"]


# packs ---------------------------------------------------------------------------------------------------------


def test_regulated_label_chooses_the_regulated_namespaces(store: Store, tmp_path: Path) -> None:
    collect_manifests(store, write(tmp_path / "all.yaml", MANIFESTS))
    run_source(store, AnalysisSource(), {})  # access-restricted is judged on the reachability analysis
    pack = load_pack(resolve_pack("k8s-networking"))

    def regulated(**parameters: str) -> tuple[str, list[str], list[str]]:
        (result,) = [r for r in evaluate_pack(store, pack, Settings(parameters)) if r.claim.id == "access-restricted"]
        namespace = result.evidence.columns.index("namespace") if result.evidence.rows else None
        evidence = sorted(row[namespace] for row in result.evidence.rows) if namespace is not None else []
        gaps = sorted(row[result.gaps.columns.index("namespace")] for row in result.gaps.rows)
        return result.verdict, evidence, gaps

    assert regulated() == ("satisfied", ["shop"], [])
    assert regulated(regulated_label="tier=pci") == ("gap", [], ["cards"])
    assert regulated(regulated_label="tier=none") == ("no-evidence", [], [])


def test_documented_example_loads(tmp_path: Path) -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "configuration.md").read_text()
    example = re.search(r"## Example\n\n```yaml\n(.*?)```", doc, re.DOTALL)
    assert example is not None
    path = tmp_path / "defensible.yaml"
    path.write_text(example.group(1))
    config = load_config(path, {"FLOW_LOG_BUCKET": "flows", "DEFENSIBLE_KMS_KEY": "alias/defensible"})
    assert config.sources["logs"]["inputs"][1]["s3"]["bucket"] == "flows"
    assert config.signing.kms_keys == ("alias/defensible",) and config.store == Path("/srv/defensible/evidence.duckdb")
    assert config.parameters["regulated_label"] == "compliance.example.gov/scope=pci"
