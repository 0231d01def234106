"""The logs claims on Apache Spark (local[2], and Spark Connect when its server starts here) and on DuckDB over one
corpus: the same verdicts and rows; and how a Spark run fails. One local Spark driver serves the module."""

from __future__ import annotations

import json
import os
import pickle
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from helpers import write
from moto import mock_aws
from test_pack_logs import CONFIGMAP, NAMESPACES, T0, access, deny, flow

from collector.claims import ClaimResult, Settings, evaluate_pack, load_pack, resolve_pack
from collector.runner import run_source
from collector.store import Store
from sources.kubernetes.source import KubernetesSource
from sources.logs.source import LogsSource

PROVENANCE = {"run_id", "artifact_sha256", "collected_at"}  # name each store's own runs
# the ConfigMap of CONFIGMAP allows *.payments.example.net; *.co.uk covers a public suffix (public_suffixes, a
# table of the store that Spark is sent): a gap row on both engines
ALLOWLIST = ["10.20.0.0/16", "*.co.uk"]
SMALL = {"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2"}  # a tiny corpus on 2 cores
REGION = "eu-west-1"


@pytest.fixture(scope="module")
def local_spark() -> Iterator[Any]:
    """The module's one local Spark driver (runs on local[2] reuse it)."""
    pytest.importorskip("pyspark")
    from sources.logs.spark import spark_session

    spark = spark_session({"name": "spark", "master": "local[2]", "conf": SMALL})
    yield spark
    spark.stop()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed once the socket is: nothing listens there


def corpus(tmp: Path) -> list[dict[str, Any]]:
    """Hubble, Envoy and VPC flow logs holding a gap of every logs claim, and evidence of each."""
    start = int(T0.timestamp())
    hubble = [
        deny(0), flow(1, "203.0.113.10", fqdn="api.payments.example.net."), flow(2, "10.20.0.15", 5432),
        flow(3, "198.51.100.23", fqdn="paste.example.org"), deny(95), "not json",
        flow(4, "2001:db8::1", labels=None),  # IPv6 outside the cluster: a gap
        flow(5, "fd00::1", labels=None),  # IPv6 ULA: inside
        flow(6, "192.0.2.7", labels=(), identity=2),  # Cilium's world identity: a gap
        flow(7, "100.64.1.1", labels=None),  # internal_cidrs: inside
        flow(8, "10.8.4.21", 8080, labels=("k8s:app=db",), dst_namespace="data"),  # a pod: inside
        flow(9, "198.51.100.5", src=("shop", "worker-x2x4z")),  # a bare pod name: its own workload
        {"lost_events": {"source": "HUBBLE_RING_BUFFER", "num_events_lost": "12"}, "time": "2026-01-05T11:40:00Z"},
    ]  # fmt: skip
    envoy = [
        access(33, flags="NR", route="-", upstream_host="-", upstream_cluster="-"),  # unrouted: needs an id only
        access(34, flags="DPE", route="-", upstream_host="-", upstream_cluster="-", request_id="-"),  # a gap
        access(30),
        access(31, request_id="-", route="-"),
        access(32, status=403, route="-", details="rbac_access_denied_matched_policy[none]"),
    ]
    vpc = [
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action "
        "log-status",
        f"2 123456789010 eni-1 10.0.0.5 198.51.100.1 49152 443 6 10 840 {start} {start + 60} REJECT OK",
        f"2 123456789010 eni-1 - - - - - - - {start + 600} {start + 660} - SKIPDATA",
    ]
    inputs = []
    for fmt, lines in (("hubble", hubble), ("envoy", envoy), ("vpcflow", vpc)):
        path = write(
            tmp / "logs" / f"prod-{fmt}.log",
            "".join((json.dumps(x) if isinstance(x, dict) else x) + "\n" for x in lines),
        )
        inputs.append({"format": fmt, "paths": [str(path)]})
    return inputs


def read_retention(store: Store, root: Path) -> None:
    """A landed logs run (on DuckDB, against moto) reading the retention of two log destinations holding no
    file (so both engines judge the same files): an S3 prefix whose bucket expires objects after 400 days, a
    CloudWatch Logs group keeping 7 days."""
    bucket, group = "flow-logs", "/flows/prod"
    with pytest.MonkeyPatch.context() as mp:
        for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
            mp.delenv(key, raising=False)
        mp.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "not-a-secret")
        mp.setenv("AWS_CONFIG_FILE", str(root / "no-aws-config"))
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(root / "no-aws-credentials"))
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        with mock_aws():
            s3, logs = boto3.client("s3", region_name=REGION), boto3.client("logs", region_name=REGION)
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
            rule = {"ID": "expire", "Status": "Enabled", "Filter": {"Prefix": "AWSLogs/"}, "Expiration": {"Days": 400}}
            s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [rule]})
            logs.create_log_group(logGroupName=group)
            logs.put_retention_policy(logGroupName=group, retentionInDays=7)
            inputs = [
                {"format": "vpcflow", "s3": {"bucket": bucket, "prefix": "AWSLogs/", "region": REGION}},
                {"format": "vpcflow", "cloudwatch": {"log_group": group, "region": REGION}},
            ]
            result = run_source(store, LogsSource(), {"inputs": inputs, "cluster": "prod"})
    assert (result.status, result.partial_reasons) == (  # landed: its retention rows count
        "partial",
        ["logs: input 1 (vpcflow): no files found", "logs: input 2 (vpcflow): no files found"],
    )
    assert store.con.execute("SELECT count(*) FROM log_retention").fetchone() == (2,)


def judged(store: Store, tmp: Path, engine: dict[str, Any]) -> dict[str, ClaimResult]:
    """The logs claims judged on ``engine`` over a store holding the cluster, a retention reading and the corpus."""
    collect_cluster(store, tmp)
    read_retention(store, tmp)
    config = {"inputs": corpus(tmp), "cluster": "prod", "engine": engine}
    result = run_source(store, LogsSource(), config)
    assert result.status in ("succeeded", "partial"), result.error
    results = evaluate_pack(store, load_pack(resolve_pack("logs")), Settings({"egress_allowlist": ALLOWLIST}))
    return {r.claim.id: r for r in results}


def collect_cluster(store: Store, tmp: Path) -> None:
    manifests = write(tmp / "k8s.yaml", NAMESPACES + CONFIGMAP)
    config = {"paths": [str(manifests)], "cluster": "prod", "egress_allowlists": True}
    assert run_source(store, KubernetesSource(), config).status == "succeeded"


def spark_engine(master: str, output: Path) -> dict[str, Any]:
    return {"name": "spark", "master": master, "output": str(output), "parameters": {"egress_allowlist": ALLOWLIST},
            "conf": SMALL}  # fmt: skip


def comparable(result: ClaimResult) -> tuple[str, list, list]:
    def rows(q: Any) -> list:
        keep = [i for i, c in enumerate(q.columns) if c not in PROVENANCE]
        return sorted((tuple((q.columns[i], row[i]) for i in keep) for row in q.rows), key=repr)

    return result.verdict, rows(result.gaps), rows(result.evidence)


def column(result: Any, name: str) -> set[Any]:
    return {row[result.columns.index(name)] for row in result.rows}


def test_every_logs_claim_has_the_same_verdict_and_rows_on_both_engines(
    local_spark: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """One test for the corpus' local Spark run (the costly part of the module: pytest-xdist runs it once)."""
    tmp = tmp_path_factory.mktemp("spark")
    with Store.open(tmp / "duck.duckdb") as duck, Store.open(tmp / "spark.duckdb") as spark:
        on_duckdb = judged(duck, tmp / "corpus", {"name": "duckdb"})
        on_spark = judged(spark, tmp / "corpus", spark_engine("local[2]", tmp / "lake"))
    assert sorted(on_spark) == sorted(on_duckdb)
    assert {c: r.verdict for c, r in on_duckdb.items()} == {
        "egress-controlled": "gap",
        "policy-denies-visible": "gap",
        "incidents-traceable": "gap",
        "logs-retained": "gap",
    }
    egress = on_duckdb["egress-controlled"].gaps
    destinations = column(egress, "destination")
    assert {"paste.example.org", "2001:db8::1", "192.0.2.7", "*.co.uk"} <= destinations
    assert not destinations & {"fd00::1", "100.64.1.1", "10.8.4.21", "10.20.0.15", "api.payments.example.net"}
    for claim in on_duckdb:
        assert on_spark[claim].verdict != "error", on_spark[claim].reason
        assert comparable(on_spark[claim]) == comparable(on_duckdb[claim]), claim
    assert_logs_retained_judges_the_stores_retention_reading(on_spark["logs-retained"])
    assert_rows_cite_the_run_and_the_file(on_spark["egress-controlled"])


def assert_logs_retained_judges_the_stores_retention_reading(retained: ClaimResult) -> None:
    assert column(retained.evidence, "object") == {"s3://flow-logs/AWSLogs/"}  # 400 days >= 365
    findings = {row[0]: row[-1] for row in rows_of(retained.gaps, "object", "finding")}
    assert findings.pop("cloudwatch:///flows/prod") == (
        "logs deleted after 7 day(s) (retentionInDays), under min_retention_days 365"
    )
    [(directory, finding)] = findings.items()  # the files Spark read: their directory has no retention evidence
    assert directory == "logs:" and finding.startswith("retention not evidenced: 3 log file(s)")


def assert_rows_cite_the_run_and_the_file(egress: ClaimResult) -> None:
    rows = [dict(zip(egress.gaps.columns, row, strict=True)) for row in egress.gaps.rows]
    row = next(r for r in rows if r["destination"] == "paste.example.org")
    assert row["location"] == "logs:prod-hubble.log"  # named by its root, no path of this machine
    assert row["run_id"] and row["artifact_sha256"]


def rows_of(result: Any, *names: str) -> list[tuple]:
    return [tuple(row[result.columns.index(n)] for n in names) for row in result.rows]


@pytest.fixture(scope="module")
def connect_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Spark Connect server started from pyspark's own install (its connect jar) on a free port of 127.0.0.1."""
    for module in ("pyspark", "grpc", "grpc_status", "google.rpc", "pyarrow", "pandas", "zstandard"):
        pytest.importorskip(module)
    import pyspark

    home = Path(pyspark.__file__).parent
    if not list((home / "jars").glob("spark-connect_*.jar")):
        pytest.skip("this pyspark ships no Spark Connect server")
    port, log = closed_port(), tmp_path_factory.mktemp("connect") / "server.log"
    settings = {**SMALL, "spark.connect.grpc.binding.address": "127.0.0.1", "spark.connect.grpc.binding.port": port,
                "spark.ui.enabled": "false"}  # fmt: skip
    command = [str(home / "bin" / "spark-submit"), "--master", "local[2]",
               "--class", "org.apache.spark.sql.connect.service.SparkConnectServer",
               *(f"--conf={k}={v}" for k, v in settings.items()), "spark-internal"]  # fmt: skip
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOCAL_IP": "127.0.0.1"}
    with open(log, "wb") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 120
        while not listening(port):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Spark Connect server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield f"sc://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(60)


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def test_spark_connect_gives_the_same_verdicts_and_rows(connect_url: str, tmp_path: Path) -> None:
    on_duckdb, on_connect, recorded = judged_in_a_process(connect_url, tmp_path)
    assert [engine for engine, _ in recorded] == ["spark"] and recorded[0][1]  # the server's application
    assert on_duckdb["egress-controlled"][0] == on_duckdb["logs-retained"][0] == "gap"
    assert sorted(on_connect) == sorted(on_duckdb)
    for claim in on_duckdb:
        assert on_connect[claim] == on_duckdb[claim], claim


# pyspark allows no local session in a process that opened a Spark Connect one: the run has its own process
CONNECT_RUN = """
import pickle, sys
from pathlib import Path
from collector.store import Store
from test_logs_spark import comparable, judged, spark_engine
url, tmp = sys.argv[1], Path(sys.argv[2])
with Store.open(tmp / "duck.duckdb") as duck, Store.open(tmp / "connect.duckdb") as connect:
    on_duckdb = judged(duck, tmp / "corpus", {"name": "duckdb"})
    on_connect = judged(connect, tmp / "corpus", spark_engine(url, tmp / "lake"))
    recorded = connect.con.execute("SELECT DISTINCT engine, application_id FROM engine_results").fetchall()
comparables = [{c: comparable(r) for c, r in results.items()} for results in (on_duckdb, on_connect)]
(tmp / "results.pickle").write_bytes(pickle.dumps((*comparables, recorded)))
"""


def judged_in_a_process(url: str, tmp: Path) -> tuple[dict[str, tuple], dict[str, tuple], list[tuple]]:
    """``judged`` on DuckDB and on the Spark Connect endpoint ``url`` in a new Python process: their comparable
    results, and the engines the Spark Connect run recorded."""
    tests = Path(__file__).parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tests.parent), str(tests)])}
    done = subprocess.run([sys.executable, "-c", CONNECT_RUN, url, str(tmp)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return pickle.loads((tmp / "results.pickle").read_bytes())


@pytest.mark.parametrize("scheme", ["spark", "sc"])
def test_an_unreachable_master_fails_the_run_in_one_line_within_seconds(
    scheme: str, store: Store, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("pyspark")
    collect_cluster(store, tmp_path)
    before = store.con.execute("SELECT count(*) FROM k8s_current").fetchone()
    port = closed_port()
    master = f"{scheme}://127.0.0.1:{port}"
    started = time.monotonic()
    result = run_source(store, LogsSource(), {"inputs": corpus(tmp_path), "engine": spark_engine(master, tmp_path)})
    assert time.monotonic() - started < 20
    assert result.status == "failed"
    assert result.error == f"logs: Spark at {master} unreachable: 127.0.0.1:{port}: Connection refused"
    assert "\tat " not in "".join(capfd.readouterr())  # no Java stack trace on the terminal
    assert store.con.execute("SELECT count(*) FROM k8s_current").fetchone() == before
    assert store.con.execute("SELECT source, status FROM runs ORDER BY started_at").fetchall() == [
        ("kubernetes", "succeeded"), ("logs", "failed")
    ]  # fmt: skip


def test_a_spark_master_is_reachable_through_any_of_its_standby_masters() -> None:
    from sources.logs.spark import check_reachable

    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        check_reachable(f"spark://127.0.0.1:{closed_port()},127.0.0.1:{port}")  # the second one answers
        check_reachable(f"sc://127.0.0.1:{port}/;use_ssl=false")
    with pytest.raises(OSError, match="Connection refused"):
        check_reachable(f"spark://127.0.0.1:{closed_port()}")
    with pytest.raises(OSError, match=r"127\.0\.0\.1:x: not host:port"):
        check_reachable("sc://127.0.0.1:x")


def test_a_missing_path_fails_the_run_in_one_line_and_keeps_the_store(
    local_spark: Any, store: Store, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    collect_cluster(store, tmp_path)
    before = store.con.execute("SELECT count(*) FROM k8s_current").fetchone()
    absent = tmp_path / "absent"
    config = {"inputs": [{"format": "vpcflow", "paths": [str(absent)]}], "engine": spark_engine("local[2]", tmp_path)}
    result = run_source(store, LogsSource(), config)
    assert result.status == "failed"
    assert result.error.startswith("logs: Spark failed: [PATH_NOT_FOUND]") and str(absent) in result.error
    assert "\n" not in result.error and "\tat " not in "".join(capfd.readouterr())
    assert store.con.execute("SELECT count(*) FROM k8s_current").fetchone() == before
    assert [s for s, in store.con.execute("SELECT status FROM runs ORDER BY started_at").fetchall()] == [
        "succeeded", "failed"
    ]  # fmt: skip


def test_without_pyspark_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from collector.plugins import SourceError
    from sources.logs.spark import spark_session

    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    with pytest.raises(SourceError, match=r"pip install 'defensible\[spark\]'"):
        spark_session({"name": "spark"})
