"""The configuration file (``defensible.yaml``): loading, validation with line numbers, and the ``init`` template.

Every top-level key is optional; command-line options beat the file, which beats the defaults. Strings expand
``${VAR}`` and ``${VAR:-default}`` from the environment. Secrets are never written in the file: a key named like a
secret must be empty (name the environment variable in a ``*_env`` key instead). See docs/configuration.md.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from collector.claims import DURATION, LABEL, Pack, PackError, builtin_pack_dirs, duration, resolve_pack
from collector.plugins import Source, discover_sources
from collector.safe_yaml import InputError, TextTimesLoader, load, load_document
from collector.yaml_lines import line_of, node_at

DEFAULT_REGULATED = "defensible.io/regulated=true"
REFERENCE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
SECRET_NAME = re.compile(r"token|password|passwd|passphrase|secret|credential|api_?key|private_?key", re.IGNORECASE)
NOT_SECRET_SUFFIXES = ("_env", "_file", "_path")
# Top-level keys that set a pack parameter of the same meaning (applied to the packs that define it).
SHORTHANDS = {"regulated_namespaces": "regulated_label", "egress_allowlist": "egress_allowlist"}

STRINGS = {"type": "array", "items": {"type": "string", "minLength": 1}}
CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "store": {"type": "string", "minLength": 1},
        "memory_limit": {"type": "string", "minLength": 1, "description": "DuckDB memory limit of the store (4GB)"},
        "sources": {"type": "object", "additionalProperties": {"type": ["object", "null"]}},
        "packs": STRINGS,
        "parameters": {"type": "object", "propertyNames": {"pattern": "^[a-z][a-z0-9_]*$"}},
        "enable": {
            "type": "array",
            "items": {
                "type": "string",
                "pattern": "^[a-z0-9][a-z0-9-]*/[a-z0-9][a-z0-9-]*$",
                "description": "PACK/CLAIM",
            },
        },
        "waivers": {"type": "string", "minLength": 1},
        "signing": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"keys": STRINGS, "kms_keys": STRINGS, "kms_region": {"type": "string", "minLength": 1}},
        },
        "freshness": {
            "type": "object",
            "additionalProperties": {
                "type": "string",
                "pattern": DURATION.pattern,
                "description": "a duration (30d, 12h or 90m)",
            },
        },
        "regulated_namespaces": {"type": "string", "pattern": LABEL, "description": "a label key=value"},
        "egress_allowlist": STRINGS,
    },
}


class ConfigError(Exception):
    """The configuration file is invalid; the message names the file, the line and the key."""


@dataclass(frozen=True)
class Signing:
    keys: tuple[Path, ...] = ()
    kms_keys: tuple[str, ...] = ()
    kms_region: str | None = None


@dataclass(frozen=True)
class Config:
    """A loaded configuration; relative paths in it are relative to the current directory."""

    path: Path | None = None
    store: Path | None = None
    memory_limit: str | None = None  # DuckDB's, for the store (collector.store.memory_limit)
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    packs: tuple[str, ...] = ()
    parameters: dict[str, Any] = field(default_factory=dict)  # `parameters` and the shorthands, by parameter name
    enable: tuple[str, ...] = ()
    waivers: Path | None = None
    signing: Signing = Signing()
    freshness: dict[str, str] = field(default_factory=dict)
    parameter_keys: dict[str, tuple[Any, ...]] = field(default_factory=dict)  # parameter name -> its key path
    root: yaml.Node | None = None

    def where(self, path: tuple[Any, ...] | list[Any]) -> str:
        return f"{self.path}: line {line_of(self.root, list(path))}: {key_path(path)}"

    def pack_dirs(self) -> list[Path]:
        """The directories of the configured packs (default: every built-in pack)."""
        if not self.packs:
            return list(builtin_pack_dirs().values())
        dirs = []
        for i, ref in enumerate(self.packs):
            try:
                dirs.append(resolve_pack(ref))
            except PackError as exc:
                raise ConfigError(f"{self.where(('packs', i))}: {exc}") from None
        return dirs

    def for_packs(self, packs: list[Pack], narrowed: bool) -> tuple[dict[str, Any], frozenset[str]]:
        """The parameters and enabled claims of this file that apply to ``packs``. Unless the packs were chosen on
        the command line (``narrowed``), a parameter or claim no pack defines is an error; shorthands never are.
        A value of another type than a pack declares is an error naming its line."""
        known = {name for pack in packs for name in pack.parameters}
        claims = {f"{pack.id}/{claim.id}" for pack in packs for claim in pack.claims}
        parameters = {}
        for name, value in self.parameters.items():
            if name in known:
                for pack in (pack for pack in packs if name in pack.parameters):
                    try:
                        pack.check_parameter(name, value)
                    except PackError as exc:
                        raise ConfigError(f"{self.where(self.parameter_keys[name])}: {exc}") from None
                parameters[name] = value
            elif not narrowed and self.parameter_keys[name][0] == "parameters":
                defined = ", ".join(sorted(known)) or "none"
                raise ConfigError(
                    f"{self.where(self.parameter_keys[name])}: no pack defines this parameter ({defined})"
                )
        for i, claim in enumerate(self.enable):
            if claim not in claims and not narrowed:
                raise ConfigError(f"{self.where(('enable', i))}: no claim {claim} in the packs evaluated")
        return parameters, frozenset(c for c in self.enable if c in claims)


def key_path(path: tuple[Any, ...] | list[Any]) -> str:
    """``sources.logs.inputs[0].format`` for a path of keys and indexes."""
    text = ""
    for key in path:
        text += f"[{key}]" if isinstance(key, int) else f".{key}" if text else str(key)
    return text or "(top level)"


def load_config(path: Path | None, environ: Mapping[str, str] | None = None) -> Config:
    """Read, check and expand the configuration file; ``None`` is the empty configuration."""
    if path is None:
        return Config()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        root, doc = load_document(text, str(path), TextTimesLoader)
    except InputError as exc:
        raise ConfigError(str(exc)) from None
    doc = {} if doc is None else doc
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: line 1: expected a mapping of settings ({', '.join(CONFIG_SCHEMA['properties'])})")
    located = Config(path=path, root=root)
    refuse_secrets(located, doc)
    doc = expand(located, doc, [], os.environ if environ is None else environ)
    doc = {key: value for key, value in doc.items() if value is not None}  # an empty key is an absent one
    problems = sorted(schema_problems(located, doc), key=lambda p: (p[0], p[1]))
    if problems:
        raise ConfigError("\n".join(f"{path}: line {line}: {where}: {message}" for line, where, message in problems))
    return build(located, doc)


def build(located: Config, doc: dict[str, Any]) -> Config:
    parameters = dict(doc.get("parameters", {}))
    keys = {name: ("parameters", name) for name in parameters}
    for shorthand, name in SHORTHANDS.items():
        if shorthand not in doc:
            continue
        if name in parameters:
            raise ConfigError(f"{located.where((shorthand,))}: also set as parameters.{name}; keep one of them")
        parameters[name], keys[name] = doc[shorthand], (shorthand,)
    signing = doc.get("signing", {})
    return Config(
        path=located.path,
        store=Path(doc["store"]) if "store" in doc else None,
        memory_limit=doc.get("memory_limit"),
        sources={name: cfg or {} for name, cfg in doc.get("sources", {}).items()},
        packs=tuple(doc.get("packs", ())),
        parameters=parameters,
        enable=tuple(doc.get("enable", ())),
        waivers=Path(doc["waivers"]) if "waivers" in doc else None,
        signing=Signing(
            tuple(Path(k) for k in signing.get("keys", ())),
            tuple(signing.get("kms_keys", ())),
            signing.get("kms_region"),
        ),
        freshness=dict(doc.get("freshness", {})),
        parameter_keys=keys,
        root=located.root,
    )


def refuse_secrets(located: Config, doc: Any) -> None:
    """Refuse a non-empty value under a key named like a secret, and private key material anywhere."""
    for key, value in walk(doc, ()):
        name = str(key[-1]) if key else ""
        secret_named = SECRET_NAME.search(name) and not name.lower().endswith(NOT_SECRET_SUFFIXES)
        if secret_named and _holds_value(value):
            raise ConfigError(
                f"{located.where(key)}: secrets are not written in the config file: keep it in an environment "
                f"variable and give that variable's name instead (e.g. {name}_env: MY_{name.upper()}, where the "
                "source supports it)"
            )
        if isinstance(value, str) and "PRIVATE KEY-----" in value:
            raise ConfigError(
                f"{located.where(key)}: private key material is not written in the config file; give the path of "
                "the key file (signing.keys) instead"
            )


def _holds_value(value: Any) -> bool:
    """A non-empty string or a number, or a list holding one (null, "", booleans and mappings hold none)."""
    if isinstance(value, list):
        return any(_holds_value(item) for item in value)
    return isinstance(value, str | int | float) and not isinstance(value, bool) and value != ""


def walk(value: Any, path: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """(path, value) of every value under ``value``, depth first."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        yield (*path, key), item
        yield from walk(item, (*path, key))


def expand(located: Config, value: Any, path: list[Any], environ: Mapping[str, str]) -> Any:
    """``value`` with ``${VAR}``, ``${VAR:-default}`` and ``$$`` expanded in every string. A plain (unquoted)
    string that is exactly one reference takes the YAML type of the variable's text."""
    if isinstance(value, dict):
        return {k: expand(located, v, [*path, k], environ) for k, v in value.items()}
    if isinstance(value, list):
        return [expand(located, v, [*path, i], environ) for i, v in enumerate(value)]
    if not isinstance(value, str) or "$" not in value:
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        if default is not None:
            return environ.get(name) or default
        if name in environ:
            return environ[name]
        raise ConfigError(
            f"{located.where(path)}: environment variable {name} is not set (write ${{{name}:-default}} for a default)"
        )

    if "${" in REFERENCE.sub("", value):
        raise ConfigError(
            f"{located.where(path)}: malformed reference in {value!r} (use ${{VAR}} or ${{VAR:-default}})"
        )
    expanded = REFERENCE.sub(substitute, value)
    node = node_at(located.root, path)
    whole = REFERENCE.fullmatch(value) and value != "$$"
    if whole and isinstance(node, yaml.ScalarNode) and not node.style:  # plain: None (PyYAML) or "" (libyaml)
        try:
            return load(expanded, value, TextTimesLoader)
        except InputError:
            return expanded
    return expanded


def schema_problems(located: Config, doc: dict[str, Any]) -> Iterator[tuple[int, str, str]]:
    """(line, key path, message) of every schema error: of the file, then of each source's settings."""
    yield from _problems(located, CONFIG_SCHEMA, doc, ())
    sources = doc.get("sources")
    if not isinstance(sources, dict):
        return
    installed = discover_sources()
    for name, cfg in sources.items():
        entry = installed.get(name)
        at = ("sources", name)
        if entry is None:
            known = ", ".join(installed) or "none"
            yield line_of(located.root, list(at)), key_path(at), f"unknown source (installed: {known})"
        elif entry.source is None:
            yield line_of(located.root, list(at)), key_path(at), f"source failed to load: {entry.error}"
        elif isinstance(cfg, dict | None):
            yield from _problems(located, entry.source.config_schema, cfg or {}, at)


def _problems(
    located: Config, schema: Mapping[str, Any], instance: Any, prefix: tuple[Any, ...]
) -> Iterator[tuple[int, str, str]]:
    for error in jsonschema.Draft202012Validator(schema).iter_errors(instance):
        path, message = [*prefix, *error.absolute_path], error.message
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = list(error.schema.get("properties", {}))
            for extra in sorted(k for k in error.instance if k not in allowed):
                where = [*path, extra]
                yield line_of(located.root, where), key_path(where), f"unknown key (known: {', '.join(allowed)})"
            continue
        if error.validator == "pattern" and "description" in error.schema:
            message = f"{error.instance!r} is not {error.schema['description']}"
        if error.validator == "oneOf" and all(set(alt) == {"required"} for alt in error.validator_value):
            names = ", ".join(n for alt in error.validator_value for n in alt["required"])
            message = f"needs exactly one of {names}"
        yield line_of(located.root, path), key_path(path), message


# --- the template written by `defensible init` ----------------------------------------------------------------


def render_template(sources: Mapping[str, Source], packs: list[Pack], version: str) -> str:
    """A commented configuration covering every key: safe values set, every source and the rest commented out
    (uncomment a block by removing one ``# `` from each of its lines)."""
    parameters = {name: (pack, value) for pack in packs for name, value in pack.parameters.items()}
    descriptions = _parameter_descriptions(packs)
    lines = [
        f"# defensible configuration, written by `defensible init` (defensible {version}); see docs/configuration.md.",
        "# Command-line options beat this file, which beats the defaults. Strings expand ${VAR} and",
        "# ${VAR:-default} from the environment. Never write secrets here: name the environment variable",
        "# that holds one (e.g. token_env: GITHUB_TOKEN). Relative paths are relative to the current directory.",
        "",
        "# Evidence store (DuckDB file); --store or $DEFENSIBLE_STORE override it.",
        "store: evidence.duckdb",
        "",
        "# Sources `defensible collect` runs, with their settings (`defensible sources` lists them).",
        "# Uncomment the sources you collect from and fill in their settings.",
        "sources:",
    ]
    for name, source in sources.items():
        block = [
            f"{name}:  # {_one_line(source.description)}",
            *[f"  {line}" for line in _render_properties(source.config_schema)],
        ]
        lines += [f"  # {line}" for line in block]
    lines += [
        "",
        "# Query packs `check` and `bundle` evaluate: built-in names or pack directories (default: every built-in).",
        f"# packs: {_flow([pack.id for pack in packs])}",
        "",
        "# Pack parameters (like --param NAME=VALUE), shown with their defaults.",
        "# parameters:",
    ]
    for name, (pack, value) in parameters.items():
        if name not in SHORTHANDS.values():
            kind = pack.parameter_types[name].words
            lines += [f"#   # {pack.id}: {descriptions[name]} ({kind})", f"#   {name}: {_flow(value)}"]
    off = [f"{pack.id}/{claim.id}" for pack in packs for claim in pack.claims if not claim.enabled]
    lines += [
        "",
        "# Claims that are off by default to evaluate too (like --enable PACK/CLAIM).",
        f"# enable: {_flow(off)}",
        "",
        "# Waivers file (like --waivers); see docs/waivers.md.",
        "# waivers: waivers.yaml",
        "",
        "# How `bundle` signs (like --key, --kms-key, --kms-region): paths of Ed25519 private key files (from",
        "# `defensible keygen`) and AWS KMS key ARNs. Key material itself is never written here.",
        "# signing:",
        "#   keys: [defensible-signing.key]",
        "#   kms_keys: [arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab]",
        "#   kms_region: eu-west-1",
        "",
        "# Longest age of each source's evidence before a claim is stale (30d, 12h, 90m), overriding the packs'.",
        "# freshness:",
        *[f"#   {source}: {limit}" for source, limit in _pack_freshness(packs).items()],
        "",
        "# Label (key=value) that marks a namespace as regulated (the regulated_label parameter of the packs).",
        f"regulated_namespaces: {DEFAULT_REGULATED}",
        "",
        "# Destinations regulated namespaces may reach outside the cluster, in every cluster (the logs pack's",
        "# egress_allowlist parameter): IPv4 CIDRs (10.0.0.0/8) and DNS name patterns (*.amazonaws.com).",
        "egress_allowlist: []",
    ]
    return "\n".join(lines) + "\n"


def _render_properties(schema: Mapping[str, Any]) -> list[str]:
    """Lines (from column 0) for an object schema's properties: required ones and those with a default are set,
    the others commented out (of a ``oneOf`` of required keys, the first alternative is set)."""
    required = set(schema.get("required", []))
    alternatives = [alt["required"][0] for alt in schema.get("oneOf", []) if set(alt) == {"required"}]
    required.update(alternatives[:1])
    lines = []
    for name, prop in schema.get("properties", {}).items():
        note = _describe(prop, alternatives if name in alternatives else [])
        entry = [f"# {note}"] * bool(note) + _render_value(name, prop)
        lines += entry if name in required or "default" in prop else [f"# {line}" for line in entry]
    return lines


def _render_value(name: str, prop: Mapping[str, Any]) -> list[str]:
    """``name: value``, or ``name:`` and the nested settings (an array of objects shows one item)."""
    if "default" in prop:
        return [f"{name}: {_flow(prop['default'])}"]
    if _object_schema(prop):
        return [f"{name}:", *[f"  {line}" for line in _render_properties(prop)]]
    items = prop.get("items", {})
    if _type(prop) == "array" and _object_schema(items):
        item = _render_properties(items)
        first = next((i for i, line in enumerate(item) if not line.startswith("#")), None)
        if first is None:
            return [f"{name}:", "  - {}", *[f"    {line}" for line in item]]
        return [f"{name}:", *[f"  - {line}" if i == first else f"    {line}" for i, line in enumerate(item)]]
    return [f"{name}: {_placeholder(prop)}"]


def _describe(prop: Mapping[str, Any], alternatives: list[str]) -> str:
    parts = [_one_line(prop.get("description", ""))]
    items = prop.get("items", {})
    if "enum" in prop:
        parts.append(f"one of: {', '.join(map(str, prop['enum']))}")
    if items.get("description"):
        parts.append(f"each: {_one_line(items['description'])}")
    if "default" in prop and prop["default"] is None and _object_schema(prop):
        keys = [f"{k} (required)" if k in prop.get("required", []) else k for k in prop["properties"]]
        parts.append(f"set to a mapping of {', '.join(keys)}")
    if alternatives:
        parts.append(f"exactly one of {', '.join(alternatives)}")
    return "; ".join(p for p in parts if p)


def _placeholder(prop: Mapping[str, Any]) -> str:
    if "enum" in prop:
        return _flow(prop["enum"][0])
    return {"array": "[]", "object": "{}", "integer": "0", "number": "0", "boolean": "false"}.get(_type(prop), '""')


def _type(prop: Mapping[str, Any]) -> str:
    kind = prop.get("type", "string")
    return next((k for k in kind if k != "null"), "string") if isinstance(kind, list) else kind


def _object_schema(prop: Mapping[str, Any]) -> bool:
    return _type(prop) == "object" and bool(prop.get("properties"))


def _flow(value: Any) -> str:
    return (
        yaml.safe_dump(value, default_flow_style=True, width=1 << 20, sort_keys=False)
        .strip()
        .removesuffix("...")
        .strip()
    )


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _parameter_descriptions(packs: list[Pack]) -> dict[str, str]:
    """Parameter name -> description, from the packs' pack.yaml."""
    found: dict[str, str] = {}
    for pack in packs:
        doc = load(pack.files["pack.yaml"].decode("utf-8"), f"{pack.id}/pack.yaml")
        for name, spec in (doc.get("parameters") or {}).items():
            found.setdefault(name, _one_line(spec.get("description", "")))
    return found


def _pack_freshness(packs: list[Pack]) -> dict[str, str]:
    """Each source's freshness as the packs set it (the shortest, when packs differ)."""
    found: dict[str, str] = {}
    for pack in packs:
        for source, limit in pack.freshness.items():
            if source not in found or duration(limit) < duration(found[source]):
                found[source] = limit
    return dict(sorted(found.items()))
