"""Log retention read from AWS (moto) and the logs pack's ``logs-retained`` claim, spec-first.

A compliant baseline — VPC flow logs in S3 whose bucket archives them after 90 days and expires them after 400,
and in a CloudWatch Logs group keeping them 400 days — and one-change variants from the S3 lifecycle and
CloudWatch Logs documentation, each its own bucket, group or directory. Every destination is collected once per
module in one run (the claim judges each destination on its own), the baseline also alone. AWS's refusals are
made with botocore's public event hooks on the source's clients.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws

import sources.logs.fetch
from collector.claims import ClaimResult, Settings, evaluate_pack, load_pack, resolve_pack, run_query
from collector.runner import RunResult, run_source
from collector.store import Store
from sources.logs.retention import expiry_days, may_apply
from sources.logs.source import LogsSource

REGION = "eu-west-1"
PREFIX = "AWSLogs/123456789010/vpcflowlogs/eu-west-1/"
HEADER = (
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
)
T0 = (int(time.time()) // 3600 - 24) * 3600  # a day ago: CloudWatch Logs refuses events over 14 days old
RECORD = f"2 123456789010 eni-0abc 10.0.0.1 10.1.0.1 1000 443 6 10 840 {T0} {T0 + 59} REJECT OK"
BASELINE_RULE = {  # archive after 90 days, delete after 400 (and old versions 30 days after they stop being current)
    "ID": "archive-then-expire",
    "Status": "Enabled",
    "Filter": {"Prefix": "AWSLogs/"},
    "Transitions": [{"Days": 90, "StorageClass": "GLACIER"}],
    "Expiration": {"Days": 400},
    "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
}
REAL_CLIENT = sources.logs.fetch.aws_client
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY"  # the fake secret key: never in the store


@dataclass(frozen=True)
class Variant:
    """One destination differing from the baseline's in one way (its own bucket, log group or directory)."""

    kind: str = "s3"  # s3 | cloudwatch | local
    rules: tuple[dict[str, Any], ...] = ()  # S3 lifecycle rules besides the baseline's
    lifecycle: bool = True  # False: the bucket has no lifecycle configuration
    retention: int | None = 400  # CloudWatch Logs retentionInDays
    object_lock_days: int | None = None


def rule(rule_id: str, days: int, **extra: Any) -> dict[str, Any]:
    return {"ID": rule_id, "Status": "Enabled", "Filter": {"Prefix": PREFIX}, "Expiration": {"Days": days}, **extra}


IN_30_DAYS = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=31)
VARIANTS: dict[str, Variant] = {
    "baseline-s3": Variant(),
    "baseline-cloudwatch": Variant("cloudwatch"),
    # Counter-examples. An enabled rule whose filter prefix is the logs' prefix expires them after 30 days.
    "expire-30-days-on-prefix": Variant(rules=(rule("short", 30),)),
    # A rule on a parent prefix acts on every object under it.
    "parent-prefix-90-days": Variant(rules=(rule("parent", 90, Filter={"Prefix": "AWSLogs/"}),)),
    # An empty filter applies the rule to every object of the bucket.
    "whole-bucket-180-days": Variant(rules=(rule("everything", 180, Filter={}),)),
    # A rule under the prefix (And: prefix and object size) acts on some of the logs.
    "sub-prefix-and-size": Variant(
        rules=(rule("big", 60, Filter={"And": {"Prefix": f"{PREFIX}2026/", "ObjectSizeGreaterThan": 1}}),)
    ),
    # A tag filter selects objects by their tags: the configuration alone cannot rule the logs out.
    "tag-filtered-7-days": Variant(rules=(rule("debug", 7, Filter={"Tag": {"Key": "class", "Value": "debug"}}),)),
    # An Expiration Date: objects are deleted on that date, whenever they were written.
    "expiration-date-passed": Variant(
        rules=(
            {
                "ID": "cutoff",
                "Status": "Enabled",
                "Filter": {},
                "Expiration": {"Date": datetime(2026, 1, 1, tzinfo=UTC)},
            },
        )
    ),
    "expiration-date-in-a-month": Variant(
        rules=({"ID": "soon", "Status": "Enabled", "Filter": {}, "Expiration": {"Date": IN_30_DAYS}},)
    ),
    # A log group keeping events 7 days.
    "group-retention-7-days": Variant("cloudwatch", retention=7),
    # The lifecycle configuration cannot be read.
    "lifecycle-access-denied": Variant(),  # see REFUSED
    # Logs read from local files: nothing says how long those are kept.
    "local-files": Variant("local"),
    # Must stay satisfied: a rule for another prefix, a disabled rule, a rule that only removes delete markers,
    # no lifecycle configuration (kept indefinitely), a group without retentionInDays (never expire).
    "other-prefix-rule": Variant(rules=(rule("tmp", 1, Filter={"Prefix": "tmp/"}),)),
    "disabled-rule": Variant(rules=(rule("off", 1, Status="Disabled"),)),
    "delete-markers-only": Variant(rules=(rule("markers", 0, Expiration={"ExpiredObjectDeleteMarker": True}),)),
    "no-lifecycle": Variant(lifecycle=False),
    "group-never-expires": Variant("cloudwatch", retention=None),
    "object-lock": Variant(object_lock_days=400),
    "object-lock-access-denied": Variant(),  # Object Lock is shown, not judged
}
GAPS = {  # the counter-examples: each a gap row naming its destination
    "expire-30-days-on-prefix",
    "parent-prefix-90-days",
    "whole-bucket-180-days",
    "sub-prefix-and-size",
    "tag-filtered-7-days",
    "expiration-date-passed",
    "expiration-date-in-a-month",
    "group-retention-7-days",
    "lifecycle-access-denied",
    "local-files",
}
BASELINE = ("baseline-s3", "baseline-cloudwatch")


REFUSED = {  # S3 operation -> the bucket it is refused for
    "GetBucketLifecycleConfiguration": "logs-lifecycle-access-denied",
    "GetObjectLockConfiguration": "logs-object-lock-access-denied",
}


def refuse(params: dict[str, Any], model: Any, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
    """AccessDenied for the operations and buckets of REFUSED."""
    if REFUSED.get(model.name, "?") not in params["url"]:
        return None
    parsed = {"Error": {"Code": "AccessDenied", "Message": "Access Denied"}, "ResponseMetadata": {}}
    return AWSResponse(params["url"], 403, {}, None), parsed


def refusing_client(service: str, cfg: Any) -> Any:
    made = REAL_CLIENT(service, cfg)
    for operation in REFUSED:
        made.meta.events.register(f"before-call.s3.{operation}", refuse)
    return made


def make(name: str, variant: Variant, s3: Any, logs: Any, root: Path) -> tuple[str, dict[str, Any]]:
    """The variant's destination in moto (or on disk), holding one log file; its name in rows and its input."""
    record = RECORD.replace("10.0.0.1", f"10.0.{len(name)}.{sum(map(ord, name)) % 250}")  # a file of its own
    if variant.kind == "local":
        local = root / name
        local.mkdir()
        (local / "flows.log").write_text(f"{HEADER}\n{record}\n")
        return f"{local.name}:", {"format": "vpcflow", "paths": [str(local)]}  # the directory, by its root
    if variant.kind == "cloudwatch":
        group = f"/flows/{name}"
        logs.create_log_group(logGroupName=group)
        if variant.retention is not None:
            logs.put_retention_policy(logGroupName=group, retentionInDays=variant.retention)
        logs.create_log_stream(logGroupName=group, logStreamName="eni-0abc-all")
        logs.put_log_events(
            logGroupName=group, logStreamName="eni-0abc-all", logEvents=[{"timestamp": T0 * 1000, "message": record}]
        )
        return f"cloudwatch://{group}", {"format": "vpcflow", "cloudwatch": {"log_group": group, "region": REGION}}
    bucket = f"logs-{name}"
    locked = {"ObjectLockEnabledForBucket": True} if variant.object_lock_days else {}
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION}, **locked)
    if variant.object_lock_days:
        s3.put_object_lock_configuration(
            Bucket=bucket,
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": variant.object_lock_days}},
            },
        )
    s3.put_object(Bucket=bucket, Key=f"{PREFIX}2026/01/05/a.log", Body=f"{HEADER}\n{record}\n".encode())
    if variant.lifecycle:
        rules = [BASELINE_RULE, *variant.rules]
        s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
    return f"s3://{bucket}/{PREFIX}", {
        "format": "vpcflow",
        "s3": {"bucket": bucket, "prefix": PREFIX, "region": REGION},
    }


@dataclass
class Collected:
    """A store holding every variant's destination (one run), and one holding the baseline alone."""

    everything: Store
    baseline: Store
    run: RunResult
    named: dict[str, str]  # variant -> its destination as rows name it


def judge(store: Store, **parameters: Any) -> ClaimResult:
    pack = load_pack(resolve_pack("logs"))
    [result] = [r for r in evaluate_pack(store, pack, Settings(parameters)) if r.claim.id == "logs-retained"]
    return result


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collected]:
    """Every variant collected once against moto, with fake credentials (never the environment's)."""
    root = tmp_path_factory.mktemp("retention")
    with pytest.MonkeyPatch.context() as mp:
        for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
            mp.delenv(key, raising=False)
        mp.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
        mp.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        mp.setenv("AWS_CONFIG_FILE", str(root / "no-aws-config"))
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(root / "no-aws-credentials"))
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        mp.setattr(sources.logs.fetch, "aws_client", refusing_client)
        with mock_aws():
            s3, logs = boto3.client("s3", region_name=REGION), boto3.client("logs", region_name=REGION)
            made = {name: make(name, variant, s3, logs, root) for name, variant in VARIANTS.items()}
            everything, baseline = Store.open(root / "everything.duckdb"), Store.open(root / "baseline.duckdb")
            run = run_source(everything, LogsSource(), {"inputs": [i for _, i in made.values()], "cluster": "prod"})
            alone = run_source(baseline, LogsSource(), {"inputs": [made[n][1] for n in BASELINE], "cluster": "prod"})
            assert alone.status == "succeeded", alone
            yield Collected(everything, baseline, run, {name: where for name, (where, _) in made.items()})
    everything.close()
    baseline.close()


def column(result: Any, name: str) -> list[Any]:
    i = result.columns.index(name)
    return [row[i] for row in result.rows]


def test_baseline_is_satisfied_with_both_destinations_as_evidence(collected: Collected) -> None:
    claim = judge(collected.baseline)
    assert (claim.verdict, claim.gaps.rows) == ("satisfied", [])
    assert dict(zip(column(claim.evidence, "object"), column(claim.evidence, "detail"), strict=True)) == {
        collected.named["baseline-s3"]: "kept 400 day(s) (lifecycle rule archive-then-expire)",
        collected.named["baseline-cloudwatch"]: "kept 400 day(s) (retentionInDays)",
    }
    assert column(claim.evidence, "files") == [1, 1]


def test_each_counter_example_is_a_gap_row_naming_its_destination(collected: Collected) -> None:
    claim = judge(collected.everything)
    assert claim.verdict == "gap"
    assert sorted(column(claim.gaps, "object")) == sorted(collected.named[n] for n in GAPS)
    assert sorted(column(claim.evidence, "object")) == sorted(collected.named[n] for n in set(VARIANTS) - GAPS)
    assert all(column(claim.gaps, "source")) and all(column(claim.gaps, "artifact_sha256"))
    findings = dict(zip(column(claim.gaps, "object"), column(claim.gaps, "finding"), strict=True))
    named = {name: findings.get(where) for name, where in collected.named.items()}
    assert named["expire-30-days-on-prefix"] == (
        "logs deleted after 30 day(s) (lifecycle rule short), under min_retention_days 365"
    )
    assert named["group-retention-7-days"] == (
        "logs deleted after 7 day(s) (retentionInDays), under min_retention_days 365"
    )
    assert named["expiration-date-passed"].startswith("logs deleted after 0 day(s) (lifecycle rule cutoff)")
    assert named["expiration-date-in-a-month"].startswith("logs deleted after 30 day(s) (lifecycle rule soon)")
    assert named["lifecycle-access-denied"] == (
        "retention unreadable: GetBucketLifecycleConfiguration: AccessDenied: Access Denied"
    )
    assert named["local-files"].startswith("retention not evidenced: 1 log file(s) read from outside")


def test_min_retention_days_is_inclusive(collected: Collected) -> None:
    claim = judge(collected.everything, min_retention_days=30)
    expected = {"expire-30-days-on-prefix", "parent-prefix-90-days", "whole-bucket-180-days", "sub-prefix-and-size"}
    assert not expected & {n for n, where in collected.named.items() if where in column(claim.gaps, "object")}
    assert collected.named["tag-filtered-7-days"] in column(claim.gaps, "object")


def test_a_refusal_keeps_the_run_and_every_log(collected: Collected) -> None:
    assert collected.run.status == "partial"
    assert collected.run.partial_reasons == [
        f"logs: retention of {collected.named['lifecycle-access-denied']}: "
        "GetBucketLifecycleConfiguration: AccessDenied: Access Denied"
    ]
    assert collected.everything.con.execute("SELECT count(*) FROM flows").fetchone() == (len(VARIANTS),)


def test_without_retention_evidence_there_is_no_evidence(store: Store, tmp_path: Path) -> None:
    local = tmp_path / "flows.log"
    local.write_text(f"{HEADER}\n{RECORD}\n")
    assert run_source(store, LogsSource(), {"inputs": [{"format": "vpcflow", "paths": [str(local)]}]}).status == (
        "succeeded"
    )
    claim = judge(store)
    assert (claim.verdict, claim.gaps.rows) == ("no-evidence", [])


def test_retention_rows_keep_the_api_responses_and_no_credentials(collected: Collected) -> None:
    store = collected.baseline
    rows = store.con.execute(
        "SELECT service, status, expires_after_days, transitions, noncurrent_expiration_days, artifact_sha256 "
        "FROM log_retention ORDER BY service"
    ).fetchall()
    assert [r[:3] for r in rows] == [("cloudwatch", "read", 400), ("s3", "read", 400)]
    assert json.loads(rows[1][3]) == [{"rule": "archive-then-expire", "Days": 90, "StorageClass": "GLACIER"}]
    assert rows[1][4] == 30
    s3_response = json.loads(store.artifact_path(rows[1][5]).read_bytes())
    assert s3_response["GetBucketLifecycleConfiguration"]["Rules"][0]["ID"] == "archive-then-expire"
    assert s3_response["GetObjectLockConfiguration"]["Error"]["Code"] == "ObjectLockConfigurationNotFoundError"
    group = json.loads(store.artifact_path(rows[0][5]).read_bytes())
    assert group["DescribeLogGroups"]["logGroups"][0]["retentionInDays"] == 400
    for path in store.path.parent.rglob("*"):
        assert not path.is_file() or SECRET.encode() not in path.read_bytes()


def test_inventory_answers_how_long_logs_are_kept(collected: Collected) -> None:
    store = collected.everything
    pack = load_pack(resolve_pack("logs"))
    evaluate_pack(store, pack, Settings({}))  # creates the pack's views
    inventory = run_query(store.con, pack.inventories["log-retention"])
    rows = {r[0]: dict(zip(inventory.columns, r, strict=True)) for r in inventory.rows}
    assert set(rows) == set(collected.named.values())
    s3, group = rows[collected.named["baseline-s3"]], rows[collected.named["baseline-cloudwatch"]]
    assert (s3["service"], s3["log_formats"], s3["files"], s3["retention"]) == (
        "s3",
        "vpcflow",
        1,
        "400 day(s) (lifecycle rule archive-then-expire)",
    )
    assert (group["service"], group["retention"]) == ("cloudwatch", "400 day(s) (retentionInDays)")
    assert rows[collected.named["no-lifecycle"]]["retention"] == "indefinite"
    assert rows[collected.named["object-lock"]]["object_lock"] == "COMPLIANCE 400 days"
    assert rows[collected.named["object-lock-access-denied"]]["object_lock"] == (
        "unreadable: GetObjectLockConfiguration: AccessDenied: Access Denied"
    )
    assert rows[collected.named["local-files"]]["retention"] == "not evidenced"


def test_legacy_rule_prefix_and_unset_filter() -> None:
    """Rules written before Filter existed carry a rule-level Prefix; a rule with neither applies to every object."""
    legacy = {"ID": "v1", "Status": "Enabled", "Prefix": "AWSLogs/", "Expiration": {"Days": 30}}
    assert may_apply(legacy, PREFIX) and not may_apply({**legacy, "Prefix": "elsewhere/"}, PREFIX)
    assert may_apply({"ID": "all", "Status": "Enabled", "Expiration": {"Days": 1}}, PREFIX)
    assert expiry_days(legacy, datetime.now(UTC)) == 30
