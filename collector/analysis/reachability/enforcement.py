"""The engine's rows under Cilium and Calico policies: each class's plan (``ordered``) evaluated over the index
space, first match per connection, with bitsets.

The state of a plan's evaluation is a partition of the index space into pieces that share (allowed, pending,
passed) connection ids: what a rule allowed, what no rule decided yet, what a Pass rule sent to the next tier.
A rule splits the pieces it covers; the end of a tier turns the pending connections into its default action.
When both Cilium and Calico policies are present (Cilium chained on Calico), a connection must pass both.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING

from collector.analysis.reachability.bits import indices
from collector.analysis.reachability.conns import ALL_ID, EMPTY_ID, ConnTable
from collector.analysis.reachability.model import Inventory, NamedPort, Rule
from collector.analysis.reachability.ordered import ALLOW, DENY, PASS, Tier, plan

if TYPE_CHECKING:  # the engine calls this module
    from collector.analysis.reachability.engine import CompiledPolicy, CompiledRule, Klass, Rows, Space

State = dict[tuple[int, int, int], int]  # (allowed, pending, passed) -> members of the index space


def enforced_rows(
    inv: Inventory, space: Space, classes: list[Klass], compiled: list[CompiledPolicy], rows: Rows
) -> tuple[list[list[int]], list[list[int]]]:
    """Per class, the ingress row (from every source) and the egress row (to every destination)."""
    table = rows.table
    enforcers = sorted({p.enforcer for p in inv.ordered})
    selected = [space.peer(p.selects) if p.selects is not None else 0 for p in inv.ordered]
    rules: dict[int, CompiledRule] = {}
    memo: dict[tuple, list[int]] = {}

    def compile_rule(rule: Rule) -> CompiledRule:
        found = rules.get(id(rule))
        if found is None:
            found = rules[id(rule)] = space.rule(rule, table)
        return found

    def row(k: int, ingress: bool) -> list[int]:
        bit = 1 << k
        knps = [
            p for p, c in zip(inv.policies, compiled, strict=True)
            if c.selected & bit and (p.ingress if ingress else p.egress)
        ]  # fmt: skip
        named = classes[k].named_ports if ingress else None
        out: list[int] | None = None
        for enforcer in enforcers:
            mine = [
                p for p, s in zip(inv.ordered, selected, strict=True)
                if s & bit and p.enforcer == enforcer and (p.ingress if ingress else p.egress)
            ]  # fmt: skip
            key = (enforcer, ingress, tuple(map(id, knps)), tuple(map(id, mine)), named)
            found = memo.get(key)
            if found is None:
                tiers = plan(enforcer, knps, mine, ingress, inv.tiers)
                parts = ingress_parts(named, compile_rule, rows) if ingress else egress_parts(compile_rule, rows)
                found = memo[key] = evaluate(tiers, parts, table, space.everything, space.size)
            out = found if out is None else [table.intersection(a, b) for a, b in zip(out, found, strict=True)]
        return out if out is not None else rows.all

    return [row(k, True) for k in range(len(classes))], [row(k, False) for k in range(len(classes))]


Parts = Callable[[Rule], list[tuple[int, int]]]  # a rule's (members, connection id) pieces


def ingress_parts(named_ports: tuple[NamedPort, ...] | None, compile_rule: Callable, rows: Rows) -> Parts:
    """Into a class with these named ports: a rule's ports resolve against them."""

    def parts(rule: Rule) -> list[tuple[int, int]]:
        c = compile_rule(rule)
        return [(c.bits, rows.resolved(c.ports, named_ports or ()) if c.named else c.conn_id)]

    return parts


def egress_parts(compile_rule: Callable, rows: Rows) -> Parts:
    """Out of a class: a rule's named ports resolve per destination (its named-ports signature)."""

    def parts(rule: Rule) -> list[tuple[int, int]]:
        c = compile_rule(rule)
        if not c.named:
            return [(c.bits, c.conn_id)]
        return [
            (c.bits & having, rows.resolved(c.ports, named_ports))
            for named_ports, having in rows.signatures.items()
            if c.bits & having
        ]

    return parts


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
