"""Sets of small integers as Python ints (bit i set: member i), with fast set operations in C."""

from __future__ import annotations


def indices(bits: int) -> list[int]:
    """The members of ``bits``, ascending."""
    text = bin(bits)[:1:-1]  # least significant bit first, without the "0b" prefix
    out = []
    i = text.find("1")
    while i >= 0:
        out.append(i)
        i = text.find("1", i + 1)
    return out


def span(first: int, last: int) -> int:
    """The members ``first``..``last``."""
    return ((1 << (last - first + 1)) - 1) << first
