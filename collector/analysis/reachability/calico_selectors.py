"""Calico selector expressions (``app == 'web' && !has(canary)``), parsed once and matched against label maps.

Grammar (docs.tigera.io, NetworkPolicy selectors): ``all()``, ``global()``, ``k == 'v'``, ``k != 'v'`` (true when
``k`` is absent), ``has(k)``, ``k in {'a', 'b'}``, ``k not in {...}`` (true when ``k`` is absent),
``k contains 's'``, ``k starts with 's'``, ``k ends with 's'``, ``!``, ``&&``, ``||`` and parentheses; ``&&`` binds
tighter than ``||``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from collector.analysis.reachability.errors import ReachabilityError
from collector.analysis.reachability.model import NAME_LABEL

CALICO_NAME_LABEL = "projectcalico.org/name"

TOKEN = re.compile(
    r"\s*(?:(?P<str>'[^']*'|\"[^\"]*\")|(?P<op>==|!=|&&|\|\||[!(){},])"
    r"|(?P<word>not\s+in\b|starts\s+with\b|ends\s+with\b|[A-Za-z0-9_./\-]+))"
)
Node = tuple[Any, ...]


@dataclass(frozen=True)
class CalicoSelector:
    text: str
    tree: Node
    namespaces: bool = False  # a namespaceSelector: namespaces also carry projectcalico.org/name

    @classmethod
    def parse(cls, raw: Any, where: str, namespaces: bool = False) -> CalicoSelector:
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return cls("all()", ("all",), namespaces)
        if not isinstance(raw, str):
            raise ReachabilityError(f"{where}: a selector must be a string, got {raw!r}")
        parser = Parser(raw, where)
        tree = parser.disjunction()
        if parser.peek() is not None:
            parser.fail(f"unexpected {parser.peek()!r}")
        return cls(raw, tree, namespaces)

    @property
    def keys(self) -> frozenset[str]:
        """The label keys the selector looks at."""
        return frozenset(keys_of(self.tree))

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.namespaces and NAME_LABEL in labels:
            labels = {**labels, CALICO_NAME_LABEL: labels[NAME_LABEL]}
        return evaluate(self.tree, labels)

    def but_not(self, other: CalicoSelector) -> CalicoSelector:
        """This selector without what ``other`` selects (a rule's ``notSelector``)."""
        return CalicoSelector(f"({self.text}) && !({other.text})", ("and", self.tree, ("not", other.tree)))


def keys_of(node: Node) -> set[str]:
    if node[0] in ("and", "or"):
        return keys_of(node[1]) | keys_of(node[2])
    if node[0] == "not":
        return keys_of(node[1])
    return {node[1]} if len(node) > 1 else set()


def evaluate(node: Node, labels: Mapping[str, str]) -> bool:
    op = node[0]
    if op == "and":
        return evaluate(node[1], labels) and evaluate(node[2], labels)
    if op == "or":
        return evaluate(node[1], labels) or evaluate(node[2], labels)
    if op == "not":
        return not evaluate(node[1], labels)
    if op in ("all", "global"):
        return op == "all"  # global() selects non-namespaced endpoints (host endpoints, network sets): no pod
    value = labels.get(node[1])
    if op == "has":
        return value is not None
    if op == "!=":
        return value != node[2]
    if op == "not in":
        return value not in node[2]
    if value is None:
        return False
    if op == "==":
        return value == node[2]
    if op == "in":
        return value in node[2]
    if op == "contains":
        return node[2] in value
    if op == "starts with":
        return value.startswith(node[2])
    return value.endswith(node[2])


class Parser:
    def __init__(self, text: str, where: str) -> None:
        self.text, self.where, self.tokens = text, where, []
        pos = 0
        while pos < len(text.rstrip()):
            m = TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                self.fail(f"cannot read from {text[pos:]!r}")
            token = m.group(m.lastgroup)
            self.tokens.append(re.sub(r"\s+", " ", token) if m.lastgroup == "word" else token)
            pos = m.end()
        self.pos = 0

    def fail(self, why: str) -> None:
        raise ReachabilityError(f"{self.where}: invalid selector {self.text!r}: {why}")

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            self.fail(f"expected {expected or 'more'}, got {token!r}")
        self.pos += 1
        return token  # type: ignore[return-value]

    def disjunction(self) -> Node:
        node = self.conjunction()
        while self.peek() == "||":
            self.take()
            node = ("or", node, self.conjunction())
        return node

    def conjunction(self) -> Node:
        node = self.unary()
        while self.peek() == "&&":
            self.take()
            node = ("and", node, self.unary())
        return node

    def unary(self) -> Node:
        token = self.take()
        if token == "!":
            return ("not", self.unary())
        if token == "(":
            node = self.disjunction()
            self.take(")")
            return node
        if token in ("all", "global"):
            self.take("(")
            self.take(")")
            return (token,)
        if token == "has":
            self.take("(")
            key = self.take()
            self.take(")")
            return ("has", key)
        op = self.take()
        if op in ("in", "not in"):
            self.take("{")
            values = []
            while self.peek() != "}":
                values.append(self.string())
                if self.peek() == ",":
                    self.take()
            self.take("}")
            return (op, token, frozenset(values))
        if op not in ("==", "!=", "contains", "starts with", "ends with"):
            self.fail(f"unknown operator {op!r}")
        return (op, token, self.string())

    def string(self) -> str:
        token = self.take()
        if len(token) < 2 or token[0] not in "'\"" or token[-1] != token[0]:
            self.fail(f"expected a quoted string, got {token!r}")
        return token[1:-1]
