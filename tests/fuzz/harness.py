"""Run fuzzed inputs through DeployForge and classify each outcome.

* ``ok``: accepted; ``error``: refused with a DeployForge error (the expected answer to bad input;
  ``located`` says whether it named a file:line);
* ``crash``: any other exception (what would have been a traceback) or, for subprocesses, a
  signal / "Traceback" / "internal error";
* ``hang``: still running at the time limit.

Configs and .tf files run in-process (fast: thousands a minute), with a SIGALRM time limit; Rego
runs through ``deployforge validate`` in a subprocess, because the native engine can crash the
process (the policy engine's own guard is another issue's work).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Outcome:
    kind: str  # ok | error | crash | hang
    seconds: float
    detail: str = ""
    located: bool = False


class _Deadline(BaseException):  # not an Exception: the code under test cannot swallow it
    pass


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    def fire(_signum: int, _frame: object) -> None:
        raise _Deadline

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _classify(run: object, seconds: float) -> Outcome:
    from deployforge.errors import ConfigError, DeployForgeError

    started = time.monotonic()
    try:
        with deadline(seconds):
            run()  # type: ignore[operator]
    except _Deadline:
        return Outcome("hang", time.monotonic() - started, f"still running after {seconds:g}s")
    except DeployForgeError as exc:
        located = exc.location is not None or (
            isinstance(exc, ConfigError) and all(i.location is not None for i in exc.issues)
        )
        return Outcome("error", time.monotonic() - started, exc.message[:200], located)
    except RecursionError:
        return Outcome("crash", time.monotonic() - started, "RecursionError")
    except Exception:
        return Outcome("crash", time.monotonic() - started, traceback.format_exc(limit=8))
    return Outcome("ok", time.monotonic() - started)


def check_config(text: str, folder: Path, seconds: float = 10.0) -> Outcome:
    """Validate a config (every environment), as ``deployforge validate`` does, in-process."""
    path = folder / "deployforge.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")

    def run() -> None:
        from deployforge.usecases.validate import validate
        from deployforge.usecases.workspace import Options, Workspace

        validate(Workspace(Options(config=str(path), environ={"HOME": str(folder)})))

    return _classify(run, seconds)


def check_tf(text: str, folder: Path, seconds: float = 10.0) -> Outcome:
    """Read a .tf file as the policy inputs do (HCL parse, variables, the input document)."""
    path = folder / "main.tf"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    _warm_hcl()

    def run() -> None:
        from deployforge.policy.inputs import read_inputs

        _docs, problems = read_inputs([str(path)])
        if problems:
            from deployforge.errors import ConfigError, ConfigIssue, Location

            raise ConfigError([ConfigIssue(p.message, Location(p.file, p.line or 1)) for p in problems])

    return _classify(run, seconds)


_warm: list[bool] = []


def _warm_hcl() -> None:
    """Build the HCL grammar once, outside any case's time limit (it takes a second or more)."""
    if not _warm:
        from deployforge.policy.inputs import parse_hcl

        parse_hcl('a = "b"\n')
        _warm.append(True)


def check_rego(text: str, folder: Path, seconds: float = 20.0) -> Outcome:
    """``deployforge validate`` of a small config whose ``policies:`` is the fuzzed file (subprocess)."""
    (folder / "policy.rego").write_text(text, encoding="utf-8", errors="surrogatepass")
    (folder / "deployforge.yaml").write_text(
        "version: 1\nname: fuzz\ntargets:\n  aws_main: {provider: aws, region: us-east-1}\n"
        "environments:\n  staging:\n    description: S\n"
        "resources:\n  logs:\n    type: aws_s3_bucket\n    properties: {bucket: logs}\n"
        "policies:\n  - path: policy.rego\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "DEPLOYFORGE_"))}
    env.update(PYTHONPATH=str(ROOT / "src"), NO_COLOR="1")
    started = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "deployforge", "validate"],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=seconds,
        )
    except subprocess.TimeoutExpired:
        return Outcome("hang", time.monotonic() - started, f"still running after {seconds:g}s")
    took = time.monotonic() - started
    out = proc.stdout + proc.stderr
    if proc.returncode < 0 or proc.returncode > 2 or "Traceback" in out or "internal error" in out:
        return Outcome("crash", took, f"exit {proc.returncode}: {out[-400:]}")
    if proc.returncode == 0:
        return Outcome("ok", took)
    return Outcome("error", took, out[-200:], ":" in out)
