"""YAML read with its line numbers, so that an error in a user's file can name the line of the key at fault."""

from __future__ import annotations

from typing import Any

import yaml


class TextTimesLoader(yaml.SafeLoader):
    """YAML whose unquoted times stay text (``since: 2026-11-01T00:00:00Z``), as sources' configs expect."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping repeats a key."""


class UniqueKeyLoader(yaml.CSafeLoader):
    """YAML (and JSON) whose mappings may not repeat a key, as Kubernetes requires: with a repeated key the
    decoded document would silently drop a value the text holds (a second ``kind`` turning a Secret into a
    ConfigMap), so what is vetted would not be what is written. Merge keys (``<<``) may still be overridden."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set[tuple[str, str]] = set()
        for key, _ in node.value:
            if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                if (key.tag, key.value) in seen:
                    raise DuplicateKeyError(None, None, "found a duplicate mapping key", key.start_mark)
                seen.add((key.tag, key.value))
        return super().construct_mapping(node, deep)


def node_at(node: yaml.Node | None, path: list[Any]) -> yaml.Node | None:
    """The node at ``path`` (mapping keys and sequence indexes), or the deepest node on the way that exists."""
    return _walk(node, path)[-1][1]


def line_of(root: yaml.Node | None, path: list[Any]) -> int:
    """The 1-based line of ``path``: of its key when it ends in a mapping key, else of its node (or of the
    deepest node on the way that exists)."""
    key, node = _walk(root, path)[-1]
    at = key if key is not None else node
    return at.start_mark.line + 1 if at is not None else 1


def _walk(node: yaml.Node | None, path: list[Any]) -> list[tuple[yaml.Node | None, yaml.Node | None]]:
    """(key node or None, node) for the root and each step of ``path`` that exists."""
    steps: list[tuple[yaml.Node | None, yaml.Node | None]] = [(None, node)]
    for key in path:
        if isinstance(node, yaml.MappingNode):
            found = next(((k, v) for k, v in node.value if k.value == key), None)
            if found is None:
                break
            steps.append(found)
            node = found[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
            node = node.value[key]
            steps.append((None, node))
        else:
            break
    return steps
