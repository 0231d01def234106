"""How long the log destinations of S3 and CloudWatch Logs inputs keep their logs, read from AWS (boto3).

One ``log_retention`` row per input and run. S3 (bucket and prefix): the bucket's lifecycle rules that may
expire objects under the prefix (GetBucketLifecycleConfiguration; none: kept indefinitely) and its Object
Lock default retention (GetObjectLockConfiguration). CloudWatch Logs: the log group's ``retentionInDays``
(DescribeLogGroups; absent: never expire). The API responses are the row's artifact. A refusal (AccessDenied,
no such bucket or group, no credentials) is a row with ``status = 'error'`` naming the destination; the run
goes on, marked partial.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from collector.plugins import CollectContext
from collector.store import PROVENANCE_COLUMNS
from sources.logs.fetch import AwsClients

MIGRATION = f"""
    -- How long each S3 or CloudWatch Logs destination of a log input keeps its logs, as read from AWS.
    CREATE TABLE log_retention (
        destination VARCHAR NOT NULL,       -- s3://bucket/prefix | cloudwatch://<log group>
        service VARCHAR NOT NULL,           -- s3 | cloudwatch
        origin_prefix VARCHAR NOT NULL,     -- the log files of this destination have origins starting with it
        status VARCHAR NOT NULL,            -- read | error
        error VARCHAR,                      -- AWS error code and message (status error)
        expires_after_days INTEGER,         -- fewest days before a log object or event is deleted; NULL: never
        expired_by VARCHAR,                 -- what deletes first: lifecycle rule <id>, retentionInDays
        lifecycle_rules JSON,               -- S3: enabled lifecycle rules that may apply to the prefix, as read
        transitions JSON,                   -- S3: storage class transitions of those rules
        noncurrent_expiration_days INTEGER, -- S3: shortest NoncurrentVersionExpiration of those rules
        object_lock VARCHAR,                -- S3: Object Lock default retention, e.g. 'COMPLIANCE 365 days', or
                                            -- 'unreadable: <error>' (not judged)
        {PROVENANCE_COLUMNS}
    );
"""
ABSENT = {"NoSuchLifecycleConfiguration", "ObjectLockConfigurationNotFoundError"}  # nothing configured


class Refused(Exception):
    """An AWS call failed; the message is its error code and message (never credentials)."""


def collect_retention(ctx: CollectContext, spec: Mapping[str, Any], clients: AwsClients) -> None:
    """The ``log_retention`` row of one S3 or CloudWatch Logs input (none for local paths)."""
    if "s3" in spec:
        cfg = spec["s3"]
        destination = f"s3://{cfg['bucket']}/{cfg.get('prefix', '')}"
        row = {"destination": destination, "service": "s3", "origin_prefix": destination}
    elif "cloudwatch" in spec:
        cfg = spec["cloudwatch"]
        destination = f"cloudwatch://{cfg['log_group']}"
        row = {"destination": destination, "service": "cloudwatch", "origin_prefix": f"{destination}/"}
    else:
        return
    responses: dict[str, Any] = {}
    try:
        found = (
            s3_retention(clients, cfg, ctx.collected_at, responses)
            if "s3" in spec
            else cloudwatch_retention(clients, cfg, responses)
        )
        row.update(status="read", **found)
    except (Refused, BotoCoreError) as exc:  # BotoCoreError: no client (e.g. an unknown profile)
        row.update(status="error", error=str(exc))
        ctx.partial(f"logs: retention of {destination}: {exc}")
    document = json.dumps(responses, default=str, sort_keys=True, indent=1).encode()
    artifact = ctx.add_document_artifact(document, responses, f"{destination} (retention)", "application/json")
    ctx.emit("log_retention", row, artifact)


def call(responses: dict[str, Any], name: str, operation: Callable[..., Any], **params: Any) -> dict[str, Any]:
    """``operation(**params)``, its response (or error) kept under ``name``; {} when AWS says nothing is set."""
    try:
        response = {k: v for k, v in operation(**params).items() if k != "ResponseMetadata"}
    except ClientError as exc:
        error = exc.response.get("Error", {})
        responses[name] = {"Error": {"Code": error.get("Code"), "Message": error.get("Message")}}
        if error.get("Code") in ABSENT:
            return {}
        raise Refused(f"{name}: {error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")) from None
    except BotoCoreError as exc:
        responses[name] = {"Error": {"Code": type(exc).__name__, "Message": str(exc)}}
        raise Refused(f"{name}: {type(exc).__name__}: {exc}") from None
    responses[name] = response
    return response


def s3_retention(
    clients: AwsClients, cfg: Mapping[str, Any], at: datetime, responses: dict[str, Any]
) -> dict[str, Any]:
    bucket, prefix = cfg["bucket"], cfg.get("prefix", "")
    s3 = clients.get("s3", cfg)
    lifecycle = call(responses, "GetBucketLifecycleConfiguration", s3.get_bucket_lifecycle_configuration, Bucket=bucket)
    try:  # shown, not judged: a refusal leaves the retention read
        lock = call(responses, "GetObjectLockConfiguration", s3.get_object_lock_configuration, Bucket=bucket)
        default = lock.get("ObjectLockConfiguration", {}).get("Rule", {}).get("DefaultRetention")
        object_lock = lock_text(default) if default else None
    except Refused as exc:
        object_lock = f"unreadable: {exc}"
    rules = [r for r in lifecycle.get("Rules", []) if may_apply(r, prefix)]
    expiries = sorted((d, f"lifecycle rule {r.get('ID', '')}") for r in rules if (d := expiry_days(r, at)) is not None)
    noncurrent = [r.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays") for r in rules]
    transitions = [{"rule": r.get("ID"), **t} for r in rules for t in r.get("Transitions", [])]
    return {
        "expires_after_days": expiries[0][0] if expiries else None,
        "expired_by": expiries[0][1] if expiries else None,
        "lifecycle_rules": rules,
        "transitions": transitions,
        "noncurrent_expiration_days": min((d for d in noncurrent if d is not None), default=None),
        "object_lock": object_lock,
    }


def may_apply(rule: Mapping[str, Any], prefix: str) -> bool:
    """Whether an S3 lifecycle rule may act on some object under ``prefix``: it is enabled and its prefix (filter,
    ``And`` or the legacy rule prefix) is a prefix of ``prefix`` or lies under it. Tag and object size conditions
    cannot be judged from the configuration: the rule may apply to some log objects, so it counts."""
    if rule.get("Status") != "Enabled":
        return False
    found = rule.get("Filter", {})
    rule_prefix = found.get("Prefix", found.get("And", {}).get("Prefix", rule.get("Prefix", "")))
    return prefix.startswith(rule_prefix) or rule_prefix.startswith(prefix)


def expiry_days(rule: Mapping[str, Any], at: datetime) -> int | None:
    """Days an object is kept before the rule's Expiration deletes it: ``Days``, or the whole days from ``at`` to
    its ``Date`` (0 once passed: every object matched is due); None when the rule expires no current object."""
    expiration = rule.get("Expiration", {})
    if "Days" in expiration:
        return int(expiration["Days"])
    if "Date" in expiration:
        return max(0, (expiration["Date"] - at).days)
    return None


def lock_text(default: Mapping[str, Any]) -> str:
    """``COMPLIANCE 365 days``: the period is in days or in years (the other one absent, or 0 in moto)."""
    period = f"{default['Days']} days" if default.get("Days") else f"{default.get('Years')} years"
    return f"{default.get('Mode')} {period}"


def cloudwatch_retention(clients: AwsClients, cfg: Mapping[str, Any], responses: dict[str, Any]) -> dict[str, Any]:
    group = cfg["log_group"]
    describe = describe_groups(clients.get("logs", cfg))
    described = call(responses, "DescribeLogGroups", describe, logGroupNamePrefix=group)
    matches = [g for g in described["logGroups"] if g["logGroupName"] == group]
    if not matches:
        raise Refused(f"DescribeLogGroups: log group {group} not found")
    days = matches[0].get("retentionInDays")
    return {
        "expires_after_days": days,
        "expired_by": None if days is None else "retentionInDays",
    }


def describe_groups(logs: Any) -> Callable[..., dict[str, Any]]:
    """DescribeLogGroups over every page, as one response."""

    def describe(**params: Any) -> dict[str, Any]:
        pages = logs.get_paginator("describe_log_groups").paginate(**params)
        return {"logGroups": [g for page in pages for g in page.get("logGroups", [])]}

    return describe
