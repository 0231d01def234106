"""A plan (``ordered``) evaluated over the engine's index space at once: first match per connection, with bitsets.

The state of the evaluation is a partition of the index space into pieces that share (allowed, pending, passed)
connection ids: what a rule allowed, what no rule decided yet, what a Pass rule sent to the next tier. A rule
splits the pieces it covers; the end of a tier turns the pending connections into its default action.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from collector.analysis.reachability.bits import indices
from collector.analysis.reachability.conns import ALL_ID, EMPTY_ID, ConnTable
from collector.analysis.reachability.model import Rule
from collector.analysis.reachability.ordered import ALLOW, DENY, PASS, Tier

State = dict[tuple[int, int, int], int]  # (allowed, pending, passed) -> members of the index space
Parts = Callable[[Rule], list[tuple[int, int]]]  # a rule's (members, connection id) pieces


def evaluate(tiers: list[Tier], parts: Parts, table: ConnTable, everything: int, size: int) -> list[int]:
    """The row of a plan: per member of the index space, the connections it allows."""
    state: State = {(EMPTY_ID, ALL_ID, EMPTY_ID): everything}
    for rules, default in tiers:
        for action_rule in rules:
            for bits, conn in parts(action_rule.rule):
                if bits and conn != EMPTY_ID:
                    state = step(state, action_rule.action, bits, conn, table)
        ended: State = defaultdict(int)
        for (allowed, pending, passed), members in state.items():
            following = table.union(passed, pending) if default == PASS else passed
            ended[(allowed, following, EMPTY_ID)] |= members
        state = ended
    row = [EMPTY_ID] * size
    for (allowed, pending, _), members in state.items():  # what passed the last tier is allowed
        conn = table.union(allowed, pending)
        if conn != EMPTY_ID:
            for i in indices(members):
                row[i] = conn
    return row


def step(state: State, action: str, bits: int, conn: int, table: ConnTable) -> State:
    """The state after a rule matching ``conn`` to or from ``bits``."""
    out: State = defaultdict(int)
    for key, members in state.items():
        inside = members & bits
        allowed, pending, passed = key
        hit = table.intersection(pending, conn) if inside else EMPTY_ID
        if hit == EMPTY_ID:
            out[key] |= members
            continue
        if members != inside:
            out[key] |= members & ~inside
        rest = table.difference(pending, conn)
        if action == ALLOW:
            allowed = table.union(allowed, hit)
        elif action == PASS:
            passed = table.union(passed, hit)
        else:
            assert action == DENY
        out[(allowed, rest, passed)] |= inside
    return out
