"""Lifecycle hooks: commands run at ``pre_plan``, ``pre_deploy``, ``post_deploy``, ``post_success``, ``on_failure``.

Configuration (``hooks:``)::

    - phase: pre_deploy
      command: "scripts/db/migrate.sh"       # or a list: [flyway, migrate]
      timeout: 300s
      run_on: [aws_prod, gcp_analytics]       # once per listed target; once when absent
      shell: false                            # default: no shell (the string is split like a shell would)
      env: {KEY: value}
      working_directory: .                    # relative to the config file
      continue_on_error: false                # a failing hook of this phase does not fail the run

``DEPLOYFORGE_HOOKS=off`` switches every hook off (``hooks_switched_off``): the GitHub Action's fork
guard sets it for a pull request from a fork on ``pull_request_target`` / ``workflow_run``.

Rules: no shell unless ``shell: true``; context arrives only as ``DEPLOYFORGE_*`` environment
variables (never spliced into the command); a hook runs in its own process group and on timeout
the whole group is killed (SIGTERM, then SIGKILL 2 s later); output is streamed line by line to
the caller and its last lines are kept in the result.

Phases: ``pre_plan`` before ``plan``, ``run`` (or ``deploy`` without a saved plan) plan (e.g. generate
or fetch inputs; a failure aborts: nothing planned, nothing changed); ``pre_deploy`` before anything
changes (a failure aborts the deploy); ``post_deploy`` after the traffic stage ended (promoted or
rolled back); ``post_success`` after a successful deploy and its baseline; ``on_failure`` after any
failure, once traffic is back on stable (its own failure is reported but never hides the original
one). The deploy use case that runs them in this order is ``deployforge.usecases.deploy.run``;
``deployforge.usecases.plan.plan`` runs the ``pre_plan`` hooks alone.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

PHASES = ("pre_plan", "pre_deploy", "post_deploy", "post_success", "on_failure")
DEFAULT_TIMEOUT = 300.0
TAIL_LINES = 40
KILL_GRACE = 2.0


@dataclass(frozen=True)
class HookSpec:
    index: int
    phase: str
    command: str | tuple[str, ...]
    timeout: float = DEFAULT_TIMEOUT
    run_on: tuple[str, ...] = ()
    shell: bool = False
    env: Mapping[str, str] = field(default_factory=dict)
    working_directory: str | None = None
    continue_on_error: bool = False
    name: str = ""

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        text = self.command if isinstance(self.command, str) else " ".join(self.command)
        return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True)
class HookRun:
    """One execution of one hook (for one target). ``status``: ok | failed | timeout | error."""

    name: str
    phase: str
    target: str | None
    status: str
    exit_code: int | None
    duration_s: float
    output_tail: tuple[str, ...] = ()
    message: str = ""
    continue_on_error: bool = False

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "phase": self.phase,
            "target": self.target,
            "status": self.status,
            "exit_code": self.exit_code,
            "duration_s": round(self.duration_s, 3),
            "message": self.message,
            "output_tail": list(self.output_tail),
            "continue_on_error": self.continue_on_error,
        }

    def describe(self) -> str:
        where = f" on {self.target}" if self.target else ""
        text = f"hook {self.phase} '{self.name}'{where}: {self.status}"
        if self.message:
            text += f" ({self.message})"
        return text


@dataclass(frozen=True)
class HooksReport:
    runs: tuple[HookRun, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"runs": [r.to_json() for r in self.runs]}

    def failed(self, phase: str | None = None) -> list[HookRun]:
        return [r for r in self.runs if not r.ok and not r.continue_on_error and (phase is None or r.phase == phase)]

    def plus(self, runs: Sequence[HookRun]) -> HooksReport:
        return HooksReport((*self.runs, *runs))


def parse_hooks(raw: Sequence[Mapping[str, Any]]) -> list[HookSpec]:
    """The config's ``hooks:`` (already schema-checked) as HookSpecs. ValueError for a bad timeout."""
    from deployforge.durations import parse_duration

    out = []
    for i, h in enumerate(raw):
        command = h["command"]
        out.append(
            HookSpec(
                index=i,
                phase=str(h["phase"]),
                command=command if isinstance(command, str) else tuple(str(c) for c in command),
                timeout=parse_duration(h["timeout"]) if h.get("timeout") is not None else DEFAULT_TIMEOUT,
                run_on=tuple(h.get("run_on") or ()),
                shell=bool(h.get("shell", False)),
                env={str(k): _env_text(v) for k, v in (h.get("env") or {}).items()},
                working_directory=h.get("working_directory"),
                continue_on_error=bool(h.get("continue_on_error", False)),
                name=str(h.get("name") or ""),
            )
        )
    return out


def _env_text(value: Any) -> str:
    """An ``env:`` value as text; a ``vault://`` reference stays its reference (resolved before the
    run by ``deployforge.usecases.hooks.resolve_hook_env``)."""
    raw = getattr(value, "raw", None)  # a parsed SecretRef
    return str(raw) if isinstance(raw, str) else str(value)


def _argv(spec: HookSpec) -> list[str] | str:
    if spec.shell:
        return spec.command if isinstance(spec.command, str) else shlex.join(spec.command)
    return shlex.split(spec.command) if isinstance(spec.command, str) else list(spec.command)


def run_hook(
    spec: HookSpec,
    *,
    context: Mapping[str, str],
    base_dir: str,
    target: str | None = None,
    on_output: Callable[[HookSpec, str], None] | None = None,
    environ: Mapping[str, str] | None = None,
) -> HookRun:
    """Run one hook to completion or timeout; never raises for the hook's own failure."""
    # the parent's environment, without the GitHub Action's inputs (the token among them): a hook
    # gets its context from DEPLOYFORGE_* variables, and what it needs from the job's own env:
    env = {k: v for k, v in (os.environ if environ is None else environ).items() if not k.startswith("INPUT_")}
    env.update(spec.env)
    env.update({k: v for k, v in context.items() if k.startswith("DEPLOYFORGE_")})
    env["DEPLOYFORGE_PHASE"] = spec.phase
    env["DEPLOYFORGE_HOOK"] = spec.label
    if target:
        env["DEPLOYFORGE_TARGET"] = target
    cwd = os.path.join(base_dir, spec.working_directory) if spec.working_directory else base_dir
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    started = time.monotonic()
    argv = _argv(spec)
    with _MaskChannel() as channel:
        env[MASK_FILE_VARIABLE] = channel.path
        return _run(spec, argv, cwd, env, tail, started, target, on_output, channel)


# A hook that resolves a secret itself (``deployforge.vault.dynamic_secret``, or a nested
# ``deployforge`` command) registers it for masking in *its* process. The masking registry appends
# each value it registers to the file this variable names, before the hook can print it; the parent
# reads that file before it handles each output line, so the value is masked here too.
MASK_FILE_VARIABLE = "DEPLOYFORGE_MASK_FILE"


class _MaskChannel:
    def __init__(self) -> None:
        import tempfile

        fd, self.path = tempfile.mkstemp(prefix="deployforge-mask-", suffix=".jsonl")  # mode 0600
        os.close(fd)
        self._offset = 0

    def __enter__(self) -> _MaskChannel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.drain()
        try:
            os.unlink(self.path)
        except OSError:
            pass  # already gone: nothing to clean up

    def drain(self) -> None:
        """Register every value the hook appended since the last call."""
        import json

        from deployforge.secrets import masking

        try:
            with open(self.path, "rb") as fh:
                fh.seek(self._offset)
                data = fh.read()
        except OSError:
            return
        complete = data[: data.rfind(b"\n") + 1]  # a line still being written is read next time
        self._offset += len(complete)
        for line in complete.splitlines():
            try:
                masking.register(json.loads(line))
            except ValueError:
                continue


def _run(
    spec: HookSpec,
    argv: list[str] | str,
    cwd: str,
    env: dict[str, str],
    tail: deque[str],
    started: float,
    target: str | None,
    on_output: Callable[[HookSpec, str], None] | None,
    channel: _MaskChannel,
) -> HookRun:
    from deployforge.secrets.masking import mask

    try:
        proc = subprocess.Popen(
            argv,
            shell=spec.shell,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a timeout kills all of it
        )
    except OSError as exc:
        return HookRun(
            spec.label,
            spec.phase,
            target,
            "error",
            None,
            time.monotonic() - started,
            (),
            f"cannot start: {exc.strerror or exc}",
            spec.continue_on_error,
        )

    def pump() -> None:
        assert proc.stdout is not None
        for raw in iter(proc.stdout.readline, b""):
            channel.drain()  # secrets the hook registered before printing this line
            line = mask(raw.decode("utf-8", "replace").rstrip("\n"))
            tail.append(line)
            if on_output is not None:
                on_output(spec, line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    timed_out = False
    try:
        proc.wait(timeout=spec.timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc)
    except BaseException:  # interrupted while waiting: leave no hook process behind
        _kill_group(proc)
        raise
    reader.join(timeout=2)
    duration = time.monotonic() - started
    if timed_out:
        return HookRun(
            spec.label,
            spec.phase,
            target,
            "timeout",
            proc.returncode,
            duration,
            tuple(tail),
            f"killed after the timeout of {spec.timeout:g}s",
            spec.continue_on_error,
        )
    code = proc.returncode
    status = "ok" if code == 0 else "failed"
    message = "" if code == 0 else f"exit code {code}"
    return HookRun(spec.label, spec.phase, target, status, code, duration, tuple(tail), message, spec.continue_on_error)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    for sig, grace in ((signal.SIGTERM, KILL_GRACE), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=grace)
            # the leader is gone; make sure the rest of its group is too
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            return
        except subprocess.TimeoutExpired:
            continue


def hooks_switched_off(environ: Mapping[str, str] | None = None) -> bool:
    """``DEPLOYFORGE_HOOKS=off``: no hook runs (the Action's fork guard sets it; a workflow running the
    CLI on ``pull_request_target`` can set it too)."""
    value = (os.environ if environ is None else environ).get("DEPLOYFORGE_HOOKS", "")
    return value.strip().lower() in ("off", "0", "false", "no")


def run_phase(
    hooks: Sequence[HookSpec],
    phase: str,
    *,
    context: Mapping[str, str],
    base_dir: str,
    on_output: Callable[[HookSpec, str], None] | None = None,
    on_start: Callable[[HookSpec, str | None], None] | None = None,
    stop_on_failure: bool = True,
) -> list[HookRun]:
    """Run every hook of ``phase`` in config order (once per ``run_on`` target).

    With ``stop_on_failure`` the first failing hook (not ``continue_on_error``) ends the phase.
    """
    runs: list[HookRun] = []
    if hooks_switched_off():
        return runs
    for spec in hooks:
        if spec.phase != phase:
            continue
        for target in spec.run_on or (None,):
            if on_start is not None:
                on_start(spec, target)
            run = run_hook(spec, context=context, base_dir=base_dir, target=target, on_output=on_output)
            runs.append(run)
            if not run.ok and not spec.continue_on_error and stop_on_failure:
                return runs
    return runs


def run_phase_traced(
    hooks: Sequence[HookSpec],
    phase: str,
    *,
    context: Mapping[str, str],
    base_dir: str,
    on_output: Callable[[HookSpec, str], None] | None = None,
    on_start: Callable[[HookSpec, str | None], None] | None = None,
) -> list[HookRun]:
    """``run_phase`` as a step of the command's audit trace (``<phase> hooks``), each hook a step in it
    (``run``, ``deploy`` and ``apply`` all record their hooks this way)."""
    from deployforge.audit import trace

    starts: list[str] = []

    def started(spec: HookSpec, target: str | None) -> None:
        starts.append(trace.now())
        if on_start is not None:
            on_start(spec, target)

    with trace.step(f"{phase} hooks", phase=phase) as step:
        runs = run_phase(hooks, phase, context=context, base_dir=base_dir, on_output=on_output, on_start=started)
        for i, run_ in enumerate(runs):
            where = f" @ {run_.target}" if run_.target else ""
            trace.finished(
                f"{phase} hook: {run_.name}{where}",
                outcome=run_.status,
                duration_ms=run_.duration_s * 1000,
                started_at=starts[i] if i < len(starts) else None,
                error=None if run_.ok else run_.describe(),
                exit_code=run_.exit_code,
                continue_on_error=run_.continue_on_error,
            )
        step.set(hooks=len(runs))
        if any(not r.ok and not r.continue_on_error for r in runs):
            step.outcome = "failed"
    return runs


def to_junit_suite(report: HooksReport, environment: str | None = None) -> list[Any]:
    """The hooks as JUnit (render/junit's model): one case per hook execution; [] when none ran.

    Case name ``<phase> :: <hook>[ @ <target>]``, classname ``hooks.<environment>``. A hook that
    failed or timed out is a ``<failure>`` (an ``<error>`` when it could not be started), and one
    allowed to fail (``continue_on_error``) is ``<skipped>`` with why; the output's last lines are
    the case's system-out.
    """
    from deployforge.render.junit import JUnitCase, JUnitOutcome, JUnitSuite

    if not report.runs:
        return []
    cases = []
    for run in report.runs:
        name = f"{run.phase} :: {run.name}" + (f" @ {run.target}" if run.target else "")
        detail = run.message or f"exit code {run.exit_code}"
        failure = error = skipped = None
        if not run.ok and run.continue_on_error:
            skipped = JUnitOutcome(f"{run.status}, allowed by continue_on_error: {detail}")
        elif run.status == "error":
            error = JUnitOutcome(f"could not run: {detail}", type="hook_error")
        elif not run.ok:
            failure = JUnitOutcome(
                f"{run.status}: {detail}", text="\n".join(run.output_tail), type=f"hook_{run.status}"
            )
        properties = (("phase", run.phase),) + (
            (("exit_code", str(run.exit_code)),) if run.exit_code is not None else ()
        )
        cases.append(
            JUnitCase(
                name=name,
                classname=f"hooks.{environment or 'default'}",
                time=run.duration_s,
                failure=failure,
                error=error,
                skipped=skipped,
                properties=properties,
                stdout="\n".join(run.output_tail) or None,
            )
        )
    return [JUnitSuite(name="hooks", cases=tuple(cases))]
