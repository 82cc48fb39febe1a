"""Trace ids and the step-recording API (deployforge.audit.trace)."""

from __future__ import annotations

import threading

import pytest

from deployforge.audit import AuditLog, trace
from deployforge.audit.trace import (
    PARENT_ENV,
    child_environ,
    is_trace_id,
    new_trace_id,
    parent_from,
    short_id,
)


def test_trace_ids_have_the_product_form_sort_by_time_and_differ():
    ids = [new_trace_id(1_800_000_000 + i * 7) for i in range(50)]
    assert all(is_trace_id(i) and len(i) == len("DF-TRC-") + 10 for i in ids)
    assert ids == sorted(ids)
    assert len({new_trace_id(1_800_000_000) for _ in range(2000)}) > 1990  # random part
    assert short_id("DF-TRC-0KZ3T19B12") == "DF-TRC-9B12"
    assert is_trace_id("DF-TRC-9B12") and not is_trace_id("DF-TRC-9B1") and not is_trace_id("DF-TRC-9BI2")


def test_lineage_passes_through_the_environment():
    env = child_environ({"PATH": "/bin"}, "DF-TRC-0KZ3T19B12")
    assert env[PARENT_ENV] == "DF-TRC-0KZ3T19B12" and env["PATH"] == "/bin"
    assert parent_from(env) == "DF-TRC-0KZ3T19B12"
    assert parent_from({PARENT_ENV: "rm -rf /"}) is None
    assert parent_from({}) is None


def test_steps_are_appended_as_child_records_with_parents_outcomes_and_durations(tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl")
    with trace.recording(log, "DF-TRC-0KZ3T19B12") as rec:
        with trace.step("deploy", target="aws_prod") as outer:
            with trace.step("canary 5%") as inner:
                inner.set(weight=5)
            with trace.step("health gate") as gate:
                gate.outcome = "skipped"
            outer.set(strategy="canary")
        with pytest.raises(ValueError), trace.step("post_success hook"):
            raise ValueError("smoke tests failed")
    records = list(log.records())
    assert [r["name"] for r in records] == ["canary 5%", "health gate", "deploy", "post_success hook"]
    by_name = {r["name"]: r for r in records}
    assert all(r["kind"] == "step" and r["trace_id"] == "DF-TRC-0KZ3T19B12" for r in records)
    assert by_name["deploy"]["parent_id"] == "DF-TRC-0KZ3T19B12"
    assert by_name["canary 5%"]["parent_id"] == by_name["deploy"]["step_id"]
    assert by_name["health gate"]["parent_id"] == by_name["deploy"]["step_id"]
    assert by_name["post_success hook"]["parent_id"] == "DF-TRC-0KZ3T19B12"
    assert by_name["deploy"]["fields"] == {"target": "aws_prod", "strategy": "canary"}
    assert by_name["canary 5%"]["fields"] == {"weight": 5}
    assert by_name["health gate"]["outcome"] == "skipped"
    assert by_name["post_success hook"]["outcome"] == "error"
    assert by_name["post_success hook"]["error"] == "ValueError: smoke tests failed"
    assert by_name["deploy"]["duration_ms"] >= by_name["canary 5%"]["duration_ms"] >= 0
    assert len({r["step_id"] for r in records}) == 4
    assert len(rec.steps) == 4 and log.verify().ok


def test_steps_from_worker_threads_are_recorded_under_the_run(tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl")
    with trace.recording(log, "DF-TRC-0KZ3T1AAAA"):

        def work(i: int) -> None:
            with trace.step(f"resource {i}"):
                pass

        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    records = list(log.records())
    assert sorted(r["name"] for r in records) == sorted(f"resource {i}" for i in range(8))
    assert {r["parent_id"] for r in records} == {"DF-TRC-0KZ3T1AAAA"}


def test_a_step_outside_a_run_times_the_block_and_writes_nothing(tmp_path):
    assert trace.active() is None
    with trace.step("library call", n=1) as s:
        pass
    assert s.outcome == "ok" and s.duration_ms >= 0 and s.fields == {"n": 1}
    assert list(tmp_path.iterdir()) == []


def test_a_log_that_cannot_be_written_does_not_fail_the_step(tmp_path):
    class Broken:
        def append(self, fields):
            raise OSError("disk full")

    with trace.recording(Broken(), "DF-TRC-0KZ3T1BBBB") as rec, trace.step("deploy"):
        pass
    assert rec.write_errors == ["step 'deploy': disk full"]
    assert rec.steps[0]["name"] == "deploy"


def test_canary_steps_recorded_by_the_deploy_stage_are_nodes_of_the_run():
    from deployforge.audit.trace_report import build_trace, render_mermaid

    tid = "DF-TRC-2QBB3T9B12"
    step = {"index": 1, "kind": "set_weight", "description": "shift 5% to canary", "weight": 5}
    records = [
        {
            "kind": "deploy.step",
            "run_id": tid,
            "ts": "2026-11-26T03:00:01Z",
            "seq": 1,
            "step": {**step, "started_s": 0.0, "ended_s": 0.25, "outcome": "done"},
        },
        {
            "kind": "deploy.step",
            "run_id": tid,
            "ts": "2026-11-26T03:00:02Z",
            "seq": 2,
            "step": {
                **step,
                "index": 2,
                "description": "bake 1s",
                "started_s": 0.25,
                "ended_s": 1.25,
                "outcome": "failed",
                "gates": [{"gate": "errors", "passed": False}],
            },
        },
        {"trace_id": tid, "command": "run", "outcome": "error", "duration_ms": 3000.0, "ts": "2026-11-26T03:00:03Z"},
    ]
    trace = build_trace(records, tid)
    assert [n.kind for n in trace.nodes] == ["run", "step", "step"]
    run, first, second = trace.nodes
    assert run.name == "deployforge run" and run.started == "2026-11-26T03:00:00.000Z"  # ts minus duration
    assert (first.name, first.outcome, first.duration_ms) == ("canary step 1: shift 5% to canary", "ok", 250.0)
    assert second.outcome == "failed" and second.details["failed gates"] == "errors"
    assert "canary step 2: bake 1s" in render_mermaid(trace)
