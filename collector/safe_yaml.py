"""The one way the project reads YAML and JSON that users give it: manifests, ``defensible.yaml``, waivers files,
``pack.yaml``, ``--set`` values and Kubernetes API responses.

Hostile input is refused before anything is built from it: aliases that would add more than ``MAX_ALIAS_NODES``
nodes or ``MAX_ALIAS_CHARS`` characters to a file (a "billion laughs" bomb, a long string aliased often), an alias
inside the node it names (a recursive structure), and collections nested deeper than ``MAX_DEPTH``. Every failure
is an ``InputError`` whose message is one line naming the file, the document (of a multi-document stream) and the
line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import yaml

MAX_ALIAS_NODES = 100_000  # nodes that aliases may add to one file, all its documents together
MAX_ALIAS_CHARS = 10_000_000  # characters of text that aliases may add to one file (a long string aliased often)
MAX_DEPTH = 200  # nesting of mappings and sequences
MAX_INT_BITS = 10_000  # about 3000 decimal digits: Python writes no integer of more than 4300 as text
JSON_START = re.compile(r"\s*(?=[{\[])")  # text that may be JSON: its first character opens an object or array

_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _located(constructor: Callable[[Any, yaml.Node], Any]) -> Callable[[Any, yaml.Node], Any]:
    """``constructor`` raising a YAML error at its node, not a bare ValueError later, for a value Python refuses
    (``2026-13-45``) or could not write back (an integer of thousands of digits)."""

    def construct(loader: Any, node: yaml.Node) -> Any:
        try:
            value = constructor(loader, node)
        except (ValueError, TypeError, OverflowError) as exc:
            raise yaml.constructor.ConstructorError(None, None, str(exc), node.start_mark) from None
        if type(value) is int and value.bit_length() > MAX_INT_BITS:
            raise yaml.constructor.ConstructorError(None, None, "integer of more than 3000 digits", node.start_mark)
        return value

    return construct


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping repeats a key."""


class SafeLoader(_Base):  # type: ignore[valid-type,misc]
    """PyYAML's safe loader: libyaml's when PyYAML was built with it (several times faster), else pure Python.

    Mappings may not repeat a key, as Kubernetes requires: with a repeated key the decoded document would silently
    drop a value the text holds (a second ``kind`` turning a Secret into a ConfigMap), so what is vetted would not
    be what is written. Merge keys (``<<``) may still be overridden."""

    yaml_constructors = {tag: _located(constructor) for tag, constructor in _Base.yaml_constructors.items()}

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set[tuple[str, str]] = set()
        for key, _ in node.value:
            if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                if (key.tag, key.value) in seen:
                    raise DuplicateKeyError(None, None, f"the key {key.value!r} is repeated", key.start_mark)
                seen.add((key.tag, key.value))
        return super().construct_mapping(node, deep)


class TextTimesLoader(SafeLoader):
    """YAML whose unquoted times stay text (``since: 2026-11-01T00:00:00Z``), as sources' configs expect."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in SafeLoader.yaml_implicit_resolvers.items()
    }


class InputError(ValueError):
    """YAML or JSON that cannot be read, or is refused; the message is one line naming the file and line."""


class InvalidJSON(InputError):
    """Text that is not JSON (which a manifest not named ``.json`` may then be read as YAML)."""


class DuplicateKeys(InputError):
    """A mapping repeats a key: what is decoded would not be all that is written."""


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        repeated = next(k for i, (k, _) in enumerate(pairs) if k in dict(pairs[:i]))
        raise DuplicateKeys(f"the key {repeated!r} is repeated")
    return value


def load(text: str, name: str, loader: type[SafeLoader] = SafeLoader) -> Any:
    """The value of the single YAML document of ``text`` (``None`` if empty); ``name`` names it in errors."""
    return load_document(text, name, loader)[1]


def load_document(text: str, name: str, loader: type[SafeLoader] = SafeLoader) -> tuple[yaml.Node | None, Any]:
    """The root node (for line numbers, see ``collector.yaml_lines``) and value of the single document of ``text``."""
    check_bounds(text, name, loader)
    instance = loader(text)
    try:
        root = instance.get_single_node()
        return root, instance.construct_document(root) if root is not None else None
    except yaml.YAMLError as exc:
        raise invalid(exc, text, name) from None
    finally:
        instance.dispose()


def load_all(text: str, name: str) -> Iterator[tuple[int, int, Any]]:
    """(document number, first line, value) of each document of a manifest; JSON (a ``.json`` file, or text that
    parses as JSON) is read with the JSON parser, which is many times faster than YAML's."""
    opening = JSON_START.match(text)
    if opening or name.endswith(".json"):
        try:
            value = load_json(text, name)
        except InvalidJSON:
            if name.endswith(".json"):
                raise
        else:
            yield 1, text.count("\n", 0, opening.end()) + 1 if opening else 1, value
            return
    check_bounds(text, name, SafeLoader, numbered=True)
    loader = SafeLoader(text)
    document = 0
    try:
        while loader.check_node():
            document += 1
            node = loader.get_node()
            if node is not None:
                yield document, node.start_mark.line + 1, loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise invalid(exc, text, name, max(document, 1)) from None
    finally:
        loader.dispose()


def list_item_lines(text: str) -> dict[int, list[int]]:
    """The first line of each item of every YAML document that holds an ``items`` sequence (a ``List``), by
    document number as :func:`load_all` numbers them; none for JSON, which :func:`load_all` reads without lines.
    Call it only on text :func:`load_all` has read."""
    if JSON_START.match(text):
        return {}
    lines: dict[int, list[int]] = {}
    loader = SafeLoader(text)
    try:
        document = 0
        while loader.check_node():
            document += 1
            node = loader.get_node()
            if isinstance(node, yaml.MappingNode):
                found = next((v for k, v in node.value if k.value == "items"), None)
                if isinstance(found, yaml.SequenceNode):
                    lines[document] = [item.start_mark.line + 1 for item in found.value]
    finally:
        loader.dispose()
    return lines


def load_json(text: str | bytes, name: str) -> Any:
    """The value of a JSON text, its nesting bounded by ``MAX_DEPTH``."""
    try:
        value = json.loads(text, object_pairs_hook=_unique_pairs)
    except DuplicateKeys as exc:
        raise DuplicateKeys(f"{name}: invalid JSON: {exc}") from None
    except json.JSONDecodeError as exc:
        raise InvalidJSON(f"{name}: line {exc.lineno}: invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise InputError(f"{name}: {too_deep()}") from None
    except ValueError as exc:  # bytes in no UTF encoding
        raise InvalidJSON(f"{name}: invalid JSON: {exc}") from None
    check_depth(value, name)
    return value


def check_depth(value: Any, name: str) -> None:
    """Refuse a decoded value whose mappings and sequences nest deeper than ``MAX_DEPTH``."""
    level, depth = [value] if type(value) is dict or type(value) is list else [], 0
    while level:
        depth += 1
        if depth > MAX_DEPTH:
            raise InputError(f"{name}: {too_deep()}")
        level = [
            child
            for item in level
            for child in (item.values() if type(item) is dict else item)
            if type(child) is dict or type(child) is list
        ]


def check_bounds(text: str, name: str, loader: type[SafeLoader], numbered: bool = False) -> None:
    """Read the YAML events of ``text`` and refuse it, naming the line, if its aliases would add more than
    ``MAX_ALIAS_NODES`` nodes or ``MAX_ALIAS_CHARS`` characters, an alias is inside the node it names, or
    collections nest deeper than ``MAX_DEPTH``; ``numbered`` names the document too. Nodes are built after, only
    from a text that passed."""
    parser = loader(text)
    sizes: dict[str, tuple[int, int]] = {}  # anchor -> (nodes, characters) it names, its aliases expanded
    opened: list[tuple[str | None, int, int]] = []  # (anchor, nodes and characters before it) of each collection
    nodes = chars = added_nodes = added_chars = document = 0
    try:
        while parser.check_event():
            event = parser.get_event()
            problem = None
            if isinstance(event, yaml.DocumentStartEvent):
                document, sizes = document + 1, {}
            elif isinstance(event, yaml.ScalarEvent):
                nodes, chars = nodes + 1, chars + len(event.value)
                if event.anchor is not None:
                    sizes[event.anchor] = (1, len(event.value))
            elif isinstance(event, yaml.CollectionStartEvent):
                opened.append((event.anchor, nodes, chars))
                nodes += 1
                problem = too_deep() if len(opened) > MAX_DEPTH else None
            elif isinstance(event, yaml.CollectionEndEvent):
                anchor, nodes_before, chars_before = opened.pop()
                if anchor is not None:
                    sizes[anchor] = (nodes - nodes_before, chars - chars_before)
            elif isinstance(event, yaml.AliasEvent):
                size, length = sizes.get(event.anchor, (0, 0))  # an undefined alias is the composer's error
                nodes, chars = nodes + size, chars + length
                added_nodes, added_chars = added_nodes + size, added_chars + length
                if any(anchor == event.anchor for anchor, *_ in opened):
                    problem = f"alias *{event.anchor} is inside the node it names (a recursive structure); refused"
                elif added_nodes > MAX_ALIAS_NODES or added_chars > MAX_ALIAS_CHARS:
                    problem = (
                        f"aliases would add more than {MAX_ALIAS_NODES} nodes or {MAX_ALIAS_CHARS} characters"
                        " (a YAML alias bomb); refused"
                    )
            if problem:
                raise InputError(f"{where(name, event.start_mark.line + 1, document if numbered else None)}{problem}")
    except yaml.YAMLError as exc:
        raise invalid(exc, text, name, document if numbered else None) from None
    finally:
        parser.dispose()


def too_deep() -> str:
    return f"mappings and sequences nest deeper than {MAX_DEPTH} levels; refused"


def where(name: str, line: int | None, document: int | None = None) -> str:
    """``name: document 2, line 6: `` (the parts that are known)."""
    parts = ([f"document {document}"] if document else []) + ([f"line {line}"] if line else [])
    return f"{name}: {', '.join(parts)}: " if parts else f"{name}: "


def invalid(exc: yaml.YAMLError, text: str, name: str, document: int | None = None) -> InputError:
    """One line for a YAML syntax error: file, document, line and the problem."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or ""
        if exc.problem and exc.context and exc.context_mark and exc.context_mark.line + 1 != line:
            problem += f" ({exc.context} on line {exc.context_mark.line + 1})"  # e.g. where an unclosed [ opened
    elif isinstance(exc, yaml.reader.ReaderError):
        line, problem = text.count("\n", 0, exc.position) + 1, str(exc).splitlines()[0]
    else:
        line, problem = None, " ".join(str(exc).split())
    error = DuplicateKeys if isinstance(exc, DuplicateKeyError) else InputError
    return error(f"{where(name, line, document)}invalid YAML: {problem}")
