"""The report step the Jenkins library runs: result document -> the PR comment's Markdown, HTML, sticky comment.

The comment goes through the GitHub Action's own upsert (ci/github.StickyComment) to the local fake
GitHub REST server, with the pull request taken from Jenkins' CHANGE_* variables.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.fakes.github import FakeGitHub, github_fake_fixture, github_fake_server_fixture  # noqa: F401

from deployforge.model.plan import Action, AttributeChange, Plan, ResourcePlan
from deployforge.model.result import RunResult
from deployforge.usecases.jenkins import jenkins_report

TOKEN_VALUE_NAME = "JENKINS_GH_TOKEN"


def _plan_result() -> RunResult:
    plan = Plan(
        environment="dev",
        config_hash="abc",
        state_serial=3,
        state_lineage="lin",
        resources=(
            ResourcePlan("web_sg", "aws_security_group", "main", Action.CREATE),
            ResourcePlan(
                "logs",
                "aws_s3_bucket",
                "main",
                Action.DELETE,
                resource_id="logs-bucket",
                changes=(AttributeChange("versioning", True, False),),
            ),
        ),
        run_id="20260101T000000Z-abcdef",
    )
    return RunResult("plan", "dev", "20260101T000000Z-abcdef", 2, "deployforge.yaml", "abc", plan=plan)


def _jenkins_env(fake: FakeGitHub | None = None, *, change: str = "7", api: str | None = None) -> dict[str, str]:
    env = {
        "JENKINS_URL": "https://ci.example.com/",
        "BUILD_URL": "https://ci.example.com/job/app/job/PR-7/5/",
        "GIT_COMMIT": "feedfacecafebeef0000000000000000deadbeef",
    }
    if change:
        env |= {
            "CHANGE_ID": change,
            "CHANGE_URL": f"https://github.com/octo/app/pull/{change}",
            "CHANGE_TARGET": "main",
        }
    if fake is not None:
        env |= {"GITHUB_API_URL": api or fake.api_url, TOKEN_VALUE_NAME: fake.token}
    return env


def _report(tmp_path: Path, doc: object, env: dict[str, str], *extra: str, code: int = 2, command: str = "plan") -> int:
    result_file = tmp_path / f"{command}-result.json"
    if doc is not None:
        result_file.write_text(json.dumps(doc), encoding="utf-8")
    jenkins_report(
        command=command,
        result_path=str(result_file),
        exit_code=code,
        out_dir=str(tmp_path / "reports"),
        environ=env,
        html=f"{command}-report.html",
        comment="--comment" in extra,
        token_env=TOKEN_VALUE_NAME if TOKEN_VALUE_NAME in extra else "GITHUB_TOKEN",
    )
    return 0


def test_the_document_round_trips_into_the_same_result():
    original = _plan_result()
    again = RunResult.from_document(original.to_json(), "plan", 2)
    assert again.plan == original.plan
    assert (again.command, again.environment, again.run_id, again.exit_code, again.ok) == (
        "plan",
        "dev",
        original.run_id,
        2,
        True,
    )


def test_report_writes_the_comment_markdown_and_its_html(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    from deployforge.render.markdown import RenderContext, render_comment

    assert _report(tmp_path, _plan_result().to_json(), _jenkins_env(change="")) == 0
    md = (tmp_path / "reports" / "plan-report.md").read_text()
    html = (tmp_path / "reports" / "plan-report.html").read_text()
    # the same Markdown the Action renders for this result, with the Jenkins build as the run link
    expected = render_comment(
        _plan_result(),
        RenderContext(
            workflow="jenkins",
            run_url="https://ci.example.com/job/app/job/PR-7/5/",
            commit="feedfacecafebeef0000000000000000deadbeef",
            summary_url="https://ci.example.com/job/app/job/PR-7/5/DeployForge/",
            artifact=str(tmp_path / "reports" / "plan-report.html"),
        ),
    )
    assert md == expected
    assert "aws_s3_bucket.logs" in md and "ci.example.com/job/app/job/PR-7/5/" in md
    assert "<table>" in html and "<details>" in html and "aws_s3_bucket.logs" in html
    out = capsys.readouterr().out
    assert md.strip() in out  # the build log shows the same text


def test_an_error_document_renders_as_a_failure(tmp_path: Path):
    doc = {
        "error": "plan file 'x.json' not found",
        "hint": "create one with: deployforge plan --out FILE",
        "exit_code": 2,
    }
    assert _report(tmp_path, doc, {}, command="apply") == 0
    md = (tmp_path / "reports" / "apply-report.md").read_text()
    assert "DeployForge apply" in md and "failed" in md
    assert "plan file 'x.json' not found" in md and "create one with" in md


def test_no_document_still_gives_a_report(tmp_path: Path):
    assert _report(tmp_path, None, {}, command="run", code=1) == 0
    md = (tmp_path / "reports" / "run-report.md").read_text()
    assert "wrote no result document (exit status 1)" in md and "failed" in md


def test_config_issues_keep_their_locations(tmp_path: Path):
    doc = {
        "error": "1 problem in the configuration",
        "exit_code": 2,
        "issues": [
            {
                "message": "unknown key 'regoin'",
                "file": "deployforge.yaml",
                "line": 2,
                "column": 25,
                "hint": "did you mean 'region'?",
            }
        ],
    }
    _report(tmp_path, doc, {}, command="validate")
    md = (tmp_path / "reports" / "validate-report.md").read_text()
    assert "deployforge.yaml:2:25" in md and "did you mean 'region'?" in md


def test_pr_comment_created_then_updated_in_place(tmp_path: Path, github_fake: FakeGitHub, capsys):
    github_fake.add_pull_request("octo/app", 7)
    env = _jenkins_env(github_fake)
    assert _report(tmp_path, _plan_result().to_json(), env, "--comment", "--token-env", TOKEN_VALUE_NAME) == 0
    [first] = github_fake.comments("octo/app", 7)
    assert first["body"].startswith('<!-- deployforge:comment workflow="jenkins" environment="dev" -->')
    assert "aws_s3_bucket.logs" in first["body"]
    assert "PR comment created:" in capsys.readouterr().out
    # the next build of the same PR updates the same comment
    changed = _plan_result().to_json()
    changed["plan"]["resources"] = changed["plan"]["resources"][:1]
    changed["plan"]["summary"] = {"create": 1}
    assert _report(tmp_path, changed, env, "--comment", "--token-env", TOKEN_VALUE_NAME) == 0
    [second] = github_fake.comments("octo/app", 7)
    assert second["id"] == first["id"] and "aws_s3_bucket.logs" not in second["body"]
    out = capsys.readouterr().out
    assert "PR comment updated:" in out
    assert github_fake.token not in out  # the token is never printed


def test_pr_comment_on_github_enterprise(tmp_path: Path, github_fake: FakeGitHub, capsys):
    # a GitHub Enterprise PR: the API URL is derived from CHANGE_URL's host (HOST/api/v3), no override
    github_fake.add_pull_request("octo/app", 7)
    env = _jenkins_env(github_fake)
    del env["GITHUB_API_URL"]
    env["CHANGE_URL"] = f"{github_fake.url}/octo/app/pull/7"
    assert _report(tmp_path, _plan_result().to_json(), env, "--comment", "--token-env", TOKEN_VALUE_NAME) == 0
    assert "PR comment created:" in capsys.readouterr().out
    assert len(github_fake.comments("octo/app", 7)) == 1


def test_pr_comment_degrades_to_a_warning(tmp_path: Path, github_fake: FakeGitHub, capsys):
    github_fake.add_pull_request("octo/app", 7)
    github_fake.read_only = True
    env = _jenkins_env(github_fake)
    assert _report(tmp_path, _plan_result().to_json(), env, "--comment", "--token-env", TOKEN_VALUE_NAME) == 0
    assert "warning: PR comment not written: the token may not" in capsys.readouterr().out
    assert github_fake.comments("octo/app", 7) == []
    assert (tmp_path / "reports" / "plan-report.html").exists()


def test_pr_comment_skipped_with_a_reason(tmp_path: Path, github_fake: FakeGitHub, capsys):
    branch = _jenkins_env(github_fake, change="")
    _report(tmp_path, _plan_result().to_json(), branch, "--comment", "--token-env", TOKEN_VALUE_NAME)
    assert "PR comment skipped: a branch build, not a pull request" in capsys.readouterr().out
    no_token = {k: v for k, v in _jenkins_env(github_fake).items() if k != TOKEN_VALUE_NAME}
    _report(tmp_path, _plan_result().to_json(), no_token, "--comment", "--token-env", TOKEN_VALUE_NAME)
    assert f"no GitHub token in ${TOKEN_VALUE_NAME}" in capsys.readouterr().out
    assert github_fake.calls() == []


def test_an_unwritable_reports_folder_is_a_clear_error_through_the_cli(tmp_path: Path):
    """The CLI front door: the use case's error is printed the one way, exit 1, no traceback."""
    import subprocess
    import sys

    blocker = tmp_path / "reports"
    blocker.write_text("a file where the folder should be")
    (tmp_path / "plan-result.json").write_text(json.dumps(_plan_result().to_json()))
    args = ["--command", "plan", "--result", str(tmp_path / "plan-result.json"), "--exit-code", "2"]
    done = subprocess.run(
        [sys.executable, "-m", "deployforge", "jenkins", "report", *args, "--out-dir", str(blocker)],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")},
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert "could not write the report: FileExistsError" in done.stderr and "writable folder" in done.stderr
    assert "Traceback" not in done.stderr
