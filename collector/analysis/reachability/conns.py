"""Connection sets: per protocol (TCP, UDP, SCTP) a sorted tuple of disjoint, non-adjacent port intervals.

A connection set is a plain tuple ``(tcp, udp, sctp)`` of such interval tuples, so it is hashable and
can be interned. ``ConnTable`` numbers the sets of one analysis and memoizes union and intersection.
"""

from __future__ import annotations

from collections.abc import Iterable

PROTOCOLS = ("TCP", "UDP", "SCTP")
MIN_PORT, MAX_PORT = 1, 65535

Ranges = tuple[tuple[int, int], ...]
Conn = tuple[Ranges, Ranges, Ranges]

FULL: Ranges = ((MIN_PORT, MAX_PORT),)
ALL: Conn = (FULL, FULL, FULL)
EMPTY: Conn = ((), (), ())
ALL_TEXT = "All Connections"


def normalize(ranges: Iterable[tuple[int, int]]) -> Ranges:
    """Sorted, disjoint, maximal intervals covering the same ports."""
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return tuple(out)


def ranges_intersection(a: Ranges, b: Ranges) -> Ranges:
    out: list[tuple[int, int]] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo <= hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return tuple(out)


def conn_of(protocol: str, lo: int = MIN_PORT, hi: int = MAX_PORT) -> Conn:
    """The connection set of ports ``lo``..``hi`` of one protocol."""
    ranges: list[Ranges] = [(), (), ()]
    ranges[PROTOCOLS.index(protocol)] = ((lo, hi),)
    return (ranges[0], ranges[1], ranges[2])


def union(a: Conn, b: Conn) -> Conn:
    if a == EMPTY or b == ALL:
        return b
    if b == EMPTY or a == ALL:
        return a
    return (normalize(a[0] + b[0]), normalize(a[1] + b[1]), normalize(a[2] + b[2]))


def union_all(conns: Iterable[Conn]) -> Conn:
    conns = [c for c in conns if c != EMPTY]
    if len(conns) < 2:
        return conns[0] if conns else EMPTY
    parts: list[list[tuple[int, int]]] = [[], [], []]
    for conn in conns:
        for k in range(3):
            parts[k].extend(conn[k])
    return (normalize(parts[0]), normalize(parts[1]), normalize(parts[2]))


def intersection(a: Conn, b: Conn) -> Conn:
    if a == ALL or b == EMPTY:
        return b
    if b == ALL or a == EMPTY:
        return a
    return (ranges_intersection(a[0], b[0]), ranges_intersection(a[1], b[1]), ranges_intersection(a[2], b[2]))


def ranges_difference(a: Ranges, b: Ranges) -> Ranges:
    out: list[tuple[int, int]] = []
    for lo, hi in a:
        for blo, bhi in b:
            if bhi < lo or blo > hi:
                continue
            if blo > lo:
                out.append((lo, blo - 1))
            lo = bhi + 1
            if lo > hi:
                break
        if lo <= hi:
            out.append((lo, hi))
    return tuple(out)


def difference(a: Conn, b: Conn) -> Conn:
    """The connections of ``a`` not in ``b``."""
    if a == EMPTY or b == EMPTY:
        return a
    if b == ALL:
        return EMPTY
    return (ranges_difference(a[0], b[0]), ranges_difference(a[1], b[1]), ranges_difference(a[2], b[2]))


def ranges_text(ranges: Ranges) -> str:
    return ",".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in ranges)


def conn_text(conn: Conn) -> str:
    """``All Connections``, or ``PROTO ports`` per non-empty protocol joined by ``;`` (``TCP 80,443;UDP 53``)."""
    if conn == ALL:
        return ALL_TEXT
    return ";".join(f"{proto} {ranges_text(r)}" for proto, r in zip(PROTOCOLS, conn, strict=True) if r)


def conn_json(conn: Conn) -> dict[str, str] | str:
    """``"all"``, or ports per non-empty protocol (``{"TCP": "80,443"}``)."""
    if conn == ALL:
        return "all"
    return {proto: ranges_text(r) for proto, r in zip(PROTOCOLS, conn, strict=True) if r}


EMPTY_ID, ALL_ID = 0, 1


class ConnTable:
    """Numbers the connection sets of one analysis; union, intersection and difference are memoized on the numbers."""

    def __init__(self) -> None:
        self.conns: list[Conn] = [EMPTY, ALL]
        self.ids: dict[Conn, int] = {EMPTY: EMPTY_ID, ALL: ALL_ID}
        self._union: dict[tuple[int, int], int] = {}
        self.inter: dict[tuple[int, int], int] = {}
        self._difference: dict[tuple[int, int], int] = {}

    def id(self, conn: Conn) -> int:
        found = self.ids.get(conn)
        if found is None:
            found = self.ids[conn] = len(self.conns)
            self.conns.append(conn)
        return found

    def union(self, a: int, b: int) -> int:
        key = (a, b) if a <= b else (b, a)
        found = self._union.get(key)
        if found is None:
            found = self._union[key] = self.id(union(self.conns[a], self.conns[b]))
        return found

    def intersection(self, a: int, b: int) -> int:
        key = (a, b) if a <= b else (b, a)
        found = self.inter.get(key)
        if found is None:
            found = self.inter[key] = self.id(intersection(self.conns[a], self.conns[b]))
        return found

    def difference(self, a: int, b: int) -> int:
        key = (a, b)
        found = self._difference.get(key)
        if found is None:
            found = self._difference[key] = self.id(difference(self.conns[a], self.conns[b]))
        return found

    def intersections(self, keys: Iterable[tuple[int, int]]) -> None:
        """Make sure ``self.inter`` holds every pair of ``keys``."""
        for a, b in set(keys).difference(self.inter):
            self.inter[(a, b)] = self.id(intersection(self.conns[a], self.conns[b]))
