"""What a run amounted to, decided once: the one answer to "did it work?".

Every front door reads this instead of deciding for itself: the CLI (its JSON document carries it
as ``outcome``, its audit record as the one-word ``audit_word``), the PR comment's status line, the
Action's ``result`` and ``failure-reason`` outputs, and the Jenkins library's build result (which
reads ``outcome`` from the JSON document and falls back to the exit status only when there is no
document: a crash or a kill).

Statuses::

    ok                  the command did its work; nothing is pending
    changes             a plan found changes that were not applied (plan exits 2)
    drift               drift was found (drift commands exit 2)
    needs-confirmation  nothing was changed: the environment asks for a confirmation first
    policy-failed       policies denied the change (validate, or run's policy gate); nothing applied
    failed              an error, a failed apply, canary, hook or bad input
    interrupted         Ctrl-C or SIGTERM (exit 130)

``failure_reason`` says why for the three failing statuses (the Action's ``failure-reason``
output): validation-failed, state-locked, plan-changed, no-reviewed-plan, policy-failed,
apply-failed, canary-failed, hook-failed, interrupted, or error. Pure: no I/O, no imports above
``errors`` and ``model``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from deployforge.errors import EXIT_INPUT, EXIT_INTERRUPTED, DeployForgeError, InputError

COMPLETED = ("ok", "changes", "drift", "needs-confirmation")
FAILING = ("policy-failed", "failed", "interrupted")


@dataclass(frozen=True)
class Outcome:
    status: str
    exit_code: int
    failure_reason: str = ""
    input_error: bool = False  # the failure is bad input (a located config problem, a flag, a stale plan)
    changes: int = 0
    destructive: int = 0
    policy_failures: int = 0
    drifted: bool = False

    @property
    def completed(self) -> bool:
        """The command did its work (a finding such as changes or drift is work done). A run that
        stopped to ask for a confirmation did its work only where that is its answer (exit 0: the
        Action's plan before an approval); the CLI's exit 2 there is a step that did not run."""
        if self.status == "needs-confirmation":
            return self.exit_code == 0
        return self.status in COMPLETED

    @property
    def audit_word(self) -> str:
        """The audit record's one word: ok, changes, drift, interrupted or error."""
        if self.status in ("ok", "changes", "drift", "interrupted"):
            return self.status
        return "ok" if self.status == "needs-confirmation" and self.exit_code == 0 else "error"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Outcome:
        return cls(
            status=str(data.get("status") or "failed"),
            exit_code=int(data.get("exit_code") or 0),
            failure_reason=str(data.get("failure_reason") or ""),
            input_error=bool(data.get("input_error")),
            changes=int(data.get("changes") or 0),
            destructive=int(data.get("destructive") or 0),
            policy_failures=int(data.get("policy_failures") or 0),
            drifted=bool(data.get("drifted")),
        )


def error_reason(error: BaseException | None) -> str:
    """The failure reason an exception stands for (its ``failure_reason``; ``reason`` when it sets one)."""
    if error is None:
        return "error"
    if isinstance(error, DeployForgeError) and error.reason:
        return error.reason
    return str(getattr(error, "failure_reason", "error"))


def finding(command: str, exit_code: int) -> bool:
    """Exit 2 is a finding, not bad input: plan found changes, a drift command found drift."""
    name = command.removeprefix("action:")
    return exit_code == 2 and (name == "plan" or name.split(" ")[0] == "drift")


def of_exit(command: str, exit_code: int, error: BaseException | None = None, *, input_error: bool = False) -> Outcome:
    """The outcome of a command that has no result to decide from: it raised ``error``, was
    interrupted, crashed, or reports only an exit status (``audit verify``, ``policy test``...)."""
    if exit_code == EXIT_INTERRUPTED:
        return Outcome("interrupted", exit_code, "interrupted")
    if error is None and exit_code == 0:
        return Outcome("ok", 0)
    if error is None and finding(command, exit_code):
        return Outcome("changes" if command.removeprefix("action:") == "plan" else "drift", exit_code)
    reason = error_reason(error)
    bad_input = (
        input_error
        or isinstance(error, InputError)
        or getattr(error, "exit_code", None) == EXIT_INPUT
        or bool(getattr(error, "input_error", False))
    )
    if reason == "needs-confirmation":  # nothing was changed; a CI asks for approval, then runs again
        return Outcome("needs-confirmation", exit_code, input_error=bad_input)
    return Outcome("failed", exit_code, reason, input_error=bad_input)


def decide(result: Any) -> Outcome:
    """The outcome of a run from its result (``model.result.RunResult``)."""
    exit_code = int(result.exit_code)
    plan = result.plan
    changed = plan.changed() if plan is not None else ()
    policy = _json(result.policy)
    counts = policy.get("counts", {}) if isinstance(policy, Mapping) else {}
    policy_failures = int(counts.get("failures", 0)) + int(counts.get("errors", 0))
    if isinstance(policy, Mapping) and policy.get("fail_on_warn"):  # warnings fail the gate: they count
        policy_failures += int(counts.get("warnings", 0))
    drift = _json(result.drift)
    drifted = any(
        "ignored" not in r and str(r.get("status", "")).upper() != "NOT_CHECKED"
        for r in (drift.get("records", []) if isinstance(drift, Mapping) else [])
    )
    figures: dict[str, Any] = {
        "changes": len(changed),
        "destructive": sum(1 for r in changed if r.action.destructive),
        "policy_failures": policy_failures,
        "drifted": drifted,
    }
    if exit_code == EXIT_INTERRUPTED:  # an apply cut short says so (the Action's failure-reason before)
        reason = (
            "apply-failed"
            if isinstance(_json(result.apply), Mapping) and _json(result.apply).get("interrupted")
            else ""
        )
        return Outcome("interrupted", exit_code, reason or "interrupted", **figures)
    policy_failed = isinstance(policy, Mapping) and policy.get("passed") is False
    # stopped by the policy gate (no error, nothing applied): a policy failure, not an error; a policy
    # that could not be evaluated (a broken module, an unreadable input) is bad input, whatever the gate
    policy_stop = policy_failed and result.error is None and result.apply is None
    if policy_stop and int(counts.get("errors", 0)):
        return Outcome("failed", exit_code, "policy-failed", True, **figures)
    if not policy_stop and not _work_done(result):
        return Outcome("failed", exit_code, _failure_reason(result, policy_failures), _bad_input(result), **figures)
    if policy_stop:
        return Outcome("policy-failed", exit_code, "policy-failed", **figures)
    if result.extra.get("confirm"):
        status = "needs-confirmation"
    elif drifted and (result.command == "drift" or finding(result.command, exit_code)):
        status = "drift"  # found (exit 2); a remediation that fixed its record (exit 0) is ok
    elif changed and result.apply is None:
        status = "changes"
    else:
        status = "ok"
    return Outcome(status, exit_code, **figures)


def _work_done(result: Any) -> bool:
    """Exit 0, or 2 where 2 is a finding (plan: changes; drift: drift found), without an error."""
    if result.error is not None:
        return False
    return result.exit_code == 0 or (finding(result.command, result.exit_code) and not result.issues)


def _bad_input(result: Any) -> bool:
    return bool(result.issues) or getattr(result, "failure_reason", None) == "validation-failed"


def _failure_reason(result: Any, policy_failures: int) -> str:
    if getattr(result, "failure_reason", None):
        return str(result.failure_reason)
    if result.issues:
        return "validation-failed"
    if policy_failures:
        return "policy-failed"
    apply = _json(result.apply)
    if isinstance(apply, Mapping) and (
        any(r.get("outcome") == "failed" for r in apply.get("resources", [])) or apply.get("interrupted")
    ):
        return "apply-failed"
    canary = _json(result.canary)
    if result.canary is not None and isinstance(canary, Mapping) and canary.get("verdict") != "promoted":
        return "canary-failed"
    hooks = _json(result.hooks)
    runs = (hooks.get("runs") or hooks.get("hooks") or []) if isinstance(hooks, Mapping) else hooks
    if any(isinstance(h, Mapping) and str(h.get("status", "ok")) != "ok" for h in runs or []):
        return "hook-failed"
    return "error"


def _json(section: Any) -> Any:
    return section.to_json() if section is not None else {}
