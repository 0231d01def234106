"""External addresses: ipBlocks as IP intervals, the elementary intervals they induce, and merging."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from collector.analysis.reachability.errors import ReachabilityError

Interval = tuple[int, int, int]  # (IP version, first address, last address) as integers
SPACES: tuple[Interval, ...] = ((4, 0, 2**32 - 1), (6, 0, 2**128 - 1))

T = TypeVar("T")


def ipblock_intervals(cidr: Any, excepts: Any, where: str) -> list[Interval]:
    """The addresses of ``cidr`` minus every ``except`` CIDR, as disjoint sorted intervals."""
    net = parse_cidr(cidr, where)
    if excepts is not None and not isinstance(excepts, list):
        raise ReachabilityError(f"{where}: ipBlock except must be a list, got {excepts!r}")
    holes = sorted((n.version, int(n[0]), int(n[-1])) for n in (parse_cidr(e, where) for e in excepts or []))
    lo, last = int(net[0]), int(net[-1])
    out: list[Interval] = []
    for version, hole_lo, hole_hi in holes:
        if version != net.version or hole_hi < lo or hole_lo > last:
            continue
        if hole_lo > lo:
            out.append((net.version, lo, hole_lo - 1))
        lo = max(lo, hole_hi + 1)
    if lo <= last:
        out.append((net.version, lo, last))
    return out


def parse_cidr(text: Any, where: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    if not isinstance(text, str):
        raise ReachabilityError(f"{where}: ipBlock CIDR must be a string, got {text!r}")
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError as exc:
        raise ReachabilityError(f"{where}: invalid ipBlock CIDR {text!r}: {exc}") from None


def elementary_intervals(blocks: Iterable[Iterable[Interval]]) -> list[Interval]:
    """The coarsest partition of the IPv4 and IPv6 spaces in which every block is a union of parts."""
    starts: dict[int, set[int]] = {4: {0}, 6: {0}}
    for block in blocks:
        for version, lo, hi in block:
            starts[version].add(lo)
            starts[version].add(hi + 1)
    out: list[Interval] = []
    for version, _, top in SPACES:
        points = sorted(p for p in starts[version] if p <= top)
        out.extend((version, p, (points[i + 1] - 1) if i + 1 < len(points) else top) for i, p in enumerate(points))
    return out


def interval_text(interval: Interval) -> str:
    version, lo, hi = interval
    cls = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    return f"{cls(lo)}-{cls(hi)}"


def merge_runs(intervals: Sequence[Interval], values: Sequence[T], empty: T) -> list[tuple[Interval, T]]:
    """Adjacent intervals of one IP version with equal values merged; intervals whose value is ``empty`` dropped.

    ``intervals`` are sorted and disjoint (the elementary partition); ``values[i]`` belongs to ``intervals[i]``.
    """
    out: list[tuple[Interval, T]] = []
    for (version, lo, hi), value in zip(intervals, values, strict=True):
        if value == empty:
            continue
        if out:
            (pv, plo, phi), pvalue = out[-1]
            if pv == version and phi + 1 == lo and pvalue == value:
                out[-1] = ((version, plo, hi), value)
                continue
        out.append(((version, lo, hi), value))
    return out
