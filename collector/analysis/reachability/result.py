"""The analysis result: allowed connections per ordered pair, in canonical text and JSON."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from collector.analysis.reachability.conns import EMPTY, Conn, conn_json, conn_text

SEPARATOR, CONN_SEPARATOR = " => ", " : "


class Uncertain(NamedTuple):
    """A connection from ``src`` that an Allow or Pass rule of ``policy`` may open although the lines do not show
    it, because its ``peer``'s addresses are unknown: to the workload ``dst`` on ``conn`` (what ``dst``'s ingress
    side admits beyond the lines, canonical text), or, ``dst`` and ``conn`` empty, to addresses outside the cluster.
    ``scope``: ``nodes`` (node addresses: hostNetwork and hostPort workloads, external addresses), ``workloads``
    (pod addresses inside ``networks``) or ``addresses`` (``domainNames``)."""

    src: str
    dst: str
    conn: str
    scope: str
    policy: str
    peer: str
    why: str


class Reachability:
    """Allowed connections, one ``(src, dst, conn)`` triple per ordered pair with at least one connection; the
    admin policy peers not evaluated (``unmodelled()``) and where the result may understate connections
    (``uncertain``)."""

    def __init__(
        self,
        triples: Iterable[tuple[str, str, Conn]],
        uncertain: Iterable[Uncertain] = (),
        unmodelled: Iterable[str] = (),
    ) -> None:
        self.triples = sorted((t for t in triples if t[2] != EMPTY), key=lambda t: (t[0], t[1]))
        self.uncertain = sorted(set(uncertain))
        self._unmodelled = sorted(set(unmodelled))
        self._lines: list[str] | None = None
        self._texts: dict[Conn, str] = {}

    def unmodelled(self) -> list[str]:
        """The admin policy peers the engine cannot evaluate (``AdminNetworkPolicy name spec.egress[0].to[1].nodes``):
        they match nothing in the result."""
        return list(self._unmodelled)

    def lines(self) -> list[str]:
        """``SRC => DST : CONN``, sorted."""
        if self._lines is None:
            self._lines = self._format(self.triples)
        return list(self._lines)

    def to_json(self) -> list[dict]:
        return [{"src": src, "dst": dst, "conn": conn_json(conn)} for src, dst, conn in self.triples]

    def ingress_to(self, workload: str) -> list[str]:
        """Lines whose destination is ``workload`` (``ns/name``, ``ns/name[Kind]`` or an address interval)."""
        return self._format(t for t in self.triples if _names(t[1], workload))

    def egress_from(self, workload: str) -> list[str]:
        """Lines whose source is ``workload`` (``ns/name``, ``ns/name[Kind]`` or an address interval)."""
        return self._format(t for t in self.triples if _names(t[0], workload))

    def _format(self, triples: Iterable[tuple[str, str, Conn]]) -> list[str]:
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
