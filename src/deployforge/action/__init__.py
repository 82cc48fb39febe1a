"""The GitHub Action entrypoint: environment -> settings -> the core (``usecases/``) -> outputs.

The runner starts the container with every input as ``INPUT_<NAME>`` (upper-cased, hyphens kept:
``INPUT_GITHUB-TOKEN``), the workspace mounted and the working directory set. This module turns
that world into ``Settings`` (a bad input is a clear ``::error::`` and exit 1, never a traceback),
calls the same use cases as the CLI, and turns the ``RunResult`` back into the runner's world:
step outputs, the job summary, annotations, JUnit/SARIF files, and one sticky PR comment.

``INPUTS`` and ``OUTPUTS`` (``inputs.py``) are the one list of the Action's interface: a test keeps
action.yml and the README's table in agreement with them. ``core.py`` runs the command and decides
the outcome, ``reports.py`` writes the report files, and this module is the step: publishing
everything to the runner, the PR and the check run.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deployforge.action.core import core_environ, failure_reason, lock_info, outcome_of, run_core
from deployforge.action.inputs import (
    COMMANDS,
    INPUTS,
    OUTPUTS,
    REPORTS_DIR,
    RESULT_LABELS,
    ActionInputError,
    Settings,
    get_input,
    read_settings,
)
from deployforge.action.reports import from_workspace, relative_path, write_reports
from deployforge.errors import EXIT_INTERRUPTED

if TYPE_CHECKING:
    from deployforge.model.config import Config
    from deployforge.usecases.workspace import Workspace

__all__ = [
    "COMMANDS",
    "INPUTS",
    "OUTPUTS",
    "ActionInputError",
    "Settings",
    "entrypoint",
    "get_input",
    "main",
    "outcome_of",
    "read_settings",
    "write_reports",
]

# -- the entrypoint ------------------------------------------------------------------------------


def main(env: Mapping[str, str] | None = None, sink: Any = None) -> int:
    started = time.monotonic()
    environ = dict(os.environ if env is None else env)
    if sink is None:  # the runner's (workflow commands, GITHUB_OUTPUT), or plain lines off GitHub
        from deployforge.ci.platform import detect

        sink = detect(environ).sink(environ)
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
    from deployforge.audit.trace import recording
    from deployforge.errors import DeployForgeError
    from deployforge.model.result import RunResult
    from deployforge.render.markdown import RenderContext, marker
    from deployforge.render.publish import publish, write_report
    from deployforge.usecases.audit import audit_log, current_checkpoint_line, record_audit, step_log
    from deployforge.usecases.workspace import Options, Workspace

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
        environ=core_environ(settings, environ),
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
        result = RunResult.for_error(settings.command, settings.environment, ws.run_id, exc)
        if not result.issues:
            loc = exc.location
            sink.annotate(
                "error",
                exc.message + (f" (hint: {exc.hint})" if exc.hint else ""),
                title="DeployForge",
                file=relative_path(loc.file, settings) if loc else None,
                line=(loc.line or None) if loc else None,
                column=(loc.column or None) if loc else None,
            )
    finally:
        sink.end_group()
    assert result is not None
    if fork_note is not None:
        from dataclasses import replace

        result = replace(result, messages=(fork_note, *result.messages))
    summary_file = Path(REPORTS_DIR) / "summary.md"  # what the job summary got
    report_file = Path(REPORTS_DIR) / "report.md"  # every row: where a cut comment or summary points
    ctx = RenderContext(
        workflow=settings.workflow,
        run_url=settings.run_url,
        commit=settings.commit or None,
        summary_url=settings.run_url,
        artifact=from_workspace(str(report_file), settings),
        repository=settings.repository,
        server_url=settings.server_url,
        label=settings.label,
        kind="drift" if settings.command == "drift" else "",
    )
    if checkpoint := current_checkpoint_line(ws, audit_log):  # the report footer: a witness of the audit log
        result.extra["audit_checkpoint"] = checkpoint
    pub = publish(result, ctx)  # every rendering below comes from it (render/publish.py)
    for note in pub.annotations(_resource_locator(settings, ws.loaded_config())):
        sink.annotate(
            note.level,
            note.message,
            title=note.title,
            file=relative_path(note.file, settings),
            line=note.line,
            column=note.column,
            rank=note.rank,
        )
    summary = pub.summary
    try:
        summary_file.parent.mkdir(parents=True, exist_ok=True)
        summary_file.write_text(summary, encoding="utf-8")
        write_report(pub, "markdown", str(report_file))
    except OSError as exc:
        sink.annotate("warning", f"the report files could not be written: {exc}")
    sink.write_summary(summary)
    try:
        written = write_reports(settings, pub)
    except (OSError, DeployForgeError) as exc:
        sink.annotate("warning", f"the JUnit/SARIF reports could not be written: {exc}")
        written = {}
    comment_url = ""
    number = settings.pr_number
    outcome = outcome_of(settings, result)
    quiet = outcome["result"] == "ok" and not outcome["changes"] and not outcome["policy_failures"]
    if settings.comment_mode != "off" and number and settings.repository:
        from deployforge.ci.github import StickyComment

        body = pub.comment
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
        "plan-path": from_workspace(settings.plan_path, settings)
        if plan_file and _mtime(plan_file) not in (None, plan_before)
        else "",
        "junit-path": written.get("junit-path", ""),
        "sarif-path": written.get("sarif-path", ""),
        "comment-url": comment_url,
        "run-id": ws.run_id,
        "label": settings.label,
        "plan-digest": plan_digest(result.plan) if result.plan is not None else "",
        "failure-reason": failure_reason(settings, result, outcome),
        "lock-info": lock_info(error),
    }
    if result.failure_reason in ("plan-changed", "no-reviewed-plan"):
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

    config_path = relative_path(settings.config, settings) or settings.config

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
    from deployforge.render.safe_md import code  # the summary is Markdown: names go in code spans

    summary = f"Every annotation of DeployForge {result.command}"
    summary += f" in {code(result.environment)}" if result.environment else ""
    summary += f"; the full report is in {code(ctx.artifact)}" if ctx.artifact else ""
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


def _resource_locator(settings: Settings, config: Config | None = None) -> Any:
    """``resource name -> (config file, line)`` from the config's YAML positions (the drift
    annotations' place); None when the config cannot be read. With the ``config`` the command loaded,
    its own positions (the file is not parsed again); without (the config did not load), the file is
    parsed here."""
    from deployforge.config.yamlpos import load_yaml
    from deployforge.errors import DeployForgeError

    if config is not None and config.positions is not None:
        loaded = config

        def declared(resource: str) -> tuple[str, int] | None:
            found = loaded.resources.get(resource)
            where = found.location if found is not None else None
            return (settings.config, where.line) if where is not None and where.line else None

        return declared

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


def _environment_of(ws: Workspace) -> str:
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
        code = EXIT_INTERRUPTED
    except Exception as exc:  # a DeployForge bug: one line, no traceback
        from deployforge.ci.workflow_commands import command

        print(command("error", {"title": "DeployForge internal error"}, f"{type(exc).__name__}: {exc}"), flush=True)
        code = 1
    sys.exit(code)
