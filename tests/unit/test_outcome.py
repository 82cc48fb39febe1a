"""One answer to "did it work?": model/outcome.py decides, every front door reads it.

The status line of the PR comment, the Action's ``result``/``failure-reason`` outputs, the JSON
document Jenkins reads and the audit record's word all come from ``RunResult.outcome``; these tests
pin the decision table and check that the readers agree with it instead of deciding again.
"""

from __future__ import annotations

import json

import pytest

from deployforge.action import outcome_of, read_settings
from deployforge.action.core import failure_reason
from deployforge.errors import (
    ApplyFailedError,
    ConfigError,
    ConfigIssue,
    LockHeldError,
    ProviderError,
    StalePlanError,
    UsageError,
)
from deployforge.model.outcome import Outcome, of_exit
from deployforge.model.plan import Action, Plan, ResourcePlan
from deployforge.model.result import RunResult
from deployforge.policy.model import Check, Finding, PolicyReport
from deployforge.policy.model import Outcome as PolicyOutcome
from deployforge.render.markdown import RenderContext, render_comment


class _Json:
    """A section read back from a document: renderers and the outcome read only its JSON."""

    def __init__(self, data):
        self.data = data

    def to_json(self):
        return self.data


def _plan(*actions: Action) -> Plan:
    return Plan(
        "staging", "h", 0, None, tuple(ResourcePlan(f"r{i}", "aws_s3_bucket", "main", a) for i, a in enumerate(actions))
    )


def _policy(failures: int = 0, errors: int = 0) -> PolicyReport:
    findings = [Finding("deny_x", "high", PolicyOutcome.FAILURE, "no") for _ in range(failures)]
    findings += [Finding("load", "high", PolicyOutcome.ERROR, "broken") for _ in range(errors)]
    return PolicyReport(findings=tuple(findings), checks=(Check("deny_x", "f"),))


CASES = [
    # (what, result, status, failure_reason, input_error)
    ("apply done", RunResult("apply", "s", "r", 0), "ok", "", False),
    ("plan: changes", RunResult("plan", "s", "r", 2, plan=_plan(Action.CREATE, Action.DELETE)), "changes", "", False),
    ("plan: no changes", RunResult("plan", "s", "r", 0, plan=_plan(Action.NOOP)), "ok", "", False),
    (
        "plan stopped on bad input (exit 2 is not changes)",
        RunResult("plan", "s", "r", 2, issues=(ConfigIssue("bad", None),)),
        "failed",
        "validation-failed",
        True,
    ),
    (
        "drift show: drift",
        RunResult("drift show", "s", "r", 2, drift=_Json({"records": [{"status": "MODIFIED"}]})),
        "drift",
        "",
        False,
    ),
    (
        "validate: denied",
        RunResult("validate", "s", "r", 1, policy=_policy(failures=2)),
        "policy-failed",
        "policy-failed",
        False,
    ),
    (
        "validate: a broken policy",
        RunResult("validate", "s", "r", 2, policy=_policy(errors=1)),
        "failed",
        "policy-failed",
        True,
    ),
    (
        "run: canary rolled back",
        RunResult("run", "s", "r", 1, canary=_Json({"verdict": "rolled-back"})),
        "failed",
        "canary-failed",
        False,
    ),
    (
        "run: a hook failed",
        RunResult("run", "s", "r", 1, hooks=_Json({"runs": [{"status": "failed"}]})),
        "failed",
        "hook-failed",
        False,
    ),
    ("interrupted", RunResult("apply", "s", "r", 130), "interrupted", "interrupted", False),
    (
        "an apply cut short by the Action's backstop",
        RunResult("run", "s", "r", 130, apply=_Json({"interrupted": True, "resources": []})),
        "interrupted",
        "apply-failed",
        False,
    ),
    (
        "drift remediate fixed its record (exit 0)",
        RunResult("drift remediate", "s", "r", 0, drift=_Json({"records": [{"status": "MODIFIED"}]})),
        "ok",
        "",
        False,
    ),
    (
        "drift auto-resolve left a record blocked (exit 2)",
        RunResult("drift auto-resolve", "s", "r", 2, drift=_Json({"records": [{"status": "MODIFIED"}]})),
        "drift",
        "",
        False,
    ),
    (
        "warnings under fail_on_warn",
        RunResult(
            "validate",
            "s",
            "r",
            1,
            policy=_Json({"passed": False, "fail_on_warn": True, "counts": {"warnings": 2, "failures": 0}}),
        ),
        "policy-failed",
        "policy-failed",
        False,
    ),
    (
        "stopped by the reviewed-plan check",
        RunResult("deploy", "s", "r", 1, error="PlanChanged", failure_reason="plan-changed"),
        "failed",
        "plan-changed",
        False,
    ),
]


@pytest.mark.parametrize(("what", "result", "status", "reason", "bad_input"), CASES, ids=[c[0] for c in CASES])
def test_the_decision_table(what, result, status, reason, bad_input):
    decided = result.outcome
    assert (decided.status, decided.failure_reason, decided.input_error) == (status, reason, bad_input), what
    # the JSON document carries it, and reading the document back gives the same answer
    doc = json.loads(json.dumps(result.to_json()))
    assert doc["outcome"]["status"] == status and doc["outcome"]["failure_reason"] == reason
    again = RunResult.from_document(doc, result.command, result.exit_code)
    assert again.outcome == decided


def test_errors_carry_their_failure_reason():
    cases = {
        LockHeldError("held", lock_id="L1", holder={}): ("state-locked", False),
        StalePlanError("moved"): ("plan-changed", True),
        ConfigError([ConfigIssue("bad", None)]): ("validation-failed", True),
        UsageError("x", reason="needs-confirmation"): ("", True),
        ApplyFailedError("2 failed"): ("apply-failed", False),
        ProviderError("AccessDenied"): ("error", False),
    }
    for error, (reason, bad_input) in cases.items():
        decided = RunResult.for_error("run", "s", "r", error).outcome
        assert (decided.failure_reason, decided.input_error) == (reason, bad_input), type(error).__name__
        assert decided.status == ("needs-confirmation" if error.reason else "failed")
        assert of_exit("run", error.exit_code, error) == Outcome(
            decided.status, error.exit_code, decided.failure_reason, decided.input_error
        )


def test_a_confirmation_the_cli_could_not_ask_is_no_success():
    """The CLI stops (exit 2) before changing anything; the comment and the report must not say passed."""
    from deployforge.errors import UsageError

    stopped = RunResult.for_error("run", "prod", "r", UsageError("requires confirmation", reason="needs-confirmation"))
    assert stopped.outcome.status == "needs-confirmation" and not stopped.outcome.completed
    assert "❌" in render_comment(stopped, RenderContext(workflow="pr")).splitlines()[1]
    doc = json.loads(json.dumps(stopped.to_json()))
    assert not RunResult.from_document(doc, "run", 2).ok
    # the Action's plan before an approval (exit 0) did its work
    asked = RunResult("deploy", "prod", "r", 0, extra={"confirm": 1})
    assert asked.outcome.status == "needs-confirmation" and asked.outcome.completed


def test_exit_statuses_without_a_result():
    assert of_exit("plan", 2).status == "changes"
    assert of_exit("drift auto-resolve", 2).status == "drift"
    assert of_exit("action:plan", 2).audit_word == "changes"
    assert of_exit("validate", 2).status == "failed"  # 2 is a finding only for plan and drift
    assert of_exit("audit verify", 1).audit_word == "error"
    assert of_exit("run", 130).audit_word == "interrupted"
    assert of_exit("run", 0).audit_word == "ok"


@pytest.mark.parametrize(("what", "result", "status", "reason", "bad_input"), CASES, ids=[c[0] for c in CASES])
def test_the_action_and_the_comment_read_the_same_outcome(tmp_path, what, result, status, reason, bad_input):
    command = {"apply": "run"}.get(result.command.split()[0], result.command.split()[0])
    settings = read_settings({"INPUT_COMMAND": command, "INPUT_FAIL-ON": "error"})
    out = outcome_of(settings, result)
    assert out["result"] == ("failed" if status in ("failed", "policy-failed", "interrupted") else status)
    assert out["policy_failures"] == result.outcome.policy_failures
    if status in ("failed", "policy-failed", "interrupted"):
        assert failure_reason(settings, result, out) == reason
    status_line = render_comment(result, RenderContext(workflow="pr")).splitlines()[1]
    assert ("failed" in status_line) == (status in ("failed", "policy-failed", "interrupted")), status_line
