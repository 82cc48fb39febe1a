"""The GitHub Action entrypoint: environment -> settings -> the core (app.py) -> outputs.

The runner starts the container with every input as ``INPUT_<NAME>`` (upper-cased, hyphens kept:
``INPUT_GITHUB-TOKEN``), the workspace mounted and the working directory set. This module turns
that world into ``Settings`` (a bad input is a clear ``::error::`` and exit 1, never a traceback),
calls the same use cases as the CLI, and turns the ``RunResult`` back into the runner's world:
step outputs, the job summary, annotations, JUnit/SARIF files, and one sticky PR comment.

``INPUTS`` and ``OUTPUTS`` are the one list of the Action's interface: a test keeps action.yml and
the README's table in agreement with them.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

COMMANDS = ("validate", "plan", "run", "deploy", "drift")
COMMENT_MODES = ("always", "update", "changes-only", "new", "off")  # always: update's other name
RESULT_LABELS = ("deployforge:failed", "deployforge:policy-failed", "deployforge:changes", "deployforge:no-changes")
CHECK_RUN_MODES = ("auto", "always", "off")
FAIL_ON = ("error", "policy", "drift", "changes", "never")
REPORTS_DIR = ".deployforge/reports"  # relative to working-directory: the summary and the full report
PR_EVENTS = ("pull_request", "pull_request_target", "pull_request_review", "pull_request_review_comment")


@dataclass(frozen=True)
class Input:
    name: str
    default: str
    description: str


@dataclass(frozen=True)
class Output:
    name: str
    description: str


INPUTS: tuple[Input, ...] = (
    Input("command", "plan", "What to run: validate, plan, run, deploy or drift."),
    Input("config", "deployforge.yaml", "The config file, relative to working-directory."),
    Input("pipeline", "", "Alias of config (the Jenkins steps' name); wins when set."),
    Input("environment", "", "The environment of the config to use."),
    Input(
        "confirm",
        "false",
        "true: the deploy is approved, also to environments with require_confirmation; "
        "false: those only plan (others deploy).",
    ),
    Input(
        "policy", "", "Rego policy file or folder: checked on the config before planning (with the config's policies:)."
    ),
    Input("evolve-strategy", "", "Canary strategy for run/deploy, e.g. 5percent-step."),
    Input("timeout", "", "Deploy timeout (seconds, or 30m / 1h); empty: the config's deploy.timeout (default 1h)."),
    Input("github-token", "${{ github.token }}", "Token for the PR comment; needs pull-requests: write."),
    Input(
        "comment-mode",
        "always",
        "always (or update): one comment kept up to date; changes-only: none until there is something; new; off.",
    ),
    Input("junit-path", ".deployforge/reports/junit.xml", "Where to write the JUnit report (empty: none)."),
    Input("sarif-path", ".deployforge/reports/deployforge.sarif", "Where to write SARIF (empty: none)."),
    Input("plan-path", ".deployforge/reports/plan.json", "Where to save the plan (plan, run, deploy)."),
    Input("fail-on", "error,policy", "Comma list of what fails the step: error, policy, drift, changes, never."),
    Input("working-directory", ".", "Directory to run in, relative to the workspace."),
    Input(
        "sandbox",
        "false",
        "true: point every AWS target at the embedded emulator (needs moto: not in the Action's image).",
    ),
    Input(
        "allow-fork-code",
        "false",
        "true: run a fork's hooks and config on pull_request_target/workflow_run (fork code gets this job's token).",
    ),
    Input(
        "labels",
        "false",
        "true: label the pull request by result (deployforge:changes, :no-changes, :policy-failed, :failed).",
    ),
    Input(
        "apply-reviewed-plan",
        "false",
        "true (run/deploy): apply only if the new plan's digest is the one the pull request's comment showed.",
    ),
    Input(
        "label",
        "",
        "Names this step's comment and check run (one per stack); empty: from working-directory and config.",
    ),
    Input(
        "check-run",
        "auto",
        "auto: a check run holds every annotation when a step has over 10 of a type (checks: write); always; off.",
    ),
)

OUTPUTS: tuple[Output, ...] = (
    Output("result", "ok, changes, failed, needs-confirmation or drift."),
    Output("changes", "Number of resources the plan changes."),
    Output("destructive-changes", "Number of deletes and replacements in the plan."),
    Output("drift-detected", "true when drift was found."),
    Output("policy-failures", "Number of policy failures."),
    Output("plan-path", "The saved plan (JSON)."),
    Output("junit-path", "The JUnit report."),
    Output("sarif-path", "The SARIF report."),
    Output("comment-url", "The PR comment's URL (empty when none was written)."),
    Output("run-id", "The DeployForge run id (audit log, traces)."),
    Output("label", "The label naming this step's comment and check run (the input, or derived)."),
    Output(
        "plan-digest", "sha256 of the planned changes (recorded in the PR comment; apply-reviewed-plan compares it)."
    ),
    Output(
        "failure-reason",
        "Why a failing run failed: plan-changed, state-locked, policy-failed, validation-failed, ... (docs/action.md).",
    ),
    Output("lock-info", "When the state was locked: the lock's id and holder (JSON); else empty."),
)

_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}


class ActionInputError(Exception):
    """A bad input: reported as ::error:: with the input's name and what is accepted."""


@dataclass(frozen=True)
class Settings:
    command: str
    config: str
    environment: str | None
    confirm: bool
    policy: str
    evolve_strategy: str
    timeout: float | None  # None: the config's deploy.timeout
    token: str
    comment_mode: str
    junit_path: str
    sarif_path: str
    plan_path: str
    fail_on: frozenset[str]
    working_directory: str
    sandbox: bool
    allow_fork_code: bool = False
    check_run: str = "auto"
    label: str = ""
    pr_labels: bool = False
    apply_reviewed_plan: bool = False
    # the run's context
    event_name: str = ""
    event: dict[str, Any] = field(default_factory=dict)
    repository: str = ""
    api_url: str = "https://api.github.com"
    server_url: str = "https://github.com"
    run_id: str = ""
    sha: str = ""
    workflow: str = ""
    workspace: str = ""
    runner_temp: str = ""
    runner_workspace: str = ""  # RUNNER_WORKSPACE: a host path even inside the container

    @property
    def pr_number(self) -> int | None:
        if self.event_name in PR_EVENTS:
            number = (self.event.get("pull_request") or {}).get("number") or self.event.get("number")
            return int(number) if number else None
        if self.event_name == "issue_comment" and (self.event.get("issue") or {}).get("pull_request"):
            return int(self.event["issue"]["number"])
        return None

    @property
    def fork_head(self) -> str | None:
        """The fork a privileged run is about: on ``pull_request_target`` or ``workflow_run`` (which
        run with the base repository's token and secrets) for a pull request whose head is another
        repository, that repository's name (``(deleted fork)`` when GitHub no longer knows it); else
        None. Plain ``pull_request`` runs from forks get a read-only token and no secrets."""
        base = self.repository
        if self.event_name == "pull_request_target":
            pr = self.event.get("pull_request") or {}
            head = ((pr.get("head") or {}).get("repo") or {}).get("full_name")
            base = ((pr.get("base") or {}).get("repo") or {}).get("full_name") or base
        elif self.event_name == "workflow_run":
            run = self.event.get("workflow_run") or {}
            if not run:
                return None
            head = (run.get("head_repository") or {}).get("full_name")
            base = (run.get("repository") or {}).get("full_name") or base
        else:
            return None
        if not head:
            return "(deleted fork)"
        return str(head) if str(head).lower() != str(base).lower() else None

    @property
    def run_url(self) -> str | None:
        if self.repository and self.run_id:
            return f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"
        return None

    @property
    def commit(self) -> str:
        head = ((self.event.get("pull_request") or {}).get("head") or {}).get("sha")
        return str(head or self.sha)


def get_input(env: Mapping[str, str], name: str) -> str:
    """Like actions-toolkit's core.get_input: INPUT_ + upper-cased name, spaces to '_', hyphens kept."""
    default = next(i.default for i in INPUTS if i.name == name)
    raw = env.get(f"INPUT_{name.replace(' ', '_').upper()}")
    if raw is None:
        return "" if default.startswith("${{") else default
    return raw.strip()


def _bool(env: Mapping[str, str], name: str) -> bool:
    value = get_input(env, name)
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ActionInputError(f"input '{name}' must be true or false (YAML 1.2 core schema), not '{value}'")


def _choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str:
    value = get_input(env, name).lower()
    if value not in allowed:
        import difflib

        close = difflib.get_close_matches(value, allowed, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ActionInputError(f"input '{name}' is '{value}'; use one of: {', '.join(allowed)}.{hint}")
    return value


LABEL_MAX = 64
_LABEL_BAD = re.compile(r"--|[<>\"\\`]|[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def label_problem(label: str) -> str | None:
    """Why a label cannot name a comment (it sits in an HTML comment, the marker), or None."""
    if len(label) > LABEL_MAX:
        return f"it is {len(label)} characters long (at most {LABEL_MAX})"
    bad = _LABEL_BAD.search(label)
    if bad is not None:
        what = {"--": "'--' (it would end the comment's hidden marker)", ">": "'>'", "<": "'<'"}.get(
            bad.group(0), f"the character {bad.group(0)!r}"
        )
        return f"it holds {what}"
    return None


def derived_label(working_directory: str, config: str) -> str:
    """The default label: working-directory and the config path where they are not the defaults
    (``infra/app``, ``infra/app/prod.yaml``, ``prod.yaml``); '' for the defaults. Characters a
    marker cannot carry become '-'."""
    import posixpath

    parts = []
    wd = posixpath.normpath(working_directory.replace("\\", "/")) if working_directory else "."
    if wd not in (".", ""):
        parts.append(wd.strip("/"))
    config_path = posixpath.normpath(config.replace("\\", "/")) if config else "deployforge.yaml"
    if config_path != "deployforge.yaml":
        parts.append(config_path)
    label = _LABEL_BAD.sub("-", "/".join(parts))
    return label[-LABEL_MAX:] if len(label) > LABEL_MAX else label


def read_settings(env: Mapping[str, str]) -> Settings:
    """Every input and the run's context, checked. Raises ActionInputError with a clear message."""
    command = _choice(env, "command", COMMANDS)
    comment_mode = _choice(env, "comment-mode", COMMENT_MODES)
    comment_mode = "update" if comment_mode == "always" else comment_mode
    timeout_text = get_input(env, "timeout").strip()
    timeout: float | None = None
    if timeout_text:
        from deployforge.deploy.strategy import parse_duration

        try:
            timeout = parse_duration(timeout_text)
        except ValueError:
            timeout = None
        if timeout is None or timeout <= 0:
            raise ActionInputError(
                f"input 'timeout' must be seconds above 0 or a duration such as 30m or 1h, not '{timeout_text}'"
            )
    fail_on = frozenset(x.strip().lower() for x in get_input(env, "fail-on").split(",") if x.strip())
    unknown = sorted(fail_on - set(FAIL_ON))
    if unknown:
        raise ActionInputError(f"input 'fail-on' has {', '.join(unknown)}; use a comma list of: {', '.join(FAIL_ON)}")
    if not fail_on:
        raise ActionInputError("input 'fail-on' is empty; use never to let the step pass whatever happens")
    if "never" in fail_on and len(fail_on) > 1:
        raise ActionInputError(
            f"input 'fail-on' is '{get_input(env, 'fail-on')}': never cannot be combined with what would fail"
        )
    event: dict[str, Any] = {}
    event_path = env.get("GITHUB_EVENT_PATH")
    if event_path:
        try:
            loaded = json.loads(Path(event_path).read_text(encoding="utf-8"))
            event = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError) as exc:
            raise ActionInputError(f"cannot read the event payload {event_path}: {exc}") from None
    settings = Settings(
        command=command,
        config=get_input(env, "pipeline") or get_input(env, "config") or "deployforge.yaml",
        environment=get_input(env, "environment") or None,
        confirm=_bool(env, "confirm"),
        policy=get_input(env, "policy"),
        evolve_strategy=get_input(env, "evolve-strategy"),
        timeout=timeout,
        token=get_input(env, "github-token"),
        comment_mode=comment_mode,
        junit_path=get_input(env, "junit-path"),
        sarif_path=get_input(env, "sarif-path"),
        plan_path=get_input(env, "plan-path"),
        fail_on=fail_on,
        working_directory=get_input(env, "working-directory") or ".",
        sandbox=_bool(env, "sandbox"),
        allow_fork_code=_bool(env, "allow-fork-code"),
        check_run=_choice(env, "check-run", CHECK_RUN_MODES),
        pr_labels=_bool(env, "labels"),
        apply_reviewed_plan=_bool(env, "apply-reviewed-plan"),
        event_name=env.get("GITHUB_EVENT_NAME", ""),
        event=event,
        repository=env.get("GITHUB_REPOSITORY", ""),
        api_url=(env.get("GITHUB_API_URL") or "https://api.github.com").rstrip("/"),
        server_url=(env.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/"),
        run_id=env.get("GITHUB_RUN_ID", ""),
        sha=env.get("GITHUB_SHA", ""),
        workflow=env.get("GITHUB_WORKFLOW", ""),
        workspace=env.get("GITHUB_WORKSPACE", ""),
        runner_temp=env.get("RUNNER_TEMP", ""),
        runner_workspace=env.get("RUNNER_WORKSPACE", ""),
    )
    label = get_input(env, "label")
    if label:
        problem = label_problem(label)
        if problem is not None:
            raise ActionInputError(
                f"input 'label' is {json.dumps(label)[:100]}: a label names the PR comment in a hidden HTML "
                f"marker, and {problem}; use letters, digits, spaces and . _ / : + - (e.g. infra/app)"
            )
    else:
        label = derived_label(settings.working_directory, settings.config)
    from dataclasses import replace

    settings = replace(settings, label=label)
    if settings.pr_number and settings.comment_mode != "off" and not settings.token:
        raise ActionInputError(
            "input 'github-token' is empty, and a pull request comment was asked for; "
            "pass github-token: ${{ github.token }} (with permissions: pull-requests: write) or set comment-mode: off"
        )
    return settings


# -- running the core ----------------------------------------------------------------------------


def _core_environ(settings: Settings, env: Mapping[str, str]) -> dict[str, str]:
    """The environment the core sees: the runner's, without the action's inputs."""
    return {k: v for k, v in env.items() if not k.startswith("INPUT_")}  # the token stays out of the core


def _policy_check(settings: Settings, ws: Any) -> Any:
    """The ``policy`` input evaluated on the config (a PolicyReport), or None without the input."""
    if not settings.policy:
        return None
    from deployforge.policy import service
    from deployforge.policy.evaluate import PolicyOptions

    return service.validate(ws, (), PolicyOptions(policies=(settings.policy,))).policy


def run_core(settings: Settings, ws: Any, sink: Any = None) -> Any:
    """Call the use case for the command; return its RunResult (DeployForgeError propagates).

    Hooks show in the step's log group through the sink, which guards them (their names cannot
    break the line; their output is fenced from workflow-command processing and prefixed)."""
    from deployforge import app
    from deployforge.ci.workflow_commands import one_line
    from deployforge.model.result import RunResult

    if sink is None:
        from deployforge.ci.local import LocalSink

        sink = LocalSink({})

    def hook_started(spec: Any, target: str | None) -> None:
        sink.info(f"hook {spec.phase}: {one_line(spec.label)}" + (f" on {one_line(target)}" if target else ""))

    def hook_output(spec: Any, line: str) -> None:
        sink.hook_output(line)

    hooks = app.HookCallbacks(on_start=hook_started, on_output=hook_output)
    if settings.command == "validate":
        if settings.policy or ws.config.policies:  # the input, else the config's policies:
            from deployforge.policy import service
            from deployforge.policy.evaluate import PolicyOptions

            policies = (settings.policy,) if settings.policy else ()
            return service.validate(ws, (), PolicyOptions(policies=policies))
        return app.validate(ws)
    checked = _policy_check(settings, ws)
    if checked is not None and checked.failed:  # before planning: nothing is planned or changed
        return RunResult(
            settings.command,
            ws.config.environment,
            ws.run_id,
            checked.exit_code,
            ws.config.path,
            ws.config.config_hash,
            policy=checked,
            messages=(f"policy {settings.policy} failed: nothing was planned or changed",),
        )
    return _with_policy(_run_command(settings, ws, hooks), checked)


def _with_policy(result: Any, checked: Any) -> Any:
    """The command's result with the policy input's report merged into its policy section."""
    from dataclasses import replace

    if checked is None:
        return result
    return replace(result, policy=checked if result.policy is None else checked.merged(result.policy))


def _run_command(settings: Settings, ws: Any, hooks: Any) -> Any:
    import threading
    from dataclasses import replace

    from deployforge import app
    from deployforge.errors import EXIT_CHANGES, UsageError

    if settings.command == "plan":
        return app.plan(ws, out=settings.plan_path or None, hook_callbacks=hooks)
    if settings.command in ("run", "deploy"):
        if ws.config.require_confirmation and not settings.confirm:
            # as the CLI without --confirm: an environment that requires confirmation is only planned
            result = app.plan(ws, out=settings.plan_path or None, hook_callbacks=hooks)
            note = (
                f"environment '{ws.config.environment}' requires confirmation, so nothing was applied: review the "
                "plan, then rerun with confirm: true (e.g. in a job behind an environment protection rule)."
            )
            if result.exit_code != EXIT_CHANGES or result.error is not None:
                return replace(result, command=settings.command)  # no changes, or the plan failed: as it is
            return replace(
                result, command=settings.command, exit_code=0, messages=(*result.messages, note), extra={"confirm": 1}
            )
        from deployforge.deploy import service as deploy_service

        plan_file: str | None = None
        if settings.apply_reviewed_plan:
            checked_plan = _check_reviewed_plan(settings, ws, hooks)
            if not isinstance(checked_plan, str):
                return checked_plan  # no reviewed plan, or it changed: nothing applied
            plan_file = checked_plan
        cancel = threading.Event()
        # the canary stops itself at its timeout (verdict "timeout"); this backstop only covers what
        # runs outside the canary (apply, hooks), a minute later, as a clean stop (rollback), not a kill
        backstop = (settings.timeout or 3600.0) + 60.0
        timer = threading.Timer(backstop, cancel.set)
        timer.daemon = True
        timer.start()
        try:
            result = deploy_service.run(  # the CLI's `deployforge run/deploy` use case
                ws,
                strategy=settings.evolve_strategy or None,
                timeout=settings.timeout,
                cancel=cancel,
                confirm=lambda _plan: True,  # approved: confirm is true, or the environment needs no confirmation
                callbacks=deploy_service.Callbacks(on_hook_start=hooks.on_start, on_hook_output=hooks.on_output),
                command=settings.command,
                ci_run_url=settings.run_url,
                plan_file=plan_file,  # the reviewed plan: apply refuses it if the state moved since
            )
        finally:
            timer.cancel()
        if result.plan is not None and settings.plan_path:
            app.write_plan_file(settings.plan_path, result.plan)
        return result
    if settings.command == "drift":
        from deployforge.drift import service as drift_service

        return drift_service.detect_command(ws, "drift")  # the CLI's `deployforge drift` use case
    raise UsageError(f"unknown command '{settings.command}'")  # read_settings already refuses it


class NoReviewedPlan(Exception):
    """apply-reviewed-plan found no plan a reviewer saw; the message says why and what to do."""


def _reviewed_record(settings: Settings, environment: str) -> tuple[int, dict[str, Any]]:
    """(pull request, plan record) of the plan comment a reviewer saw for this label and
    environment: the pull request of this event (an issue comment or a pull request event), else
    the one the pushed commit came from. Raises NoReviewedPlan."""
    from deployforge.ci.github import CommentUnavailable, StickyComment
    from deployforge.render.markdown import MARKER_PREFIX, read_plan_record

    if not (settings.token and settings.repository):
        raise NoReviewedPlan(
            "input 'apply-reviewed-plan' needs github-token and GITHUB_REPOSITORY to read the pull request"
        )
    client = StickyComment(
        settings.api_url,
        settings.token,
        settings.repository,
        max_wait=float(os.environ.get("DEPLOYFORGE_GITHUB_MAX_WAIT", "60")),
        author=os.environ.get("DEPLOYFORGE_COMMENT_AUTHOR") or None,
    )
    try:
        number = settings.pr_number or (client.pull_for_commit(settings.sha) if settings.sha else None)
        if number is None:
            raise NoReviewedPlan(
                "input 'apply-reviewed-plan' is true, but no pull request was found for commit "
                f"{settings.sha[:12] or '?'} "
                f"(event {settings.event_name or '?'}): run it on the push of a merged pull request or on an "
                "'/deployforge apply' comment, or set apply-reviewed-plan: false"
            )
        needles = [f"environment={json.dumps(environment)}"]
        needles.append(f"label={json.dumps(settings.label)}" if settings.label else "")
        bodies = client.reviewed_bodies(number, MARKER_PREFIX, tuple(n for n in needles if n))
    except CommentUnavailable as exc:
        raise NoReviewedPlan(f"input 'apply-reviewed-plan': the pull request could not be read: {exc}") from None
    records = [
        r for r in (read_plan_record(b) for b in bodies if settings.label or " label=" not in b.split("\n", 1)[0]) if r
    ]
    if not records:
        raise NoReviewedPlan(
            f"input 'apply-reviewed-plan' is true, but pull request #{number} has no DeployForge plan comment for "
            f"environment '{environment}'"
            + (f" and label '{settings.label}'" if settings.label else "")
            + ": run the plan on the pull request first (command: plan, the same label and environment)"
        )
    return number, records[-1]


def _check_reviewed_plan(settings: Settings, ws: Any, hooks: Any) -> Any:
    """Re-plan and compare with what the pull request showed: the saved plan's path when the digests
    match, else the RunResult that says what differs (failure-reason plan-changed or no-reviewed-plan)."""
    import tempfile
    from dataclasses import replace

    from deployforge import app
    from deployforge.model.digest import differences, plan_digest, resource_digests
    from deployforge.model.result import RunResult

    environment = str(ws.config.environment)
    try:
        number, record = _reviewed_record(settings, environment)
    except NoReviewedPlan as exc:
        return RunResult(
            settings.command,
            environment,
            ws.run_id,
            1,
            ws.config.path,
            ws.config.config_hash,
            messages=(str(exc), "Nothing was applied."),
            extra={"failure_reason": "no-reviewed-plan"},
            error="NoReviewedPlan",
        )
    out = settings.plan_path or os.path.join(tempfile.gettempdir(), f"deployforge-reviewed-{ws.run_id}.json")
    planned = app.plan(ws, out=out, hook_callbacks=hooks)
    if planned.plan is None or planned.error is not None:
        return replace(planned, command=settings.command)
    now = plan_digest(planned.plan)
    if now == record["digest"]:
        return out
    what = differences(record.get("resources") or {}, resource_digests(planned.plan)) if "resources" in record else []
    message = (
        f"the plan changed since it was reviewed in pull request #{number}: reviewed {record['digest'][:19]}, "
        f"now {now[:19]}" + (f" ({'; '.join(what)})" if what else "") + ". Nothing was applied: review the new plan"
    )
    return replace(
        planned,
        command=settings.command,
        exit_code=1,
        messages=(*planned.messages, message),
        extra={**planned.extra, "failure_reason": "plan-changed"},
        error="PlanChanged",
    )


def failure_reason(settings: Settings, result: Any, outcome: Mapping[str, Any], error: Any) -> str:
    """The ``failure-reason`` output of a run that failed (or that fail-on fails); '' otherwise."""
    if outcome["result"] != "failed" and not outcome["fail_reasons"]:
        return ""
    if result.extra.get("failure_reason"):
        return str(result.extra["failure_reason"])
    from deployforge.errors import InputError, LockHeldError, StalePlanError

    if isinstance(error, LockHeldError):
        return "state-locked"
    if isinstance(error, StalePlanError):  # the state moved between the reviewed plan and its apply
        return "plan-changed"
    if result.issues or isinstance(error, InputError):
        return "validation-failed"
    if outcome["policy_failures"]:
        return "policy-failed"
    apply = result.apply.to_json() if result.apply is not None else {}
    if any(r.get("outcome") == "failed" for r in apply.get("resources", [])) or apply.get("interrupted"):
        return "apply-failed"
    if result.canary is not None and result.canary.to_json().get("verdict") != "promoted":
        return "canary-failed"
    hooks = result.hooks.to_json() if result.hooks is not None else {}
    runs = (hooks.get("runs") or hooks.get("hooks") or []) if isinstance(hooks, dict) else hooks
    if any(isinstance(h, dict) and str(h.get("status", "ok")) != "ok" for h in runs or []):
        return "hook-failed"
    if outcome["result"] == "failed":
        return "error"
    if outcome["drifted"] and "drift" in settings.fail_on:
        return "drift-detected"
    return "changes" if outcome["changes"] else "error"


def lock_info(error: Any) -> str:
    """The ``lock-info`` output: the held lock's id and holder as JSON ('' when no lock was held)."""
    from deployforge.errors import LockHeldError

    if not isinstance(error, LockHeldError):
        return ""
    return json.dumps({"lock_id": error.lock_id, **{str(k): v for k, v in error.holder.items()}}, default=str)


def outcome_of(settings: Settings, result: Any) -> dict[str, Any]:
    """What the run amounted to: the output values and whether the step fails (pure)."""
    plan = result.plan
    changed = plan.changed() if plan is not None else ()
    destructive = sum(1 for r in changed if r.action.destructive)
    policy = result.policy.to_json() if result.policy is not None else {}
    policy_failures = int(policy.get("counts", {}).get("failures", 0)) + int(policy.get("counts", {}).get("errors", 0))
    drift = result.drift.to_json() if result.drift is not None else {}
    drifted = any(
        "ignored" not in r and str(r.get("status", "")).upper() != "NOT_CHECKED" for r in drift.get("records", [])
    )
    from deployforge.render.markdown import completed

    # stopped only by the policy gate (no error, nothing applied): that is a policy failure, which
    # fail-on's "policy" governs, not "error"
    policy_stop = result.policy is not None and result.policy.failed and result.error is None and result.apply is None
    errored = not completed(result) and not policy_stop
    if errored or policy_stop:
        word = "failed"
    elif result.extra.get("confirm"):
        word = "needs-confirmation"
    elif drifted:
        word = "drift"
    elif changed and result.apply is None:
        word = "changes"
    else:
        word = "ok"
    reasons = []
    fail_on = settings.fail_on - {"never"} if "never" not in settings.fail_on else frozenset()
    if "error" in fail_on and errored:
        reasons.append(f"{result.command} failed (exit code {result.exit_code})")
    if "policy" in fail_on and policy_failures:
        reasons.append(f"{policy_failures} policy failure{'s' if policy_failures != 1 else ''}")
    if "drift" in fail_on and drifted:
        reasons.append("drift detected")
    if "changes" in fail_on and changed and result.apply is None:
        reasons.append(f"the plan has {len(changed)} change{'s' if len(changed) != 1 else ''}")
    return {
        "result": word,
        "changes": len(changed),
        "destructive": destructive,
        "policy_failures": policy_failures,
        "drifted": drifted,
        "fail_reasons": reasons,
    }


# -- reports -------------------------------------------------------------------------------------


# JUnit: every present section's suite (render/suites.py, shared with the CLI's --junit).
SARIF_PRODUCER = "deployforge.policy.report:to_sarif"


def _load(target: str) -> Any:
    import importlib

    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def write_reports(settings: Settings, result: Any) -> dict[str, str]:
    """JUnit (every present section) and SARIF (policy findings); returns the paths written."""
    from deployforge import __version__

    written: dict[str, str] = {}
    from deployforge.render.suites import junit_suites

    suites = junit_suites(result)
    if settings.junit_path and suites:
        from deployforge.render.junit import write_junit

        write_junit(settings.junit_path, suites)
        written["junit-path"] = _from_workspace(settings.junit_path, settings)
    if settings.sarif_path and result.policy is not None:
        from deployforge.render.sarif import write_sarif

        base = settings.workspace or os.getcwd()
        write_sarif(settings.sarif_path, _load(SARIF_PRODUCER)(result.policy, __version__, base))
        written["sarif-path"] = _from_workspace(settings.sarif_path, settings)
    return written


CONTAINER_WORKSPACE = "/github/workspace"  # where the runner mounts the workspace in a Docker action
CONTAINER_TEMP = "/github/runner_temp"


def _from_workspace(path: str, settings: Settings) -> str:
    """An output path as the next steps see it: they run in the workspace, not in working-directory,
    and on the host, not in this container.

    A relative path is given relative to the workspace (what later steps and upload-artifact
    resolve it against). An absolute one is translated back to the host when it is under a folder
    the runner mounted (actions/runner ``ContainerActionHandler``: ``$GITHUB_WORKSPACE`` at
    /github/workspace, ``$RUNNER_TEMP`` at /github/runner_temp; it translates the inputs' host
    paths in, but not the outputs back): the host workspace is ``$RUNNER_WORKSPACE/<repository
    name>`` and the host temp folder ``<work folder>/_temp`` (``RUNNER_WORKSPACE``, the host's
    ``<work folder>/<repository>``, is not under a mount, so the container sees it unchanged).
    Where the host path cannot be known, an absolute path in the workspace is given relative to it."""
    if not os.path.isabs(path):
        if not settings.workspace:
            return path
        return os.path.relpath(os.path.abspath(path), os.path.abspath(settings.workspace))
    path = os.path.normpath(path)
    host_run = settings.runner_workspace
    known = bool(host_run) and os.path.isabs(host_run) and not host_run.startswith("/github/")
    for mount, host in (
        (CONTAINER_WORKSPACE, os.path.join(host_run, settings.repository.rpartition("/")[2]) if known else ""),
        (CONTAINER_TEMP, os.path.join(os.path.dirname(host_run.rstrip("/")), "_temp") if known else ""),
    ):
        if settings.workspace.rstrip("/") != CONTAINER_WORKSPACE:
            break  # not in the runner's container: paths are the host's already
        if path == mount or path.startswith(mount + "/"):
            rest = path[len(mount) :].lstrip("/")
            if host and settings.repository:
                return os.path.join(host, rest) if rest else host
            if mount == CONTAINER_WORKSPACE:
                return rest or "."
    return path


def _relative(file: str | None, settings: Settings) -> str | None:
    """Annotation paths are relative to the repository root (the workspace)."""
    if not file:
        return None
    path = Path(file)
    base = Path(settings.workspace or os.getcwd()).resolve()
    try:
        return str((path if path.is_absolute() else Path.cwd() / path).resolve().relative_to(base))
    except ValueError:
        return file


# -- the entrypoint ------------------------------------------------------------------------------


def main(env: Mapping[str, str] | None = None, sink: Any = None) -> int:
    started = time.monotonic()
    environ = dict(os.environ if env is None else env)
    if sink is None:
        if environ.get("GITHUB_ACTIONS") == "true":
            from deployforge.ci.github import GitHubSink

            sink = GitHubSink()
        else:
            from deployforge.ci.local import LocalSink

            sink = LocalSink(environ)
    from deployforge import __version__

    sink.info(f"DeployForge {__version__} action: {environ.get('INPUT_COMMAND') or 'plan'}")
    try:
        settings = read_settings(environ)
    except ActionInputError as exc:
        sink.annotate("error", str(exc), title="DeployForge input")
        sink.set_output("result", "failed")  # later steps' `if: steps.x.outputs.result == 'failed'` still work
        return 1
    if settings.token:
        sink.mask(settings.token)
    from deployforge.ci.annotation_budget import AnnotationBudget

    budget = AnnotationBudget(sink)  # the runner shows 10 per type and step: the most important first
    try:
        return _start(settings, environ, budget, started)
    finally:
        budget.flush()


def _start(settings: Settings, environ: dict[str, str], sink: Any, started: float) -> int:
    masking: Any = None
    try:
        from deployforge.secrets import masking  # every secret the core resolves gets ::add-mask::
    except ImportError:  # a build without the secrets layer resolves no secrets
        pass
    if masking is not None:
        masking.register(settings.token)  # the token stays out of files too (summary, JUnit)
        masking.register_environment(environ)
        for value in masking.values():
            sink.mask(value)
        masking.on_register(sink.mask)
    return _run(settings, environ, sink, started)


def _run(settings: Settings, environ: dict[str, str], sink: Any, started: float) -> int:
    from deployforge.app import Options, Workspace, audit_log, record_audit, step_log
    from deployforge.audit.trace import recording
    from deployforge.audit.witness import current_checkpoint_line
    from deployforge.errors import DeployForgeError
    from deployforge.model.result import RunResult
    from deployforge.render.markdown import RenderContext, annotations_for, marker, render_comment, sections
    from deployforge.render.summary import render_summary

    base = Path(settings.workspace) if settings.workspace else Path.cwd()
    workdir = (base / settings.working_directory).resolve()
    problem = path_problem(settings, "working-directory", settings.working_directory, base, temp_ok=False)
    if problem is None and not workdir.is_dir():
        problem = f"input 'working-directory' is '{settings.working_directory}', which does not exist"
    for name, value in (
        ("junit-path", settings.junit_path),
        ("sarif-path", settings.sarif_path),
        ("plan-path", settings.plan_path),
    ):
        if problem is None and value:
            problem = path_problem(settings, name, value, workdir)
    if problem is not None:
        sink.annotate("error", problem, title="DeployForge input")
        sink.set_output("result", "failed")
        return 1
    os.chdir(workdir)
    fork_note: str | None = None
    if settings.fork_head and not settings.allow_fork_code:
        try:
            settings, fork_note = _guard_fork(settings)
        except ActionInputError as exc:
            sink.annotate("error", str(exc), title="DeployForge fork guard")
            sink.set_output("result", "failed")
            return 1
        sink.annotate("warning", fork_note, title="DeployForge fork guard")
    if settings.runner_temp and Path(settings.runner_temp).is_dir():
        import tempfile

        tempfile.tempdir = settings.runner_temp
    if not Path(settings.config).is_file():
        sink.annotate(
            "error",
            f"config file '{settings.config}' not found in {workdir}; set the 'config' input "
            "(relative to working-directory)",
            title="DeployForge input",
        )
        sink.set_output("result", "failed")
        return 1
    options = Options(
        config=settings.config,
        environment=settings.environment,
        sandbox=settings.sandbox,
        environ=_core_environ(settings, environ),
    )
    ws = Workspace(options)
    error: DeployForgeError | None = None
    result: RunResult | None = None
    plan_file = Path(settings.plan_path) if settings.plan_path else None
    plan_before = _mtime(plan_file)  # the plan-path output names a plan this run wrote, never an old one
    sink.start_group(f"deployforge {settings.command}")
    recorder: Any = None
    try:
        with recording(step_log(ws), ws.run_id) as recorder:  # hooks, plan, apply, canary: steps of the trace
            result = run_core(settings, ws, sink)
    except DeployForgeError as exc:
        error = exc
        issues = tuple(getattr(exc, "issues", ()))
        result = RunResult(
            settings.command,
            settings.environment,
            ws.run_id,
            exc.exit_code,
            issues=issues,
            messages=() if issues else (exc.message + (f" (hint: {exc.hint})" if exc.hint else ""),),
            error=type(exc).__name__,
        )
        if not issues:
            loc = exc.location
            sink.annotate(
                "error",
                exc.message + (f" (hint: {exc.hint})" if exc.hint else ""),
                title="DeployForge",
                file=_relative(loc.file, settings) if loc else None,
                line=(loc.line or None) if loc else None,
                column=(loc.column or None) if loc else None,
            )
    finally:
        sink.end_group()
    assert result is not None
    if fork_note is not None:
        from dataclasses import replace

        result = replace(result, messages=(fork_note, *result.messages))
    for note in annotations_for(result, _resource_locator(settings)):
        sink.annotate(
            note.level,
            note.message,
            title=note.title,
            file=_relative(note.file, settings),
            line=note.line,
            column=note.column,
            rank=note.rank,
        )
    summary_file = Path(REPORTS_DIR) / "summary.md"  # what the job summary got
    report_file = Path(REPORTS_DIR) / "report.md"  # every row: where a cut comment or summary points
    ctx = RenderContext(
        workflow=settings.workflow,
        run_url=settings.run_url,
        commit=settings.commit or None,
        summary_url=settings.run_url,
        artifact=_from_workspace(str(report_file), settings),
        repository=settings.repository,
        server_url=settings.server_url,
        label=settings.label,
        kind="drift" if settings.command == "drift" else "",
    )
    if checkpoint := current_checkpoint_line(ws, audit_log):  # the report footer: a witness of the audit log
        result.extra["audit_checkpoint"] = checkpoint
    secs = sections(result)  # rendered once for the summary, the full report and the comment
    summary = render_summary(result, ctx, secs=secs)
    try:
        summary_file.parent.mkdir(parents=True, exist_ok=True)
        summary_file.write_text(summary, encoding="utf-8")
        report_file.write_text(render_summary(result, ctx, limit=None, secs=secs), encoding="utf-8")
    except OSError as exc:
        sink.annotate("warning", f"the report files could not be written: {exc}")
    sink.write_summary(summary)
    try:
        written = write_reports(settings, result)
    except (OSError, DeployForgeError) as exc:
        sink.annotate("warning", f"the JUnit/SARIF reports could not be written: {exc}")
        written = {}
    comment_url = ""
    number = settings.pr_number
    outcome = outcome_of(settings, result)
    quiet = outcome["result"] == "ok" and not outcome["changes"] and not outcome["policy_failures"]
    if settings.comment_mode != "off" and number and settings.repository:
        from deployforge.ci.github import StickyComment

        body = render_comment(result, ctx, secs=secs)
        publisher = StickyComment(
            settings.api_url,
            settings.token,
            settings.repository,
            max_wait=float(environ.get("DEPLOYFORGE_GITHUB_MAX_WAIT", "60")),
            author=environ.get("DEPLOYFORGE_COMMENT_AUTHOR") or None,  # another GitHub App's token: its bot
        )
        where = result.environment or _environment_of(ws)  # the same comment whether the run failed or not
        done = publisher.upsert(
            number,
            marker(settings.workflow, where, settings.label, ctx.kind),
            body,
            "update" if settings.comment_mode == "changes-only" else settings.comment_mode,
            create=not (settings.comment_mode == "changes-only" and quiet),
        )
        if done.status == "skipped":
            sink.info("comment-mode changes-only: nothing changes and no comment exists yet, so none was written")
        elif done.status == "degraded":
            sink.annotate("warning", f"{done.warning}; the report is in the job summary instead", title="PR comment")
        else:
            comment_url = done.url or ""
            sink.info(f"PR comment {done.status}: {comment_url} ({done.calls} API calls)")
    elif settings.comment_mode != "off" and not number:
        sink.info(f"no pull request in a '{settings.event_name or 'local'}' event: the job summary holds the report")
    from deployforge.model.digest import plan_digest

    if settings.pr_labels and number and settings.repository and settings.token:
        _label_pull_request(settings, environ, sink, number, outcome)
    outputs = {
        "result": outcome["result"],
        "changes": str(outcome["changes"]),
        "destructive-changes": str(outcome["destructive"]),
        "drift-detected": "true" if outcome["drifted"] else "false",
        "policy-failures": str(outcome["policy_failures"]),
        "plan-path": _from_workspace(settings.plan_path, settings)
        if plan_file and _mtime(plan_file) not in (None, plan_before)
        else "",
        "junit-path": written.get("junit-path", ""),
        "sarif-path": written.get("sarif-path", ""),
        "comment-url": comment_url,
        "run-id": ws.run_id,
        "label": settings.label,
        "plan-digest": plan_digest(result.plan) if result.plan is not None else "",
        "failure-reason": failure_reason(settings, result, outcome, error),
        "lock-info": lock_info(error),
    }
    if result.extra.get("failure_reason") in ("plan-changed", "no-reviewed-plan"):
        sink.annotate("error", plain_message(result.messages), title="DeployForge apply-reviewed-plan")
    for name, value in outputs.items():
        sink.set_output(name, value)
    for problem in recorder.write_errors if recorder is not None else ():
        sink.annotate("warning", f"an audit step record was not written: {problem}")
    try:
        record_audit(
            ws,
            command=f"action:{settings.command}",
            argv=[],
            result=result,
            error=error,
            exit_code=result.exit_code,
            started=started,
            steps=len(recorder.steps) if recorder is not None else None,
        )
    except (DeployForgeError, OSError) as exc:
        sink.annotate("warning", f"the audit record could not be written: {exc}")
    except Exception as exc:  # a bug in recording never hides the run's own outcome
        sink.annotate("warning", f"the audit record could not be written: {type(exc).__name__}: {exc}")
    if outcome["fail_reasons"]:
        sink.annotate("error", "DeployForge: " + "; ".join(outcome["fail_reasons"]), title="DeployForge")
    _check_run(settings, environ, sink, result, bool(outcome["fail_reasons"]), ctx)
    return 1 if outcome["fail_reasons"] else 0


def plain_message(messages: tuple[str, ...]) -> str:
    """The message that says why (the one naming the input or what differs)."""
    for m in messages:
        if "apply-reviewed-plan" in m or "plan changed" in m:
            return m
    return "; ".join(messages)


def result_label(outcome: Mapping[str, Any]) -> str:
    """The pull request label for a run's outcome (``labels: true``)."""
    if outcome["policy_failures"]:
        return "deployforge:policy-failed"
    if outcome["result"] == "failed":
        return "deployforge:failed"
    return "deployforge:changes" if outcome["changes"] or outcome["drifted"] else "deployforge:no-changes"


def _label_pull_request(
    settings: Settings, environ: Mapping[str, str], sink: Any, number: int, outcome: Mapping[str, Any]
) -> None:
    from deployforge.ci.github import PullRequestLabels

    wanted = result_label(outcome)
    client = PullRequestLabels(
        settings.api_url,
        settings.token,
        settings.repository,
        max_wait=float(environ.get("DEPLOYFORGE_GITHUB_MAX_WAIT", "60")),
    )
    problem = client.set_one(number, wanted, RESULT_LABELS)
    if problem:
        sink.annotate("warning", f"the pull request label {wanted} was not set: {problem}", title="PR labels")
    else:
        sink.info(f"pull request labelled {wanted} ({client.calls} API calls)")


def check_run_name(settings: Settings, environment: str | None, label: str = "") -> str:
    """One check run per (workflow, label, environment)."""
    parts = [p for p in (settings.workflow, label, environment) if p]
    return "DeployForge" + (f" ({' · '.join(parts)})" if parts else "")


def _check_run(settings: Settings, environ: Mapping[str, str], sink: Any, result: Any, failed: bool, ctx: Any) -> None:
    """Every annotation in a check run, when the runner would not show them all (``check-run: auto``)
    or always (``always``). Without ``checks: write`` (403): a warning naming the permission, and the
    annotations stay plain ones (the most important 10 of each type)."""
    notes = getattr(sink, "notes", None)
    if notes is None or settings.check_run == "off":
        return
    if settings.check_run == "auto" and not sink.over():
        return
    if not (settings.token and settings.repository and settings.commit):
        sink.annotate(
            "warning",
            "no check run could carry every annotation (it needs github-token, GITHUB_REPOSITORY and a commit)",
            title="DeployForge check run",
        )
        return
    from deployforge.ci.github import CHECK_LEVELS, CheckRunPublisher
    from deployforge.secrets.masking import mask  # the API is no log: ::add-mask:: does not cover it

    config_path = _relative(settings.config, settings) or settings.config

    def in_repository(file: str | None) -> str:
        """The Checks API needs a file of the repository: the config for run-wide annotations."""
        if not file or os.path.isabs(file) or file.split("/")[0] == "..":
            return config_path
        return file

    annotations = []
    for n in sorted(notes, key=lambda n: (("error", "warning", "notice").index(n.level), n.rank)):
        item: dict[str, Any] = {
            "path": in_repository(n.file),
            "start_line": n.line or 1,
            "end_line": n.line or 1,
            "annotation_level": CHECK_LEVELS[n.level],
            "message": mask(n.message)[:60000],
        }
        if n.title:
            item["title"] = mask(n.title)[:255]
        annotations.append(item)
    counts = {level: sum(1 for n in notes if n.level == level) for level in ("error", "warning", "notice")}
    name = check_run_name(settings, result.environment, settings.label)
    title = f"{result.command}: " + ", ".join(f"{n} {level}{'s' if n != 1 else ''}" for level, n in counts.items())
    summary = f"Every annotation of DeployForge {result.command}"
    summary += f" in `{result.environment}`" if result.environment else ""
    summary += f"; the full report is in {ctx.artifact}" if ctx.artifact else ""
    summary += f" ([workflow run]({settings.run_url}))." if settings.run_url else "."
    publisher = CheckRunPublisher(
        settings.api_url,
        settings.token,
        settings.repository,
        max_wait=float(environ.get("DEPLOYFORGE_GITHUB_MAX_WAIT", "60")),
    )
    done = publisher.publish(name, settings.commit, "failure" if failed else "success", title, summary, annotations)
    if done.status == "created":
        sink.where = f"the check run '{name}' ({done.url})"
        sink.info(f"check run '{name}': {len(annotations)} annotations in {done.calls} API calls: {done.url}")
        return
    report = f" and {ctx.artifact}" if ctx.artifact else ""
    sink.where = "the job summary" + report
    if done.forbidden:
        sink.annotate(
            "warning",
            f"the check run carrying all {len(annotations)} annotations was refused: the token lacks the "
            "`checks: write` permission (add it to the job's permissions, or set check-run: off); "
            "the most important annotations are shown instead",
            title="DeployForge check run",
        )
    else:
        sink.annotate("warning", f"the check run could not be written: {done.warning}", title="DeployForge check run")


def _resource_locator(settings: Settings) -> Any:
    """``resource name -> (config file, line)`` from the config's YAML positions (the drift
    annotations' place); None when the config cannot be read."""
    from deployforge.config.yamlpos import load_yaml
    from deployforge.errors import DeployForgeError

    try:
        text = Path(settings.config).read_text(encoding="utf-8")
        _data, positions = load_yaml(text, settings.config)
    except (OSError, UnicodeDecodeError, DeployForgeError, ValueError):
        return None

    def locate(resource: str) -> tuple[str, int] | None:
        where = positions.keys.get(("resources", resource))
        return (settings.config, where[0]) if where else None

    return locate


def path_problem(settings: Settings, name: str, value: str, base: Path, *, temp_ok: bool = True) -> str | None:
    """Why an input's path (relative to ``base``) is refused: it must resolve inside the workspace
    (or, for the files the Action writes, ``RUNNER_TEMP``); None when it does."""
    roots = [Path(settings.workspace or base).resolve()]
    if temp_ok and settings.runner_temp:
        roots.append(Path(settings.runner_temp).resolve())
    target = (base / value).resolve()  # symlinks followed: no escape through one
    if any(target == root or root in target.parents for root in roots):
        return None
    where = " or RUNNER_TEMP" if len(roots) > 1 else ""
    return (
        f"input '{name}' is '{value}', which resolves to {target}, outside the workspace{where}; "
        "use a path relative to the workspace"
    )


def _guard_fork(settings: Settings) -> tuple[Settings, str]:
    """A pull request from a fork, on an event that runs with the base repository's token and
    secrets: hooks are switched off (``DEPLOYFORGE_HOOKS=off``) and the config comes from the base
    commit (``GITHUB_SHA``), never from the fork. Returns the settings to run with and what the
    summary says. ActionInputError when the base commit's config cannot be read."""
    import subprocess
    from dataclasses import replace

    os.environ["DEPLOYFORGE_HOOKS"] = "off"  # deployforge.hooks.run_phase runs none
    base = settings.sha
    why = (
        f"a pull request from the fork {settings.fork_head} on {settings.event_name}: hooks were not run and "
        f"the config was read from the base commit {base[:12]}"
    )

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", "-c", "safe.directory=*", *args], capture_output=True, text=True, timeout=60, check=False
        )

    if not base:
        raise ActionInputError(f"{why.split(':')[0]}: GITHUB_SHA is not set, so the base config is unknown")
    try:
        head = git("rev-parse", "HEAD")
        if head.returncode == 0 and head.stdout.strip() == base:
            return settings, why + " (the checkout)."  # actions/checkout's default there: the base
        shown = git("show", f"{base}:./{settings.config}")
    except (OSError, subprocess.SubprocessError) as exc:
        shown = subprocess.CompletedProcess([], 1, "", str(exc))
    if shown.returncode != 0:
        raise ActionInputError(
            f"{why.split(':')[0]}: the config must come from the base commit {base[:12]}, which git cannot show "
            f"here ({' '.join(shown.stderr.split())[:200] or 'no git'}); check out the base commit (actions/checkout's "
            "default on pull_request_target), or set allow-fork-code: true to run the fork's config and hooks"
        )
    config = Path(settings.config)
    copy = config.parent / f".deployforge-base-{config.name}"  # beside it: relative paths resolve the same
    copy.write_text(shown.stdout, encoding="utf-8")
    return replace(settings, config=str(copy)), why + f" ({settings.config} as of that commit)."


def _mtime(path: Path | None) -> int | None:
    try:
        return path.stat().st_mtime_ns if path is not None else None
    except OSError:
        return None


def _environment_of(ws: Any) -> str:
    """The environment a run was for, also when its config did not load, so that the failure lands
    in the comment the run would have updated: the chosen one (the ``environment`` input, else
    ``DEPLOYFORGE_ENVIRONMENT``), else what the config would choose when it still parses as YAML
    (its only environment, or ``default_environment``), else ``default``."""
    from deployforge.errors import DeployForgeError

    try:
        return str(ws.config.environment)
    except DeployForgeError:
        pass
    chosen = ws.options.environment or (ws.options.environ or {}).get("DEPLOYFORGE_ENVIRONMENT")
    if chosen:
        return str(chosen)
    try:
        from deployforge.config.yamlpos import load_yaml

        document, _ = load_yaml(Path(ws.options.config).read_text(encoding="utf-8"), str(ws.options.config))
    except (OSError, UnicodeDecodeError, ValueError, DeployForgeError):
        return "default"
    envs = document.get("environments") if isinstance(document, dict) else None
    if isinstance(envs, dict) and len(envs) == 1:
        return str(next(iter(envs)))
    default = document.get("default_environment") if isinstance(document, dict) else None
    if isinstance(envs, dict) and isinstance(default, str) and default in envs:
        return default
    return "default"


def entrypoint() -> None:
    """The container's ENTRYPOINT (``python -m deployforge.action``): never a traceback."""
    try:
        code = main()
    except KeyboardInterrupt:
        code = 130
    except Exception as exc:  # a DeployForge bug: one line, no traceback
        from deployforge.ci.workflow_commands import command

        print(command("error", {"title": "DeployForge internal error"}, f"{type(exc).__name__}: {exc}"), flush=True)
        code = 1
    sys.exit(code)


if __name__ == "__main__":
    entrypoint()
