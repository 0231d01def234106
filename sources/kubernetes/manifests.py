"""The offline inventory: manifests as a GitOps repository holds them, rendered output, and API list dumps.

Inputs are files and directories (``paths``), the output of a render command configured for a path
(``{path: charts/web, render: "helm template web {path}"}``) or standard input (``stdin``: ``kustomize build … |
defensible collect kubernetes --stdin``). A file is read for Kubernetes objects unless it is known not to hold any
as written: a Helm chart's own files (``Chart.yaml``, values files), its templates (not rendered), a kustomization
and the patches it names. A document that is no Kubernetes object (no ``apiVersion`` and ``kind``: a schema, a tool's
settings) or one of a kind not collected is skipped. Each skip is counted by reason in the run's notes and in the
manifest listing; templates not rendered and kustomizations not built make the run ``partial``, since what the
repository deploys is then not what was read. An object of a collected kind that is malformed fails the run,
naming its file, document and line.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from collector.analysis.objects import ListError, typed_items
from collector.plugins import CollectContext, SourceError
from collector.redaction import redact_object
from collector.roots import Roots, portable_text
from collector.safe_yaml import InputError, list_item_lines, load_all

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
KUSTOMIZATIONS = ("kustomization.yaml", "kustomization.yml", "Kustomization")
CHART_FILES = ("Chart.yaml", "Chart.lock", "requirements.yaml", "values.schema.json")
RENDER_TIMEOUT_S = 300
ITEM = re.compile(r"\(line \d+\) items\[(\d+)\]$")  # a top-level list item of a document

# why a file or document was not read for objects; the first two make the run partial
TEMPLATE = "Helm template(s) not rendered"
KUSTOMIZATION = "kustomization(s) not built"
KUSTOMIZE_PATCH = "kustomize patch file(s), not applied"
CHART_FILE = "Helm chart file(s) (Chart.yaml, values)"
NOT_AN_OBJECT = "document(s) that are no Kubernetes object"
KIND_NOT_COLLECTED = "object(s) of kinds not collected"
OTHER_GROUP = "object(s) of a collected kind's name in another API group"
INCOMPLETE = {
    TEMPLATE: 'render them (`paths: [{path: <chart>, render: "helm template <release> {path}"}]`, or --stdin)',
    KUSTOMIZATION: "their resources were read as written, without patches, namespace or name changes; build them "
    '(`render: "kustomize build {path}"`, or --stdin)',
}

Obj = dict[str, Any]


@dataclass
class Reading:
    """What the inputs held: objects (location, object, artifact digest), and what was skipped, by reason."""

    collected: set[tuple[str, str]]  # (API group, kind)
    clean: Callable[[Obj], Obj]
    objects: list[tuple[str, Obj, str]] = field(default_factory=list)
    inputs: list[dict[str, Any]] = field(default_factory=list)  # the manifest listing: path/render, digest
    skipped: dict[str, list[str]] = field(default_factory=dict)  # reason -> where
    where: str = ""  # the inputs, named by their roots (``gitops:k8s, cluster:, <stdin>``)

    def skip(self, reason: str, where: str) -> None:
        self.skipped.setdefault(reason, []).append(where)


PATHS_SCHEMA = {
    "type": "array",
    "items": {
        "oneOf": [
            {"type": "string"},
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["path", "render"],
                "properties": {"path": {"type": "string"}, "render": {"type": "string", "minLength": 1}},
            },
        ]
    },
    "default": [],
    "description": "manifest files or directories (YAML, JSON, kubectl List dumps, a GitOps repository); {path, "
    "render} reads the output of a render command run on path instead, e.g. {path: charts/web, render: 'helm "
    "template web {path}'}",
}
STDIN_SCHEMA = {
    "type": "boolean",
    "default": False,
    "description": "also read rendered manifests from standard input (`kustomize build overlays/prod | defensible "
    "collect kubernetes --stdin`)",
}


def read_inputs(
    ctx: CollectContext,
    paths: list[str | Obj],
    stdin: bool,
    collected: set[tuple[str, str]],
    clean: Callable[[Obj], Obj] = redact_object,
) -> Reading:
    """Every object of a collected (group, kind) in ``paths`` and standard input, passed through ``clean`` (a copy
    without secret material) as soon as it is decoded, with what was skipped. Files are named by their root
    (``gitops:k8s/00-namespaces.yaml``, :mod:`collector.roots`), never by this machine's path."""
    configured = [entry["path"] if isinstance(entry, dict) else entry for entry in paths]
    roots = Roots(ctx.source, configured)
    named = [*map(roots.label, configured), *(["<stdin>"] if stdin else [])]
    reading = Reading(collected, clean, where=", ".join(named))
    files: list[Path] = []
    for entry in paths:
        if isinstance(entry, dict):
            render(ctx, Path(entry["path"]), entry["render"], reading, roots)
        else:
            files.extend(manifest_files(Path(entry)))
    kustomize_files = kustomize_roles(files)
    with ctx.progress("manifest files", total=len(files), unit="files") as progress:
        for path in files:
            role = kustomize_files.get(path) or chart_role(path)
            if role:
                reading.skip(role, roots.label(path))
            else:
                read_file(ctx, path, roots.label(path), reading)
            progress.advance()
    if stdin:
        read_text(ctx, sys.stdin.buffer.read(), "<stdin>", reading)
    return reading


def manifest_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in MANIFEST_SUFFIXES)
    if path.is_file():
        return [path]
    raise SourceError(f"kubernetes: manifest path {path} does not exist")


@cache
def is_chart(directory: Path) -> bool:
    return (directory / "Chart.yaml").is_file()


def chart_role(path: Path) -> str | None:
    """Why a file of a Helm chart (a directory holding Chart.yaml) is not read as written, or None."""
    for chart in path.parents:
        if is_chart(chart):
            inside = path.relative_to(chart).parts
            if inside[0] == "templates":
                return TEMPLATE
            if len(inside) == 1 and (path.name in CHART_FILES or path.name.startswith("values")):
                return CHART_FILE
            return None  # crds/ and other files of the chart are plain manifests
    return None


def kustomize_roles(files: list[Path]) -> dict[Path, str]:
    """Kustomizations among ``files``, and the patch files they name (paths resolved against their directory)."""
    roles: dict[Path, str] = {}
    for path in files:
        if path.name not in KUSTOMIZATIONS:
            continue
        roles[path] = KUSTOMIZATION
        for _, _, doc in read_documents(path, path.read_text(encoding="utf-8", errors="replace")):
            for patch in patch_paths(doc if isinstance(doc, dict) else {}):
                roles[(path.parent / patch).resolve()] = KUSTOMIZE_PATCH
    resolved = {p.resolve(): p for p in files}
    return {resolved.get(p, p): role for p, role in roles.items()}


def patch_paths(kustomization: Obj) -> Iterator[str]:
    """The files a kustomization names as patches (strategic merge, JSON 6902, replacements)."""
    for item in kustomization.get("patchesStrategicMerge") or []:
        if isinstance(item, str) and "\n" not in item:  # else an inline patch
            yield item
    for key in ("patches", "patchesJson6902", "replacements"):
        for item in kustomization.get(key) or []:
            if isinstance(item, dict) and isinstance(item.get("path"), str):
                yield item["path"]


def render(ctx: CollectContext, path: Path, command: str, reading: Reading, roots: Roots) -> None:
    """Run the render command configured for ``path`` (``{path}`` is replaced by it; no shell) and read its output.
    The command is recorded with the path named by its root."""
    if not path.exists():
        raise SourceError(f"kubernetes: render path {path} does not exist")
    argv = [token.replace("{path}", str(path)) for token in shlex.split(command)]
    label = roots.label(path)
    shown = [portable_text(token.replace("{path}", label)) or "" for token in shlex.split(command)]
    try:
        done = subprocess.run(argv, capture_output=True, timeout=RENDER_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SourceError(f"kubernetes: render of {path} ({shlex.join(argv)}) failed: {exc}") from None
    if done.returncode != 0:
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
        raise SourceError(
            f"kubernetes: render of {path} ({shlex.join(argv)}) exited with {done.returncode}: {' / '.join(tail)}"
        )
    read_text(ctx, done.stdout, f"{label} rendered by `{shlex.join(shown)}`", reading, {"render": shown})


def read_file(ctx: CollectContext, path: Path, label: str, reading: Reading) -> None:
    """Read a manifest file recorded as ``label``; an error names the file as given (the store keeps it named by its
    root: the runner records messages so)."""
    try:
        read_text(ctx, path.read_bytes(), label, reading)
    except SourceError as exc:
        raise SourceError(str(exc).replace(label, str(path))) from None


def read_text(
    ctx: CollectContext,
    raw: bytes,
    name: str,
    reading: Reading,
    listed: dict[str, Any] | None = None,
) -> None:
    """Read the objects of one input, each redacted as soon as it is decoded, and keep the input as an artifact
    (redacted if any of its documents holds secrets), listed with ``listed``."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(f"{name}: not UTF-8 text (byte {exc.start})") from None
    docs = list(read_documents(name, text))
    digest = ctx.add_document_artifact(raw, [doc for *_, doc in docs], name, "application/yaml")
    reading.inputs.append({"path": name, "sha256": digest, **(listed or {})})
    collected = reading.collected
    names = {kind for _, kind in collected}  # an object of a collected kind's name must be well formed
    item_lines = list_item_lines(text) if not name.endswith(".json") and any(map(is_list, docs)) else {}
    for index, line, doc in docs:
        if doc is None:  # an empty document
            continue
        for at, obj in items(doc, f"{name}#{index} (line {line})"):
            where = at_item_line(at, item_lines.get(index, []))
            if not is_object(obj):
                reading.skip(NOT_AN_OBJECT, where)
            elif obj["kind"] not in names:
                reading.skip(KIND_NOT_COLLECTED, obj["kind"])
            elif (api_group(checked(obj, where)["apiVersion"]), obj["kind"]) in collected:
                reading.objects.append((where, reading.clean(obj), digest))
            else:
                reading.skip(OTHER_GROUP, f"{obj['kind']} ({obj['apiVersion']})")


def is_list(document: tuple[int, int, Any]) -> bool:
    doc = document[2]
    return isinstance(doc, dict) and isinstance(doc.get("items"), list)


def at_item_line(where: str, lines: list[int]) -> str:
    """``where`` with the line of its list item, when it names one of a document's items (``… items[3]``)."""
    item = ITEM.search(where)
    return f"{where} (line {lines[int(item.group(1))]})" if item and int(item.group(1)) < len(lines) else where


def items(doc: Any, where: str) -> Iterator[tuple[str, Any]]:
    try:
        yield from typed_items(doc, where)
    except ListError as exc:
        raise SourceError(str(exc)) from None


def read_documents(path: Path | str, text: str) -> Iterator[tuple[int, int, Any]]:
    """(document index, first line, decoded document), naming file, document and line on bad or hostile input."""
    try:
        yield from load_all(text, str(path))
    except InputError as exc:
        raise SourceError(str(exc)) from None


def is_object(obj: Any) -> bool:
    """Whether a document (or list item) claims to be a Kubernetes object: a mapping with a kind."""
    return isinstance(obj, dict) and isinstance(obj.get("kind"), str)


def expand_lists(doc: Any, where: str) -> Iterator[tuple[str, Obj]]:
    """(location, object) of the Kubernetes objects of a document, lists unwrapped; a malformed one is refused."""
    for at, obj in items(doc, where):
        if is_object(obj):
            yield at, checked(obj, at)


def checked(obj: Obj, where: str) -> Obj:
    name = (obj.get("metadata") or {}).get("name") if isinstance(obj.get("metadata"), dict) else None
    if not isinstance(obj.get("apiVersion"), str) or not isinstance(name, str):
        raise SourceError(f"{where}: not a Kubernetes object (needs apiVersion, kind and metadata.name)")
    return obj


def api_group(api_version: Any) -> str:
    """The API group of an ``apiVersion`` (``""``: the core group, ``v1``)."""
    return str(api_version).rpartition("/")[0]


def report_skips(ctx: CollectContext, reading: Reading) -> dict[str, Any]:
    """Say in the run what was skipped (a note per reason; incomplete inputs make it partial); the listing's part."""
    summary: dict[str, Any] = {}
    for reason, where in sorted(reading.skipped.items()):
        counts = {w: where.count(w) for w in dict.fromkeys(where)}
        summary[reason] = counts
        examples = ", ".join(list(counts)[:3]) + (", …" if len(counts) > 3 else "")
        message = f"skipped {len(where)} {reason}: {examples}"
        if reason in INCOMPLETE:
            ctx.partial(f"{message}; {INCOMPLETE[reason]}")
        else:
            ctx.note(message)
    return summary


def listing(cluster: str, reading: Reading, skipped: dict[str, Any]) -> bytes:
    document = {"cluster": cluster, "inputs": reading.inputs} | ({"skipped": skipped} if skipped else {})
    return json.dumps(document, indent=1, sort_keys=True).encode()
