"""The hash-chained audit log: sealing, tamper detection, garbage, concurrency, redaction, CI context."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from deployforge.audit import (
    GENESIS,
    ZERO_HASH,
    AuditLog,
    ChainPoint,
    canonical,
    ci_context,
    new_run_id,
    peak_memory_mb,
)
from deployforge.audit import log as audit_log_module
from deployforge.audit.chain import verify_lines
from deployforge.audit.log import _lines_backwards
from deployforge.errors import InputError, StateError

# -- helpers --------------------------------------------------------------------------------------


def make_log(tmp_path: Path, count: int = 10, **kwargs) -> AuditLog:
    log = AuditLog(tmp_path / "audit" / "audit.jsonl", **kwargs)
    for i in range(count):
        log.append(
            {
                "run_id": f"run-{i}",
                "command": ["deployforge", "apply", "--environment", "prod" if i % 2 else "dev"],
                "environment": "prod" if i % 2 else "dev",
                "outcome": "success",
                "duration_ms": 12.5 + i,
                "ci": {"system": "local", "actor": "ada"},
            }
        )
    return log


def lines_of(log: AuditLog) -> list[bytes]:
    return log.path.read_bytes().splitlines(keepends=True)


def write_lines(log: AuditLog, lines: list[bytes]) -> None:
    log.path.write_bytes(b"".join(lines))


def rewrite(line: bytes, **changes) -> bytes:
    """The line with fields changed but its stored hash kept (what a naive tamperer does)."""
    record = json.loads(line)
    digest = record.pop("hash")
    record.update(changes)
    return canonical(record)[:-1] + b',"hash":"' + digest.encode() + b'"}\n'


def parallel_verify(log: AuditLog, monkeypatch: pytest.MonkeyPatch):
    """Verify with two worker processes even on a small log (slices of a few lines)."""
    monkeypatch.setattr(audit_log_module, "PARALLEL_MIN_BYTES", 1)
    return log.verify(workers=2)


@pytest.fixture(params=["sequential", "parallel"])
def verify(request, monkeypatch):
    """Every tamper test runs on the sequential walk and on the parallel slices: same answer."""
    if request.param == "sequential":
        return lambda log: log.verify(workers=1)
    return lambda log: parallel_verify(log, monkeypatch)


# -- the chain ------------------------------------------------------------------------------------


def test_chain_grows_and_verifies(tmp_path, verify):
    log = make_log(tmp_path, 0)
    assert verify(log).ok and verify(log).records == 0
    previous = ZERO_HASH
    for i in range(1, 6):
        record = log.append({"command": ["deployforge", "plan"], "n": i})
        assert record["format"] == 1
        assert record["seq"] == i
        assert record["prev_hash"] == previous
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", record["ts"])
        body = {key: value for key, value in record.items() if key != "hash"}
        expected = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert record["hash"] == hashlib.sha256(expected.encode()).hexdigest()
        previous = record["hash"]
    report = verify(log)
    assert report.ok and report.records == 5 and report.first_bad is None
    assert report.last == ChainPoint(5, previous)
    assert json.loads(log.head_path.read_text()) == {"format": 1, "seq": 5, "hash": previous}
    assert log.head() == ChainPoint(5, previous)
    # every stored line is one record, parsed back equal to what append returned
    assert json.loads(lines_of(log)[-1]) == record


def test_missing_log_verifies_empty(tmp_path):
    report = AuditLog(tmp_path / "nothing" / "audit.jsonl").verify()
    assert report.ok and report.records == 0


@pytest.mark.parametrize(
    "changes",
    [
        {"outcome": "failure"},
        {"duration_ms": 99},
        {"ci": {"system": "local", "actor": "mallory"}},
        {"seq": 4},
        {"ts": "2020-01-01T00:00:00.000000Z"},
        {"prev_hash": "f" * 64},
        {"extra": "added"},
        {"hash": "e" * 64},
    ],
    ids=lambda c: next(iter(c)),
)
def test_modifying_a_middle_record_is_reported_as_modified(tmp_path, verify, changes):
    log = make_log(tmp_path)
    lines = lines_of(log)
    if "hash" in changes:
        lines[4] = lines[4][:-67] + changes["hash"].encode() + b'"}\n'
    else:
        lines[4] = rewrite(lines[4], **changes)
    write_lines(log, lines)
    report = verify(log)
    assert not report.ok
    assert report.first_bad.line == 5
    assert report.first_bad.seq == (4 if "seq" in changes else 5)
    assert "modified" in report.first_bad.reason
    assert report.records == 4


def test_raw_byte_edit_is_reported_as_modified(tmp_path, verify):
    log = make_log(tmp_path)
    lines = lines_of(log)
    lines[6] = lines[6].replace(b'"success"', b'"SUCCESS"')
    write_lines(log, lines)
    bad = verify(log).first_bad
    assert (bad.line, bad.seq) == (7, 7) and "modified" in bad.reason


def test_rewritten_record_with_recomputed_hash_breaks_the_link(tmp_path, verify):
    """A tamperer who recomputes the hash of the record they changed is caught by the next one."""
    log = make_log(tmp_path)
    lines = lines_of(log)
    record = json.loads(lines[4])
    record.pop("hash")
    record["outcome"] = "failure"
    body = canonical(record)
    lines[4] = body[:-1] + b',"hash":"' + hashlib.sha256(body).hexdigest().encode() + b'"}\n'
    write_lines(log, lines)
    bad = verify(log).first_bad
    assert (bad.line, bad.seq) == (6, 6)
    assert "prev_hash does not match" in bad.reason


def test_deleting_a_middle_record_names_the_gap(tmp_path, verify):
    log = make_log(tmp_path)
    lines = lines_of(log)
    del lines[4]  # seq 5
    write_lines(log, lines)
    bad = verify(log).first_bad
    assert (bad.line, bad.seq) == (5, 6)
    assert bad.reason.startswith("record(s) removed before seq 6")


def test_deleting_the_first_record_names_the_gap(tmp_path, verify):
    log = make_log(tmp_path)
    write_lines(log, lines_of(log)[1:])
    bad = verify(log).first_bad
    assert (bad.line, bad.seq) == (1, 2)
    assert "removed before seq 2" in bad.reason


def test_swapping_two_records_is_reported_as_reordered(tmp_path, verify):
    log = make_log(tmp_path)
    lines = lines_of(log)
    lines[3], lines[4] = lines[4], lines[3]
    write_lines(log, lines)
    bad = verify(log).first_bad
    assert (bad.line, bad.seq) == (4, 5)
    assert bad.reason.startswith("reordered")


def test_a_repeated_record_is_reported_as_reordered(tmp_path, verify):
    log = make_log(tmp_path)
    lines = lines_of(log)
    lines.insert(5, lines[2])
    write_lines(log, lines)
    bad = verify(log).first_bad
    assert (bad.line, bad.seq) == (6, 3)
    assert bad.reason.startswith("reordered")


def test_truncating_the_last_record_is_detected_by_the_head(tmp_path, verify):
    log = make_log(tmp_path)
    write_lines(log, lines_of(log)[:-2])
    report = verify(log)
    assert not report.ok
    assert report.records == 8
    assert (report.first_bad.line, report.first_bad.seq) == (9, 9)
    assert "records removed from the end" in report.first_bad.reason
    assert "seq 10" in report.first_bad.reason


def test_emptied_log_is_detected_by_the_head(tmp_path):
    log = make_log(tmp_path)
    log.path.write_bytes(b"")
    report = log.verify()
    assert not report.ok and "records removed from the end" in report.first_bad.reason


def test_missing_or_broken_head_is_reported(tmp_path):
    log = make_log(tmp_path, 3)
    log.head_path.unlink()
    report = log.verify()
    assert not report.ok and "head file audit.head.json is missing" in report.first_bad.reason
    log.head_path.write_text("not json")
    assert "not valid JSON" in log.verify().first_bad.reason


def test_head_replaced_by_a_rewritten_history_is_detected(tmp_path, verify):
    """Truncate, then append new records: the chain is sound but no longer passes through the head."""
    log = make_log(tmp_path, 5)
    head = log.head_path.read_bytes()
    write_lines(log, lines_of(log)[:3])
    log.head_path.write_text(json.dumps({"format": 1, "seq": 3, "hash": json.loads(lines_of(log)[2])["hash"]}))
    log.append({"forged": True})
    log.append({"forged": True})
    log.head_path.write_bytes(head)  # the tamperer forgot the head: seq 5 now has another hash
    bad = verify(log).first_bad
    assert (bad.line, bad.seq) == (5, 5)
    assert "does not match the head file" in bad.reason


def test_parallel_verify_uses_workers_and_survives_their_failure(tmp_path, monkeypatch):
    log = make_log(tmp_path, 30)
    monkeypatch.setattr(audit_log_module, "PARALLEL_MIN_BYTES", 1)
    answers = []
    real_finish = audit_log_module.finish_worker

    def spy(child):
        answers.append(real_finish(child))
        return answers[-1]

    monkeypatch.setattr(audit_log_module, "finish_worker", spy)
    report = log.verify(workers=3)
    assert report.ok and report.records == 30
    assert len(answers) == 2 and all(start is not None and rep.ok for start, rep in answers)
    assert sum(rep.records for _, rep in answers) < 30  # this process verified the first slice
    from deployforge.audit import verify_worker

    monkeypatch.setattr(verify_worker, "_WORKER_CODE", "raise SystemExit(3)")
    assert log.verify(workers=3) == report  # failed workers: the walk goes on sequentially


# -- garbage never crashes verify -----------------------------------------------------------------

GARBAGE = {
    "text": b"hello world\n",
    "half-written": b'{"command":["deployforge","apply"],"format":1,"prev_ha',
    "binary": bytes(range(256)) + b"\n",
    "invalid-utf8": b'{"a":"\xff\xfe"}\n',
    "json-array": b"[1,2,3]\n",
    "json-null": b"null\n",
    "json-string": b'"just a string"\n',
    "empty-object": b"{}\n",
    "blank-line": b"\n",
    "whitespace": b"   \t \n",
    "missing-fields": b'{"format":1,"seq":11}\n',
    "wrong-types": b'{"format":1,"seq":"11","ts":1,"prev_hash":"x","hash":"y"}\n',
    "nan": b'{"format":1,"seq":11,"ts":"t","prev_hash":"%s","x":NaN,"hash":"%s"}\n' % (b"0" * 64, b"0" * 64),
    "deep-nesting": b"[" * 100_000 + b"]" * 100_000 + b"\n",
    "deep-object": b'{"a":' * 50_000 + b"1" + b"}" * 50_000 + b"\n",
    "huge-number": b'{"format":1,"seq":1' + b"0" * 5000 + b"}\n",
    "nul-bytes": b"\x00" * 100 + b"\n",
    "format-zero": b'{"format":0}\n',
    "format-string": b'{"format":"1"}\n',
}


@pytest.mark.parametrize("garbage", GARBAGE.values(), ids=GARBAGE.keys())
def test_garbage_after_the_chain_is_reported_not_raised(tmp_path, verify, garbage):
    log = make_log(tmp_path)
    with open(log.path, "ab") as fh:
        fh.write(garbage)
    report = verify(log)
    assert not report.ok
    assert report.records == 10
    assert report.first_bad.line == 11
    assert report.first_bad.reason


@pytest.mark.parametrize(
    ("garbage", "reason"),
    [
        (b"hello\n", "not valid JSON (Expecting value at column 1)"),
        (b"\xff\xfe\n", "not valid UTF-8"),
        (b"[1]\n", "not a JSON object (a JSON array)"),
        (b"null\n", "not a JSON object (a JSON null)"),
        (b"{}\n", "not an audit record (no 'format' field)"),
        (b'{"format":1,"seq":11}\n', "missing field(s) ts, prev_hash, hash"),
        (b"[" * 100_000 + b"\n", "not valid JSON"),
        (b'{"format":1,"seq":1' + b"0" * 5000 + b"}\n", "not valid JSON (Exceeds the limit"),
        (b'{"format":"1"}\n', "unknown record format '1'"),
        (b"\n", "empty line"),
    ],
)
def test_garbage_reasons_say_what_is_wrong(tmp_path, garbage, reason):
    log = make_log(tmp_path, 2)
    with open(log.path, "ab") as fh:
        fh.write(garbage)
    assert log.verify().first_bad.reason.startswith(reason)


@pytest.mark.parametrize("garbage", GARBAGE.values(), ids=GARBAGE.keys())
def test_garbage_in_the_middle_is_reported_not_raised(tmp_path, verify, garbage):
    log = make_log(tmp_path)
    lines = lines_of(log)
    lines[5] = garbage if garbage.endswith(b"\n") else garbage + b"\n"
    write_lines(log, lines)
    report = verify(log)
    assert not report.ok and report.first_bad.line == 6 and report.records == 5


def test_half_written_last_line_says_the_write_was_interrupted(tmp_path, verify):
    log = make_log(tmp_path)
    data = log.path.read_bytes()
    log.path.write_bytes(data[:-40])
    bad = verify(log).first_bad
    assert bad.line == 10 and "incomplete last line" in bad.reason


def test_record_of_a_newer_format_says_so(tmp_path, verify):
    log = make_log(tmp_path)
    lines = lines_of(log)
    record = json.loads(lines[-1])
    newer = {"format": 2, "seq": 11, "ts": record["ts"], "prev_hash": record["hash"], "novel": {"x": 1}}
    body = canonical(newer)
    lines.append(body[:-1] + b',"hash":"' + hashlib.sha256(body).hexdigest().encode() + b'"}\n')
    write_lines(log, lines)
    bad = verify(log).first_bad
    assert (bad.line, bad.seq) == (11, 11)
    assert "written by a newer DeployForge (format 2)" in bad.reason


def test_boolean_format_is_not_format_one(tmp_path, verify):
    log = make_log(tmp_path, 2)
    lines = lines_of(log)
    last = json.loads(lines[-1])
    body = canonical({"format": True, "seq": 3, "ts": last["ts"], "prev_hash": last["hash"]})
    lines.append(body[:-1] + b',"hash":"' + hashlib.sha256(body).hexdigest().encode() + b'"}\n')
    write_lines(log, lines)
    assert verify(log).first_bad.reason == "unknown record format True"


def test_other_layout_of_a_sound_record_is_accepted(tmp_path, verify):
    """A line reformatted by a tool (other key order, spaces) still verifies by its content."""
    log = make_log(tmp_path, 4)
    lines = lines_of(log)
    lines[1] = json.dumps(dict(reversed(json.loads(lines[1]).items())), indent=None).encode() + b"\n"
    write_lines(log, lines)
    assert verify(log).ok


# -- appending after damage ----------------------------------------------------------------------


def test_append_refuses_after_truncation(tmp_path):
    log = make_log(tmp_path, 5)
    write_lines(log, lines_of(log)[:3])
    with pytest.raises(StateError, match="records were removed from the end") as info:
        log.append({"x": 1})
    assert "audit verify" in info.value.hint
    with pytest.raises(StateError):
        log.check_writable()
    assert len(lines_of(log)) == 3


@pytest.mark.parametrize("tail", [b'{"format":1,"seq', b"garbage\n", b"\xff\xfe\n"])
def test_append_refuses_after_a_damaged_tail(tmp_path, tail):
    log = make_log(tmp_path, 3)
    with open(log.path, "ab") as fh:
        fh.write(tail)
    before = log.path.read_bytes()
    with pytest.raises(StateError, match="refusing to append"):
        log.append({"x": 1})
    assert log.path.read_bytes() == before


def test_append_refuses_without_head(tmp_path):
    log = make_log(tmp_path, 3)
    log.head_path.unlink()
    with pytest.raises(StateError, match=r"head file audit\.head\.json is missing"):
        log.append({"x": 1})


def test_head_left_behind_by_a_crash_is_accepted(tmp_path, verify):
    """A crash between writing the line and the head leaves the head behind; nothing is lost."""
    log = make_log(tmp_path, 5)
    third = json.loads(lines_of(log)[2])
    log.head_path.write_text(json.dumps({"format": 1, "seq": 3, "hash": third["hash"]}))
    assert verify(log).ok
    log.check_writable()
    record = log.append({"after": "crash"})
    assert record["seq"] == 6
    assert verify(log).ok and log.head().seq == 6


def test_crash_before_the_first_head_write_is_accepted(tmp_path):
    log = make_log(tmp_path, 1)
    log.head_path.unlink()
    assert log.verify().ok
    assert log.append({"x": 1})["seq"] == 2
    assert log.verify().ok


def test_short_write_leaves_no_partial_line(tmp_path, monkeypatch):
    log = make_log(tmp_path, 3)
    before = log.path.read_bytes()
    real_write = os.write

    def short_write(fd, data):
        return real_write(fd, data[:10])

    monkeypatch.setattr(audit_log_module.os, "write", short_write)
    with pytest.raises(StateError, match="short write"):
        log.append({"x": 1})
    monkeypatch.setattr(audit_log_module.os, "write", real_write)
    assert log.path.read_bytes() == before
    assert log.append({"x": 2})["seq"] == 4
    assert log.verify().ok


# -- concurrency ---------------------------------------------------------------------------------


def _append_many(path: str, worker: int, count: int, start) -> None:
    log = AuditLog(Path(path))
    start.wait()
    for i in range(count):
        log.append({"worker": worker, "i": i, "pid": os.getpid()})


def test_concurrent_appends_from_many_processes(tmp_path):
    path = tmp_path / "audit.jsonl"
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=_append_many, args=(str(path), w, 50, start)) for w in range(8)]
    for proc in procs:
        proc.start()
    start.set()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    log = AuditLog(path)
    records = list(log.records())
    assert len(records) == 400
    assert [r["seq"] for r in records] == list(range(1, 401))
    assert {(r["worker"], r["i"]) for r in records} == {(w, i) for w in range(8) for i in range(50)}
    for worker in range(8):  # each process's own records stay in its order
        assert [r["i"] for r in records if r["worker"] == worker] == list(range(50))
    report = log.verify()
    assert report.ok and report.records == 400 and log.head().seq == 400


def test_readers_see_a_consistent_log_while_processes_append(tmp_path):
    """verify and records take a snapshot between appends: never a half line, never a head ahead."""
    path = tmp_path / "audit.jsonl"
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=_append_many, args=(str(path), w, 60, start)) for w in range(4)]
    for proc in procs:
        proc.start()
    start.set()
    log = AuditLog(path)
    seen = 0
    while any(proc.is_alive() for proc in procs) or seen < 240:
        report = log.verify(workers=1)
        assert report.ok, report
        seqs = [record["seq"] for record in log.records()]
        assert seqs == list(range(1, len(seqs) + 1))
        seen = max(seen, report.records)
        if seen == 240:
            break
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    assert log.verify().records == 240


def test_reader_racing_the_first_appends_reads_again_under_the_lock(tmp_path, monkeypatch):
    """No lock file yet when the reader starts; appends land between its head read and its size read."""
    reader = AuditLog(tmp_path / "audit.jsonl")
    writer = AuditLog(tmp_path / "audit.jsonl")
    real_read_head = AuditLog._read_head
    raced = []

    def racing_read_head(self):
        head = real_read_head(self)
        if self is reader and not raced:
            raced.append(True)
            for i in range(3):
                writer.append({"i": i})
        return head

    monkeypatch.setattr(AuditLog, "_read_head", racing_read_head)
    report = reader.verify()
    assert raced and report.ok and report.records == 3


# -- redaction and field hygiene -----------------------------------------------------------------


def test_redacted_secret_never_reaches_the_file(tmp_path):
    secret = "s3cr3t-T0ken"

    def redact(text: str) -> str:
        return text.replace(secret, "***")

    log = AuditLog(tmp_path / "audit.jsonl", redact=redact)
    record = log.append(
        {
            "command": ["deployforge", "apply", f"--token={secret}"],
            "env": {"API_TOKEN": secret, secret: "as a key"},
            "nested": [{"deep": [f"x{secret}y"]}],
            "message": secret,
        }
    )
    assert record["message"] == "***"
    assert record["command"][2] == "--token=***"
    assert record["env"] == {"API_TOKEN": "***", "***": "as a key"}
    assert record["nested"] == [{"deep": ["x***y"]}]
    for path in tmp_path.iterdir():
        assert secret.encode() not in path.read_bytes()
    assert log.verify().ok


def test_reserved_and_non_json_fields_are_refused(tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl")
    for field in ("seq", "hash", "prev_hash", "ts", "format"):
        with pytest.raises(InputError, match="reserved"):
            log.append({field: 1})
    with pytest.raises(InputError, match="Path"):
        log.append({"config": tmp_path})
    with pytest.raises(InputError, match="NaN"):
        log.append({"duration": float("nan")})
    with pytest.raises(InputError, match="non-string key"):
        log.append({"map": {1: "x"}})
    assert not log.path.exists() or log.path.read_bytes() == b""


def test_unicode_and_undecodable_arguments_are_kept(tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl")
    record = log.append(
        {"command": ["deployforge", "plan", "--config", "d\u00e9ploiement \u2028 \U0001f680", "bad\udcff"]}
    )
    assert record["command"][3] == "d\u00e9ploiement \u2028 \U0001f680"
    assert record["command"][4] == "bad\\udcff"
    assert len(lines_of(log)) == 1  # U+2028 does not split the line
    assert log.verify().ok
    assert next(log.records())["command"] == record["command"]


# -- reading --------------------------------------------------------------------------------------


def test_records_filters(tmp_path):
    times = iter(datetime(2026, 11, 26, 3, 0, tzinfo=UTC) + timedelta(minutes=i) for i in range(100))
    log = make_log(tmp_path, 10, clock=lambda: next(times))
    assert [r["seq"] for r in log.records(environment="prod")] == [2, 4, 6, 8, 10]
    assert [r["seq"] for r in log.records(run_id="run-3")] == [4]
    assert list(log.records(trace_id="DF-TRC-NONE")) == []
    since = datetime(2026, 11, 26, 3, 2, tzinfo=UTC)
    until = "2026-11-26T03:05:00Z"
    assert [r["seq"] for r in log.records(since=since, until=until)] == [3, 4, 5]
    assert [r["seq"] for r in log.records(since=since, until=until, environment="dev")] == [3, 5]
    assert [r["seq"] for r in log.records(reverse=True)] == list(range(10, 0, -1))
    with pytest.raises(StateError, match="RFC 3339"):
        log.records(since="yesterday")


def test_records_reports_a_bad_line_with_its_location(tmp_path):
    log = make_log(tmp_path, 3)
    lines = lines_of(log)
    lines.insert(1, b"garbage\n")
    write_lines(log, lines)
    with pytest.raises(StateError) as info:
        list(log.records())
    assert str(info.value.location) == f"{log.path}:2"
    assert [r["seq"] for r in log.records(strict=False)] == [1, 2, 3]


def test_records_of_a_missing_log_is_empty(tmp_path):
    assert list(AuditLog(tmp_path / "audit.jsonl").records()) == []


@pytest.mark.parametrize("block", [1, 2, 7, 64, 1 << 16])
@pytest.mark.parametrize(
    "data", [b"", b"a\n", b"a", b"\n\n", b"one\ntwo\nthree\n", b"one\ntwo\nthr", b"x" * 300 + b"\ny\n"]
)
def test_lines_backwards_matches_forward_reading(tmp_path, data, block):
    path = tmp_path / "f"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        backwards = list(_lines_backwards(fd, len(data), block))
    finally:
        os.close(fd)
    assert backwards == list(reversed(data.splitlines(keepends=True)))


def test_verify_lines_is_storage_independent():
    """The chain code works on any stream of lines (what S3/GCS storage will feed it)."""
    from deployforge.audit.chain import seal

    point, lines = GENESIS, []
    for i in range(3):
        record, line = seal({"i": i}, point, "2026-11-26T03:15:00.000000Z")
        point = ChainPoint(record["seq"], record["hash"])
        lines.append(line)
    assert verify_lines(lines).ok
    tail = verify_lines(lines[1:], start=ChainPoint(1, json.loads(lines[0])["hash"]), first_line=2)
    assert tail.ok and tail.records == 2 and tail.last == point
    assert verify_lines(lines, witness=ChainPoint(2, "0" * 64)).first_bad.line == 2


# -- context --------------------------------------------------------------------------------------


def test_ci_context_github_pull_request():
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_ACTOR": "octocat",
        "GITHUB_REPOSITORY": "acme/infra",
        "GITHUB_RUN_ID": "1234567890",
        "GITHUB_RUN_ATTEMPT": "2",
        "GITHUB_SERVER_URL": "https://github.example.com",
        "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567",
        "GITHUB_REF": "refs/pull/42/merge",
        "GITHUB_HEAD_REF": "feature/bucket",
        "GITHUB_WORKFLOW": "deploy",
        "GITHUB_EVENT_NAME": "pull_request",
        "RUNNER_NAME": "runner-7",
        "USER": "runner",
    }
    before = dict(env)
    assert ci_context(env) == {
        "system": "github-actions",
        "actor": "octocat",
        "repository": "acme/infra",
        "run_id": "1234567890",
        "run_url": "https://github.example.com/acme/infra/actions/runs/1234567890/attempts/2",
        "attempt": 2,
        "commit": "0123456789abcdef0123456789abcdef01234567",
        "ref": "refs/pull/42/merge",
        "branch": "feature/bucket",
        "pr": 42,
        "pr_url": "https://github.example.com/acme/infra/pull/42",
        "workflow": "deploy",
        "event": "pull_request",
        "host": "runner-7",
    }
    assert env == before


def test_ci_context_github_push_has_no_pr():
    ctx = ci_context(
        {
            "GITHUB_ACTIONS": "true",
            "GITHUB_ACTOR": "octocat",
            "GITHUB_REPOSITORY": "acme/infra",
            "GITHUB_RUN_ID": "7",
            "GITHUB_REF": "refs/heads/main",
            "GITHUB_REF_NAME": "main",
        }
    )
    assert ctx["run_url"] == "https://github.com/acme/infra/actions/runs/7"
    assert ctx["branch"] == "main"
    assert "pr" not in ctx and "pr_url" not in ctx


def test_ci_context_jenkins():
    env = {
        "JENKINS_URL": "https://ci.acme.test/",
        "BUILD_URL": "https://ci.acme.test/job/infra/job/PR-17/3/",
        "BUILD_TAG": "jenkins-infra-PR-17-3",
        "GIT_COMMIT": "fedcba9876543210fedcba9876543210fedcba98",
        "GIT_URL": "https://github.com/acme/infra.git",
        "CHANGE_ID": "17",
        "CHANGE_URL": "https://github.com/acme/infra/pull/17",
        "CHANGE_BRANCH": "feature/alarm",
        "BUILD_USER_ID": "grace",
        "NODE_NAME": "agent-2",
        "JOB_NAME": "infra/PR-17",
    }
    assert ci_context(env) == {
        "system": "jenkins",
        "actor": "grace",
        "run_id": "jenkins-infra-PR-17-3",
        "run_url": "https://ci.acme.test/job/infra/job/PR-17/3/",
        "repository": "https://github.com/acme/infra.git",
        "commit": "fedcba9876543210fedcba9876543210fedcba98",
        "branch": "feature/alarm",
        "pr": 17,
        "pr_url": "https://github.com/acme/infra/pull/17",
        "job": "infra/PR-17",
        "host": "agent-2",
    }


def test_ci_context_local():
    ctx = ci_context({"USER": "ada"})
    assert ctx["system"] == "local" and ctx["actor"] == "ada" and ctx["host"]
    assert set(ctx) == {"system", "actor", "host"}
    assert ci_context({"CI": "true", "USER": "ada"})["system"] == "ci"


def test_run_id_and_peak_memory():
    run_id = new_run_id(datetime(2026, 11, 26, 3, 15, tzinfo=UTC))
    assert re.fullmatch(r"20261126T031500Z-[0-9a-f]{6}", run_id)
    assert new_run_id() != new_run_id()
    assert sorted([new_run_id(datetime(2027, 1, 1, tzinfo=UTC)), run_id])[0] == run_id
    assert 1 < peak_memory_mb() < 100_000
