"""Log formats, one module each; every module of this package defines ``FORMAT`` (a ``LogFormat``)."""

from __future__ import annotations

import importlib
import pkgutil

from sources.logs.ingest import LogFormat


def _discover() -> dict[str, LogFormat]:
    found = {}
    for module in pkgutil.iter_modules(__path__):
        fmt = importlib.import_module(f"{__name__}.{module.name}").FORMAT
        found[fmt.name] = fmt
    return dict(sorted(found.items()))


FORMATS: dict[str, LogFormat] = _discover()
