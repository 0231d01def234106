"""The reachability engine.

Workloads of one namespace that every pod selector applying there selects alike, with the same named ports and
host access, are one equivalence class (labels no selector looks at do not split them). Sets of classes
and of elementary external intervals are bitsets over one index space (classes first, then intervals),
so selecting, matching peers and grouping are a few big-integer operations. For each class the engine
computes one row of allowed connection ids per direction (ingress from every source, egress to every
destination), shared between classes selected by the same policies; a pair's connections are then the
intersection of the source's egress entry and the destination's ingress entry (memoized on the ids). The result
is class-level (``Classes``); lines per pair of workloads are expanded from it on demand.

With admin policies applying, a row is computed by running the tiers (AdminNetworkPolicies by priority,
NetworkPolicy, BaselineAdminNetworkPolicy) over a partition of the index space into pieces of equal state
(allowed, undecided, passed connection ids): each rule splits the pieces it matches, equal states merge. Under
Cilium or Calico policies a class's rows are its enforcers' plans (``ordered``, ``enforcement``); where an admin
policy applies as well, what the plan allows and no admin policy denies, and what their order (not modelled)
decides is reported (``composition``).
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, MutableSequence
from dataclasses import dataclass, field
from functools import partial
from itertools import compress, groupby
from operator import itemgetter

from collector.analysis.reachability.addresses import Interval, elementary_intervals, interval_text, merge_runs
from collector.analysis.reachability.admitting import Admits, Admitting, host_reasons
from collector.analysis.reachability.bits import indices, span
from collector.analysis.reachability.conns import ALL_ID, EMPTY_ID, ConnTable, conn_text
from collector.analysis.reachability.enforcement import evaluate
from collector.analysis.reachability.inventory import Inventory, all_rules
from collector.analysis.reachability.model import (
    NAME_LABEL,
    AdminPolicy,
    AdminRule,
    IPBlockPeer,
    NamedPort,
    Peer,
    Policy,
    PortSpec,
    Rule,
    SelectorPeer,
    resolve_ports,
)
from collector.analysis.reachability.ordered import ADMIN_UNAWARE, plan
from collector.analysis.reachability.result import Classes, Reachability
from collector.analysis.reachability.selectors import Matcher, Selector
from collector.analysis.reachability.unmodelled import (
    Unmodelled,
    admin_pair,
    composed_pair,
    composed_why,
    may_hold,
    outside,
    risky_rules,
    unmodelled,
)

Row = MutableSequence[int]  # per member of the index space, a connection id (an array("I") where columnar)
State = tuple[int, ...]  # connection ids: (allowed, undecided, passed[, group allow, pass, deny, remaining])
Pieces = dict[State, int]  # state -> the indices (bitset) in that state


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
    action: str = "Allow"  # admin policy rules: Allow | Deny | Pass


@dataclass(frozen=True)
class CompiledPolicy:
    selected: int  # classes
    ingress: bool
    egress: bool
    ingress_rules: tuple[CompiledRule, ...]
    egress_rules: tuple[CompiledRule, ...]


@dataclass(frozen=True)
class CompiledAdmin:
    selected: int  # classes
    priority: int | None
    ingress_rules: tuple[CompiledRule, ...]
    egress_rules: tuple[CompiledRule, ...]


OTHER = "\0"  # a label value no selector in scope names (label values cannot hold it)


@dataclass
class Scope:
    """What the pod selectors applying to some pods look at: (label, value) pairs and label keys of Kubernetes
    selectors, and the keys of other selectors (Calico expressions), whose values are compared as they are."""

    pairs: set[tuple[str, str]] = field(default_factory=set)
    keys: set[str] = field(default_factory=set)
    exact: set[str] = field(default_factory=set)

    def add(self, selector: Matcher) -> None:
        if isinstance(selector, Selector):
            self.pairs.update(selector.labels)
            self.pairs.update((e.key, v) for e in selector.expressions for v in e.values)
            self.keys.update(selector.keys)
        else:
            self.exact.update(selector.keys)

    def labels(self, labels: dict[str, str]) -> dict[str, str]:
        """``labels`` as these selectors see them: keys they ignore dropped, values they do not name OTHER."""
        return {
            k: v if k in self.exact or (k, v) in self.pairs else OTHER
            for k, v in labels.items()
            if k in self.keys or k in self.exact
        }


def selectors_in_scope(inv: Inventory) -> dict[str | None, Scope]:
    """Per namespace, what the pod selectors that apply to its pods look at: the podSelectors of its
    NetworkPolicies and the peer podSelectors whose namespace scope includes it, and in every namespace those of
    admin policies (subjects, peers) and of Cilium and Calico policies (endpoints, peers, rule selectors), also
    under None for the namespaces no NetworkPolicy concerns."""
    everywhere = Scope()
    for admin in inv.admin_policies():
        cluster_peers = [admin.subject, *(p for r in admin.ingress_rules + admin.egress_rules for p in r.peers or ())]
        for peer in cluster_peers:
            if isinstance(peer, SelectorPeer) and peer.pods is not None:
                everywhere.add(peer.pods)
    for ordered in inv.ordered:
        rules = ordered.ingress_rules + ordered.egress_rules
        for peer in [ordered.selects, *(r.local for r in rules), *(p for r in rules for p in r.rule.peers or ())]:
            if isinstance(peer, SelectorPeer) and peer.pods is not None:
                everywhere.add(peer.pods)
    scoped: dict[str, Scope] = defaultdict(
        lambda: Scope(set(everywhere.pairs), set(everywhere.keys), set(everywhere.exact))
    )
    for policy in inv.policies:
        scoped[policy.namespace].add(policy.selector)
        for rule in policy.ingress_rules + policy.egress_rules:
            for peer in rule.peers or ():
                if not isinstance(peer, SelectorPeer) or peer.pods is None:
                    continue
                if peer.namespaces is None:
                    scoped[peer.namespace].add(peer.pods)
                    continue
                for ns in inv.namespaces:
                    if peer.namespaces.matches(inv.namespaces.get(ns) or {NAME_LABEL: ns}):
                        scoped[ns].add(peer.pods)
    return {None: everywhere, **scoped}


def equivalence_classes(inv: Inventory, table: ConnTable) -> tuple[list[Klass], list[int]]:
    """The classes and, per workload, its class index. Workloads of one namespace are equivalent when every pod
    selector of every policy kind that applies there selects them alike (``Scope.labels``), with equal named
    ports and host access."""
    scoped = selectors_in_scope(inv)
    by_key: dict[tuple, int] = {}
    classes: list[Klass] = []
    of: list[int] = []
    for i, w in enumerate(inv.workloads):
        labels = (scoped.get(w.namespace) or scoped[None]).labels(w.labels)
        key = (w.namespace, frozenset(labels.items()), w.named_ports, w.host_network, w.host_ports)
        k = by_key.get(key)
        if k is None:
            k = by_key[key] = len(classes)
            classes.append(Klass(w.namespace, labels, w.named_ports, w.host_network, table.id(w.host_conn)))
        classes[k].members.append(i)
        of.append(k)
    return classes, of


def blocks(inv: Inventory) -> list[tuple[Interval, ...]]:
    """The address blocks of every policy rule (NetworkPolicy, Cilium, Calico)."""
    return [peer.intervals for rule in all_rules(inv) for peer in rule.peers or () if isinstance(peer, IPBlockPeer)]


class Space:
    """The index space (classes, then external intervals) and selector evaluation over it."""

    def __init__(self, classes: list[Klass], externals: list[Interval], namespaces: dict[str, dict[str, str]]):
        self.size = len(classes) + len(externals)
        self.classes_all = span(0, len(classes) - 1) if classes else 0
        self.everything = span(0, self.size - 1)
        self.namespaces = namespaces
        self.labels = [klass.labels for klass in classes]
        self.ns_bits: dict[str, int] = defaultdict(int)
        self.pairs: dict[tuple[str, str], int] = defaultdict(int)
        self.keys: dict[str, int] = defaultdict(int)
        self.host_network = 0
        for k, klass in enumerate(classes):
            bit = 1 << k
            if klass.host_network:
                self.host_network |= bit
            self.ns_bits[klass.namespace] |= bit
            for label, value in klass.labels.items():
                self.pairs[(label, value)] |= bit
                self.keys[label] |= bit
        offset = len(classes)
        self.ext_starts = {v: [lo for vv, lo, _ in externals if vv == v] for v in (4, 6)}
        self.ext_offset = {v: offset + next((i for i, e in enumerate(externals) if e[0] == v), 0) for v in (4, 6)}
        self._pods: dict[Matcher, int] = {}
        self._namespaces: dict[Matcher, int] = {}

    def pods(self, selector: Matcher) -> int:
        """The classes whose pod labels match ``selector`` (any namespace)."""
        found = self._pods.get(selector)
        if found is None and not isinstance(selector, Selector):  # a Calico expression: matched class by class
            matching = (1 << k for k, labels in enumerate(self.labels) if selector.matches(labels))
            found = self._pods[selector] = sum(matching)
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

    def in_namespaces(self, selector: Matcher) -> int:
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
        if not peer.host_network:
            scope &= ~self.host_network
        return scope if peer.pods is None else scope & self.pods(peer.pods)

    def rule(self, rule: Rule, table: ConnTable) -> CompiledRule:
        bits = self.everything
        if rule.peers is not None:
            bits = 0
            for peer in rule.peers:
                bits |= self.peer(peer)
        named = rule.has_named_ports
        action = rule.action if isinstance(rule, AdminRule) else "Allow"
        conn_id = EMPTY_ID if named else table.id(resolve_ports(rule.ports, ()))
        return CompiledRule(bits, rule.ports, named, conn_id, action)

    def admin(self, policy: AdminPolicy, table: ConnTable) -> CompiledAdmin:
        return CompiledAdmin(
            self.peer(policy.subject),
            policy.priority,
            tuple(self.rule(r, table) for r in policy.ingress_rules),
            tuple(self.rule(r, table) for r in policy.egress_rules),
        )

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
        self.all = array("I", [ALL_ID]) * size
        self._rows: dict[tuple, Row] = {}
        self._resolved: dict[tuple, int] = {}
        self._both: dict[tuple[int, ...], Row] = {}
        self._composed: dict[tuple, tuple[Row, Row]] = {}

    def both(self, *rows: Row) -> Row:
        """The rows intersected (a connection must pass each), memoized on the rows."""
        key = tuple(map(id, rows))
        found = self._both.get(key)
        if found is None:
            pairs = list(zip(*rows, strict=True))
            self.table.intersections(pairs)
            found = self._both[key] = array("I", map(self.table.inter.__getitem__, pairs))
        return found

    def resolved(self, ports: tuple[PortSpec, ...] | None, named_ports: tuple[NamedPort, ...]) -> int:
        key = (ports, named_ports)
        found = self._resolved.get(key)
        if found is None:
            found = self._resolved[key] = self.table.id(resolve_ports(ports, named_ports))
        return found

    def applications(
        self, rule: CompiledRule, ingress: bool, named_ports: tuple[NamedPort, ...]
    ) -> list[tuple[int, int]]:
        """(peers, connection id) of a rule, without empty connections; a named port resolves against the
        destination: the class itself (``named_ports``) for ingress, each peer for egress."""
        if not rule.named:
            out = [(rule.bits, rule.conn_id)]
        elif ingress:
            out = [(rule.bits, self.resolved(rule.ports, named_ports))]
        else:
            out = [
                (rule.bits & having, self.resolved(rule.ports, named))
                for named, having in self.signatures.items()
                if rule.bits & having
            ]
        return [(bits, conn) for bits, conn in out if conn != EMPTY_ID and bits]

    def row(
        self,
        ingress: bool,
        admin: list[CompiledAdmin],
        policies: list[CompiledPolicy],
        baseline: CompiledAdmin | None,
        named_ports: tuple[NamedPort, ...] = (),
    ) -> Row:
        """The connections a class's ingress (egress) side allows with every peer, for the admin policies,
        isolating NetworkPolicies and baseline that apply to it in that direction."""
        if not admin and not policies and baseline is None:
            return self.all
        rules = [r for p in [*admin, *policies, *([baseline] if baseline else [])] for r in self.rules_of(p, ingress)]
        named = ingress and any(r.named for r in rules)
        key = (ingress, tuple(map(id, admin)), tuple(map(id, policies)), id(baseline), named_ports if named else None)
        row = self._rows.get(key)
        if row is None:
            if admin or baseline is not None:
                pieces = self.tiers(ingress, admin, policies, baseline, named_ports)
            else:
                pieces = self.disjoint(self.allowed_by(policies, ingress, named_ports))
            row = self._rows[key] = self.write(pieces)
        return row

    @staticmethod
    def rules_of(policy: CompiledPolicy | CompiledAdmin, ingress: bool) -> tuple[CompiledRule, ...]:
        return policy.ingress_rules if ingress else policy.egress_rules

    def allowed_by(
        self, policies: list[CompiledPolicy], ingress: bool, named_ports: tuple[NamedPort, ...]
    ) -> dict[int, int]:
        """The union of NetworkPolicy rules: connection id -> peers (overlapping)."""
        parts: dict[int, int] = defaultdict(int)
        for policy in policies:
            for rule in self.rules_of(policy, ingress):
                for bits, conn in self.applications(rule, ingress, named_ports):
                    parts[conn] |= bits
        return parts

    def tiers(
        self,
        ingress: bool,
        admin: list[CompiledAdmin],
        policies: list[CompiledPolicy],
        baseline: CompiledAdmin | None,
        named_ports: tuple[NamedPort, ...],
    ) -> list[tuple[int, int]]:
        """Disjoint (peers, allowed connection id): AdminNetworkPolicies by priority (equal priorities joined, Allow
        over Pass over Deny), then the NetworkPolicies if any, else the baseline; what none decides is allowed."""
        t = self.table
        pieces = self.decided(ingress, admin, policies, baseline, named_ports)
        if policies:
            out: dict[int, int] = defaultdict(int)
            allowed = self.disjoint(self.allowed_by(policies, ingress, named_ports))
            for (done, pending), bits in pieces.items():
                for np_bits, conn in allowed:
                    if both := bits & np_bits:
                        out[t.union(done, t.intersection(pending, conn))] |= both
                        bits ^= both
                if bits:
                    out[done] |= bits
            return [(bits, conn) for conn, bits in out.items()]
        return [(bits, t.union(*state)) for state, bits in pieces.items()]

    def decided(
        self,
        ingress: bool,
        admin: list[CompiledAdmin],
        policies: list[CompiledPolicy],
        baseline: CompiledAdmin | None,
        named_ports: tuple[NamedPort, ...],
    ) -> Pieces:
        """Pieces of (allowed by an admin policy, undecided by them) connection ids: the AdminNetworkPolicies, then
        the baseline unless NetworkPolicies isolate (they decide the undecided connections then)."""
        t = self.table
        pieces: Pieces = {(EMPTY_ID, ALL_ID, EMPTY_ID): span(0, self.size - 1)}
        for _, group in groupby(admin, key=lambda p: p.priority):
            pieces = remap(pieces, lambda s: (*s, EMPTY_ID, EMPTY_ID, EMPTY_ID, s[1]))
            for policy in group:
                pieces = remap(pieces, lambda s: (*s[:6], s[1]))  # each policy of the group starts afresh
                for rule in self.rules_of(policy, ingress):
                    slot = 3 + ACTIONS.index(rule.action)
                    for bits, conn in self.applications(rule, ingress, named_ports):
                        pieces = split(pieces, bits, partial(self.first_match, slot=slot, conn=conn))
            pieces = remap(pieces, self.close_group)
        pieces = remap(pieces, lambda s: (s[0], t.union(s[1], s[2])))  # passed: undecided by the admin tier
        for rule in self.rules_of(baseline, ingress) if baseline and not policies else ():
            for bits, conn in self.applications(rule, ingress, named_ports):
                pieces = split(pieces, bits, partial(self.baseline_match, action=rule.action, conn=conn))
        return pieces

    def composed(
        self,
        ingress: bool,
        admin: list[CompiledAdmin],
        policies: list[CompiledPolicy],
        baseline: CompiledAdmin | None,
        named_ports: tuple[NamedPort, ...],
        cni: Row,
    ) -> tuple[Row, Row]:
        """A side where admin policies and a Cilium or Calico plan (its row ``cni``) both apply: the row of what
        the plan allows and no admin policy denies, and the row of what the order between them, not modelled,
        decides (allowed by an admin policy but dropped by the plan, or the reverse)."""
        key = (ingress, tuple(map(id, admin)), tuple(map(id, policies)), id(baseline), named_ports, id(cni))
        found = self._composed.get(key)
        if found is None:
            t = self.table
            line, open_ = array("I", [EMPTY_ID]) * self.size, array("I", [EMPTY_ID]) * self.size
            verdicts: dict[tuple[int, int, int], tuple[int, int]] = {}
            for (allowed, undecided), bits in self.decided(ingress, admin, policies, baseline, named_ports).items():
                passing = t.union(allowed, undecided)  # not denied by an admin policy
                for i in indices(bits):
                    conn = cni[i]
                    verdict = verdicts.get((allowed, passing, conn))
                    if verdict is None:
                        unsure = t.union(t.difference(allowed, conn), t.difference(conn, passing))
                        verdict = verdicts[(allowed, passing, conn)] = (t.intersection(conn, passing), unsure)
                    line[i], open_[i] = verdict
            found = self._composed[key] = (line, open_)
        return found

    def first_match(self, state: State, slot: int, conn: int) -> State:
        """A rule of a group's policy matches: what its policy had not decided yet goes to the rule's action."""
        matched = self.table.intersection(state[6], conn)
        if matched == EMPTY_ID:
            return state
        out = list(state)
        out[slot] = self.table.union(state[slot], matched)
        out[6] = self.table.difference(state[6], matched)
        return tuple(out)

    def close_group(self, state: State) -> State:
        allowed, pending, passed, allow, pass_, deny, _ = state
        t = self.table
        decided = t.union(allow, t.union(pass_, deny))
        return t.union(allowed, allow), t.difference(pending, decided), t.union(passed, t.difference(pass_, allow))

    def baseline_match(self, state: State, action: str, conn: int) -> State:
        allowed, pending = state
        matched = self.table.intersection(pending, conn)
        if action == "Allow":
            allowed = self.table.union(allowed, matched)
        return allowed, self.table.difference(pending, matched)

    def disjoint(self, parts: dict[int, int]) -> list[tuple[int, int]]:
        """Disjoint pieces (peers, the union of the connections of every part covering them)."""
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
        return pieces

    def write(self, pieces: list[tuple[int, int]]) -> Row:
        row = array("I", [EMPTY_ID]) * self.size  # columnar: 4 bytes per entry
        for bits, conn in pieces:
            if conn != EMPTY_ID:
                for i in indices(bits):
                    row[i] = conn
        return row


ACTIONS = ("Allow", "Pass", "Deny")  # the order of the group verdicts in a State


def remap(pieces: Pieces, change: Callable[[State], State]) -> Pieces:
    out: Pieces = defaultdict(int)
    for state, bits in pieces.items():
        out[change(state)] |= bits
    return out


def split(pieces: Pieces, bits: int, change: Callable[[State], State]) -> Pieces:
    """``change`` applied to the part of each piece inside ``bits``."""
    out: Pieces = defaultdict(int)
    for state, piece in pieces.items():
        both = piece & bits
        if both:
            out[change(state)] |= both
            if both != piece:
                out[state] |= piece ^ both
        else:
            out[state] |= piece
    return out


def analyze(inv: Inventory) -> Reachability:
    """Allowed connections between every ordered pair of workloads, and between workloads and external addresses."""
    table = ConnTable()
    classes, class_of = equivalence_classes(inv, table)
    externals = elementary_intervals(blocks(inv))
    n_classes = len(classes)
    space = Space(classes, externals, inv.namespaces)
    compiled = [space.policy(p, table) for p in inv.policies]
    admin = [space.admin(p, table) for p in inv.admin_policies()]

    selecting_in: list[list[CompiledPolicy]] = [[] for _ in classes]
    selecting_out: list[list[CompiledPolicy]] = [[] for _ in classes]
    for policy in compiled:
        for k in indices(policy.selected):
            if policy.ingress:
                selecting_in[k].append(policy)
            if policy.egress:
                selecting_out[k].append(policy)
    admin_in: list[list[CompiledAdmin]] = [[] for _ in classes]
    admin_out: list[list[CompiledAdmin]] = [[] for _ in classes]
    for policy in admin:  # in order of priority, the baseline last
        for k in indices(policy.selected):
            if policy.ingress_rules:
                admin_in[k].append(policy)
            if policy.egress_rules:
                admin_out[k].append(policy)

    def row(ingress: bool, k: int) -> Row:
        applying = (admin_in if ingress else admin_out)[k]
        baseline = applying[-1] if applying and applying[-1].priority is None else None
        anps = applying[:-1] if baseline else applying
        policies = (selecting_in if ingress else selecting_out)[k]
        return rows.row(ingress, anps, policies, baseline, classes[k].named_ports if ingress else ())

    signatures: dict[tuple[NamedPort, ...], int] = defaultdict(int)
    signatures[()] = space.everything & ~space.classes_all
    for k, klass in enumerate(classes):
        signatures[klass.named_ports] |= 1 << k

    def composed(ingress: bool, k: int, cni: Row) -> tuple[Row, Row]:
        applying = (admin_in if ingress else admin_out)[k]
        baseline = applying[-1] if applying[-1].priority is None else None
        anps = applying[:-1] if baseline else applying
        policies = (selecting_in if ingress else selecting_out)[k]
        return rows.composed(ingress, anps, policies, baseline, classes[k].named_ports if ingress else (), cni)

    rows = Rows(table, space.size, signatures)
    unsure_in: list[Row | None] = [None] * n_classes  # sides where admin and CNI policies meet
    unsure_out: list[Row | None] = [None] * n_classes
    if inv.ordered:  # Cilium or Calico policies: ordered evaluation; beside admin policies, composed
        (in_rows, cni_in), (out_rows, cni_out) = enforced_rows(inv, space, classes, compiled, rows)
        for k in range(n_classes):
            for ingress, admin_k, rows_k, cni_k, unsure in (
                (True, admin_in, in_rows, cni_in, unsure_in),
                (False, admin_out, out_rows, cni_out, unsure_out),
            ):
                if not admin_k[k]:
                    continue
                if not cni_k[k]:  # no plan decides that side: the Kubernetes tiers do
                    rows_k[k] = row(ingress, k)
                    continue
                rows_k[k], open_ = composed(ingress, k, rows_k[k])
                unsure[k] = open_ if any(open_) else None
    else:
        in_rows = [row(True, k) for k in range(n_classes)]
        out_rows = [row(False, k) for k in range(n_classes)]
    for k, klass in enumerate(classes):  # what reaches the class outside the policies, from every source
        if klass.host_conn != EMPTY_ID and in_rows[k] is not rows.all:
            in_rows[k] = [table.union(conn, klass.host_conn) for conn in in_rows[k]]
        if klass.host_network:
            out_rows[k], unsure_out[k] = rows.all, None

    allowed: list[array[int]] = []  # columnar: 4 bytes per pair of classes, not an object reference
    for k in range(n_classes):  # column by column: a transposed copy of in_rows would double the peak memory
        out, into = out_rows[k], array("I", map(itemgetter(k), in_rows))  # into[d]: ingress of class d from class k
        if out is rows.all:
            allowed.append(into)
            continue
        keys = list(zip(out[:n_classes], into, strict=True))
        table.intersections(keys)
        allowed.append(array("I", map(table.inter.__getitem__, keys)))

    texts: dict[Interval, str] = {}

    def runs(values: list[int]) -> list[tuple[str, int]]:
        out = []
        for interval, conn in merge_runs(externals, values, EMPTY_ID):
            text = texts.get(interval)
            if text is None:
                text = texts[interval] = interval_text(interval)
            out.append((text, conn))
        return out

    members = [klass.members for klass in classes]
    result = Classes(
        ids=[w.id for w in inv.workloads],
        class_of=class_of,
        members=members,
        allowed=allowed,
        egress=[runs(out_rows[k][n_classes:]) for k in range(n_classes)],
        ingress=[runs(in_rows[k][n_classes:]) for k in range(n_classes)],
        conns=table.conns,
        admitting=None if inv.admin_policies() or inv.ordered else admitting(inv, classes, compiled, rows, externals),
    )
    may_in = [  # what a class's ingress allows or, where admin and CNI policies meet, may allow
        row if unsure is None else array("I", map(table.union, row, unsure))
        for row, unsure in zip(in_rows, unsure_in, strict=True)
    ]
    admin_pairs = possible(inv, class_of, members, out_rows, may_in, table)
    if any(unsure_in) or any(unsure_out):
        admin_pairs += composition(inv, members, (in_rows, unsure_in), (out_rows, unsure_out), table, externals)
    return Reachability(unmodelled=unmodelled(inv, result.triples(), admin_pairs), classes=result)


def admitting(
    inv: Inventory, classes: list[Klass], compiled: list[CompiledPolicy], rows: Rows, externals: list[Interval]
) -> Admitting:
    """What admits each class's connections (``attribution.Admitting``), from the compiled NetworkPolicies: a rule
    counts for a class when it allows some port there (named ports resolved against the class for ingress; to
    external addresses, which have none, for egress)."""
    ingress: list[Admits] = [None] * len(classes)
    egress: list[Admits] = [None] * len(classes)
    for policy, c in zip(inv.policies, compiled, strict=True):
        label = f"NetworkPolicy {policy.namespace}/{policy.name}"
        for k in indices(c.selected):
            for applies, rules, sides, named in (
                (c.ingress, c.ingress_rules, ingress, classes[k].named_ports),
                (c.egress, c.egress_rules, egress, ()),
            ):
                if applies:
                    bits = 0
                    for r in rules:
                        if (rows.resolved(r.ports, named) if r.named else r.conn_id) != EMPTY_ID:
                            bits |= r.bits
                    sides[k] = [*(sides[k] or []), (label, bits)]
    host = [host_reasons(k.host_network, rows.table.conns[k.host_conn]) for k in classes]
    return Admitting(ingress, egress, host, [k.host_network for k in classes], externals, len(classes))


def enforced_rows(
    inv: Inventory, space: Space, classes: list[Klass], compiled: list[CompiledPolicy], rows: Rows
) -> tuple[tuple[list[Row], list[bool]], tuple[list[Row], list[bool]]]:
    """Under Cilium or Calico policies: per class, the ingress and the egress row of its enforcers' plans
    (``ordered``), and whether a plan decides that side (a Cilium or Calico policy or a NetworkPolicy applies to
    it, or Cilium, which does not implement admin policies, enforces); when both enforcers are present (Cilium
    chained on Calico), a connection must pass both."""
    table = rows.table
    enforcers = sorted({p.enforcer for p in inv.ordered})
    selected = [space.peer(p.selects) if p.selects is not None else 0 for p in inv.ordered]
    compiled_rules: dict[int, CompiledRule] = {}
    memo: dict[tuple, Row] = {}  # a plan's row, per enforcer and what selects the class
    locals_: dict[int, int] = {}

    def local_bits(selects: SelectorPeer) -> int:
        found = locals_.get(id(selects))
        if found is None:
            found = locals_[id(selects)] = space.peer(selects)
        return found

    def parts(rule: Rule, named_ports: tuple[NamedPort, ...] | None) -> list[tuple[int, int]]:
        """A rule's (members, connection id) pieces into a class with ``named_ports``, or out of a class (None:
        named ports resolve per destination)."""
        c = compiled_rules.get(id(rule))
        if c is None:
            c = compiled_rules[id(rule)] = space.rule(rule, table)
        if not c.named:
            return [(c.bits, c.conn_id)]
        if named_ports is not None:
            return [(c.bits, rows.resolved(c.ports, named_ports))]
        return [(c.bits & s, rows.resolved(c.ports, ports)) for ports, s in rows.signatures.items() if c.bits & s]

    def row(k: int, ingress: bool) -> tuple[Row, bool]:
        bit = 1 << k
        knps = [p for p, c in zip(inv.policies, compiled, strict=True) if c.selected & bit]
        knps = [p for p in knps if (p.ingress if ingress else p.egress)]
        named = classes[k].named_ports if ingress else None
        found_rows: list[Row] = []
        applies = bool(knps) or not ADMIN_UNAWARE.isdisjoint(enforcers)  # a plan decides this side
        for enforcer in enforcers:
            mine = [p for p, s in zip(inv.ordered, selected, strict=True) if s & bit and p.enforcer == enforcer]
            mine = [p for p in mine if (p.ingress if ingress else p.egress)]
            applies = applies or bool(mine)
            local = [r.local for p in mine for r in p.rules(ingress) if r.local is not None]
            local_ok = frozenset(id(sel) for sel in local if local_bits(sel) & bit)
            key = (enforcer, ingress, tuple(map(id, knps)), tuple(map(id, mine)), named, local_ok)
            found = memo.get(key)
            if found is None:
                tiers = plan(enforcer, knps, mine, ingress, inv.tiers, lambda sel, ok=local_ok: id(sel) in ok)
                found = memo[key] = evaluate(tiers, lambda r: parts(r, named), table, space.everything, space.size)
            found_rows.append(found)
        if len(found_rows) == 1:
            return found_rows[0], applies
        return rows.both(*found_rows), applies  # both enforcers: a connection must pass both

    ins, outs = ([row(k, ingress) for k in range(len(classes))] for ingress in (True, False))
    return ([r for r, _ in ins], [a for _, a in ins]), ([r for r, _ in outs], [a for _, a in outs])


def possible(
    inv: Inventory,
    class_of: list[int],
    members: list[list[int]],
    out_rows: list[Row],
    in_rows: list[Row],
    table: ConnTable,
) -> list[Unmodelled]:
    """The uncertain connections: from each workload risky rules apply to, what each workload their peers may
    hold admits (``in_rows``: its ingress entry, or what it may admit where admin and CNI policies meet) beyond
    what the source's egress entry allows, and addresses outside the cluster."""
    found: list[Unmodelled] = []
    ids = [w.id for w in inv.workloads]
    texts: dict[int, str] = {}
    extras: dict[int, list[int]] = {}  # per source class: per destination class, the connection id admitted beyond
    differences: dict[tuple[int, int], int] = {}
    for i, rules in risky_rules(inv):
        src, k = inv.workloads[i], class_of[i]
        found.extend(outside(src, rules))
        extra = extras.get(k)
        if extra is None:
            admitted_from_k = map(itemgetter(k), in_rows)  # per destination class, its ingress from class k
            keys = list(zip(admitted_from_k, out_rows[k][: len(members)], strict=True))
            for admitted, out in set(keys).difference(differences):
                differences[(admitted, out)] = table.difference(admitted, out)
            extra = extras[k] = list(map(differences.__getitem__, keys))
        for d in compress(range(len(members)), extra):  # EMPTY_ID is 0
            text = texts.get(extra[d]) or texts.setdefault(extra[d], conn_text(table.conns[extra[d]]))
            for j in members[d]:
                if j != i:
                    dst = inv.workloads[j]
                    found.extend(admin_pair(ids[i], ids[j], p, u, text) for p, u in rules if may_hold(u, dst))
    return found


Side = tuple[list[Row], list[Row | None]]  # per class: its rows, and its rows of what is not modelled


def composition(
    inv: Inventory, members: list[list[int]], ingress: Side, egress: Side, table: ConnTable, externals: list[Interval]
) -> list[Unmodelled]:
    """The pairs whose connections the order between admin policies and a Cilium or Calico plan decides: what one
    side may allow beyond the line, where the other side allows it or may."""
    (in_rows, unsure_in), (out_rows, unsure_out) = ingress, egress
    t, n = table, len(members)
    found: list[Unmodelled] = []
    ids = [w.id for w in inv.workloads]
    whys: dict[tuple[int, bool], list[tuple[AdminPolicy, str]]] = {}

    def report(src: str, dst: str, k: int, inward: bool, conn: int) -> None:
        why = whys.get((k, inward))
        if why is None:
            why = whys[(k, inward)] = composed_why(inv, inv.workloads[members[k][0]], inward)
        found.extend(composed_pair(src, dst, why, conn_text(t.conns[conn])))

    def unsure_at(rows: list[Row | None], k: int, peer: int) -> int:
        row = rows[k]
        return EMPTY_ID if row is None else row[peer]

    for s in range(n):  # only the entries where a side is unsure: where admin and CNI policies disagree
        for d in compress(range(n), unsure_out[s] or ()):
            li = t.union(in_rows[d][s], unsure_at(unsure_in, d, s))  # what the destination allows or may
            if (x_out := t.intersection(t.difference(unsure_out[s][d], out_rows[s][d]), li)) != EMPTY_ID:
                for i, j in ((i, j) for i in members[s] for j in members[d] if i != j):
                    report(ids[i], ids[j], s, False, x_out)
    for d in range(n):
        for s in compress(range(n), unsure_in[d] or ()):
            lo = t.union(out_rows[s][d], unsure_at(unsure_out, s, d))  # what the source allows or may
            if (x_in := t.intersection(t.difference(unsure_in[d][s], in_rows[d][s]), lo)) != EMPTY_ID:
                for i, j in ((i, j) for i in members[s] for j in members[d] if i != j):
                    report(ids[i], ids[j], d, True, x_in)
    for k in range(n):
        for rows_k, unsure, inward in ((in_rows, unsure_in, True), (out_rows, unsure_out, False)):
            if unsure[k] is None:
                continue
            values = [t.difference(u, r) for u, r in zip(unsure[k][n:], rows_k[k][n:], strict=True)]
            for interval, conn in merge_runs(externals, values, EMPTY_ID):
                text = interval_text(interval)
                for i in members[k]:
                    src, dst = (text, ids[i]) if inward else (ids[i], text)
                    report(src, dst, k, inward, conn)
    return found
