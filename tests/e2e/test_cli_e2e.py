"""The CLI end to end: real processes, real HTTP to moto's server, real state files."""

from __future__ import annotations

import json
import signal
import time

import yaml

from deployforge.state.local import LocalBackend
from tests.e2e.conftest import Project, stack

BUCKET = {
    "type": "aws_s3_bucket",
    "properties": {"bucket": "e2e-artifacts", "versioning": True},
    "tags": {"owner": "team"},
}


def _groups(project: Project) -> set[str]:
    import boto3

    ec2 = boto3.client("ec2", endpoint_url=project.endpoint, region_name="us-east-1")
    return {g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"] if g["GroupName"] != "default"}


def test_validate_plan_apply_plan_cycle(project: Project):
    project.write(stack(2, logs=BUCKET))
    assert project.run("validate").returncode == 0
    plan = project.run("plan", "--out", "plan.json")
    assert plan.returncode == 2, plan.stderr
    assert "3 to create" in plan.stdout
    applied = project.run("apply", "plan.json")
    assert applied.returncode == 0, applied.stderr
    assert "Apply complete: 3 succeeded" in applied.stdout
    again = project.run("plan")
    assert again.returncode == 0 and "No changes" in again.stdout
    assert _groups(project) == {"group-0", "group-1"}
    # a baseline of the live attributes was taken after the successful apply
    [baseline_file] = (project.dir / ".deployforge" / "baselines" / "default").glob("*.json")
    baseline = json.loads(baseline_file.read_text())
    assert set(baseline["resources"]) == {"sg0", "sg1", "logs"}
    assert baseline["resources"]["logs"]["attributes"]["versioning"] is True
    assert "Baseline" in applied.stdout
    # every command left an audit record (apply also its plan and apply steps) and the chain verifies
    verify = project.run("audit", "verify")
    assert verify.returncode == 0 and "6 records, chain intact" in verify.stdout


def test_config_errors_are_located_exit_2_no_traceback(project: Project):
    project.write("""\
targets:
  main: {provider: aws, regoin: us-east-1}
resources:
  logs: {type: aws_s3_bukcet}
""")
    assert project.run("validate").returncode == 2
    result = project.run("plan", "--format", "json")
    assert result.returncode == 1  # in plan, 2 means "changes": bad input exits 1 there
    assert json.loads(result.stdout)["input_error"] is True
    # the outcome Jenkins and the Action read: decided by the CLI (model/outcome.py), not by them
    assert json.loads(result.stdout)["outcome"] == {
        **json.loads(result.stdout)["outcome"],
        "status": "failed",
        "exit_code": 1,
        "failure_reason": "validation-failed",
        "input_error": True,
    }
    assert "deployforge.yaml:2:25: unknown key 'regoin' in targets.main" in result.stderr
    assert "did you mean 'region'?" in result.stderr
    assert "deployforge.yaml:4:16:" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (project.dir / ".deployforge" / "state").exists()


def test_json_output_of_config_errors(project: Project):
    project.write("targets:\n  main: {provider: aws}\nresources:\n  a: {type: aws_s3_bucket, depends_on: [a]}\n")
    result = project.run("validate", "--format", "json")
    assert result.returncode == 2
    payload = json.loads(result.stdout)
    assert payload["issues"][0]["line"] == 4 and "depends on itself" in payload["issues"][0]["message"]


def test_stale_saved_plan_is_refused(project: Project):
    project.write(stack(1))
    assert project.run("plan", "--out", "plan.json").returncode == 2
    # someone applies in between: the state moved on
    assert project.run("apply", "--auto-approve").returncode == 0
    stale = project.run("apply", "plan.json")
    assert stale.returncode == 2
    assert "changed since the plan was made" in stale.stderr
    # a config edit also makes a plan stale
    assert project.run("plan", "--out", "plan2.json").returncode == 0
    project.write(stack(2))
    edited = project.run("apply", "plan2.json")
    assert edited.returncode == 2 and "configuration changed" in edited.stderr
    assert _groups(project) == {"group-0"}


def test_live_change_makes_a_saved_plan_stale(project: Project):
    project.write(stack(0, logs=BUCKET))
    assert project.run("apply", "--auto-approve").returncode == 0
    project.write(stack(0, logs={**BUCKET, "tags": {"owner": "other"}}))
    assert project.run("plan", "--out", "plan.json").returncode == 2
    import boto3

    s3 = boto3.client("s3", endpoint_url=project.endpoint, region_name="us-east-1")
    s3.put_bucket_tagging(Bucket="e2e-artifacts", Tagging={"TagSet": [{"Key": "owner", "Value": "oob"}]})
    result = project.run("apply", "plan.json")
    assert result.returncode == 2 and "aws_s3_bucket.logs changed in the cloud" in result.stderr


def test_apply_without_a_terminal_needs_auto_approve(project: Project):
    project.write(stack(1))
    result = project.run("apply")
    assert result.returncode == 2 and "--auto-approve" in result.stderr
    assert _groups(project) == set()


def test_unreachable_endpoint_is_a_clear_error(project: Project):
    project.write(stack(1))
    config = project.config.read_text()
    result = project.run("plan", AWS_ENDPOINT="http://127.0.0.1:9")  # discard port: refused at once
    assert result.returncode == 1, result.stderr  # bad input, but 2 is plan's "changes"
    assert project.run("apply", "--auto-approve", AWS_ENDPOINT="http://127.0.0.1:9").returncode == 2
    assert "127.0.0.1:9" in result.stderr and "Traceback" not in result.stderr
    assert project.config.read_text() == config


def test_two_concurrent_applies_cannot_both_proceed(project: Project):
    project.write(stack(30))
    first = project.popen("apply", "--auto-approve", "--parallelism", "1")
    backend = LocalBackend(project.dir / ".deployforge")
    deadline = time.monotonic() + 60
    while backend.read_lock("default") is None:
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    second = project.run("apply", "--auto-approve")
    _out1, err1 = first.communicate(timeout=120)
    assert first.returncode == 0, err1
    assert second.returncode == 1
    assert "environment 'default' is locked by run" in second.stderr
    assert "deployforge state unlock" in second.stderr
    assert len(_groups(project)) == 30
    assert backend.read_lock("default") is None


def test_killed_apply_leaves_consistent_state_and_the_next_run_converges(project: Project):
    project.write(stack(40))
    proc = project.popen("apply", "--auto-approve", "--parallelism", "2")
    backend = LocalBackend(project.dir / ".deployforge")
    deadline = time.monotonic() + 60
    while True:
        doc = backend.read("default")
        if doc is not None and len(doc.resources) >= 8:
            break
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    doc = backend.read("default")  # parses: never torn
    live = _groups(project)
    recorded = {e["attributes"]["name"] for e in doc.resources.values()}
    assert recorded <= live  # everything recorded exists
    assert len(live - recorded) <= 2  # at most the operations in flight are unrecorded...
    assert {p["resource"] for p in doc.pending} >= {
        f"sg{n.split('-')[1]}" for n in live - recorded
    }  # ...and journalled
    # the lock is left behind, visibly stale
    listing = project.run("state", "list")
    assert "STALE" in listing.stdout
    blocked = project.run("apply", "--auto-approve")
    assert blocked.returncode == 1 and "no longer running, so the lock is stale" in blocked.stderr
    lock = backend.read_lock("default")
    assert project.run("state", "unlock", lock.lock_id).returncode == 0
    finish = project.run("apply", "--auto-approve")
    assert finish.returncode == 0, finish.stdout + finish.stderr
    assert len(_groups(project)) == 40  # nothing duplicated, nothing missing
    final = backend.read("default")
    assert len(final.resources) == 40 and final.pending == []
    assert project.run("plan").returncode == 0


def test_sigterm_during_apply_records_work_and_releases_the_lock(project: Project):
    project.write(stack(30))
    proc = project.popen("apply", "--auto-approve", "--parallelism", "1")
    backend = LocalBackend(project.dir / ".deployforge")
    deadline = time.monotonic() + 60
    while backend.read("default") is None or len(backend.read("default").resources) < 3:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Apply interrupted" in out and "skipped" in out
    doc = backend.read("default")
    assert doc.pending == [] and backend.read_lock("default") is None
    assert {e["attributes"]["name"] for e in doc.resources.values()} == _groups(project)
    again = project.run("apply", "--auto-approve")
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(_groups(project)) == 30


def test_declared_rule_order_never_shows_as_a_change(project: Project):
    rules = [
        {"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["10.0.0.0/8", "0.0.0.0/0"]},
        {"protocol": "tcp", "from_port": 22, "to_port": 22, "cidr_blocks": ["10.1.0.0/16"]},
    ]
    project.write(
        stack(
            0,
            web={
                "type": "aws_security_group",
                "properties": {"name": "web", "description": "web", "ingress": rules},
            },
        )
    )
    assert project.run("apply", "--auto-approve").returncode == 0
    again = project.run("plan")
    assert again.returncode == 0, again.stdout + again.stderr


def test_apply_refuses_when_the_audit_log_is_damaged(project: Project):
    project.write(stack(1))
    assert project.run("validate").returncode == 0
    log = project.dir / ".deployforge" / "audit" / "audit.jsonl"
    log.write_bytes(log.read_bytes()[:-20])  # a torn last record
    result = project.run("apply", "--auto-approve")
    assert result.returncode == 1, result.stderr
    assert "audit" in result.stderr and "Traceback" not in result.stderr
    assert _groups(project) == set()  # nothing changed that could not be recorded


def test_audit_log_shows_the_newest_records(project: Project):
    project.write(stack(0))
    for _ in range(4):
        assert project.run("validate").returncode == 0
    shown = project.run("audit", "log", "-n", "2", "--format", "json")
    records = __import__("json").loads(shown.stdout)
    assert [r["seq"] for r in records] == [3, 4]


def test_quickstart_on_the_sandbox(tmp_path):
    """The README's quickstart flow through `--sandbox`: the emulator outlives each command."""
    import shutil

    from tests.e2e.conftest import ROOT

    shutil.copy(ROOT / "examples" / "quickstart" / "deployforge.yaml", tmp_path / "deployforge.yaml")
    project = Project(tmp_path, endpoint="unused")
    try:
        assert project.run("validate").returncode == 0
        first = project.run("plan", "--sandbox", "-e", "dev")
        assert first.returncode == 2, first.stderr
        assert "5 to create" in first.stdout
        applied = project.run("apply", "--sandbox", "-e", "dev", "--auto-approve")
        assert applied.returncode == 0, applied.stderr
        again = project.run("plan", "--sandbox", "-e", "dev")
        assert again.returncode == 0 and "No changes" in again.stdout, again.stdout
        endpoint = project.run("sandbox", "endpoint").stdout.strip()
        assert endpoint.startswith("http://127.0.0.1:")
        # an out-of-band change, made the way the README says, shows in the next plan
        import boto3

        asg = boto3.client(
            "autoscaling",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="sandbox",
            aws_secret_access_key="sandbox",
        )
        asg.set_desired_capacity(AutoScalingGroupName="quickstart-web-asg", DesiredCapacity=5)
        drifted = project.run("plan", "--sandbox", "-e", "dev")
        assert drifted.returncode == 2 and "desired_capacity : 5 -> 2" in drifted.stdout, drifted.stdout
    finally:
        project.run("sandbox", "down")


def baseline_id(s3) -> str:
    objects = s3.list_objects_v2(Bucket="team-state")["Contents"]
    [key] = [o["Key"] for o in objects if "/baselines/" in o["Key"] and o["Key"].endswith(".json")]
    return key.rsplit("/", 1)[1][: -len(".json")]


def test_s3_state_backend_through_the_cli(project: Project):
    import boto3

    s3 = boto3.client("s3", endpoint_url=project.endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="team-state")
    config = stack(1) + "state:\n  url: s3://team-state/deployforge\n  endpoint_url: $AWS_ENDPOINT\n"
    project.write(config)
    assert project.run("apply", "--auto-approve").returncode == 0
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="team-state")["Contents"]}
    assert keys == {
        "deployforge/default/state.json",
        f"deployforge/default/baselines/{baseline_id(s3)}.json",
        "deployforge/default/baselines/LATEST",  # which baseline is the newest
    }
    # (the lock is gone after the run)
    assert not (project.dir / ".deployforge" / "state").exists()
    assert project.run("plan").returncode == 0
    # a lock held by another run (e.g. on another CI runner) stops this one, naming the holder
    from deployforge.state.base import LockInfo
    from deployforge.state.s3 import S3Backend

    other = S3Backend("s3://team-state/deployforge", region="us-east-1", endpoint_url=project.endpoint)
    held = other.acquire_lock(
        LockInfo("lock-1", "default", "run-elsewhere", "alice", "ci-runner-7", 1, 0.0, "https://ci/run/7")
    )
    blocked = project.run("apply", "--auto-approve")
    assert blocked.returncode == 1 and "run-elsewhere" in blocked.stderr and "https://ci/run/7" in blocked.stderr
    assert project.run("state", "unlock", held.lock_id).returncode == 0
    assert other.read_lock("default") is None


def test_apply_json_output_is_pure_json(project: Project):
    project.write(stack(1))
    result = project.run("apply", "--auto-approve", "--format", "json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["apply"]["summary"]["succeeded"] == 1 and payload["plan"]["summary"]["create"] == 1
    assert payload["outcome"]["status"] == "ok" and payload["outcome"]["changes"] == 1
    planned = json.loads(project.run("plan", "--format", "json").stdout)  # applied: nothing left to change
    assert planned["outcome"] == {**planned["outcome"], "status": "ok", "exit_code": 0, "changes": 0}
    assert "Plan for environment" in result.stderr


def test_saved_plan_with_references_to_resources_not_created_yet(project: Project):
    lt = {
        "type": "aws_launch_template",
        "properties": {
            "name": "web-lt",
            "image_id": "ami-12c6146b",
            "security_group_ids": ["${resources.sg0.id}"],
        },
    }
    project.write(stack(1, web_lt=lt))
    planned = project.run("plan", "--out", "plan.json")
    assert planned.returncode == 2, planned.stderr
    saved = json.loads((project.dir / "plan.json").read_text())
    [ids] = [
        c for r in saved["resources"] if r["name"] == "web_lt" for c in r["changes"] if c["key"] == "security_group_ids"
    ]
    assert ids["after_unknown"] is True and ids["after"] == [None]
    applied = project.run("apply", "plan.json")
    assert applied.returncode == 0, applied.stderr
    state = json.loads((project.dir / ".deployforge" / "state" / "default.json").read_text())
    assert state["resources"]["web_lt"]["attributes"]["security_group_ids"] == [state["resources"]["sg0"]["id"]]
    assert project.run("plan").returncode == 0


def test_plan_runs_pre_plan_hooks_first_and_a_failing_one_stops_it(project: Project):
    """`plan` (a pull request's check) runs the same pre_plan hooks as `run`, so both plan the same inputs."""
    import sys

    (project.dir / "fetch.py").write_text(
        "import os, pathlib\n"
        "env = os.environ\n"
        "pathlib.Path('inputs.txt').write_text(env['DEPLOYFORGE_PHASE'] + ' ' + env['DEPLOYFORGE_ENVIRONMENT'])\n"
        "print('fetched inputs')\n"
        "raise SystemExit(int(os.environ.get('FAIL_FETCH', '0')))\n"
    )
    config = yaml.safe_load(stack(1))
    config["hooks"] = [
        {"phase": "pre_plan", "name": "fetch inputs", "command": [sys.executable, "fetch.py"]},
        {"phase": "pre_deploy", "command": [sys.executable, "-c", "raise SystemExit(9)"]},  # not plan's business
    ]
    project.write(yaml.safe_dump(config))
    planned = project.run("plan", "--out", "plan.json")
    assert planned.returncode == 2, planned.stderr  # changes, and the pre_deploy hook did not run
    assert (project.dir / "inputs.txt").read_text() == "pre_plan default"
    assert "hook pre_plan: fetch inputs" in planned.stderr and "  | fetched inputs" in planned.stderr
    assert "1 to create" in planned.stdout and (project.dir / "plan.json").is_file()
    as_json = json.loads(project.run("plan", "--format", "json").stdout)
    assert [(r["phase"], r["status"]) for r in as_json["hooks"]["runs"]] == [("pre_plan", "ok")]

    (project.dir / "plan.json").unlink()
    failed = project.run("plan", "--out", "plan.json", FAIL_FETCH="4")
    assert failed.returncode == 1
    assert "pre_plan hook failed: hook pre_plan 'fetch inputs': failed (exit code 4)" in failed.stderr
    assert "Nothing was planned." in failed.stderr and "Traceback" not in failed.stderr
    assert failed.stdout == "" or "to create" not in failed.stdout
    assert not (project.dir / "plan.json").exists()


def test_the_saved_plan_hint_is_a_command_that_works(project: Project):
    import shlex

    config = yaml.safe_load(stack(1))
    config["environments"] = {"dev": {}, "prod": {}}
    project.write(yaml.safe_dump(config))
    planned = project.run("plan", "-e", "dev", "--out", "dev plan.json")
    assert planned.returncode == 2, planned.stderr
    hint = planned.stdout.rsplit("Apply exactly this plan with: ", 1)[1].strip()
    assert hint == "deployforge apply 'dev plan.json' -e dev"
    applied = project.run(*shlex.split(hint)[1:])
    assert applied.returncode == 0, applied.stderr


def test_state_list_tells_in_progress_from_interrupted(project: Project):
    import dataclasses

    from deployforge.state.base import LockInfo, StateDocument

    project.write(stack(0))
    backend = LocalBackend(project.dir / ".deployforge")
    pending = [{"resource": "sg0", "action": "create", "run_id": "DF-TRC-LIVE", "started_at": "now"}]
    backend.write(StateDocument("default", serial=1, pending=pending))
    live = LockInfo.new("default", "DF-TRC-LIVE", "apply")  # held by this test process: running
    backend.acquire_lock(live)
    shown = project.run("state", "list")
    assert "in progress: create of sg0 by run DF-TRC-LIVE" in shown.stdout, shown.stdout + shown.stderr
    backend.force_unlock(live.lock_id, force=True)
    backend.acquire_lock(dataclasses.replace(live, pid=2**22 + 7))  # its process is gone
    shown = project.run("state", "list")
    assert "interrupted: create of sg0 by run DF-TRC-LIVE" in shown.stdout


def test_a_deployforge_command_run_by_a_hook_records_its_parent(project: Project):
    import sys

    config = yaml.safe_load(stack(0))
    config["hooks"] = [
        {"phase": "pre_plan", "name": "nested", "command": [sys.executable, "-m", "deployforge", "validate"]}
    ]
    project.write(yaml.safe_dump(config))
    assert project.run("plan").returncode == 0
    records = json.loads(project.run("audit", "log", "--format", "json").stdout)
    by_command = {r["command"]: r for r in records}
    assert by_command["validate"]["parent_trace_id"] == by_command["plan"]["trace_id"]
    drawn = project.run("audit", "trace", by_command["plan"]["trace_id"], "--format=text").stdout
    assert "deployforge validate" in drawn  # the child appears in the parent's trace


def test_sigterm_ends_a_command_like_ctrl_c_with_an_audit_record(project: Project):
    """A CI runner cancels a job with SIGTERM: exit 130, no traceback, the run recorded as interrupted."""
    import sys

    script = "import pathlib, time; pathlib.Path('started').write_text('1'); time.sleep(60)"
    config = yaml.safe_load(stack(0))
    config["hooks"] = [{"phase": "pre_plan", "name": "slow", "command": [sys.executable, "-c", script]}]
    project.write(yaml.safe_dump(config))
    proc = project.popen("plan")
    deadline = time.monotonic() + 30
    while not (project.dir / "started").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "Interrupted." in err and "Traceback" not in err
    [record] = json.loads(project.run("audit", "log", "--format", "json").stdout)
    assert (record["command"], record["outcome"], record["exit_code"]) == ("plan", "interrupted", 130)


def test_apply_runs_the_lifecycle_hooks_and_no_hooks_says_it_skips_them(project: Project):
    """`apply` never skips hooks silently: a pre_deploy migration runs before the first change."""
    import sys

    import boto3

    (project.dir / "hook.py").write_text(
        "import os, sys\n"
        "reason = os.environ.get('DEPLOYFORGE_FAILURE_REASON', '')\n"
        "with open('phases.txt', 'a') as f:\n"
        "    f.write(os.environ['DEPLOYFORGE_PHASE'] + ' ' + reason + '\\n')\n"
        "raise SystemExit(int(os.environ.get('FAIL_' + os.environ['DEPLOYFORGE_PHASE'].upper(), '0')))\n"
    )
    config = yaml.safe_load(stack(1))
    hook = [sys.executable, "hook.py"]
    config["hooks"] = [
        {"phase": phase, "name": phase, "command": hook}
        for phase in ("pre_plan", "pre_deploy", "post_deploy", "post_success", "on_failure")
    ]
    project.write(yaml.safe_dump(config))
    phases = project.dir / "phases.txt"

    failed = project.run("apply", "--auto-approve", FAIL_PRE_DEPLOY="3")
    assert failed.returncode == 1, failed.stderr
    assert "pre_deploy hook failed" in failed.stdout + failed.stderr and "Nothing was changed." in failed.stdout
    assert [line.split(" ")[0] for line in phases.read_text().splitlines()] == ["pre_plan", "pre_deploy", "on_failure"]
    assert "pre_deploy hook failed" in phases.read_text().splitlines()[-1]
    ec2 = boto3.client("ec2", endpoint_url=project.endpoint, region_name="us-east-1")
    assert "group-0" not in {g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]}

    phases.unlink()
    applied = project.run("apply", "--auto-approve", "--format", "json")
    assert applied.returncode == 0, applied.stderr
    assert phases.read_text().split() == ["pre_plan", "pre_deploy", "post_deploy", "post_success"]
    doc = json.loads(applied.stdout)
    assert [r["phase"] for r in doc["hooks"]["runs"]] == ["pre_plan", "pre_deploy", "post_deploy", "post_success"]

    phases.unlink()
    config["resources"]["sg1"] = {"type": "aws_security_group", "properties": {"name": "group-1", "description": "g"}}
    project.write(yaml.safe_dump(config))
    skipped = project.run("apply", "--auto-approve", "--no-hooks")
    assert skipped.returncode == 0, skipped.stderr
    assert "--no-hooks: the config's 5 lifecycle hook(s) will not run" in skipped.stderr
    assert not phases.exists()


def test_ctrl_c_before_any_change_stops_apply_in_one_line(project: Project):
    """Interrupted while planning (here: in a pre_plan hook): no plan, no 'skipped' lines, exit 130."""
    import signal
    import sys
    import time

    config = yaml.safe_load(stack(3))
    script = "import time; print('ready', flush=True); time.sleep(60)"
    config["hooks"] = [{"phase": "pre_plan", "name": "slow", "command": [sys.executable, "-c", script]}]
    project.write(yaml.safe_dump(config))
    proc = project.popen("apply", "--auto-approve")
    assert proc.stderr is not None
    seen = ""
    deadline = time.monotonic() + 60
    while "ready" not in seen and time.monotonic() < deadline:
        seen += proc.stderr.readline()
    assert "ready" in seen
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    err = seen + err
    assert proc.returncode == 130, err
    assert err.rstrip().endswith("Interrupted."), err
    assert "skipped" not in out + err and "to create" not in out + err
    assert "Traceback" not in err


def test_plan_ends_with_a_next_step_that_pastes_and_state_list_is_a_table(project: Project):
    import shlex

    project.write(stack(2))
    planned = project.run("plan")
    assert planned.returncode == 2, planned.stderr
    line = planned.stdout.strip().splitlines()[-1]
    assert line == (
        "Next: deployforge apply (shows this plan and asks), or save it for review: deployforge plan --out plan.json"
    )
    save = line.rsplit("for review: ", 1)[1]
    assert project.run(*shlex.split(save)[1:]).returncode == 2 and (project.dir / "plan.json").is_file()
    assert project.run("apply", "plan.json").returncode == 0
    listing = project.run("state", "list").stdout.splitlines()
    header = next(i for i, text in enumerate(listing) if text.lstrip().startswith("ADDRESS"))
    rows = listing[header : header + 3]
    # every column starts at the same offset on every row
    starts = [r.index("sg-") for r in rows[1:]]
    assert rows[0].index("ID") == starts[0] == starts[1]


def test_the_quick_start_in_help_runs_as_printed(tmp_path):
    """Every line of `deployforge --help`'s quick start, pasted as is (no -e: the quickstart names
    its default environment)."""
    import shlex
    import shutil

    quick = tmp_path / "examples" / "quickstart"
    quick.mkdir(parents=True)
    from tests.e2e.conftest import ROOT

    shutil.copy(ROOT / "examples" / "quickstart" / "deployforge.yaml", quick / "deployforge.yaml")
    project = Project(tmp_path, "")
    shown = project.run("--help").stdout
    lines = [line.strip() for line in shown.split("Quick start", 1)[1].split("Exit codes", 1)[0].splitlines()]
    commands = [shlex.split(line)[1:] for line in lines if line.startswith("deployforge ")]
    assert [c[0] for c in commands] == ["validate", "plan", "apply"]
    try:
        codes = []
        for args in commands:
            done = project.run(*args, timeout=180)
            assert "Traceback" not in done.stderr
            codes.append(done.returncode)
        assert codes == [0, 2, 0], done.stderr  # plan: 2 = changes found
        assert project.run("plan", "--sandbox", "-c", "examples/quickstart/deployforge.yaml").returncode == 0
    finally:
        project.run("sandbox", "down", "-c", "examples/quickstart/deployforge.yaml")


def test_validate_warns_about_an_unset_auth_variable_and_plan_needs_it(project: Project):
    """validate makes no cloud call: the page's `auth: $DEPLOYFORGE_AWS_PROFILE` unset is a warning."""
    config = yaml.safe_load(stack(1))
    config["targets"]["main"]["auth"] = "$DEPLOYFORGE_AWS_PROFILE"
    config["environments"] = {"dev": {}, "prod": {}}
    project.write(yaml.safe_dump(config))
    checked = project.run("validate")
    assert checked.returncode == 0, checked.stderr
    assert "warning: " in checked.stderr and "environment variable DEPLOYFORGE_AWS_PROFILE is not set" in checked.stderr
    assert "commands that reach the cloud will need it" in checked.stderr
    assert checked.stderr.count("DEPLOYFORGE_AWS_PROFILE is not set") == 1  # once, not per environment
    one = project.run("validate", "-e", "prod", "--format", "json")
    assert one.returncode == 0 and any("DEPLOYFORGE_AWS_PROFILE" in m for m in json.loads(one.stdout)["messages"])
    planned = project.run("plan", "-e", "dev")
    assert planned.returncode == 1  # bad input (plan's 2 means changes)
    assert "environment variable DEPLOYFORGE_AWS_PROFILE is not set" in planned.stderr
    # a typo elsewhere is still an error for validate
    config["targets"]["main"]["region"] = "$NOT_SET_REGION"
    project.write(yaml.safe_dump(config))
    assert project.run("validate").returncode == 2


def test_a_missing_aws_profile_points_to_the_running_sandbox(tmp_path):
    """Page commands pasted without --sandbox, while the project's sandbox runs: the hint says so."""
    config = yaml.safe_load(stack(1))
    config["targets"]["main"] = {"provider": "aws", "region": "us-east-1", "auth": "no-such-profile-here"}
    project = Project(tmp_path, "")
    project.write(yaml.safe_dump(config))
    try:
        assert project.run("sandbox", "up").returncode == 0
        endpoint = project.run("sandbox", "endpoint").stdout.strip()
        planned = project.run("plan")
        assert planned.returncode == 1, planned.stderr  # bad input in plan
        assert "no-such-profile-here" in planned.stderr
        assert f"a sandbox is running for this project ({endpoint}): to use it, add --sandbox: " in planned.stderr
        assert "deployforge plan --sandbox" in planned.stderr
        assert project.run("plan", "--sandbox").returncode == 2  # the suggested command works
    finally:
        project.run("sandbox", "down")
    stopped = project.run("plan")
    assert "a sandbox is running" not in stopped.stderr
