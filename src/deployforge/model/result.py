"""The one result document every front door renders (console, JSON, later PR comments and JUnit)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

from deployforge.errors import ConfigIssue, Location
from deployforge.model.outcome import Outcome, decide
from deployforge.model.plan import ApplyResult, Plan


class ResultSection(Protocol):
    """A stage's section of the result (policy/model.PolicyReport, deploy/model.CanaryReport,
    hooks.HooksReport, drift/model.DriftReport, workflow/model.WorkflowResult, or one read back from
    a JSON document): renderers and the outcome read its JSON."""

    def to_json(self) -> Any: ...


@dataclass(frozen=True)
class RunResult:
    command: str
    environment: str | None
    run_id: str
    exit_code: int
    config_path: str | None = None
    config_hash: str | None = None
    issues: tuple[ConfigIssue, ...] = ()
    plan: Plan | None = None
    apply: ApplyResult | None = None
    messages: tuple[str, ...] = ()
    # Stage sections filled by later stages; each is a frozen dataclass with ``to_json()`` defined
    # in its own package (policy/, deploy/, drift/, hooks.py, engine/workflow). Renderers for the
    # PR comment, job summary and JUnit render whichever are present.
    policy: ResultSection | None = None
    canary: ResultSection | None = None
    hooks: ResultSection | None = None
    drift: ResultSection | None = None
    workflow: ResultSection | None = None
    trace_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # set when the command stopped on an error (the error's class name): exit code 2 then means bad
    # input, not "changes" (plan) or "drift found" (drift)
    error: str | None = None
    # why it failed, when the code that stopped it knows better than the sections can tell
    # (the error's ``failure_reason``, "plan-changed", "no-reviewed-plan"); see model/outcome.py
    failure_reason: str | None = None
    # the outcome a JSON document already carries (``from_document``) or an error decided
    # (``for_error``): read, never decided again. ``dataclasses.replace`` keeps it: pass
    # ``recorded_outcome=None`` when replacing what decides (the exit code, the error, a section)
    recorded_outcome: Outcome | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        # the run id is the run's trace id (DF-TRC-...): every rendering of the result carries it
        if self.trace_id is None and self.run_id.startswith("DF-TRC-"):
            object.__setattr__(self, "trace_id", self.run_id)

    @cached_property
    def outcome(self) -> Outcome:
        """What the run amounted to (``model/outcome.py``): decided here, once, for every front door."""
        return self.recorded_outcome or decide(self)

    @property
    def ok(self) -> bool:
        """The command did its work (a plan's changes and a drift command's drift are work done)."""
        return self.outcome.completed

    @classmethod
    def for_error(cls, command: str, environment: str | None, run_id: str, error: Any, **fields: Any) -> RunResult:
        """The result of a command stopped by ``error`` (a DeployForgeError): its issues, or its message."""
        from deployforge.model.outcome import error_reason, of_exit

        issues = tuple(getattr(error, "issues", ()))
        message = error.message + (f" (hint: {error.hint})" if error.hint else "")
        return cls(
            command,
            environment,
            run_id,
            error.exit_code,
            issues=issues,
            messages=() if issues else (message,),
            error=type(error).__name__,
            failure_reason=error_reason(error),
            recorded_outcome=of_exit(command, error.exit_code, error),
            **fields,
        )

    @classmethod
    def from_document(cls, doc: Mapping[str, Any] | None, command: str, exit_code: int) -> RunResult:
        """The result a ``--format json`` document describes (a result, an error payload, or nothing:
        the command crashed or was killed before writing one). Stage sections come back as their JSON,
        which is all the renderers read."""
        if not doc:
            return cls(
                command,
                None,
                "-",
                exit_code,
                messages=(f"deployforge {command} wrote no result document (exit status {exit_code}); see the log",),
            )
        issues = tuple(
            ConfigIssue(
                str(i.get("message", "")),
                Location(str(i["file"]), int(i.get("line") or 0), int(i.get("column") or 0)) if i.get("file") else None,
                i.get("hint"),
            )
            for i in doc.get("issues") or ()
        )
        messages = [str(m) for m in doc.get("messages") or ()]
        if doc.get("error") and not issues:
            hint = f" (hint: {doc['hint']})" if doc.get("hint") else ""
            messages.append(f"error: {doc['error']}{hint}")
        sections = {
            name: _DocumentSection(doc[name])
            for name in ("policy", "canary", "hooks", "drift", "workflow")
            if doc.get(name) is not None
        }
        return cls(
            str(doc.get("command") or command),
            doc.get("environment"),
            str(doc.get("run_id") or "-"),
            int(doc.get("exit_code", exit_code)),
            doc.get("config"),
            doc.get("config_hash"),
            issues=issues,
            plan=Plan.from_json(doc["plan"]) if doc.get("plan") else None,
            apply=_DocumentSection(doc["apply"]) if doc.get("apply") else None,  # type: ignore[arg-type]
            messages=tuple(messages),
            trace_id=doc.get("trace_id"),
            policy=sections.get("policy"),
            canary=sections.get("canary"),
            hooks=sections.get("hooks"),
            drift=sections.get("drift"),
            workflow=sections.get("workflow"),
            recorded_outcome=Outcome.from_json(doc["outcome"]) if isinstance(doc.get("outcome"), Mapping) else None,
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "command": self.command,
            "environment": self.environment,
            "run_id": self.run_id,
            "exit_code": self.exit_code,
            "config": self.config_path,
            "config_hash": self.config_hash,
        }
        if self.issues:
            out["issues"] = [issue.to_json() for issue in self.issues]
        if self.plan is not None:
            out["plan"] = self.plan.to_json()
        if self.apply is not None:
            out["apply"] = self.apply.to_json()
        if self.messages:
            out["messages"] = list(self.messages)
        for name in ("policy", "canary", "hooks", "drift", "workflow"):
            section = getattr(self, name)
            if section is not None:
                out[name] = section.to_json()
        if self.trace_id:
            out["trace_id"] = self.trace_id
        if self.error is not None:
            out["error"] = self.error
        out.update(self.extra)
        out["outcome"] = self.outcome.to_json()
        return out


@dataclass(frozen=True)
class _DocumentSection:
    """A result section read back from a JSON document; renderers only call ``to_json()``."""

    data: Any

    def to_json(self) -> Any:
        return self.data
