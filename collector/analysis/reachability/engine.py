"""The reachability engine.

Workloads of one namespace that every pod selector applying there selects alike, with the same named ports and
host access, are one equivalence class (labels no selector looks at do not split them). Sets of classes
and of elementary external intervals are bitsets over one index space (classes first, then intervals),
so selecting, matching peers and grouping are a few big-integer operations. For each class the engine
computes one row of allowed connection ids per direction (ingress from every source, egress to every
destination), shared between classes selected by the same policies; a pair's connections are then the
intersection of the source's egress entry and the destination's ingress entry (memoized on the ids). The result
is class-level (``Classes``); lines per pair of workloads are expanded from it on demand.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from operator import itemgetter

from collector.analysis.reachability.addresses import Interval, elementary_intervals, interval_text, merge_runs
from collector.analysis.reachability.bits import indices, span
from collector.analysis.reachability.conns import ALL_ID, EMPTY_ID, ConnTable
from collector.analysis.reachability.model import (
    NAME_LABEL,
    Inventory,
    IPBlockPeer,
    NamedPort,
    Peer,
    Policy,
    PortSpec,
    Rule,
    resolve_ports,
)
from collector.analysis.reachability.result import Classes, Reachability
from collector.analysis.reachability.selectors import Selector


@dataclass
class Klass:
    namespace: str
    labels: dict[str, str]
    named_ports: tuple[NamedPort, ...]
    host_network: bool = False
    host_conn: int = EMPTY_ID  # what every source reaches outside NetworkPolicy (hostNetwork, hostPorts)
    members: list[int] = field(default_factory=list)  # indices into the inventory's workloads


@dataclass(frozen=True)
class CompiledRule:
    bits: int  # the peers: classes and external intervals
    ports: tuple[PortSpec, ...] | None
    named: bool
    conn_id: int  # when not named: the connections allowed to any peer


@dataclass(frozen=True)
class CompiledPolicy:
    selected: int  # classes
    ingress: bool
    egress: bool
    ingress_rules: tuple[CompiledRule, ...]
    egress_rules: tuple[CompiledRule, ...]


OTHER = "\0"  # a label value no selector in scope names (label values cannot hold it)


def selectors_in_scope(inv: Inventory) -> dict[str, tuple[set[tuple[str, str]], set[str]]]:
    """Per namespace, the (label, value) pairs and the label keys of the pod selectors that apply to its pods:
    the podSelectors of its policies and the peer podSelectors whose namespace scope includes it."""
    scoped: dict[str, tuple[set[tuple[str, str]], set[str]]] = defaultdict(lambda: (set(), set()))

    def add(namespace: str, selector: Selector) -> None:
        pairs, keys = scoped[namespace]
        pairs.update(selector.labels)
        pairs.update((e.key, v) for e in selector.expressions for v in e.values)
        keys.update(selector.keys)

    for policy in inv.policies:
        add(policy.namespace, policy.selector)
        for rule in policy.ingress_rules + policy.egress_rules:
            for peer in rule.peers or ():
                if isinstance(peer, IPBlockPeer) or peer.pods is None:
                    continue
                if peer.namespaces is None:
                    add(peer.namespace, peer.pods)
                    continue
                for ns in inv.namespaces:
                    if peer.namespaces.matches(inv.namespaces.get(ns) or {NAME_LABEL: ns}):
                        add(ns, peer.pods)
    return dict(scoped)


def equivalence_classes(inv: Inventory, table: ConnTable) -> tuple[list[Klass], list[int]]:
    """The classes and, per workload, its class index. Workloads of one namespace are equivalent when every pod
    selector that applies there selects them alike: their labels are compared only on the keys those selectors
    look at, and on the values they name (any other value is OTHER), with equal named ports and host access."""
    scoped = selectors_in_scope(inv)
    by_key: dict[tuple, int] = {}
    classes: list[Klass] = []
    of: list[int] = []
    for i, w in enumerate(inv.workloads):
        pairs, keys = scoped.get(w.namespace, (set(), set()))
        labels = {k: v if (k, v) in pairs else OTHER for k, v in w.labels.items() if k in keys}
        key = (w.namespace, frozenset(labels.items()), w.named_ports, w.host_network, w.host_ports)
        k = by_key.get(key)
        if k is None:
            k = by_key[key] = len(classes)
            classes.append(Klass(w.namespace, labels, w.named_ports, w.host_network, table.id(w.host_conn)))
        classes[k].members.append(i)
        of.append(k)
    return classes, of


def blocks(policies: list[Policy]) -> list[tuple[Interval, ...]]:
    return [
        peer.intervals
        for policy in policies
        for rule in policy.ingress_rules + policy.egress_rules
        for peer in rule.peers or ()
        if isinstance(peer, IPBlockPeer)
    ]


class Space:
    """The index space (classes, then external intervals) and selector evaluation over it."""

    def __init__(self, classes: list[Klass], externals: list[Interval], namespaces: dict[str, dict[str, str]]):
        self.size = len(classes) + len(externals)
        self.classes_all = span(0, len(classes) - 1) if classes else 0
        self.everything = span(0, self.size - 1)
        self.namespaces = namespaces
        self.ns_bits: dict[str, int] = defaultdict(int)
        self.pairs: dict[tuple[str, str], int] = defaultdict(int)
        self.keys: dict[str, int] = defaultdict(int)
        for k, klass in enumerate(classes):
            bit = 1 << k
            self.ns_bits[klass.namespace] |= bit
            for label, value in klass.labels.items():
                self.pairs[(label, value)] |= bit
                self.keys[label] |= bit
        offset = len(classes)
        self.ext_starts = {v: [lo for vv, lo, _ in externals if vv == v] for v in (4, 6)}
        self.ext_offset = {v: offset + next((i for i, e in enumerate(externals) if e[0] == v), 0) for v in (4, 6)}
        self._pods: dict[Selector, int] = {}
        self._namespaces: dict[Selector, int] = {}

    def pods(self, selector: Selector) -> int:
        """The classes whose pod labels match ``selector`` (any namespace)."""
        found = self._pods.get(selector)
        if found is None:
            bits = self.classes_all
            for label, value in selector.labels:
                bits &= self.pairs.get((label, value), 0)
            for e in selector.expressions:
                if e.operator in ("In", "NotIn"):
                    any_of = 0
                    for value in e.values:
                        any_of |= self.pairs.get((e.key, value), 0)
                    bits = bits & any_of if e.operator == "In" else bits & ~any_of
                else:
                    has = self.keys.get(e.key, 0)
                    bits = bits & has if e.operator == "Exists" else bits & ~has
            found = self._pods[selector] = bits
        return found

    def in_namespaces(self, selector: Selector) -> int:
        """The classes in namespaces whose labels match ``selector``."""
        found = self._namespaces.get(selector)
        if found is None:
            found = 0
            for ns, bits in self.ns_bits.items():
                if selector.matches(self.namespaces.get(ns) or {NAME_LABEL: ns}):
                    found |= bits
            self._namespaces[selector] = found
        return found

    def peer(self, peer: Peer) -> int:
        if isinstance(peer, IPBlockPeer):
            bits = 0
            for version, lo, hi in peer.intervals:
                starts = self.ext_starts[version]
                first = bisect_right(starts, lo) - 1
                last = bisect_right(starts, hi) - 1
                bits |= span(self.ext_offset[version] + first, self.ext_offset[version] + last)
            return bits
        scope = self.ns_bits.get(peer.namespace, 0) if peer.namespaces is None else self.in_namespaces(peer.namespaces)
        return scope if peer.pods is None else scope & self.pods(peer.pods)

    def rule(self, rule: Rule, table: ConnTable) -> CompiledRule:
        bits = self.everything
        if rule.peers is not None:
            bits = 0
            for peer in rule.peers:
                bits |= self.peer(peer)
        named = rule.has_named_ports
        return CompiledRule(bits, rule.ports, named, EMPTY_ID if named else table.id(resolve_ports(rule.ports, ())))

    def policy(self, policy: Policy, table: ConnTable) -> CompiledPolicy:
        selected = self.ns_bits.get(policy.namespace, 0) & self.pods(policy.selector)
        return CompiledPolicy(
            selected,
            policy.ingress,
            policy.egress,
            tuple(self.rule(r, table) for r in policy.ingress_rules) if policy.ingress else (),
            tuple(self.rule(r, table) for r in policy.egress_rules) if policy.egress else (),
        )


class Rows:
    """Rows of connection ids over the index space, computed once per distinct key."""

    def __init__(self, table: ConnTable, size: int, signatures: dict[tuple[NamedPort, ...], int]):
        self.table = table
        self.size = size
        self.signatures = signatures  # named ports -> the classes (and, for (), the external intervals) having them
        self.all = [ALL_ID] * size
        self._rows: dict[tuple, list[int]] = {}
        self._resolved: dict[tuple, int] = {}

    def resolved(self, ports: tuple[PortSpec, ...] | None, named_ports: tuple[NamedPort, ...]) -> int:
        key = (ports, named_ports)
        found = self._resolved.get(key)
        if found is None:
            found = self._resolved[key] = self.table.id(resolve_ports(ports, named_ports))
        return found

    def ingress(self, policies: list[CompiledPolicy], named_ports: tuple[NamedPort, ...]) -> list[int]:
        """Allowed ingress from every source to a class selected by ``policies`` with these named ports."""
        if not policies:
            return self.all
        named = any(rule.named for policy in policies for rule in policy.ingress_rules)
        key = ("in", tuple(map(id, policies)), named_ports if named else None)
        row = self._rows.get(key)
        if row is None:
            parts: dict[int, int] = defaultdict(int)
            for policy in policies:
                for rule in policy.ingress_rules:
                    conn = self.resolved(rule.ports, named_ports) if rule.named else rule.conn_id
                    if conn != EMPTY_ID:
                        parts[conn] |= rule.bits
            row = self._rows[key] = self.materialize(parts)
        return row

    def egress(self, policies: list[CompiledPolicy]) -> list[int]:
        """Allowed egress to every destination from a class selected by ``policies``."""
        if not policies:
            return self.all
        key = ("out", tuple(map(id, policies)))
        row = self._rows.get(key)
        if row is None:
            parts: dict[int, int] = defaultdict(int)
            for policy in policies:
                for rule in policy.egress_rules:
                    if not rule.named:
                        if rule.conn_id != EMPTY_ID:
                            parts[rule.conn_id] |= rule.bits
                        continue
                    for named_ports, having in self.signatures.items():  # named ports resolve per destination
                        bits = rule.bits & having
                        conn = self.resolved(rule.ports, named_ports) if bits else EMPTY_ID
                        if conn != EMPTY_ID:
                            parts[conn] |= bits
            row = self._rows[key] = self.materialize(parts)
        return row

    def materialize(self, parts: dict[int, int]) -> list[int]:
        """Disjoint pieces (the union of the connections of every part covering them), written into a row."""
        pieces: list[tuple[int, int]] = []
        for conn, bits in parts.items():
            refined = []
            for piece, piece_conn in pieces:
                both = piece & bits
                if both:
                    refined.append((both, self.table.union(piece_conn, conn)))
                    if piece != both:
                        refined.append((piece ^ both, piece_conn))
                    bits ^= both
                else:
                    refined.append((piece, piece_conn))
            if bits:
                refined.append((bits, conn))
            pieces = refined
        row = [EMPTY_ID] * self.size
        for bits, conn in pieces:
            for i in indices(bits):
                row[i] = conn
        return row


def analyze(inv: Inventory) -> Reachability:
    """Allowed connections between every ordered pair of workloads, and between workloads and external addresses."""
    table = ConnTable()
    classes, class_of = equivalence_classes(inv, table)
    externals = elementary_intervals(blocks(inv.policies))
    n_classes = len(classes)
    space = Space(classes, externals, inv.namespaces)
    compiled = [space.policy(p, table) for p in inv.policies]

    selecting_in: list[list[CompiledPolicy]] = [[] for _ in classes]
    selecting_out: list[list[CompiledPolicy]] = [[] for _ in classes]
    for policy in compiled:
        for k in indices(policy.selected):
            if policy.ingress:
                selecting_in[k].append(policy)
            if policy.egress:
                selecting_out[k].append(policy)

    signatures: dict[tuple[NamedPort, ...], int] = defaultdict(int)
    signatures[()] = space.everything & ~space.classes_all
    for k, klass in enumerate(classes):
        signatures[klass.named_ports] |= 1 << k
    rows = Rows(table, space.size, signatures)
    in_rows = [rows.ingress(selecting_in[k], klass.named_ports) for k, klass in enumerate(classes)]
    for k, klass in enumerate(classes):  # what reaches the class outside NetworkPolicy, from every source
        if klass.host_conn != EMPTY_ID and in_rows[k] is not rows.all:
            in_rows[k] = [table.union(conn, klass.host_conn) for conn in in_rows[k]]
    out_rows = [rows.all if klass.host_network else rows.egress(selecting_out[k]) for k, klass in enumerate(classes)]

    allowed: list[tuple[int, ...]] = []
    for k in range(n_classes):  # column by column: a transposed copy of in_rows would double the peak memory
        out, into = out_rows[k], tuple(map(itemgetter(k), in_rows))  # into[d]: ingress of class d from class k
        if out is rows.all:
            allowed.append(into)
            continue
        keys = list(zip(out[:n_classes], into, strict=True))
        table.intersections(keys)
        allowed.append(tuple(map(table.inter.__getitem__, keys)))

    texts: dict[Interval, str] = {}

    def runs(values: list[int]) -> list[tuple[str, int]]:
        out = []
        for interval, conn in merge_runs(externals, values, EMPTY_ID):
            text = texts.get(interval)
            if text is None:
                text = texts[interval] = interval_text(interval)
            out.append((text, conn))
        return out

    return Reachability(
        classes=Classes(
            ids=[w.id for w in inv.workloads],
            class_of=class_of,
            members=[klass.members for klass in classes],
            allowed=allowed,
            egress=[runs(out_rows[k][n_classes:]) for k in range(n_classes)],
            ingress=[runs(in_rows[k][n_classes:]) for k in range(n_classes)],
            conns=table.conns,
        )
    )
