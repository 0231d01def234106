"""Why a connection of a class-level result is admitted, read off the engine's compiled NetworkPolicies (an
inventory of NetworkPolicies alone), and the reason texts and interval helpers ``attribution`` shares."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from collector.analysis.reachability.addresses import Interval
from collector.analysis.reachability.conns import EMPTY, Conn, conn_text

NOT_ISOLATED = "no NetworkPolicy selects it for ingress"  # nor does an admin policy decide
NOT_ISOLATED_EGRESS = "no NetworkPolicy selects it for egress"

HOST_NETWORK = "hostNetwork (NetworkPolicy does not isolate host-network pods)"


def host_reasons(host_network: bool, host_conn: Conn) -> tuple[str, ...]:
    """What reaches a workload outside NetworkPolicy: everything under hostNetwork, else its hostPorts."""
    if host_network:
        return (HOST_NETWORK,)
    if host_conn != EMPTY:
        return (f"hostPort {conn_text(host_conn)} (forwarded from the node, outside NetworkPolicy)",)
    return ()


Admits = list[tuple[str, int]] | None  # the isolating NetworkPolicies and the peers they admit; None: not isolated


@dataclass
class Admitting:
    """What admits each connection of a class-level result, read from the engine's compiled NetworkPolicies, for
    an inventory of NetworkPolicies alone (no admin, Cilium or Calico policy): per class and direction, each
    NetworkPolicy isolating it with the peers one of its rules admits on some port, as bits over the engine's index
    space (the classes, then the elementary external intervals from ``offset``). One bit test per policy and pair;
    the same reasons as ``Attribution``, which evaluates the rules."""

    ingress: list[Admits]
    egress: list[Admits]
    host: list[tuple[str, ...]]  # per class: host_reasons
    host_network: list[bool]
    externals: list[Interval]
    offset: int
    _bits: dict[str, int] = field(default_factory=dict)

    def reasons(self, src: int | None, dst: int | None, external: str | None) -> tuple[str, ...]:
        """Why class ``src`` (or the interval ``external``) may connect to class ``dst`` (or to ``external``)."""
        if dst is not None:
            peer = 1 << src if src is not None else self.interval_bits(external or "")
            return tuple(dict.fromkeys(self.host[dst] + admitted(self.ingress[dst], peer, NOT_ISOLATED)))
        if src is None or self.host_network[src]:
            return (HOST_NETWORK,) if src is not None else ()
        return admitted(self.egress[src], self.interval_bits(external or ""), NOT_ISOLATED_EGRESS)

    def interval_bits(self, text: str) -> int:
        """The elementary external intervals an interval of the result (``first-last``) overlaps."""
        found = self._bits.get(text)
        if found is None:
            interval = parse_interval(text)
            found = self._bits[text] = sum(
                1 << (self.offset + i)
                for i, e in enumerate(self.externals)
                if interval is not None and overlaps((e,), interval)
            )
        return found


def admitted(policies: Admits, peer: int, open_reason: str) -> tuple[str, ...]:
    if policies is None:
        return (open_reason,)
    return tuple(dict.fromkeys(label for label, bits in policies if bits & peer))


def parse_interval(text: str) -> Interval | None:
    """The interval of ``first-last`` (as the result writes external addresses); None if it is not one."""
    first, sep, last = text.partition("-")
    if not sep:
        return None
    try:
        lo, hi = ipaddress.ip_address(first), ipaddress.ip_address(last)
    except ValueError:
        return None
    return (lo.version, int(lo), int(hi))


def overlaps(intervals: tuple[Interval, ...], interval: Interval) -> bool:
    """Whether any of ``intervals`` shares an address with ``interval`` (a merged run of the result may span the
    blocks of several policies, each admitting part of it)."""
    version, lo, hi = interval
    return any(v == version and a <= hi and lo <= b for v, a, b in intervals)
