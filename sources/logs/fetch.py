"""Where log files come from: local paths, S3 objects, CloudWatch Logs groups (boto3).

Each input yields local files one at a time. A download is written straight into the artifact store, hashed as
it is written, and renamed to its content address once complete: it is never copied again. CloudWatch Logs
events are written as JSON lines (``{"timestamp", "message", ...}``) exactly as the API returns them, one file
per log stream, and their ``message`` is unwrapped when parsed.
"""

from __future__ import annotations

import glob
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from collector.plugins import SourceError
from collector.roots import Roots
from collector.store import ArtifactCopy, Store
from sources.logs.ingest import Fetched, Kept, TextLines, Window

AWS_PROPERTIES: dict[str, Any] = {
    "region": {"type": "string"},
    "endpoint_url": {"type": "string", "description": "API endpoint (tests, VPC endpoints)"},
    "profile": {"type": "string", "description": "AWS profile (default: the environment's credentials)"},
}
S3_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["bucket"],
    "properties": {"bucket": {"type": "string"}, "prefix": {"type": "string", "default": ""}, **AWS_PROPERTIES},
}
CLOUDWATCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["log_group"],
    "properties": {
        "log_group": {"type": "string"},
        "log_stream_prefix": {"type": "string"},
        "filter_pattern": {"type": "string", "description": "CloudWatch Logs filter pattern"},
        **AWS_PROPERTIES,
    },
}


@dataclass
class AwsClients:
    """The boto3 clients of one run, one per service and settings (region, endpoint, profile), shared by its
    inputs: making a client loads botocore's models, which takes longer than most calls."""

    made: dict[tuple[Any, ...], Any] = field(default_factory=dict)

    def get(self, service: str, cfg: Mapping[str, Any]) -> Any:
        key = (service, *(cfg.get(name) for name in AWS_PROPERTIES))
        if key not in self.made:
            self.made[key] = aws_client(service, cfg)
        return self.made[key]


def fetch_input(
    spec: Mapping[str, Any],
    window: Window,
    number: int,
    unchanged: Callable[[str, str], bool],
    clients: AwsClients,
    store: Store,
    marker: str | None,
) -> Iterator[Fetched]:
    """The files of one configured input, in a stable order; downloads are kept in ``store``'s artifacts, their
    lines counted as they are written (those holding the format's batch ``marker`` noted). Remote objects for
    which ``unchanged(origin, version)`` holds are not downloaded."""
    if "paths" in spec:
        yield from local_files(spec["paths"], number)
    elif "s3" in spec:
        yield from s3_objects(spec["s3"], number, unchanged, clients, store, marker)
    else:
        yield from cloudwatch_streams(spec["cloudwatch"], window, number, clients, store, marker)


def local_files(patterns: list[str], number: int) -> Iterator[Fetched]:
    """The files of ``patterns``, each with its origin named by its root (``logs:hubble-flows.json``)."""
    roots = Roots("logs", patterns)
    for pattern in patterns:
        path = Path(pattern)
        if path.is_dir():
            matches = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        elif path.is_file():
            matches = [path]
        else:
            matches = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
            if not matches:
                raise SourceError(f"logs: input {number}: {pattern}: no such file, directory or matching files")
        for match in matches:
            yield Fetched(match, roots.label(match))


def aws_client(service: str, cfg: Mapping[str, Any]) -> Any:
    session = boto3.Session(profile_name=cfg.get("profile"), region_name=cfg.get("region"))
    return session.client(service, endpoint_url=cfg.get("endpoint_url"))


def s3_objects(
    cfg: Mapping[str, Any],
    number: int,
    unchanged: Callable[[str, str], bool],
    clients: AwsClients,
    store: Store,
    marker: str | None,
) -> Iterator[Fetched]:
    bucket, prefix = cfg["bucket"], cfg.get("prefix", "")
    where = f"s3://{bucket}/{prefix}"
    try:
        s3 = clients.get("s3", cfg)
        etags = {
            obj["Key"]: obj["ETag"].strip('"')
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for obj in page.get("Contents", [])
            if not obj["Key"].endswith("/")
        }
        for key, etag in sorted(etags.items()):
            origin = f"s3://{bucket}/{key}"
            if unchanged(origin, etag):
                continue
            text = TextLines(marker)
            with store.artifact_copy(text) as copy:
                s3.download_fileobj(bucket, key, copy)
                kept = Kept(store.keep(copy), text)
            yield Fetched(store.artifact_path(kept.digest.sha256), origin, etag, kept)
    except (ClientError, BotoCoreError) as exc:
        raise SourceError(f"logs: input {number}: {where}: {exc}") from None


def cloudwatch_streams(
    cfg: Mapping[str, Any], window: Window, number: int, clients: AwsClients, store: Store, marker: str | None
) -> Iterator[Fetched]:
    group = cfg["log_group"]
    query: dict[str, Any] = {"logGroupName": group}
    if "log_stream_prefix" in cfg:
        query["logStreamNamePrefix"] = cfg["log_stream_prefix"]
    if "filter_pattern" in cfg:
        query["filterPattern"] = cfg["filter_pattern"]
    if window.since:
        query["startTime"] = int(window.since.timestamp() * 1000)
    if window.until:
        query["endTime"] = int(window.until.timestamp() * 1000) - 1
    try:
        logs = clients.get("logs", cfg)
        with ExitStack() as copies:  # each stream's copy is discarded unless kept
            files: dict[str, tuple[ArtifactCopy, TextLines]] = {}  # stream -> its copy, paused between pages
            for page in logs.get_paginator("filter_log_events").paginate(**query):
                by_stream: dict[str, list[str]] = {}
                for event in page.get("events", []):
                    by_stream.setdefault(event.get("logStreamName", ""), []).append(json.dumps(event, sort_keys=True))
                for stream, lines in by_stream.items():
                    if stream not in files:
                        text = TextLines(marker)
                        files[stream] = (copies.enter_context(store.artifact_copy(text)), text)
                    copy = files[stream][0]
                    copy.write(("\n".join(lines) + "\n").encode())
                    copy.pause()  # no file stays open: a group may have many streams
            kept = {stream: Kept(store.keep(copy), text) for stream, (copy, text) in files.items()}
        for stream, k in sorted(kept.items()):
            yield Fetched(store.artifact_path(k.digest.sha256), f"cloudwatch://{group}/{stream}", kept=k)
    except (ClientError, BotoCoreError) as exc:
        raise SourceError(f"logs: input {number}: cloudwatch log group {group}: {exc}") from None
