"""Line numbers in YAML read with ``collector.safe_yaml``, so that an error in a user's file can name the line of the
key at fault."""

from __future__ import annotations

from typing import Any

import yaml


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
