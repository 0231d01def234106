"""The analysis result: allowed connections per ordered pair, in canonical text and JSON.

The engine's result is class-level (:class:`Classes`): workloads that every policy selects alike share a class, and
connections are held per pair of classes (and per external interval and class). Lines per pair of workloads are
expanded from it only when asked for.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property, partial
from itertools import compress
from typing import TYPE_CHECKING

from collector.analysis.reachability.conns import EMPTY, EMPTY_ID, Conn, conn_json, conn_text

if TYPE_CHECKING:
    from collector.analysis.reachability.admitting import Admitting
    from collector.analysis.reachability.unmodelled import Unmodelled

SEPARATOR, CONN_SEPARATOR = " => ", " : "
Triple = tuple[str, str, Conn]


@dataclass
class Classes:
    """Connections between equivalence classes of workloads (ids into ``conns``; EMPTY_ID: none)."""

    ids: list[str]  # the workloads
    class_of: list[int]  # per workload, its class
    members: list[list[int]]  # per class, its workloads
    allowed: Sequence[Sequence[int]]  # allowed[src class][dst class] (arrays of connection ids)
    egress: list[list[tuple[str, int]]]  # per class, (external interval, conn) it may connect to
    ingress: list[list[tuple[str, int]]]  # per class, (external interval, conn) that may connect to it
    conns: list[Conn]
    admitting: Admitting | None = None  # what admits the connections, when the engine reads it off its rules

    def rows(self) -> Iterator[tuple[int | None, int | None, str | None, int]]:
        """(src class, dst class, external interval, conn id) of every class pair some pair of workloads shares
        (a class with one member has no pair with itself); one side is None when the other is external."""
        everyone = range(len(self.allowed))
        for k, row in enumerate(self.allowed):
            for d in compress(everyone, row):  # EMPTY_ID is 0: the classes it has a connection to
                if d != k or len(self.members[k]) > 1:
                    yield k, d, None, row[d]
            for interval, conn in self.egress[k]:
                yield k, None, interval, conn
            for interval, conn in self.ingress[k]:
                yield None, k, interval, conn

    def triples(
        self, src: Callable[[str], bool] | None = None, dst: Callable[[str], bool] | None = None
    ) -> Iterator[Triple]:
        """The pairs of workloads (and of workloads and intervals), optionally only those whose source or
        destination (an id or an interval) the predicates accept."""
        ids, conns = self.ids, self.conns
        srcs = [i for i, w in enumerate(ids) if src is None or src(w)]
        dsts = [j for j, w in enumerate(ids) if dst is None or dst(w)]
        by_class: dict[int, list[int]] = {}
        for j in dsts:
            by_class.setdefault(self.class_of[j], []).append(j)
        for i in srcs:
            row = self.allowed[self.class_of[i]]
            for d, members in by_class.items():
                if row[d] != EMPTY_ID:
                    yield from ((ids[i], ids[j], conns[row[d]]) for j in members if j != i)
            for interval, c in self.egress[self.class_of[i]]:
                if dst is None or dst(interval):
                    yield ids[i], interval, conns[c]
        for j in dsts:
            for interval, c in self.ingress[self.class_of[j]]:
                if src is None or src(interval):
                    yield interval, ids[j], conns[c]

    def to_json(self) -> dict:
        """The class-level result as JSON: ``classes`` (the workload ids of each class), ``conns`` (connection
        texts) and ``connections``, ``[src, dst, external, conn]`` each: ``src``/``dst`` a class index or None for
        the interval ``external``, ``conn`` an index into ``conns``."""
        return {
            "classes": [[self.ids[i] for i in members] for members in self.members],
            "conns": [conn_text(c) for c in self.conns],
            "connections": [list(row) for row in self.rows()],
        }

    def json_text(self) -> str:
        """``to_json()`` as canonical JSON text (sorted keys, no spaces), written row by row: the connections are
        not built as one list each first."""
        dumps = partial(json.dumps, separators=(",", ":"))

        def value(v: int | str | None) -> str:
            return "null" if v is None else str(v) if isinstance(v, int) else dumps(v)

        connections = ",".join(f"[{value(s)},{value(d)},{value(e)},{c}]" for s, d, e, c in self.rows())
        classes = dumps([[self.ids[i] for i in members] for members in self.members])
        conns = dumps([conn_text(c) for c in self.conns])
        return f'{{"classes":{classes},"connections":[{connections}],"conns":{conns}}}'


def expand_json(document: dict) -> list[str]:
    """The lines ``SRC => DST : CONN`` (sorted) of a class-level result in JSON (``Classes.to_json``)."""
    classes, conns = document["classes"], document["conns"]
    lines = [
        f"{src}{SEPARATOR}{dst}{CONN_SEPARATOR}{conns[conn]}"
        for src_class, dst_class, external, conn in document["connections"]
        for src in (classes[src_class] if src_class is not None else [external])
        for dst in (classes[dst_class] if dst_class is not None else [external])
        if src != dst
    ]
    return sorted(lines)


class Reachability:
    """Allowed connections, one ``(src, dst, conn)`` triple per ordered pair with at least one connection, and what
    the analysis could not model on some pairs (``unmodelled``); from explicit triples (the naive evaluator) or from
    a class-level result (the engine), expanded on demand."""

    def __init__(
        self, triples: Iterable[Triple] = (), unmodelled: Sequence[Unmodelled] = (), classes: Classes | None = None
    ) -> None:
        self.classes = classes
        self._given = None if classes is not None else triples
        self.unmodelled = list(unmodelled)
        self._texts: dict[Conn, str] = {}

    @cached_property
    def triples(self) -> list[Triple]:
        found = self.classes.triples() if self.classes is not None else self._given or ()
        return sorted((t for t in found if t[2] != EMPTY), key=lambda t: (t[0], t[1]))

    @cached_property
    def _lines(self) -> list[str]:
        return self.format(self.triples)

    def lines(self) -> list[str]:
        """``SRC => DST : CONN``, sorted."""
        return list(self._lines)

    def to_json(self, triples: Iterable[Triple] | None = None) -> list[dict]:
        """``{"src", "dst", "conn"}`` per triple (default: every one)."""
        chosen = self.triples if triples is None else triples
        return [{"src": src, "dst": dst, "conn": conn_json(conn)} for src, dst, conn in chosen]

    def ingress_to(self, workload: str) -> list[str]:
        """Lines whose destination is ``workload`` (``ns/name``, ``ns/name[Kind]`` or an address interval)."""
        return self.format(self.select(dst=workload))

    def egress_from(self, workload: str) -> list[str]:
        """Lines whose source is ``workload`` (``ns/name``, ``ns/name[Kind]`` or an address interval)."""
        return self.format(self.select(src=workload))

    def select(self, src: str | None = None, dst: str | None = None) -> list[Triple]:
        """The triples from ``src`` and to ``dst`` (each ``ns/name``, ``ns/name[Kind]`` or an address interval;
        None: any), sorted; a class-level result expands only those."""
        accept_src = None if src is None else (lambda e: _names(e, src))
        accept_dst = None if dst is None else (lambda e: _names(e, dst))
        return sorted(self.matching(accept_src, accept_dst), key=lambda t: (t[0], t[1]))

    def matching(
        self, src: Callable[[str], bool] | None = None, dst: Callable[[str], bool] | None = None
    ) -> Iterator[Triple]:
        """The triples whose source and destination (an id or an interval) the predicates accept (None: any); a
        class-level result not yet expanded expands only those."""
        if self.classes is not None and "triples" not in self.__dict__:
            return (t for t in self.classes.triples(src, dst) if t[2] != EMPTY)
        return (t for t in self.triples if (src is None or src(t[0])) and (dst is None or dst(t[1])))

    def format(self, triples: Iterable[Triple]) -> list[str]:
        """``SRC => DST : CONN`` per triple, sorted."""
        lines = []
        for src, dst, conn in triples:
            text = self._texts.get(conn)
            if text is None:
                text = self._texts[conn] = conn_text(conn)
            lines.append(f"{src}{SEPARATOR}{dst}{CONN_SEPARATOR}{text}")
        lines.sort()
        return lines


def _names(endpoint: str, wanted: str) -> bool:
    return endpoint == wanted or endpoint.split("[", 1)[0] == wanted


def diff_lines(old: Reachability, new: Reachability) -> tuple[list[str], list[str]]:
    """(lines only in ``new``, lines only in ``old``), each sorted; a changed pair appears in both."""
    before, after = set(old.lines()), set(new.lines())
    return sorted(after - before), sorted(before - after)
