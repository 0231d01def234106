"""Which paths of a GitOps repository are deployed, read from the files that declare them.

A Helm chart (the directory of a ``Chart.yaml``, and its ``file://`` dependencies) and a kustomization (the
directory of a ``kustomization.yaml``, and every file or directory it references: resources, components,
patches, generators, Helm charts…) are deployed, as are the paths that Flux Kustomizations, HelmReleases and
HelmCharts and Argo CD Applications and ApplicationSets name (sources, Helm value files and file parameters,
Jsonnet libraries). Paths are relative to the repository root; ``""`` is the whole repository. A path holding a
glob or template (``apps/*``, ``clusters/{{name}}``) stands for the directory before it, and a reference outside
the repository (a URL, ``..`` above the root) is not a path of it.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from typing import Any

KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
DECLARER_PATHS = r"(^|/)(Chart\.yaml|kustomization\.ya?ml|Kustomization)$"
DECLARER_API_GROUPS = r"^((kustomize|helm|source)\.toolkit\.fluxcd\.io|argoproj\.io)/"
DECLARER_KINDS = ("Kustomization", "HelmRelease", "HelmChart", "Application", "ApplicationSet")
KUSTOMIZE_LISTS = ("resources", "bases", "components", "crds", "configurations", "transformers", "generators",
                   "validators", "patchesStrategicMerge")  # fmt: skip
KUSTOMIZE_PATH_ENTRIES = ("patches", "patchesJson6902", "replacements")
REMOTE = re.compile(r"^[a-z][a-z0-9+.-]*://|^git@|^github\.com/|^gitlab\.com/|^bitbucket\.org/|\?ref=", re.I)
PATTERN = re.compile(r"[*?\[{$]")

Declared = tuple[str, str]  # (deployed path, why)


def deployed_paths(path: str, documents: list[Any]) -> Iterator[Declared]:
    """The paths that the file at ``path`` (its decoded YAML documents) makes deployed."""
    directory = posixpath.dirname(path)
    name = posixpath.basename(path)
    if name == "Chart.yaml":
        yield directory, f"Helm chart {directory or '.'}"
        for doc in dicts(documents):
            for dep in dicts(doc.get("dependencies")):
                repository = dep.get("repository")
                if isinstance(repository, str) and repository.startswith("file://"):
                    yield from resolved(directory, repository[len("file://") :], f"dependency of {path}")
    elif name in KUSTOMIZATION_NAMES:
        yield directory, f"kustomization {directory or '.'}"
        for doc in dicts(documents):
            for field, ref in kustomize_references(doc):
                yield from resolved(directory, ref, f"{field} of {path}")
    for doc in dicts(documents):
        for obj in [doc, *dicts(doc.get("items"))]:  # a List of objects too
            yield from controller_paths(obj)


def kustomize_references(doc: dict) -> Iterator[tuple[str, str]]:
    """(field, reference) for each file or directory a kustomization reads (inline patches are not files)."""
    for field in KUSTOMIZE_LISTS:
        for ref in strings(doc.get(field)):
            if "\n" not in ref:
                yield field, ref
    for field in KUSTOMIZE_PATH_ENTRIES:
        entries = doc.get(field)
        for entry in dicts(entries if isinstance(entries, list) else [entries]):
            yield from ((field, ref) for ref in strings(entry.get("path")))
    for field in ("configMapGenerator", "secretGenerator"):
        for entry in dicts(doc.get(field)):
            for ref in strings(entry.get("files")):
                yield field, ref.split("=", 1)[-1]
            yield from ((field, ref) for ref in [*strings(entry.get("envs")), *strings(entry.get("env"))])
    openapi = doc.get("openapi")
    if isinstance(openapi, dict):
        yield from (("openapi", ref) for ref in strings(openapi.get("path")))
    globals_ = doc.get("helmGlobals") if isinstance(doc.get("helmGlobals"), dict) else {}
    chart_home = globals_.get("chartHome") if isinstance(globals_.get("chartHome"), str) else "charts"
    for chart in dicts(doc.get("helmCharts")):
        yield (
            "helmCharts",
            posixpath.join(chart_home, chart["name"]) if isinstance(chart.get("name"), str) else chart_home,
        )
        for ref in [*strings(chart.get("valuesFile")), *strings(chart.get("additionalValuesFiles"))]:
            yield "helmCharts", ref


def is_controller(obj: dict) -> bool:
    """Whether ``obj`` is a Flux or Argo CD object that names paths to deploy."""
    api_version = obj.get("apiVersion")
    return (
        isinstance(api_version, str)
        and bool(re.match(DECLARER_API_GROUPS, api_version))
        and (obj.get("kind") in DECLARER_KINDS)
    )


def controller_paths(doc: dict) -> Iterator[Declared]:
    """Paths of this repository that a Flux or Argo CD object deploys (assumed to name this repository)."""
    if not is_controller(doc):
        return
    api_version, kind = doc["apiVersion"], doc["kind"]
    meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    who = f"{'Argo CD' if api_version.startswith('argoproj.io/') else 'Flux'} {kind} " + "/".join(
        str(part) for part in (meta.get("namespace"), meta.get("name")) if part
    )
    spec = doc.get("spec") if isinstance(doc.get("spec"), dict) else {}
    if kind == "Kustomization":  # no spec.path: the root of the source
        yield from resolved("", spec.get("path") if isinstance(spec.get("path"), str) else "", who)
    elif kind == "HelmRelease":  # its chart template is a HelmChart spec
        chart = (spec.get("chart") or {}).get("spec") if isinstance(spec.get("chart"), dict) else None
        yield from flux_chart_paths(chart, who)
    elif kind == "HelmChart":  # a source a HelmRelease names in spec.chartRef
        yield from flux_chart_paths(spec, who)
    elif kind in ("Application", "ApplicationSet"):
        template = spec.get("template") if kind == "ApplicationSet" and isinstance(spec.get("template"), dict) else {}
        app_spec = template.get("spec") if isinstance(template.get("spec"), dict) else spec
        sources = app_spec.get("sources") if isinstance(app_spec.get("sources"), list) else []
        for source in dicts([app_spec.get("source"), *sources]):
            path = source.get("path") if isinstance(source.get("path"), str) else None
            if path is not None:
                yield from resolved("", path, who)
            helm = source.get("helm") if isinstance(source.get("helm"), dict) else {}
            file_parameters = [ref for p in dicts(helm.get("fileParameters")) for ref in strings(p.get("path"))]
            for values in [*strings(helm.get("valueFiles")), *file_parameters]:
                if values.startswith("$") and "/" in values:  # `$ref/…`: the root of another source
                    yield from resolved("", values.split("/", 1)[1], who)
                elif path is not None:  # relative to the source's path (not to a chart of a Helm repository)
                    yield from resolved(path, values, who)
            directory = source.get("directory") if isinstance(source.get("directory"), dict) else {}
            jsonnet = directory.get("jsonnet") if isinstance(directory.get("jsonnet"), dict) else {}
            for lib in strings(jsonnet.get("libs")):  # Jsonnet library directories, from the repository root
                yield from resolved("", lib, who)
        for ref in git_generator_paths(spec.get("generators")):
            yield from resolved("", ref, who)


def flux_chart_paths(chart: Any, who: str) -> Iterator[Declared]:
    """The chart path and values files (``valuesFiles``, and v1beta1's ``valuesFile``) of a Flux HelmChart spec whose
    source is a Git repository or bucket, relative to the source's root."""
    if isinstance(chart, dict) and (chart.get("sourceRef") or {}).get("kind") in ("GitRepository", "Bucket"):
        for ref in [
            *strings(chart.get("chart")),
            *strings(chart.get("valuesFiles")),
            *strings(chart.get("valuesFile")),
        ]:
            yield from resolved("", ref, who)


def git_generator_paths(generators: Any) -> Iterator[str]:
    """Directory and file paths of ApplicationSet git generators, also nested in matrix/merge generators."""
    for generator in dicts(generators):
        git = generator.get("git") if isinstance(generator.get("git"), dict) else {}
        for entry in [*dicts(git.get("directories")), *dicts(git.get("files"))]:
            if not entry.get("exclude"):
                yield from strings(entry.get("path"))
        for nested in ("matrix", "merge"):
            if isinstance(generator.get(nested), dict):
                yield from git_generator_paths(generator[nested].get("generators"))


def resolved(directory: str, ref: str, why: str) -> Iterator[Declared]:
    """``ref`` relative to ``directory``, cut before any glob or template; nothing if outside the repository."""
    if REMOTE.search(ref):
        return
    if not directory:
        ref = ref.lstrip("/")  # Flux and Argo CD paths are relative to the repository root
    literal = PATTERN.split(ref, 1)[0]
    if literal != ref:
        literal = literal.rsplit("/", 1)[0] if "/" in literal else ""
    path = posixpath.normpath(posixpath.join(directory, literal)) if directory or literal else "."
    if path.startswith("/") or path == ".." or path.startswith("../"):
        return
    yield ("" if path == "." else path), why


def dicts(value: Any) -> list[dict]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value.strip() else []
    return [v for v in value if isinstance(v, str) and v.strip()] if isinstance(value, list) else []
