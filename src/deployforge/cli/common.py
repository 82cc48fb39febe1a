"""What every CLI command shares: options, output helpers, and the one error layer.

Only this module prints errors and chooses exit codes (see ``deployforge.errors``).
Cloud SDKs are imported by the commands that need them, never at start-up.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from deployforge.ci.platform import in_ci
from deployforge.errors import EXIT_FAILURE, EXIT_INPUT, EXIT_INTERRUPTED, DeployForgeError
from deployforge.model.outcome import of_exit

if TYPE_CHECKING:
    from deployforge.usecases.workspace import Workspace

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


# -- output helpers -----------------------------------------------------------


def _colour_enabled(no_color: bool) -> bool:
    return not no_color and "NO_COLOR" not in os.environ and sys.stdout.isatty()


def _styler(enabled: bool) -> Callable[..., str]:
    if enabled:
        return click.style
    return lambda text, **_: text


def emit_json(data: Any) -> None:
    """A command's ``--format json`` document on stdout (``text.json_text``: indented three levels deep,
    each deeper value on one line, written by the C encoder)."""
    from deployforge.text import json_text

    click.echo(json_text(data))


# -- shared options -----------------------------------------------------------


# -c/--config/--pipeline: every command that reads a project takes it the same way
config_option = click.option(
    "-c",
    "--config",
    "--pipeline",
    "config",
    default="deployforge.yaml",
    show_default=True,
    envvar="DEPLOYFORGE_CONFIG",
    metavar="FILE",
    help="The project config (--pipeline is an alias).",
)


def project_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--config/--pipeline, --environment, --sandbox, --format, --no-color on every project command."""
    decorators = [
        config_option,
        click.option(
            "-e",
            "--environment",
            default=None,
            envvar="DEPLOYFORGE_ENVIRONMENT",
            metavar="NAME",
            help="Which environment of the config to use.",
        ),
        click.option(
            "--sandbox",
            is_flag=True,
            envvar="DEPLOYFORGE_SANDBOX",
            help="Point every AWS target at the embedded emulator (starts it if needed).",
        ),
        click.option(
            "--format",
            "fmt",
            type=click.Choice(["text", "json"]),
            default="text",
            show_default=True,
            help="Output format.",
        ),
        click.option("--no-color", is_flag=True, help="No ANSI colours (also: NO_COLOR=1)."),
        click.option(
            "-v",
            "--verbose",
            is_flag=True,
            envvar="DEPLOYFORGE_VERBOSE",
            help="Say more on stderr: the trace id first (shown anyway on failure and in CI logs).",
        ),
    ]
    for deco in reversed(decorators):
        fn = deco(fn)
    return fn


def _options(config: str, environment: str | None, sandbox: bool, parallelism: int = 10) -> Any:
    from deployforge.usecases.workspace import Options

    return Options(
        config=config,
        environment=environment,
        sandbox=sandbox,
        parallelism=parallelism,
        environ=dict(os.environ),
    )


def _crash_report(exc: BaseException) -> str:
    """The traceback, masked, in a new file of its own (``crash-<time>-<pid>-<random>.txt``: two
    crashes in the same second, or in parallel jobs, never overwrite each other's report)."""
    import secrets as _random

    folder = Path(".deployforge") / "logs"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        from deployforge.secrets.masking import mask

        text = mask("".join(traceback.format_exception(exc)))
        for _ in range(5):
            path = folder / f"crash-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{_random.token_hex(4)}.txt"
            try:
                with path.open("x", encoding="utf-8") as fh:  # exclusive: never another crash's file
                    fh.write(text)
                return str(path)
            except FileExistsError:
                continue
        return "(could not be written)"
    except OSError:
        return "(could not be written)"


def run_project_command(
    name: str, *, finding_exit: bool = False, record: bool = True
) -> Callable[[Callable[..., int]], Callable[..., None]]:
    """Wrap a command body ``fn(ws, **kwargs) -> exit code`` with the error layer and the audit record.

    ``finding_exit``: the command's exit code 2 is a finding (plan: changes), so its errors exit 1.
    ``record``: False for commands that only read the audit log (reading is not writing).
    """

    def decorate(fn: Callable[..., int]) -> Callable[..., None]:
        import inspect

        wants_verbose = "verbose" in inspect.signature(fn).parameters  # policy test: -v lists passing tests too

        @functools.wraps(fn)
        def wrapper(
            config: str,
            environment: str | None,
            sandbox: bool,
            fmt: str,
            no_color: bool,
            verbose: bool = False,
            **kwargs: Any,
        ) -> None:
            from deployforge.audit.lineage import cpu_seconds
            from deployforge.audit.trace import recording
            from deployforge.secrets.masking import install_output_masking, register_environment
            from deployforge.usecases.audit import record_audit, step_log
            from deployforge.usecases.workspace import Workspace

            install_output_masking()  # every resolved secret is masked in whatever this command prints
            register_environment(os.environ)  # and the credentials it (and its hooks) can see
            started, cpu_started = time.monotonic(), cpu_seconds()
            parallelism = kwargs.get("parallelism") or 10
            ws = Workspace(_options(config, environment, sandbox, parallelism))
            style = _styler(_colour_enabled(no_color))
            holder: dict[str, Any] = {}
            error: DeployForgeError | None = None
            recorder: Any = None
            restore = _sigterm_as_interrupt()  # a CI runner cancels with SIGTERM: end like Ctrl-C, recorded
            header_first = verbose or in_ci(os.environ)
            if wants_verbose:
                kwargs["verbose"] = verbose
            try:
                if header_first:
                    _trace_header(ws, name, style)
                with recording(step_log(ws), ws.run_id) as recorder:
                    if finding_exit:
                        with errors_exit_1():
                            code = fn(ws, fmt=fmt, style=style, holder=holder, **kwargs)
                    else:
                        code = fn(ws, fmt=fmt, style=style, holder=holder, **kwargs)
            except DeployForgeError as exc:
                from deployforge.usecases.workspace import point_to_sandbox

                point_to_sandbox(ws, exc)
                error, code = exc, exc.exit_code
                _report_error(exc, fmt, ws.run_id, name)
            except KeyboardInterrupt:
                code = EXIT_INTERRUPTED
                click.echo("Interrupted.", err=True)
            except Exception as exc:  # a bug: say so plainly, keep the traceback in a file
                code = 1
                from deployforge.ci.workflow_commands import safe

                where = _crash_report(exc)
                click.echo(
                    safe(
                        f"internal error: {type(exc).__name__}: {exc}\n  this is a DeployForge bug; "
                        f"details were written to {where}"
                    ),
                    err=True,
                )
            restore()
            deferred = _sigterm_deferred()  # while the record is written: a SIGTERM waits for it
            for problem in recorder.write_errors if recorder is not None else ():
                click.echo(f"warning: audit step record not written: {problem}", err=True)
            try:
                if not record:
                    sys.exit(code)
                record_audit(
                    ws,
                    command=name,
                    argv=sys.argv[1:],
                    result=holder.get("result"),
                    error=error,
                    exit_code=code,
                    started=started,
                    cpu_started=cpu_started,
                    steps=len(recorder.steps) if recorder is not None else None,
                )
            except DeployForgeError as exc:
                hint = f"\n  hint: {exc.hint}" if exc.hint else ""
                # the audit layer's messages say what failed: the append, or publishing its checkpoint
                click.echo(f"warning: audit: {exc.message}{hint}", err=True)
            except OSError as exc:
                click.echo(f"warning: the audit record could not be written: {exc}", err=True)
            except Exception as exc:  # a bug in recording must never hide the command's own outcome
                from deployforge.ci.workflow_commands import safe

                where = _crash_report(exc)
                click.echo(
                    safe(f"warning: the audit record could not be written ({type(exc).__name__}); details in {where}"),
                    err=True,
                )
            if deferred():
                code = EXIT_INTERRUPTED
                click.echo("Interrupted.", err=True)
            elif not header_first and not of_exit(name, code, error).completed and code != EXIT_INTERRUPTED:
                _trace_header(ws, name, style)  # last: the id to look the failure up by (`audit trace ID`)
            sys.exit(code)

        return wrapper

    return decorate


def _sigterm_as_interrupt() -> Callable[[], None]:
    """Make SIGTERM raise KeyboardInterrupt (exit 130, "Interrupted.", an audit record) instead of
    killing the process silently; returns what restores the previous handler. Commands that stop
    cleanly themselves (apply, run, deploy) install their own handler inside and restore this one."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


def _sigterm_deferred() -> Callable[[], bool]:
    """Hold SIGTERM while the audit record is written (a record cut in half helps nobody); returns
    what restores the previous handler and says whether one arrived meanwhile."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: False
    arrived: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, _frame: arrived.append(signum))

    def done() -> bool:
        signal.signal(signal.SIGTERM, previous)
        return bool(arrived)

    return done


def _report_error(exc: DeployForgeError, fmt: str, run_id: str, command: str = "") -> None:
    if fmt == "json":
        from deployforge.errors import ConfigError

        outcome = of_exit(command, exc.exit_code, exc)
        payload: dict[str, Any] = {
            "error": exc.message,
            "hint": exc.hint,
            "exit_code": exc.exit_code,
            # bad input (exit 2, or 1 in plan and drift, where 2 is a finding)
            "input_error": outcome.input_error,
            "run_id": run_id,
        }
        if exc.reason:
            payload["reason"] = exc.reason
        if isinstance(exc, ConfigError):
            payload["issues"] = [issue.to_json() for issue in exc.issues]
        payload["outcome"] = outcome.to_json()  # what Jenkins and the Action read (model/outcome.py)
        emit_json(payload)
    from deployforge.ci.workflow_commands import safe

    click.echo(safe(exc.render()), err=True)  # a message quoting PR input cannot start a workflow command


def _trace_header(ws: Workspace, command: str, style: Callable[..., str]) -> None:
    """``trace DF-TRC-... · deployforge <command>`` on stderr: first with ``-v`` and in CI logs, last on
    a failure, and not at all on a local command that succeeded."""
    parent = f" · parent {ws.parent_trace_id}" if ws.parent_trace_id else ""
    click.echo(style(f"trace {ws.run_id} · deployforge {command}{parent}", dim=True), err=True)


def progress_header(ws: Workspace, command: str, style: Callable[..., str]) -> None:
    config = ws.config
    extra = " · sandbox" if ws.sandbox_endpoint else ""
    # say where this command works
    click.echo(style(f"  environment {config.environment}{extra}", dim=True), err=True)
    for warning in ws.sandbox_warnings:
        click.echo(style(f"warning: sandbox: {warning}", fg="yellow"), err=True)
    if ws.sandbox_info is not None and ws.sandbox_info.vault_addr:
        ws.secrets  # noqa: B018 - seeds the sandbox's OpenBao now, so the note comes first
        for note in ws.sandbox_notes:
            click.echo(style(f"sandbox: {note}", fg="cyan"), err=True)


def ci_run_url() -> str | None:
    from deployforge.ci.platform import run_url

    return run_url(os.environ)


def hook_callbacks(style: Callable[..., str]) -> Any:
    """Lifecycle hooks as they run, on stderr (stdout stays the command's result): a header, then
    each output line indented."""
    from deployforge.ci.platform import reads_workflow_commands
    from deployforge.ci.workflow_commands import Log, one_line
    from deployforge.usecases.hooks import HookCallbacks

    # in a GitHub Actions step the output is also fenced from workflow-command processing
    log = Log(_StderrProxy()) if reads_workflow_commands(os.environ) else None

    def on_start(spec: Any, target: str | None) -> None:
        where = f" on {one_line(target)}" if target else ""
        if log is not None:
            log.resume()
        click.echo(style(f"hook {spec.phase}: {one_line(spec.label)}{where}", dim=True), err=True)

    def on_output(spec: Any, line: str) -> None:
        from deployforge.ci.workflow_commands import quote

        if log is not None:
            log.hook_output(line)
        else:
            click.echo("\n".join(quote(line)), err=True)

    import atexit

    if log is not None:
        atexit.register(log.resume)

    return HookCallbacks(on_start=on_start, on_output=on_output)


class _StderrProxy:
    """sys.stderr as it is when written to (tests swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


class ReportFile(click.ParamType):
    """A file a command writes (a report, a saved plan), checked when the flag is read: an empty path
    or a folder is refused before anything runs, not after the work is done."""

    name = "FILE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        if not text.strip():
            self.fail("an empty path is not a file", param, ctx)
        if Path(text).is_dir():
            self.fail(f"{text!r} is a folder; give a file path, e.g. {Path(text) / 'report.xml'}", param, ctx)
        return text


REPORT_FILE = ReportFile()


# -- commands whose exit code 2 is a finding (plan: changes; drift: drift found) ---------------------
# Bad input exits 1 in them instead, so a CI step reading 2 as "changes" or "drift" is never fooled
# by a typo: errors raised by the command body (``errors_exit_1``) and click's own usage errors
# (``FindingCommand`` / ``FindingGroup``).


@contextlib.contextmanager
def reported_errors() -> Iterator[None]:
    """For commands outside ``run_project_command`` (no project, no audit record): a DeployForgeError
    is printed the one way (``_report_error``: through the output guard) and ends the command with its
    exit code."""
    try:
        yield
    except DeployForgeError as exc:
        _report_error(exc, "text", "-")
        sys.exit(exc.exit_code)


@contextlib.contextmanager
def errors_exit_1() -> Iterator[None]:
    """Re-raise an error whose exit code is 2 (bad input) with exit code 1."""
    from deployforge.errors import DeployForgeError

    try:
        yield
    except DeployForgeError as exc:
        if exc.exit_code == EXIT_INPUT:
            exc.exit_code = EXIT_FAILURE
            exc.input_error = True  # type: ignore[attr-defined]  # still bad input: the JSON says so
        raise


class _UsageErrorExit1(click.UsageError):
    exit_code = EXIT_FAILURE


class FindingCommand(click.Command):
    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            raise _UsageErrorExit1(exc.format_message(), exc.ctx) from None


class FindingGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise _UsageErrorExit1(exc.format_message(), exc.ctx) from None


class PointInTime(click.ParamType):
    """An RFC 3339 time (``2026-11-26T03:00:00Z``, a date alone, or an offset), or a duration ago
    (``30m``, ``24h``, ``7d``); converted to an RFC 3339 UTC string."""

    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        import datetime as dt
        import re

        text = str(value).strip()
        ago = re.fullmatch(r"(\d+)\s*([smhdw])", text)
        if ago:
            unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[ago.group(2)]
            moment = dt.datetime.now(dt.UTC) - dt.timedelta(**{unit: int(ago.group(1))})
        else:
            try:
                moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
            except ValueError:
                self.fail(
                    f"{text!r} is not a time: use RFC 3339 (2026-11-26T03:00:00Z, 2026-11-26) "
                    "or a duration ago (30m, 24h, 7d)",
                    param,
                    ctx,
                )
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=dt.UTC)
        return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


POINT_IN_TIME = PointInTime()
