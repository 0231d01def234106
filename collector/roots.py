"""Named roots: where a source's input files are, said without the collecting machine's paths.

A file is recorded as ``ROOT:relative/path``: ``ROOT`` names the directory it is under, a Git working tree when it
is in one (so a manifest's path is the one in its repository), else the configured directory (a configured file's
or glob's own directory). The name is that directory's name, e.g. ``gitops:k8s/00-namespaces.yaml`` for
``/home/x/src/gitops/k8s/00-namespaces.yaml`` in the working tree ``/home/x/src/gitops``; a root alone is ``gitops:``.
No absolute path of the collecting machine reaches the store: runs record their config with such paths named the
same way (:func:`portable_config`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from collector.plugins import SourceError

GLOB_CHARS = frozenset("*?[")
ABSOLUTE = re.compile(r"(?<![\w.:/~-])[/~][^\s'\"`(),;]*")  # an absolute path in a message, up to a delimiter


@dataclass(frozen=True)
class Root:
    name: str
    directory: Path  # absolute and resolved: never recorded


def split_glob(path: str | Path) -> tuple[Path, PurePosixPath]:
    """The part of ``path`` before its first glob component (absolute, resolved) and the rest (e.g. ``*.json``)."""
    parts = Path(os.path.expanduser(str(path))).parts
    cut = next((i for i, part in enumerate(parts) if GLOB_CHARS & set(part)), len(parts))
    return Path(*parts[:cut]).resolve() if cut else Path.cwd(), PurePosixPath(*parts[cut:])


def root_of(path: str | Path) -> Root:
    """The root of a configured path: the Git working tree holding it, else the directory it names (a file's or a
    glob's: the directory it is in)."""
    static, pattern = split_glob(path)
    tree = next((d for d in (static, *static.parents) if (d / ".git").exists()), None)
    directory = tree or (static if pattern.parts or static.is_dir() else static.parent)
    return Root(directory.name or "root", directory)


class Roots:
    """The roots of one source's configured paths; two different directories of the same name are refused, since
    their files could not be told apart."""

    def __init__(self, source: str, paths: Iterable[str | Path]):
        self.roots: list[Root] = []
        for path in paths:
            root = root_of(path)
            twin = next((r for r in self.roots if r.name == root.name and r.directory != root.directory), None)
            if twin:
                raise SourceError(
                    f"{source}: two input roots are named {root.name!r} (the directories of {path} and of another "
                    "configured path): files are recorded relative to a root named after its directory, so give "
                    "one a directory of another name"
                )
            if root not in self.roots:
                self.roots.append(root)
        self.roots.sort(key=lambda r: -len(r.directory.parts))  # the innermost root first

    def label(self, path: str | Path) -> str:
        """``ROOT:relative/path`` of a file, directory or glob under one of the roots (else under its own root)."""
        static, pattern = split_glob(path)
        for configured in [*self.roots, None]:
            root = configured or root_of(path)  # computed only for a path under no configured root
            if static == root.directory or root.directory in static.parents:
                relative = PurePosixPath(*static.relative_to(root.directory).parts, *pattern.parts)
                return f"{root.name}:{'' if str(relative) == '.' else relative}"
        raise AssertionError(f"{path} is under no root")  # root_of(path) holds it


def is_machine_path(value: str) -> bool:
    """Whether a config string names a file of this machine: absolute (or ``~``), under a directory that exists
    here (``/home``, ``/tmp``…), not a root-level name such as an HTTP path (``/healthz``)."""
    path = Path(os.path.expanduser(value))
    return path.is_absolute() and len(path.parts) > 2 and Path(*path.parts[:2]).is_dir()


def portable_config(config: Any) -> Any:
    """``config`` with every path of this machine in it named by its root (``gitops:k8s``), as a run records it."""
    if isinstance(config, Mapping):
        return {key: portable_config(value) for key, value in config.items()}
    if isinstance(config, list | tuple):
        return [portable_config(value) for value in config]
    if isinstance(config, str) and is_machine_path(config):
        return Roots("config", []).label(config)
    return config


def portable_text(text: str | None) -> str | None:
    """A message (a run's error, a reason) with each path of this machine in it named by its root."""
    if text is None:
        return None
    return ABSOLUTE.sub(lambda m: portable_config(m.group()), text)
