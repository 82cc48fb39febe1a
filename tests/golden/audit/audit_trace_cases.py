"""Input records for the audit trace golden files (imported by test_audit_golden.py)."""

from __future__ import annotations

from typing import Any

RUN = "DF-TRC-2QBB3T9B12"
CHILD = "DF-TRC-2QBB3VK4M7"


def _step(trace: str, n: int, parent: str, name: str, outcome: str, ms: float, at: str, **extra: Any) -> dict:
    record = {
        "kind": "step",
        "trace_id": trace,
        "step_id": f"{trace}.{n}",
        "parent_id": parent,
        "name": name,
        "outcome": outcome,
        "started_at": f"2026-11-26T03:15:{at}Z",
        "duration_ms": ms,
        "fields": {},
    }
    record.update(extra)
    return record


def pipeline() -> list[dict[str, Any]]:
    """A `run` with nested steps (awkward names), a failing hook, and a child command it started."""
    return [
        _step(RUN, 1, RUN, "plan", "ok", 812.0, "00.100000"),
        _step(RUN, 3, f"{RUN}.2", "canary 5% → health ✓", "ok", 30500.0, "02.000000", fields={"weight": 5}),
        _step(RUN, 4, f"{RUN}.2", "end", "ok", 12.5, "33.000000"),
        _step(RUN, 5, f"{RUN}.2", 'say "hi" <script>#1</script> `x`', "rolled_back", 4.0, "34.000000"),
        _step(RUN, 2, RUN, "deploy (canary)", "ok", 61000.0, "01.000000"),
        _step(
            RUN,
            6,
            RUN,
            "post_success hook: pytest system_tests/",
            "error",
            2300.0,
            "35.000000",
            error="HookFailed: exit code 1",
        ),
        {
            "kind": "run",
            "trace_id": CHILD,
            "run_id": CHILD,
            "parent_trace_id": RUN,
            "command": "policy",
            "environment": "prod",
            "outcome": "ok",
            "duration_ms": 450.0,
            "ts": "2026-11-26T03:15:00.900000Z",
        },
        _step(CHILD, 1, CHILD, "金丝雀 déploiement", "ok", 20.0, "00.500000"),
        {
            "kind": "run",
            "trace_id": RUN,
            "run_id": RUN,
            "parent_trace_id": None,
            "command": "run",
            "environment": "prod",
            "outcome": "error",
            "exit_code": 1,
            "duration_ms": 125000.0,
            "ts": "2026-11-26T03:17:05.000000Z",
            "context": {"actor": "octocat", "system": "github-actions"},
            "error": "post_success hook failed",
        },
    ]


def legacy_and_interrupted() -> list[dict[str, Any]]:
    """A record written before traces (run_id only) and a run whose final record never came."""
    return [
        {
            "run_id": "20261126T031500Z-1a2b3c",
            "command": "apply",
            "outcome": "ok",
            "duration_ms": 70.0,
            "ts": "2026-11-26T03:15:00.000000Z",
        },
        _step("DF-TRC-2QBB3WXXXX", 1, "DF-TRC-2QBB3WXXXX", "graph", "ok", 1.0, "01.000000"),
        _step(
            "DF-TRC-2QBB3WXXXX",
            2,
            "DF-TRC-2QBB3WXXXX",
            "subgraph end",
            "interrupted",
            3.0,
            "02.000000",
            error="KeyboardInterrupt",
        ),
    ]
