"""The ``k8s-audit`` log format: Kubernetes audit events (and EventList batches) into ``audit_events``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest
from helpers import collect_logs, table_rows, write_lines

from collector.store import Store
from sources.logs import ingest as log_ingest

DATA = Path(__file__).parent / "data" / "logs" / "k8s-audit"
LINES = (DATA / "audit.log").read_text().splitlines()
NP_RECEIVED, NP_COMPLETE, SECRET_FORBIDDEN, EXEC_IMPERSONATED = LINES
NP_ID = "4f0b1c52-7e0a-4c39-9d7e-3b8f5a1e6c01"
SECRET_ID = "9c2d7e41-0b6a-4f3e-8a15-6d4c2b9e0f72"
EXEC_ID = "d1e6a0b3-25c8-4f7a-9e3d-0c8b7f4a2e96"
COLUMNS = (
    "ts",
    "audit_id",
    "stage",
    "level",
    '"user"',
    "groups",
    "impersonated_user",
    "source_ips",
    "user_agent",
    "verb",
    "api_group",
    "api_version",
    "resource",
    "subresource",
    "namespace",
    "name",
    "request_uri",
    "decision",
    "reason",
    "code",
)


ingest = partial(collect_logs, log_format="k8s-audit")
rows = partial(table_rows, table="audit_events", columns=COLUMNS)


def keys(store: Store) -> list[tuple[str, str]]:
    return store.con.execute("SELECT audit_id, stage FROM audit_events ORDER BY ts").fetchall()


def event_list(*items: str) -> str:
    return json.dumps(
        {"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {}, "items": [json.loads(i) for i in items]}
    )


def test_audit_events(store: Store) -> None:
    result = ingest(store, DATA / "audit.log")
    assert result.status == "succeeded", result
    received, created, forbidden, exec_ = rows(store)
    assert created == {
        "ts": datetime(2026, 3, 2, 9, 15, 4, 531207, UTC),
        "audit_id": NP_ID,
        "stage": "ResponseComplete",
        "level": "Metadata",
        "user": "alice@example.com",
        "groups": ["platform-admins", "system:authenticated"],
        "impersonated_user": None,
        "source_ips": ["10.0.12.7"],
        "user_agent": "kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819",
        "verb": "create",
        "api_group": "networking.k8s.io",
        "api_version": "v1",
        "resource": "networkpolicies",
        "subresource": None,
        "namespace": "payments",
        "name": "default-deny-egress",
        "request_uri": "/apis/networking.k8s.io/v1/namespaces/payments/networkpolicies"
        "?fieldManager=kubectl-client-side-apply&fieldValidation=Strict",
        "decision": "allow",
        "reason": 'RBAC: allowed by ClusterRoleBinding "platform-admins" of ClusterRole "cluster-admin" '
        'to Group "platform-admins"',
        "code": 201,
    }
    assert (received["audit_id"], received["stage"], received["ts"]) == (
        NP_ID,
        "RequestReceived",
        datetime(2026, 3, 2, 9, 15, 4, 512831, UTC),
    )
    assert (received["decision"], received["code"], received["name"]) == (None, None, "default-deny-egress")
    assert forbidden == {
        "ts": datetime(2026, 3, 2, 9, 16, 41, 209032, UTC),
        "audit_id": SECRET_ID,
        "stage": "ResponseComplete",
        "level": "Metadata",
        "user": "system:serviceaccount:payments:checkout",
        "groups": ["system:serviceaccounts", "system:serviceaccounts:payments", "system:authenticated"],
        "impersonated_user": None,
        "source_ips": ["10.42.3.18"],
        "user_agent": "checkout/1.8.0 (linux/amd64) kubernetes/v0.29.2",
        "verb": "get",
        "api_group": None,
        "api_version": "v1",
        "resource": "secrets",
        "subresource": None,
        "namespace": "payments",
        "name": "db-credentials",
        "request_uri": "/api/v1/namespaces/payments/secrets/db-credentials",
        "decision": "forbid",
        "reason": None,
        "code": 403,
    }
    assert (exec_["user"], exec_["impersonated_user"], exec_["resource"], exec_["subresource"]) == (
        "alice@example.com",
        "system:serviceaccount:payments:deployer",
        "pods",
        "exec",
    )
    assert (exec_["source_ips"], exec_["level"], exec_["code"]) == (["10.0.12.7", "192.0.2.10"], "Request", 101)


def test_event_list_batch(store: Store, tmp_path: Path) -> None:
    no_id = json.loads(EXEC_IMPERSONATED)
    del no_id["auditID"]
    path = write_lines(
        tmp_path / "webhook.log",
        event_list(NP_RECEIVED, NP_COMPLETE, json.dumps(no_id)),
        event_list(),
        json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure"}),
        SECRET_FORBIDDEN,
    )
    result = ingest(store, path)
    assert result.status == "partial"
    assert keys(store) == [(NP_ID, "RequestReceived"), (NP_ID, "ResponseComplete"), (SECRET_ID, "ResponseComplete")]
    (created,) = rows(store, "stage = 'ResponseComplete' AND verb = 'create'")
    assert (created["decision"], created["code"], created["namespace"]) == ("allow", 201, "payments")
    # Counts are per event: the batch gives 2 records and 1 reject, the empty batch and the Status 1 skip each.
    artifact = store.con.execute("SELECT records, rejected, skipped FROM log_artifacts").fetchall()
    assert artifact == [(3, 1, '{"empty EventList":1,"not an audit event":1}')]
    assert store.con.execute("SELECT reason, count FROM ingest_rejects").fetchall() == [("no auditID or stage", 1)]


def test_dedupe_across_runs_and_files(store: Store, tmp_path: Path) -> None:
    first = write_lines(
        tmp_path / "kube-apiserver-audit.log", NP_RECEIVED, NP_COMPLETE, SECRET_FORBIDDEN, SECRET_FORBIDDEN
    )
    assert ingest(store, first).counts["audit_events"] == 3
    rotated = write_lines(
        tmp_path / "kube-apiserver-audit-2026-03-02.log", SECRET_FORBIDDEN, NP_COMPLETE, EXEC_IMPERSONATED
    )
    batch = write_lines(tmp_path / "webhook-batch.log", event_list(NP_RECEIVED, EXEC_IMPERSONATED))
    second = ingest(store, rotated, batch)
    assert second.status == "succeeded", second
    assert second.counts["audit_events"] == 1
    assert keys(store) == [
        (NP_ID, "RequestReceived"),
        (NP_ID, "ResponseComplete"),
        (SECRET_ID, "ResponseComplete"),
        (EXEC_ID, "ResponseComplete"),
    ]
    copy = tmp_path / "copy-of-first.log"
    copy.write_bytes(first.read_bytes())
    third = ingest(store, copy)
    assert third.counts.get("audit_events", 0) == 0
    assert any("already ingested" in note for note in third.notes)
    assert len(keys(store)) == 4


def test_malformed_line(store: Store, tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "audit.log", NP_COMPLETE, '{"kind":"Event","auditID":"x", truncated', SECRET_FORBIDDEN
    )
    result = ingest(store, path)
    assert result.status == "partial"
    assert keys(store) == [(NP_ID, "ResponseComplete"), (SECRET_ID, "ResponseComplete")]
    rejects = store.con.execute("SELECT reason, count, samples FROM ingest_rejects").fetchall()
    assert rejects == [("invalid JSON", 1, [{"line": None, "text": '{"kind":"Event","auditID":"x", truncated'}])]


def test_a_bad_line_beside_a_batch_is_counted(store: Store, tmp_path: Path) -> None:
    event = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "stage": "ResponseComplete", "verb": "get"}
    items = [{**event, "auditID": f"id-{i}", "stageTimestamp": "2026-01-01T00:00:00Z"} for i in range(2)]
    path = write_lines(tmp_path / "audit.log", json.dumps({"kind": "EventList", "items": items}), "{not json")
    result = ingest(store, path)
    assert (result.status, result.counts["audit_events"]) == ("partial", 2)
    assert store.con.execute("SELECT records, rejected FROM log_artifacts").fetchall() == [(2, 1)]


def test_a_file_without_batches_is_parsed_once(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def second_parse(*args: object) -> None:
        raise AssertionError("the lines were parsed again to be counted")

    monkeypatch.setattr(log_ingest, "count_statuses", second_parse)
    result = ingest(store, DATA / "audit.log")  # one Event a line, each loaded: the line count accounts for them
    assert (result.status, result.counts["audit_events"]) == ("succeeded", 4)
    assert store.con.execute("SELECT lines, records, rejected FROM log_artifacts").fetchall() == [(4, 4, 0)]
    monkeypatch.undo()  # a line naming EventList may hold a batch: counted by status
    mention = json.loads(NP_RECEIVED) | {"auditID": "other", "userAgent": "EventList-reader"}
    result = ingest(store, write_lines(tmp_path / "audit.log", json.dumps(mention)))
    assert (result.status, result.counts["audit_events"]) == ("succeeded", 1)


def test_a_repeated_event_keeps_its_earliest_record_and_is_counted(store: Store, tmp_path: Path) -> None:
    late = json.loads(SECRET_FORBIDDEN) | {"stageTimestamp": "2031-01-01T00:00:00Z", "verb": "late"}
    path = write_lines(tmp_path / "audit.log", json.dumps(late), SECRET_FORBIDDEN, NP_RECEIVED)
    result = ingest(store, path)
    assert (result.status, result.counts["audit_events"]) == ("succeeded", 2)
    verbs = store.con.execute("SELECT verb FROM audit_events WHERE audit_id = ?", [SECRET_ID]).fetchall()
    assert verbs == [(json.loads(SECRET_FORBIDDEN)["verb"],)]
    row = store.con.execute("SELECT lines, records, skipped FROM log_artifacts").fetchone()
    assert row is not None and (row[0], row[1], json.loads(row[2])) == (3, 2, {"duplicate": 1})


def test_aks_diagnostic_log_records(store: Store, tmp_path: Path) -> None:
    """AKS diagnostic logs (categories ``kube-audit``, ``kube-audit-admin``) hold the event in ``properties.log``: a
    JSON string (a record of elastic/integrations' kubernetes audit_logs tests, verbatim) or an object."""
    assert ingest(store, DATA / "aks-kube-audit.log").status == "succeeded"
    (lease,) = rows(store)
    assert (lease["audit_id"], lease["stage"], lease["user"], lease["groups"]) == (
        "ad26f7bc-f1c6-4097-90f1-e0924e12f257",
        "ResponseComplete",
        "aksService",
        ["system:masters", "system:authenticated"],
    )
    assert (lease["verb"], lease["resource"], lease["namespace"], lease["name"], lease["code"]) == (
        "update",
        "leases",
        "kube-system",
        "kubelet-serving-csr-approver",
        200,
    )
    assert (lease["ts"], lease["decision"], lease["reason"]) == (
        datetime(2025, 10, 7, 16, 19, 19, 647762, UTC),
        "allow",
        None,
    )
    record = json.loads((DATA / "aks-kube-audit.log").read_text())
    event = json.loads(record["properties"]["log"]) | {"auditID": "as-an-object", "verb": "delete"}
    as_object = record | {"category": "kube-audit-admin", "properties": record["properties"] | {"log": event}}
    other = record | {"category": "kube-apiserver", "properties": {"log": "I1007 16:19:19 request handled"}}
    result = ingest(store, write_lines(tmp_path / "aks.log", json.dumps(as_object), json.dumps(other)))
    assert result.status == "partial"
    assert [(r["audit_id"], r["verb"]) for r in rows(store, "audit_id = 'as-an-object'")] == [
        ("as-an-object", "delete")
    ]
    assert store.con.execute("SELECT reason, count FROM ingest_rejects").fetchall() == [("no auditID or stage", 1)]


def test_elastic_mixed_sample_gke_entries_are_rejected_by_name(store: Store) -> None:
    """elastic/integrations' audit sample (verbatim): three events and an AKS record (``properties.log`` an object)
    that share an auditID and stage (anonymised), so are one event loaded once, and a GKE Cloud Audit Logs entry,
    which is not an audit.k8s.io Event and is rejected as such."""
    result = ingest(store, DATA / "elastic-audit-mixed.log")
    assert result.status == "partial"
    assert keys(store) == [("abcde12345", "ResponseComplete")]
    assert store.con.execute("SELECT records, rejected, skipped FROM log_artifacts").fetchall() == [
        (1, 1, '{"duplicate":3}')
    ]
    assert store.con.execute("SELECT reason, count FROM ingest_rejects").fetchall() == [
        ("a Cloud Audit Logs entry (protoPayload), not an audit.k8s.io Event", 1)
    ]
