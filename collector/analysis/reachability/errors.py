"""The error raised for input the reachability engine cannot analyse."""

from __future__ import annotations


class ReachabilityError(ValueError):
    """Bad input: the message names the object (kind namespace/name) and what is wrong."""
