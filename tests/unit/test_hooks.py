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


# -- pre_plan hooks in the deploy use case (deployforge.usecases.deploy.run), on moto's server --------


def _pre_plan_project(tmp_path: Path, endpoint: str, name: str, hooks: list[dict[str, object]]):  # type: ignore[no-untyped-def]
    import yaml

    from deployforge.usecases.workspace import Options, Workspace

    doc = {
        "targets": {"main": {"provider": "aws", "region": "us-east-1", "endpoint_url": endpoint}},
        "resources": {
            "sg": {"type": "aws_security_group", "properties": {"name": name, "description": "pre_plan test"}}
        },
        "deploy": {"strategy": "all-at-once"},
        "hooks": hooks,
    }
    config = tmp_path / "deployforge.yaml"
    config.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return Workspace(Options(config=str(config), environ={}))


def _group_names(endpoint: str) -> set[str]:
    import boto3

    ec2 = boto3.client(
        "ec2", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
    )
    return {g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]}


def test_pre_plan_failure_aborts_before_planning_and_changes_nothing(tmp_path: Path, moto_endpoint: str) -> None:
    from deployforge.usecases import deploy as service

    ws = _pre_plan_project(
        tmp_path,
        moto_endpoint,
        "pre-plan-failed",
        [
            {"phase": "pre_plan", "command": ["sh", "-c", 'echo "phase=$DEPLOYFORGE_PHASE"; exit 5']},
            {"phase": "pre_deploy", "command": ["true"]},
            {"phase": "on_failure", "command": ["sh", "-c", 'echo "$DEPLOYFORGE_FAILURE_REASON"']},
        ],
    )
    result = service.run(ws)
    assert result.exit_code == 1
    assert result.plan is None and result.apply is None and result.canary is None  # never planned
    assert result.messages[0].startswith("pre_plan hook failed: hook pre_plan")
    assert "Nothing was changed." in result.messages
    runs = result.hooks.runs
    assert [(r.phase, r.status, r.exit_code) for r in runs] == [("pre_plan", "failed", 5), ("on_failure", "ok", 0)]
    assert runs[0].output_tail == ("phase=pre_plan",)
    assert runs[1].output_tail[0].startswith("pre_plan hook failed")
    assert "pre-plan-failed" not in _group_names(moto_endpoint)
    assert ws.read_state().resources == {}


def test_pre_plan_runs_first_and_its_output_is_there_before_planning(tmp_path: Path, moto_endpoint: str) -> None:
    from deployforge.usecases import deploy as service

    marker = tmp_path / "generated.txt"
    ws = _pre_plan_project(
        tmp_path,
        moto_endpoint,
        "pre-plan-ok",
        [
            {"phase": "pre_deploy", "command": ["test", "-f", str(marker)]},  # fails unless pre_plan ran first
            {"phase": "pre_plan", "command": ["sh", "-c", f"echo inputs > {marker}"]},
            {"phase": "post_success", "command": ["true"]},
        ],
    )
    result = service.run(ws)
    assert result.exit_code == 0, result.to_json()
    assert [(r.phase, r.status) for r in result.hooks.runs] == [
        ("pre_plan", "ok"),
        ("pre_deploy", "ok"),
        ("post_success", "ok"),
    ]
    assert result.plan is not None and "pre-plan-ok" in _group_names(moto_endpoint)


def test_hook_runs_become_junit_cases_by_outcome(tmp_path: Path) -> None:
    from deployforge.hooks import HookRun, HooksReport, to_junit_suite
    from deployforge.render.junit import parse_junit, render_junit

    assert to_junit_suite(HooksReport(), environment="prod") == []  # no hooks ran: no suite
    report = HooksReport(
        (
            HookRun("migrate", "pre_deploy", "aws_prod", "ok", 0, 1.5, ("migrated 3",)),
            HookRun("smoke", "post_success", None, "timeout", None, 30.0, ("waiting",), "killed after 30s"),
            HookRun("notify", "post_deploy", None, "failed", 1, 0.2, (), "", continue_on_error=True),
            HookRun("cleanup", "on_failure", None, "error", None, 0.0, (), "no such file: ./cleanup.sh"),
        )
    )
    [suite] = parse_junit(render_junit(to_junit_suite(report, environment="prod")))
    cases = {c.name: c for c in suite.cases}
    assert list(cases) == [
        "pre_deploy :: migrate @ aws_prod",
        "post_success :: smoke",
        "post_deploy :: notify",
        "on_failure :: cleanup",
    ]
    assert {c.classname for c in suite.cases} == {"hooks.prod"}
    assert [c.status for c in suite.cases] == ["passed", "failure", "skipped", "error"]
    smoke = cases["post_success :: smoke"]
    assert smoke.failure and smoke.failure.message == "timeout: killed after 30s" and smoke.failure.text == "waiting"
    assert cases["post_deploy :: notify"].skipped.message.startswith("failed, allowed by continue_on_error")
    assert "no such file: ./cleanup.sh" in cases["on_failure :: cleanup"].error.message
    assert cases["pre_deploy :: migrate @ aws_prod"].stdout == "migrated 3"
    assert cases["pre_deploy :: migrate @ aws_prod"].time == 1.5


def test_secrets_in_hook_output_are_masked_in_the_junit_file(tmp_path: Path) -> None:
    from deployforge.hooks import HookRun, HooksReport, to_junit_suite
    from deployforge.render.junit import write_junit
    from deployforge.secrets import masking

    masking.register("s3cr3t-db-password")
    try:
        report = HooksReport((HookRun("migrate", "pre_deploy", None, "failed", 1, 0.1, ("login s3cr3t-db-password",)),))
        write_junit(tmp_path / "junit.xml", to_junit_suite(report))
    finally:
        masking.clear()
    text = (tmp_path / "junit.xml").read_text()
    assert "s3cr3t-db-password" not in text and "login ***" in text


def test_a_secret_the_hook_resolves_itself_is_masked_in_its_output_here(tmp_path: Path) -> None:
    """dynamic_secret() inside a hook registers the value in the hook's process; the parent masks it."""
    from deployforge.secrets import masking

    script = (
        "from deployforge.secrets import masking\n"
        "masking.register('dyn-S3CRET-from-vault-42')\n"
        "print('connecting with dyn-S3CRET-from-vault-42')\n"
        "import os; print('channel', os.environ['DEPLOYFORGE_MASK_FILE'])\n"
    )
    hook = spec(command=[sys.executable, "-c", script])
    seen: list[str] = []
    try:
        run = run_hook(hook, context={}, base_dir=str(tmp_path), on_output=lambda s, line: seen.append(line))
        assert run.status == "ok", run
        assert seen[0] == "connecting with ***" and run.output_tail[0] == "connecting with ***"
        assert masking.mask("dyn-S3CRET-from-vault-42") == "***"  # later outputs of this process too
    finally:
        masking.clear()
    channel = Path(seen[1].split(" ", 1)[1])
    assert channel.name.startswith("deployforge-mask-") and not channel.exists()  # removed after the hook
