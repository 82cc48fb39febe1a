"""Lifecycle hooks: no shell by default, context in DEPLOYFORGE_* variables, timeouts kill the group."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from deployforge.hooks import parse_hooks, run_hook, run_phase


def spec(**raw: object):  # type: ignore[no-untyped-def]
    return parse_hooks([{"phase": "pre_deploy", **raw}])[0]


def test_no_shell_and_context_only_in_environment(tmp_path: Path) -> None:
    hook = spec(command='printf "%s|%s" "$DEPLOYFORGE_RUN_ID" ";echo injected"')
    run = run_hook(hook, context={"DEPLOYFORGE_RUN_ID": "R1; rm -rf /"}, base_dir=str(tmp_path))
    # printf gets the literal arguments: no shell expanded the variable or ran the ';'
    assert run.ok and run.output_tail == ("$DEPLOYFORGE_RUN_ID|;echo injected",)
    env_hook = spec(command=[sys.executable, "-c", "import os; print(os.environ['DEPLOYFORGE_RUN_ID'])"])
    run = run_hook(env_hook, context={"DEPLOYFORGE_RUN_ID": "R1; rm -rf /"}, base_dir=str(tmp_path), target="aws")
    assert run.output_tail == ("R1; rm -rf /",)


def test_shell_true_uses_a_shell(tmp_path: Path) -> None:
    hook = spec(command='echo "$DEPLOYFORGE_PHASE on $DEPLOYFORGE_TARGET"', shell=True)
    run = run_hook(hook, context={}, base_dir=str(tmp_path), target="aws_prod")
    assert run.output_tail == ("pre_deploy on aws_prod",)


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    hook = spec(command=f"sleep 30 & echo $! > {pidfile}; echo started; wait", shell=True, timeout="300ms")
    started = time.monotonic()
    run = run_hook(hook, context={}, base_dir=str(tmp_path))
    assert run.status == "timeout" and "killed after the timeout of 0.3s" in run.message
    assert time.monotonic() - started < 5
    assert run.output_tail == ("started",)
    child = int(pidfile.read_text())
    time.sleep(0.1)
    try:  # gone, or a zombie waiting to be reaped by whoever adopted it: either way not running
        state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        state = "gone"
    assert state in ("gone", "Z", "X"), "the hook's child survived its timeout"


def test_failure_streams_output_and_stops_the_phase(tmp_path: Path) -> None:
    hooks = parse_hooks(
        [
            {"phase": "pre_deploy", "command": ["sh", "-c", "echo one; echo two; exit 4"], "run_on": ["a", "b"]},
            {"phase": "pre_deploy", "command": ["true"]},
            {"phase": "on_failure", "command": ["true"]},
        ]
    )
    lines: list[str] = []
    runs = run_phase(
        hooks, "pre_deploy", context={}, base_dir=str(tmp_path), on_output=lambda s, line: lines.append(line)
    )
    assert [(r.status, r.exit_code, r.target) for r in runs] == [("failed", 4, "a")]
    assert lines == ["one", "two"] and runs[0].output_tail == ("one", "two")


def test_missing_command_is_an_error_not_a_crash(tmp_path: Path) -> None:
    run = run_hook(spec(command="scripts/does-not-exist.sh"), context={}, base_dir=str(tmp_path))
    assert run.status == "error" and "cannot start" in run.message


def test_runs_once_per_target_with_working_directory(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    hooks = parse_hooks([{"phase": "post_success", "command": "pwd", "run_on": ["x", "y"], "working_directory": "sub"}])
    runs = run_phase(hooks, "post_success", context={}, base_dir=str(tmp_path))
    assert [r.target for r in runs] == ["x", "y"]
    assert all(r.output_tail == (str(tmp_path / "sub"),) for r in runs)
