"""The Action's entrypoint end to end: a subprocess started the way the runner starts the container
(INPUT_* with hyphens kept, GITHUB_* context, a pull_request event payload, temp GITHUB_OUTPUT and
GITHUB_STEP_SUMMARY files), against moto's server and the fake GitHub REST server on loopback."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fakes.github import FakeGitHub, github_fake_fixture, github_fake_server_fixture  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
REPO = "octo/infra"
PR = 42

CONFIG = """\
version: 1
name: action-e2e
targets:
  aws_main:
    provider: aws
    region: us-east-1
    endpoint_url: {endpoint}
environments:
  staging:
    description: Staging
resources:
  artifacts:
    type: aws_s3_bucket
    properties:
      bucket: {prefix}-artifacts
      versioning: true
  logs:
    type: aws_s3_bucket
    properties:
      bucket: {prefix}-logs
"""


def pull_request_event(number: int = PR) -> dict[str, object]:
    """The parts of a real pull_request payload the entrypoint reads (shape as GitHub sends it)."""
    return {
        "action": "synchronize",
        "number": number,
        "pull_request": {
            "number": number,
            "state": "open",
            "head": {"ref": "feature/x", "sha": "9f2c1e0b7a6d5c4b3a2910fedcba987654321000"},
            "base": {"ref": "main", "sha": "1111111111111111111111111111111111111111"},
            "user": {"login": "dev"},
        },
        "repository": {"full_name": REPO, "name": "infra", "owner": {"login": "octo"}},
        "sender": {"login": "dev"},
    }


class Runner:
    def __init__(self, tmp: Path, fake: FakeGitHub, endpoint: str):
        self.workspace = tmp / "workspace"
        self.workspace.mkdir()
        self.tmp = tmp
        self.fake = fake
        self.endpoint = endpoint
        prefix = "df" + re.sub(r"[^a-z0-9]", "", tmp.name.lower())[-20:]
        (self.workspace / "deployforge.yaml").write_text(CONFIG.format(endpoint=endpoint, prefix=prefix))
        self.runs = 0

    def run(self, event_name: str = "pull_request", event: dict[str, object] | None = None, **inputs: str):
        self.runs += 1
        out = self.tmp / f"output-{self.runs}.txt"
        summary = self.tmp / f"summary-{self.runs}.md"
        out.touch()
        summary.touch()
        event_path = self.tmp / f"event-{self.runs}.json"
        event_path.write_text(json.dumps(event if event is not None else pull_request_event()))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "DEPLOYFORGE_"))}
        env.update(
            PYTHONPATH=str(ROOT / "src"),
            GITHUB_ACTIONS="true",
            GITHUB_EVENT_NAME=event_name,
            GITHUB_EVENT_PATH=str(event_path),
            GITHUB_REPOSITORY=REPO,
            GITHUB_API_URL=self.fake.api_url_enterprise,  # GitHub Enterprise layout (/api/v3)
            GITHUB_SERVER_URL="https://github.example.com",
            GITHUB_RUN_ID="777",
            GITHUB_SHA="abcdef0123456789abcdef0123456789abcdef01",
            GITHUB_WORKFLOW="pr",
            GITHUB_WORKSPACE=str(self.workspace),
            GITHUB_OUTPUT=str(out),
            GITHUB_STEP_SUMMARY=str(summary),
            RUNNER_TEMP=str(self.tmp),
            DEPLOYFORGE_GITHUB_MAX_WAIT="5",
        )
        defaults = {"command": "plan", "environment": "staging", "github-token": self.fake.token}
        for name, value in (defaults | inputs).items():
            env[f"INPUT_{name.upper()}"] = value  # hyphens kept, as the runner sets them
        proc = subprocess.run(
            [sys.executable, "-m", "deployforge.action"],
            cwd=self.workspace,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return proc, parse_outputs(out.read_text()), summary.read_text()


def parse_outputs(text: str) -> dict[str, str]:
    """Read GITHUB_OUTPUT the way the runner does (name<<DELIMITER ... DELIMITER)."""
    outputs: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        name, _, delimiter = lines[i].partition("<<")
        assert delimiter, f"not heredoc syntax: {lines[i]!r}"
        end = lines.index(delimiter, i + 1)
        outputs[name] = "\n".join(lines[i + 1 : end])
        i = end + 1
    return outputs


@pytest.fixture
def runner(tmp_path: Path, github_fake: FakeGitHub, moto_endpoint: str) -> Runner:
    github_fake.add_pull_request(REPO, PR)
    return Runner(tmp_path, github_fake, moto_endpoint)


def test_first_run_creates_the_comment_second_updates_it(runner: Runner) -> None:
    fake = runner.fake
    fake.seed_comments(REPO, PR, ["LGTM", "please add tags"])
    proc, outputs, summary = runner.run()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    comments = [c for c in fake.comments(REPO, PR) if c["user"]["type"] == "Bot"]
    assert len(comments) == 1
    first = comments[0]
    assert first["body"].startswith('<!-- deployforge:comment workflow="pr" environment="staging" -->')
    assert "2 to create" in first["body"]
    assert outputs["comment-url"] == first["html_url"]
    assert outputs["result"] == "changes" and outputs["changes"] == "2" and outputs["drift-detected"] == "false"
    assert outputs["run-id"].startswith("DF-")
    assert json.loads((runner.workspace / outputs["plan-path"]).read_text())["environment"] == "staging"
    assert "DeployForge plan" in summary and "2 to create" in summary
    report = runner.workspace / ".deployforge/reports/report.md"  # the full report, beside the others
    assert "2 to create" in report.read_text(encoding="utf-8") and report.stat().st_mode & 0o777 == 0o644
    assert f"::add-mask::{fake.token}" in proc.stdout  # the token never shows in the log
    writes = [r for r in fake.requests if r.method != "GET"]
    assert [(r.method, r.path) for r in writes] == [("POST", f"/repos/{REPO}/issues/{PR}/comments")]
    assert set(writes[0].body) == {"body"}

    fake.requests.clear()
    proc, outputs, _ = runner.run()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    comments = [c for c in fake.comments(REPO, PR) if c["user"]["type"] == "Bot"]
    assert [c["id"] for c in comments] == [first["id"]]  # the same comment, updated in place
    assert outputs["comment-url"] == first["html_url"]
    calls = [(r.method, r.path) for r in fake.requests]
    assert calls == [
        ("GET", f"/repos/{REPO}/issues/{PR}/comments"),
        ("POST", "/graphql"),  # which of our comments a maintainer hid (REST does not say)
        ("PATCH", f"/repos/{REPO}/issues/comments/{first['id']}"),
    ]  # 3 API calls for an upsert when the comment is on the first page (budget: 3)


def test_new_mode_hides_the_old_comment_and_posts_anew(runner: Runner) -> None:
    runner.run()
    old = runner.fake.comments(REPO, PR)[0]
    runner.fake.requests.clear()
    proc, outputs, _ = runner.run(**{"comment-mode": "new"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    comments = runner.fake.comments(REPO, PR)
    assert [c["minimized"] for c in comments] == ["OUTDATED", None]
    assert outputs["comment-url"] == comments[1]["html_url"] != old["html_url"]
    assert len(runner.fake.requests) == 4  # list, hidden? (GraphQL), minimize (GraphQL), post


def test_read_only_token_degrades_to_a_warning_and_the_summary(runner: Runner) -> None:
    proc, outputs, summary = runner.run(**{"github-token": runner.fake.readonly_token})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"::warning title=PR comment::.*403.*job summary", proc.stdout)
    assert outputs["comment-url"] == "" and outputs["result"] == "changes"
    assert "2 to create" in summary
    assert runner.fake.comments(REPO, PR) == []


def test_rate_limit_is_retried_honoring_retry_after(runner: Runner) -> None:
    runner.fake.rate_limit(times=1, retry_after=1, method="POST")
    started = time.monotonic()
    proc, outputs, _ = runner.run()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert time.monotonic() - started >= 1.0
    assert outputs["comment-url"] and len(runner.fake.comments(REPO, PR)) == 1
    posts = [r.status for r in runner.fake.requests if r.method == "POST"]
    assert posts == [429, 201]


def test_rate_limit_past_the_bound_degrades(runner: Runner) -> None:
    runner.fake.rate_limit(times=5, reset_in=3600, status=403)  # an hour away: over the bound, no waiting
    proc, outputs, summary = runner.run()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "::warning title=PR comment::GitHub's rate limit" in proc.stdout
    assert outputs["comment-url"] == "" and "2 to create" in summary


def test_push_event_skips_the_comment_and_still_writes_the_summary(runner: Runner) -> None:
    proc, outputs, summary = runner.run(event_name="push", event={"ref": "refs/heads/main", "after": "abc"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert runner.fake.requests == [] and outputs["comment-url"] == ""
    assert "DeployForge plan" in summary


def test_deploy_applies_and_fail_on_changes(runner: Runner) -> None:
    proc, outputs, _ = runner.run(command="plan", **{"fail-on": "changes", "comment-mode": "off"})
    assert proc.returncode == 1 and "::error title=DeployForge::DeployForge: the plan has 2 changes" in proc.stdout
    proc, outputs, summary = runner.run(command="deploy", confirm="false", **{"comment-mode": "off"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert outputs["result"] == "ok" and "2 succeeded" in summary
    proc, outputs, _ = runner.run(command="plan", **{"comment-mode": "off"})
    assert outputs["result"] == "ok" and outputs["changes"] == "0"


@pytest.mark.parametrize(
    ("inputs", "event_name", "message"),
    [
        ({"command": "destroy"}, "pull_request", "input 'command' is 'destroy'; use one of: validate, plan"),
        ({"confirm": "yes"}, "pull_request", "input 'confirm' must be true or false"),
        ({"config": "missing.yaml"}, "pull_request", "config file 'missing.yaml' not found"),
        ({"github-token": ""}, "pull_request", "input 'github-token' is empty"),
        ({"timeout": "soon"}, "pull_request", "input 'timeout' must be seconds above 0 or a duration"),
    ],
)
def test_bad_input_is_a_clear_error_not_a_traceback(
    runner: Runner, inputs: dict[str, str], event_name: str, message: str
) -> None:
    proc, outputs, _ = runner.run(event_name=event_name, **inputs)
    assert proc.returncode == 1
    assert outputs.get("result") == "failed"  # later steps can still test the outcome
    assert "Traceback" not in proc.stdout + proc.stderr
    errors = [line for line in proc.stdout.splitlines() if line.startswith("::error")]
    assert errors and message in errors[0], proc.stdout


def test_config_error_is_annotated_on_its_line(runner: Runner) -> None:
    (runner.workspace / "deployforge.yaml").write_text(
        "version: 1\nname: x\ntargets: {}\nenvironments: {staging: {}}\nresources:\n  a: {type: aws_s3_bucket}\n"
    )
    proc, outputs, summary = runner.run()
    assert proc.returncode == 1
    assert re.search(r"::error title=DeployForge config,file=deployforge.yaml,line=\d+", proc.stdout), proc.stdout
    assert outputs["result"] == "failed"
    assert "Config problems" in summary
    body = runner.fake.comments(REPO, PR)[0]["body"]
    assert "failed" in body.splitlines()[1]


def test_drift_after_deploy_sets_outputs_junit_and_fails_on_drift(runner: Runner) -> None:
    import boto3

    proc, _, _ = runner.run(command="deploy", confirm="false", **{"comment-mode": "off"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    bucket = next(b for b in (runner.workspace / "deployforge.yaml").read_text().split() if b.endswith("-artifacts"))
    s3 = boto3.client("s3", endpoint_url=runner.endpoint, region_name="us-east-1")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})  # out of band
    proc, outputs, summary = runner.run(command="drift", **{"fail-on": "error,drift"})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "::error title=DeployForge::DeployForge: drift detected" in proc.stdout
    assert outputs["drift-detected"] == "true" and outputs["result"] in ("drift", "failed")
    junit = (runner.workspace / outputs["junit-path"]).read_text()
    assert "<testsuites" in junit and "versioning" in junit and "<failure" in junit
    assert "| Drift |" in summary
    body = runner.fake.comments(REPO, PR)[0]["body"]
    assert "| Drift |" in body and "versioning" in body


def test_a_failing_pre_plan_hook_shows_in_the_log_the_comment_and_junit(runner: Runner) -> None:
    config = runner.workspace / "deployforge.yaml"
    config.write_text(
        config.read_text()
        + "hooks:\n  - phase: pre_plan\n    name: fetch inputs\n"
        + f"    command: [{sys.executable}, -c, \"print('::set-output name=x::injected'); print('no'); exit(5)\"]\n"
    )
    proc, outputs, _ = runner.run(**{"junit-path": "reports/junit.xml"})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "hook pre_plan: fetch inputs" in proc.stdout
    # hook output is indented, so the runner never reads a hook's line as a workflow command
    assert "  | ::set-output name=x::injected" in proc.stdout and "\n::set-output" not in proc.stdout
    assert outputs["result"] == "failed" and "x" not in outputs
    [comment] = [c for c in runner.fake.comments(REPO, PR) if c["user"]["type"] == "Bot"]
    assert "fetch inputs" in comment["body"] and "Nothing was planned." in comment["body"]
    junit = (runner.workspace / "reports" / "junit.xml").read_text()
    assert 'name="pre_plan :: fetch inputs"' in junit and 'message="failed: exit code 5"' in junit


def test_confirm_policy_input_and_plan_path(runner: Runner) -> None:
    """confirm: true approves a deploy to an environment that requires it (false only plans there);
    the policy input gates before planning; plan-path names only a plan this run wrote."""
    config = runner.workspace / "deployforge.yaml"
    config.write_text(
        config.read_text().replace(
            "    description: Staging\n", "    description: Staging\n  prod:\n    require_confirmation: true\n"
        )
    )
    off = {"comment-mode": "off"}
    proc, outputs, summary = runner.run(command="deploy", environment="prod", confirm="false", **off)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert outputs["result"] == "needs-confirmation" and "requires confirmation, so nothing was applied" in summary
    proc, outputs, _ = runner.run(command="deploy", environment="prod", confirm="true", **off)
    assert proc.returncode == 0 and outputs["result"] == "ok", proc.stdout
    # the policy input: checked on the config before anything is planned
    (runner.workspace / "policies").mkdir()
    (runner.workspace / "policies" / "deny.rego").write_text(
        "package deployforge.policies\nimport rego.v1\ndefault allow := false\nallow if { input.resource.tags.owner }\n"
    )
    (runner.workspace / ".deployforge" / "reports" / "plan.json").unlink(missing_ok=True)
    proc, outputs, _ = runner.run(command="plan", policy="policies/", **off, **{"sarif-path": "r.sarif"})
    assert proc.returncode == 1, proc.stdout
    assert outputs["result"] == "failed" and int(outputs["policy-failures"]) >= 2
    assert outputs["failure-reason"] == "policy-failed" and outputs["lock-info"] == ""
    assert outputs["sarif-path"] == "r.sarif" and (runner.workspace / "r.sarif").is_file()
    assert outputs["plan-path"] == "" and not (runner.workspace / ".deployforge/reports/plan.json").exists()
    # fail-on without policy: a policy failure alone does not fail the step (it is not an error)
    proc, outputs, _ = runner.run(command="plan", policy="policies/", **off, **{"fail-on": "error"})
    assert proc.returncode == 0 and outputs["result"] == "failed" and int(outputs["policy-failures"]) >= 2
    proc, outputs, _ = runner.run(command="plan", **off)
    assert outputs["plan-path"] == ".deployforge/reports/plan.json"
    proc, outputs, _ = runner.run(command="validate", **off)
    assert outputs["plan-path"] == ""  # the file is there, but this run did not write it


def test_with_a_working_directory_outputs_and_sarif_paths_are_from_the_workspace(runner: Runner) -> None:
    infra = runner.workspace / "infra"
    infra.mkdir()
    (runner.workspace / "deployforge.yaml").rename(infra / "deployforge.yaml")
    (infra / "p.rego").write_text(
        "package deployforge.policies\nimport rego.v1\ndefault allow := false\nallow if { input.resource.tags.owner }\n"
    )
    extra = {"working-directory": "infra", "comment-mode": "off", "sarif-path": "r.sarif", "junit-path": "j.xml"}
    proc, outputs, _ = runner.run(command="validate", policy="p.rego", **extra)
    assert proc.returncode == 1, proc.stdout
    assert outputs["sarif-path"] == "infra/r.sarif" and outputs["junit-path"] == "infra/j.xml"
    assert (runner.workspace / outputs["sarif-path"]).is_file() and (runner.workspace / outputs["junit-path"]).is_file()
    sarif = json.loads((runner.workspace / outputs["sarif-path"]).read_text())
    uris = {
        loc["physicalLocation"]["artifactLocation"]["uri"]
        for res in sarif["runs"][0]["results"]
        for loc in res["locations"]
    }
    assert uris == {"infra/deployforge.yaml"}  # code scanning resolves it from the repository root


# -- annotations: 10 per type and step, a check run with all of them (issue 14 point 3) -------------

MANY_FINDINGS = """\
package deployforge.policies
import rego.v1
deny contains msg if {
  some i in numbers.range(1, 60)
  msg := sprintf("rule %d: no owner tag", [i])
}
"""


def annotation_lines(stdout: str, level: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith(f"::{level}")]


def test_annotations_are_capped_at_ten_per_type_and_a_check_run_carries_all(runner: Runner) -> None:
    (runner.workspace / "many.rego").write_text(MANY_FINDINGS)
    proc, _, _ = runner.run(policy="many.rego", **{"comment-mode": "off"})
    assert proc.returncode == 1 and "Traceback" not in proc.stdout + proc.stderr
    errors = annotation_lines(proc.stdout, "error")
    assert len(errors) == 10, errors  # what the runner shows: 10 per type and step
    assert "DeployForge: " in errors[0] and "policy failure" in errors[0]  # the step's own verdict first
    assert re.search(r"::error title=DeployForge%3A 112 more errors::112 more errors not shown here", errors[-1])
    runs = runner.fake.check_runs(REPO)
    assert len(runs) == 1
    run = runs[0]
    assert run["name"] == "DeployForge (pr · staging)" and run["conclusion"] == "failure"
    assert run["head_sha"] == "9f2c1e0b7a6d5c4b3a2910fedcba987654321000"  # the PR's head commit
    assert len(run["annotations"]) == 121  # 120 findings + the verdict, every one
    assert all(a["path"] and a["start_line"] >= 1 for a in run["annotations"])
    assert f"every one is in the check run '{run['name']}'" in errors[-1]
    writes = [r for r in runner.fake.requests if "/check-runs" in r.path]
    assert [r.method for r in writes] == ["POST", "PATCH", "PATCH"]  # batches of at most 50 (the API's limit)
    assert [len(r.body["output"]["annotations"]) for r in writes] == [50, 50, 21]


def test_without_checks_write_the_annotations_degrade_with_a_warning(runner: Runner) -> None:
    (runner.workspace / "many.rego").write_text(MANY_FINDINGS)
    runner.fake.no_checks = True
    proc, _, _ = runner.run(policy="many.rego", **{"comment-mode": "off"})
    assert proc.returncode == 1
    warnings = annotation_lines(proc.stdout, "warning")
    assert any("lacks the `checks: write` permission" in w for w in warnings), warnings
    errors = annotation_lines(proc.stdout, "error")
    assert len(errors) == 10 and "job summary and .deployforge/reports/report.md" in errors[-1]
    assert runner.fake.check_runs(REPO) == []


def test_few_annotations_need_no_check_run(runner: Runner) -> None:
    proc, _, _ = runner.run(**{"comment-mode": "off"})
    assert proc.returncode == 0
    assert not [r for r in runner.fake.requests if "/check-runs" in r.path]


def test_two_working_directories_keep_two_comments_named_by_label(runner: Runner) -> None:
    config = (runner.workspace / "deployforge.yaml").read_text()
    for stack in ("app", "db"):
        folder = runner.workspace / "stacks" / stack
        folder.mkdir(parents=True)
        (folder / "deployforge.yaml").write_text(
            config.replace("-artifacts", f"-{stack}-a").replace("-logs", f"-{stack}-l")
        )
    urls = []
    for _ in range(2):  # the second round updates the two comments, each its own
        for stack in ("app", "db"):
            proc, outputs, _ = runner.run(**{"working-directory": f"stacks/{stack}"})
            assert proc.returncode == 0, proc.stdout + proc.stderr
            assert outputs["label"] == f"stacks/{stack}"
            urls.append(outputs["comment-url"])
    comments = runner.fake.comments(REPO, PR)
    assert len(comments) == 2 and urls[:2] == urls[2:]
    assert comments[0]["body"].startswith(
        '<!-- deployforge:comment workflow="pr" label="stacks/app" environment="staging" -->'
    )
    assert "· `stacks/db`" in comments[1]["body"].splitlines()[1]


def test_a_label_a_marker_cannot_carry_is_an_input_error(runner: Runner) -> None:
    proc, outputs, _ = runner.run(label="a-->b")
    assert proc.returncode == 1 and outputs["result"] == "failed"
    assert re.search(r"::error title=DeployForge input::input 'label' is .*'--'", proc.stdout), proc.stdout
    assert runner.fake.comments(REPO, PR) == []


def test_a_post_that_landed_before_a_502_is_not_posted_twice(runner: Runner) -> None:
    runner.fake.fail(502, times=1, method="POST", path=r"/issues/\d+/comments$", after=True)  # the write landed
    proc, outputs, _ = runner.run()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    comments = runner.fake.comments(REPO, PR)
    assert len(comments) == 1 and outputs["comment-url"] == comments[0]["html_url"]
    posts = [r.status for r in runner.fake.requests if r.method == "POST" and r.path.endswith("/comments")]
    assert posts == [502]  # looked (listed again) instead of posting again
    runner.fake.fail(502, times=1, method="POST", path=r"/issues/\d+/comments$")  # this one did not land
    runner.fake.requests.clear()
    proc, outputs, _ = runner.run(**{"comment-mode": "new"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    posts = [r.status for r in runner.fake.requests if r.method == "POST" and r.path.endswith("/comments")]
    assert posts == [502, 201] and len(runner.fake.comments(REPO, PR)) == 2


# -- comment-mode changes-only and PR labels (issue 14 point 6) -----------------------------------


def test_changes_only_writes_no_comment_until_something_changes_then_keeps_it(runner: Runner) -> None:
    off = {"comment-mode": "off"}
    proc, _, _ = runner.run(command="deploy", **off)  # everything exists: the next plan has no changes
    assert proc.returncode == 0, proc.stdout + proc.stderr
    runner.fake.requests.clear()
    proc, outputs, _ = runner.run(**{"comment-mode": "changes-only"})
    assert proc.returncode == 0 and outputs["changes"] == "0" and outputs["comment-url"] == ""
    assert runner.fake.comments(REPO, PR) == []
    assert [r.method for r in runner.fake.requests] == ["GET"]  # looked for a comment, wrote nothing
    (runner.workspace / "deployforge.yaml").write_text(
        (runner.workspace / "deployforge.yaml").read_text().replace("versioning: true", "versioning: false")
    )
    proc, outputs, _ = runner.run(**{"comment-mode": "changes-only"})
    assert outputs["changes"] == "1" and len(runner.fake.comments(REPO, PR)) == 1  # something to review
    (runner.workspace / "deployforge.yaml").write_text(
        (runner.workspace / "deployforge.yaml").read_text().replace("versioning: false", "versioning: true")
    )
    proc, outputs, _ = runner.run(**{"comment-mode": "changes-only"})
    comments = runner.fake.comments(REPO, PR)
    assert outputs["changes"] == "0" and len(comments) == 1 and "no changes" in comments[0]["body"]  # updated


def test_labels_follow_the_result(runner: Runner) -> None:
    def labels() -> list[str]:
        return [lab["name"] for issue in runner.fake.issues(REPO) for lab in issue["labels"]]

    runner.fake._repo(REPO).issues[PR]["labels"].append({"name": "team:infra", "id": 1})  # someone else's label
    proc, outputs, _ = runner.run(labels="true", **{"comment-mode": "off"})
    assert proc.returncode == 0 and outputs["changes"] == "2"
    assert labels() == ["team:infra", "deployforge:changes"]
    runner.run(command="deploy", **{"comment-mode": "off"})
    proc, _, _ = runner.run(labels="true", **{"comment-mode": "off"})
    assert labels() == ["team:infra", "deployforge:no-changes"]  # the old result's label removed
    runner.fake.read_only = True  # a fork's token: the label cannot change, the step goes on with a warning
    cfg = runner.workspace / "deployforge.yaml"
    cfg.write_text(cfg.read_text().replace("versioning: true", "versioning: false"))
    proc, _, _ = runner.run(labels="true", **{"comment-mode": "off"})
    assert proc.returncode == 0 and "::warning title=PR labels::the pull request label" in proc.stdout


# -- apply only what was reviewed (issue 14 point 5) --------------------------------------------------

MERGE_SHA = "abcdef0123456789abcdef0123456789abcdef01"  # the Runner's GITHUB_SHA: the merge commit pushed


def push_event() -> dict[str, object]:
    return {"ref": "refs/heads/main", "after": MERGE_SHA, "repository": {"full_name": REPO}}


def test_apply_reviewed_plan_applies_the_plan_the_pull_request_showed(runner: Runner) -> None:
    proc, outputs, _ = runner.run()  # the PR's plan: the comment records its digest
    assert proc.returncode == 0, proc.stdout + proc.stderr
    body = runner.fake.comments(REPO, PR)[0]["body"]
    assert outputs["plan-digest"].startswith("sha256:") and f'"digest": "{outputs["plan-digest"]}"' in body
    assert f"plan `{outputs['plan-digest'][:19]}`" in body
    runner.fake._repo(REPO).issues[PR]["_merge_sha"] = MERGE_SHA  # merged
    proc, outputs, summary = runner.run(
        event_name="push", event=push_event(), command="deploy", **{"apply-reviewed-plan": "true"}
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert outputs["result"] == "ok" and "2 succeeded" in summary and outputs["failure-reason"] == ""
    found = [r for r in runner.fake.requests if r.path.endswith(f"/commits/{MERGE_SHA}/pulls")]
    assert len(found) == 1  # the PR found through the pushed commit


def test_apply_reviewed_plan_refuses_a_plan_that_changed_and_says_what_differs(runner: Runner) -> None:
    runner.run()
    runner.fake._repo(REPO).issues[PR]["_merge_sha"] = MERGE_SHA
    cfg = runner.workspace / "deployforge.yaml"
    cfg.write_text(
        cfg.read_text() + "  extra:\n    type: aws_s3_bucket\n    properties:\n      bucket: dfx-extra-bucket\n"
    )
    proc, outputs, _ = runner.run(
        event_name="push", event=push_event(), command="deploy", **{"apply-reviewed-plan": "true"}
    )
    assert proc.returncode == 1
    assert outputs["result"] == "failed" and outputs["failure-reason"] == "plan-changed"
    errors = [line for line in proc.stdout.splitlines() if line.startswith("::error")]
    assert any(
        "title=DeployForge apply-reviewed-plan::the plan changed since it was reviewed in pull request #42" in e
        and "aws_s3_bucket.extra is new in the plan (create)" in e
        for e in errors
    ), errors
    proc, outputs, _ = runner.run(**{"comment-mode": "off"})
    assert outputs["changes"] == "3"  # nothing was applied


def test_apply_reviewed_plan_without_a_pull_request_is_a_clear_error(runner: Runner) -> None:
    proc, outputs, _ = runner.run(
        event_name="push", event=push_event(), command="deploy", **{"apply-reviewed-plan": "true"}
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stdout + proc.stderr
    assert outputs["failure-reason"] == "no-reviewed-plan"
    assert "input 'apply-reviewed-plan' is true, but no pull request was found for commit abcdef012345" in proc.stdout
    proc, outputs, _ = runner.run(**{"comment-mode": "off"})
    assert outputs["changes"] == "2"  # nothing was applied


def test_a_locked_state_fails_with_failure_reason_and_lock_info(runner: Runner) -> None:
    lock = {
        "lock_id": "L-0123456789",
        "environment": "staging",
        "run_id": "DF-TRC-OTHERRUN01",
        "actor": "ci-bot",
        "host": "another-runner",  # another machine: the lock is held, not stale
        "pid": 4242,
        "created_at": time.time(),
        "ci_run_url": "https://github.example.com/octo/infra/actions/runs/776",
        "operation": "apply",
    }
    (runner.workspace / ".deployforge" / "locks").mkdir(parents=True)
    (runner.workspace / ".deployforge" / "locks" / "staging.lock").write_text(json.dumps(lock))
    proc, outputs, _ = runner.run(command="deploy", **{"comment-mode": "off"})
    assert proc.returncode == 1 and "Traceback" not in proc.stdout + proc.stderr
    assert outputs["failure-reason"] == "state-locked"
    info = json.loads(outputs["lock-info"])
    assert info["lock_id"] == "L-0123456789" and info["actor"] == "ci-bot" and info["run_id"] == "DF-TRC-OTHERRUN01"


def test_apply_reviewed_plan_on_a_deployforge_apply_comment(runner: Runner) -> None:
    runner.run()  # the PR's plan comment
    comment_event = {
        "action": "created",
        "issue": {"number": PR, "pull_request": {"url": f"https://api.github.example.com/repos/{REPO}/pulls/{PR}"}},
        "comment": {"body": "/deployforge apply", "user": {"login": "maintainer"}},
        "repository": {"full_name": REPO},
    }
    proc, outputs, summary = runner.run(
        event_name="issue_comment", event=comment_event, command="deploy", **{"apply-reviewed-plan": "true"}
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert outputs["result"] == "ok" and "2 succeeded" in summary
    assert not [r for r in runner.fake.requests if "/commits/" in r.path]  # the comment's own PR, no lookup
