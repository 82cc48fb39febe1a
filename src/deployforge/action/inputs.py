"""The Action's interface: its inputs and outputs (``INPUTS``/``OUTPUTS``, which a test keeps in
agreement with action.yml and the README), and the runner's environment read into ``Settings``."""

from __future__ import annotations

import json
import re
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
