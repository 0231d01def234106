"""Kubernetes objects as manifests and API dumps hold them: lists unwrapped, list items typed by their list."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


class ListError(ValueError):
    """A list whose items cannot be read (``items`` is no list, an item of another kind than its typed list)."""


def typed_items(doc: Any, where: str) -> Iterator[tuple[str, Any]]:
    """(location, object) of a decoded document, unwrapping lists: ``List`` (kubectl), whose items name their kind,
    and the API's typed lists (``PodList``, ``NamespaceList``, ...), whose items often do not: those take the
    list's kind and apiVersion. Anything else is yielded as it is, for the caller to judge."""
    kind = doc.get("kind") if isinstance(doc, dict) else None
    if not (isinstance(kind, str) and kind.endswith("List") and "items" in doc):
        yield where, doc
        return
    items = doc["items"] or []
    if not isinstance(items, list):
        raise ListError(f"{where}: `items` of {kind} is not a list")
    item_kind = kind[: -len("List")]
    for i, item in enumerate(items):
        at = f"{where} items[{i}]"
        if item_kind and isinstance(item, dict):
            if item.get("kind", item_kind) != item_kind:
                raise ListError(f"{at}: kind {item['kind']!r} in a {kind}")
            item = {"apiVersion": doc.get("apiVersion"), **item, "kind": item_kind}
        yield from typed_items(item, at)
