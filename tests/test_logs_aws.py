"""The ``logs`` source's S3 and CloudWatch Logs inputs, against moto's AWS."""

from __future__ import annotations

import gzip
import hashlib
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from helpers import collect_logs
from moto import mock_aws

import sources.logs.fetch
from collector.runner import RunResult
from collector.store import Store

REGION = "eu-west-1"
BUCKET = "flow-logs"
PREFIX = "AWSLogs/123456789010/vpcflowlogs/eu-west-1/2023/11/14/"
HEADER = (
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
)
T0 = (int(time.time()) // 3600 - 24) * 3600  # a day ago: CloudWatch Logs refuses events over 14 days old


def rec(i: int, eni: str = "eni-0abc", action: str = "ACCEPT") -> str:
    """A v2 VPC flow record identified by its source port (1000 + i), starting at T0 + i minutes."""
    start = T0 + 60 * i
    return f"2 123456789010 {eni} 10.0.0.{i} 10.1.0.1 {1000 + i} 443 6 10 840 {start} {start + 59} {action} OK"


def iso(i: int) -> str:
    return datetime.fromtimestamp(T0 + 60 * i, UTC).isoformat()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[None]:
    """Fake credentials and region (never the environment's), and moto in place of AWS."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield


def run(store: Store, spec: dict[str, Any], **config: Any) -> RunResult:
    return collect_logs(store, log_format="vpcflow", source_config=config, **spec)


def rows_by_origin(store: Store) -> dict[str, list[tuple[int, str]]]:
    cur = store.con.execute(
        """
        SELECT a.origin, f.src_port - 1000, f.verdict FROM flows f JOIN log_artifacts a USING (run_id, artifact_sha256)
        ORDER BY a.origin, f.ts
        """
    )
    found: dict[str, list[tuple[int, str]]] = {}
    for origin, port, verdict in cur.fetchall():
        found.setdefault(origin, []).append((port, verdict))
    return found


def test_s3_prefix(aws: None, store: Store) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    plain = f"{HEADER}\n{rec(0)}\n{rec(1, action='REJECT')}\n".encode()
    packed = gzip.compress(f"{HEADER}\n{rec(2)}\n".encode(), mtime=0)
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}a_fl_1.log", Body=plain)
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}b_fl_2.log.gz", Body=packed)
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}folder/", Body=b"")
    s3.put_object(Bucket=BUCKET, Key="AWSLogs/123456789010/elsewhere.log", Body=f"{rec(9)}\n".encode())
    result = run(store, {"s3": {"bucket": BUCKET, "prefix": PREFIX, "region": REGION}})
    assert result.status == "succeeded", result
    assert rows_by_origin(store) == {
        f"s3://{BUCKET}/{PREFIX}a_fl_1.log": [(0, "allow"), (1, "deny")],
        f"s3://{BUCKET}/{PREFIX}b_fl_2.log.gz": [(2, "allow")],
    }
    artifacts = store.con.execute("SELECT origin, sha256, media_type FROM artifacts ORDER BY origin").fetchall()
    assert artifacts.pop(0)[0] == f"s3://{BUCKET}/{PREFIX} (retention)"  # see test_logs_retention.py
    assert artifacts == [
        (f"s3://{BUCKET}/{PREFIX}a_fl_1.log", hashlib.sha256(plain).hexdigest(), "text/plain"),
        (f"s3://{BUCKET}/{PREFIX}b_fl_2.log.gz", hashlib.sha256(packed).hexdigest(), "application/gzip"),
    ]
    assert store.artifact_path(hashlib.sha256(packed).hexdigest()).read_bytes() == packed
    etag = {key: hashlib.md5(body).hexdigest() for key, body in (("a_fl_1.log", plain), ("b_fl_2.log.gz", packed))}
    again = run(store, {"s3": {"bucket": BUCKET, "prefix": PREFIX, "region": REGION}})
    assert (again.status, again.counts.get("flows", 0)) == ("succeeded", 0)
    assert again.notes == [
        f"s3://{BUCKET}/{PREFIX}{key}: already ingested (version {etag[key]}), not downloaded"
        for key in ("a_fl_1.log", "b_fl_2.log.gz")
    ]
    changed = f"{HEADER}\n{rec(0)}\n{rec(1, action='REJECT')}\n{rec(3)}\n".encode()  # the object is replaced
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}a_fl_1.log", Body=changed)
    third = run(store, {"s3": {"bucket": BUCKET, "prefix": PREFIX, "region": REGION}})
    assert third.counts["flows"] == 3 and len(third.notes) == 1
    versions = store.con.execute("SELECT DISTINCT origin_version FROM log_artifacts ORDER BY 1").fetchall()
    assert versions == sorted([(etag["a_fl_1.log"],), (etag["b_fl_2.log.gz"],), (hashlib.md5(changed).hexdigest(),)])


def test_downloads_are_hashed_as_written_into_the_store_and_never_copied_again(
    aws: None, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_second_copy(*args: object) -> None:
        raise AssertionError("a download was copied again")

    monkeypatch.setattr(Store, "put_artifact_file", no_second_copy)
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    crlf = f"{HEADER}\r\n{rec(0)}\r\n{rec(1, action='REJECT')}\r\n".encode()  # CR noticed while downloading
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}crlf.log", Body=crlf)
    logs = boto3.client("logs", region_name=REGION)
    logs.create_log_group(logGroupName="/vpc/flow-logs")
    put_events(logs, "/vpc/flow-logs", "eni-0abc-all", [((T0 + 180) * 1000, rec(2))])
    assert run(store, {"s3": {"bucket": BUCKET, "prefix": PREFIX, "region": REGION}}).status == "succeeded"
    assert run(store, {"cloudwatch": {"log_group": "/vpc/flow-logs", "region": REGION}}).status == "succeeded"
    assert rows_by_origin(store) == {
        f"s3://{BUCKET}/{PREFIX}crlf.log": [(0, "allow"), (1, "deny")],
        "cloudwatch:///vpc/flow-logs/eni-0abc-all": [(2, "allow")],
    }
    sql = "SELECT sha256 FROM artifacts WHERE origin NOT LIKE '%(retention)'"
    digests = [d for (d,) in store.con.execute(sql).fetchall()]
    assert hashlib.sha256(crlf).hexdigest() in digests
    kept = sorted(p for p in store.artifacts_dir.rglob("*") if p.is_file())  # no temporary file left
    everything = store.con.execute("SELECT DISTINCT sha256 FROM artifacts").fetchall()
    assert kept == sorted(store.artifact_path(d) for (d,) in everything)
    for digest in digests:
        assert hashlib.sha256(store.artifact_path(digest).read_bytes()).hexdigest() == digest


def test_s3_missing_bucket_fails(aws: None, store: Store) -> None:
    result = run(store, {"s3": {"bucket": "no-such-bucket", "prefix": "x/", "region": REGION}})
    assert result.status == "failed"
    assert result.error is not None
    assert result.error.startswith("logs: input 1: s3://no-such-bucket/x/: ")
    assert "NoSuchBucket" in result.error


def put_events(logs: Any, group: str, stream: str, events: list[tuple[int, str]]) -> None:
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    response = logs.put_log_events(
        logGroupName=group, logStreamName=stream, logEvents=[{"timestamp": t, "message": m} for t, m in events]
    )
    assert "rejectedLogEventsInfo" not in response


def test_cloudwatch_streams(aws: None, store: Store) -> None:
    logs = boto3.client("logs", region_name=REGION)
    logs.create_log_group(logGroupName="/vpc/flow-logs")
    put_events(logs, "/vpc/flow-logs", "eni-0abc-all", [((T0 + 60) * 1000, rec(0)), ((T0 + 120) * 1000, rec(1))])
    put_events(logs, "/vpc/flow-logs", "eni-0def-all", [((T0 + 180) * 1000, rec(2, "eni-0def", "REJECT"))])
    result = run(store, {"cloudwatch": {"log_group": "/vpc/flow-logs", "region": REGION}})
    assert result.status == "succeeded", result
    assert rows_by_origin(store) == {
        "cloudwatch:///vpc/flow-logs/eni-0abc-all": [(0, "allow"), (1, "allow")],
        "cloudwatch:///vpc/flow-logs/eni-0def-all": [(2, "deny")],
    }
    wrappers = store.con.execute("SELECT DISTINCT wrapper FROM log_artifacts").fetchall()
    assert wrappers == [("message",)]
    observers = store.con.execute("SELECT observer, count(*) FROM flows GROUP BY ALL ORDER BY ALL").fetchall()
    assert observers == [("eni-0abc", 2), ("eni-0def", 1)]


def test_cloudwatch_window_is_sent_as_start_and_end_time(
    aws: None, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    logs = boto3.client("logs", region_name=REGION)
    logs.create_log_group(logGroupName="flows")
    put_events(
        logs,
        "flows",
        "eni-0abc-all",
        [
            ((T0 + 60 * 1) * 1000, rec(1)),  # event before the window: not fetched
            ((T0 + 60 * 3) * 1000, rec(3)),
            ((T0 + 60 * 4) * 1000, rec(0)),  # event in the window, record before it: fetched, not loaded
            ((T0 + 60 * 6) * 1000, rec(4)),  # event at `until`: not fetched
        ],
    )
    sent: list[dict[str, Any]] = []
    real_client = sources.logs.fetch.aws_client

    def recording_client(service: str, cfg: Any) -> Any:
        client = real_client(service, cfg)
        client.meta.events.register(
            "provide-client-params.logs.FilterLogEvents", lambda params, **_: sent.append(params)
        )
        return client

    monkeypatch.setattr(sources.logs.fetch, "aws_client", recording_client)
    result = run(store, {"cloudwatch": {"log_group": "flows", "region": REGION}}, since=iso(2), until=iso(6))
    assert result.status == "succeeded", result
    assert sent == [{"logGroupName": "flows", "startTime": (T0 + 120) * 1000, "endTime": (T0 + 360) * 1000 - 1}]
    assert rows_by_origin(store) == {"cloudwatch://flows/eni-0abc-all": [(3, "allow")]}
    ((records, outside),) = store.con.execute("SELECT records, outside_window FROM log_artifacts").fetchall()
    assert (records, outside) == (1, 1)


def test_cloudwatch_missing_group_fails(aws: None, store: Store) -> None:
    result = run(store, {"cloudwatch": {"log_group": "nope", "region": REGION}})
    assert result.status == "failed"
    assert result.error is not None
    assert result.error.startswith("logs: input 1: cloudwatch log group nope: ")
    assert "ResourceNotFoundException" in result.error


def test_an_s3_object_is_counted_as_it_is_downloaded_with_its_batch_lines(aws: None, store: Store) -> None:
    """A download is counted as it is written: lines, and lines holding a batch (k8s-audit ``EventList``), whose
    events make the records outnumber the lines, so a bad line beside them is still found."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    event = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "stage": "ResponseComplete", "verb": "get"}
    items = [{**event, "auditID": f"id-{i}", "stageTimestamp": iso(i)} for i in range(2)]
    body = json.dumps({"kind": "EventList", "items": items}) + "\n{not json\n"  # 2 lines, 2 records
    s3.put_object(Bucket=BUCKET, Key="audit/a.log", Body=body.encode())
    result = collect_logs(store, log_format="k8s-audit", s3={"bucket": BUCKET, "prefix": "audit/"})
    assert (result.status, result.counts["audit_events"]) == ("partial", 2)
    row = store.con.execute("SELECT lines, records, rejected FROM log_artifacts").fetchall()
    assert row == [(2, 2, 1)]
