"""The fork guard: on pull_request_target / workflow_run for a pull request from a fork, the fork's
hooks never run and the config comes from the base commit, unless the workflow opts in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REPO = "octo/infra"


def config(env_name: str, marker: Path) -> str:
    hook = json.dumps([sys.executable, "-c", f"open({str(marker)!r}, 'w').write('ran')"])
    return (
        f"version: 1\nname: demo\nenvironments:\n  {env_name}:\n    description: E\nresources: {{}}\n"
        f"hooks:\n  - phase: pre_plan\n    name: fetch\n    command: {hook}\n"
    )


def git(ws: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}  # fmt: skip
    return subprocess.run(["git", *args], cwd=ws, env=env, check=True, capture_output=True, text=True).stdout.strip()


def fork_pr(tmp: Path) -> tuple[Path, str]:
    """A repository whose base commit has the trusted config, checked out at the fork's head, whose
    config renames the environment and whose hook leaves a mark."""
    ws = tmp / "ws"
    ws.mkdir()
    git(ws, "init", "-q")
    (ws / "deployforge.yaml").write_text(config("staging", tmp / "base-hook-ran"))
    git(ws, "add", ".")
    git(ws, "commit", "-qm", "base")
    base = git(ws, "rev-parse", "HEAD")
    (ws / "deployforge.yaml").write_text(config("forked", tmp / "fork-hook-ran"))
    git(ws, "commit", "-qam", "the fork's change")
    return ws, base


def run_action(tmp: Path, ws: Path, base: str, event_name: str, event: dict, **inputs: str):
    event_path = tmp / "event.json"
    event_path.write_text(json.dumps(event))
    (tmp / "summary.md").write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "DEPLOYFORGE_"))}
    env.update(
        PYTHONPATH=str(ROOT / "src"),
        GITHUB_ACTIONS="true",
        GITHUB_EVENT_NAME=event_name,
        GITHUB_EVENT_PATH=str(event_path),
        GITHUB_REPOSITORY=REPO,
        GITHUB_SHA=base,
        GITHUB_WORKSPACE=str(ws),
        GITHUB_STEP_SUMMARY=str(tmp / "summary.md"),
        INPUT_COMMAND="plan",
        **{"INPUT_COMMENT-MODE": "off"},
    )
    env.update({f"INPUT_{k.upper()}": v for k, v in inputs.items()})
    proc = subprocess.run(
        [sys.executable, "-m", "deployforge.action"], cwd=ws, env=env, capture_output=True, text=True, timeout=120
    )
    return proc, (tmp / "summary.md").read_text()


def pr_target_event(head_repo: str | None) -> dict:
    return {
        "number": 5,
        "pull_request": {
            "number": 5,
            "head": {"sha": "f" * 40, "repo": {"full_name": head_repo} if head_repo else None},
            "base": {"sha": "b" * 40, "repo": {"full_name": REPO}},
        },
        "repository": {"full_name": REPO},
    }


def test_a_fork_on_pull_request_target_runs_no_hook_and_uses_the_base_config(tmp_path: Path) -> None:
    ws, base = fork_pr(tmp_path)
    proc, summary = run_action(tmp_path, ws, base, "pull_request_target", pr_target_event("mallory/infra"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not (tmp_path / "fork-hook-ran").exists() and not (tmp_path / "base-hook-ran").exists()
    assert "::warning title=DeployForge fork guard::" in proc.stdout
    assert "fork mallory/infra on pull_request_target: hooks were not run" in summary
    assert f"base commit {base[:12]}" in summary
    assert "`staging`" in summary and "forked" not in summary  # the base commit's config


def test_workflow_run_from_a_fork_is_guarded_too(tmp_path: Path) -> None:
    ws, base = fork_pr(tmp_path)
    event = {
        "workflow_run": {"event": "pull_request", "head_repository": {"full_name": "mallory/infra"},
                         "repository": {"full_name": REPO}, "head_sha": "f" * 40},
        "repository": {"full_name": REPO},
    }  # fmt: skip
    proc, summary = run_action(tmp_path, ws, base, "workflow_run", event)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not (tmp_path / "fork-hook-ran").exists() and "hooks were not run" in summary


def test_the_opt_in_runs_the_fork_s_hooks(tmp_path: Path) -> None:
    ws, base = fork_pr(tmp_path)
    proc, summary = run_action(
        tmp_path, ws, base, "pull_request_target", pr_target_event("mallory/infra"), **{"allow-fork-code": "true"}
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "fork-hook-ran").exists() and "hooks were not run" not in summary
    assert "`forked`" in summary


def test_same_repository_pull_requests_are_not_guarded(tmp_path: Path) -> None:
    ws, base = fork_pr(tmp_path)
    proc, _ = run_action(tmp_path, ws, base, "pull_request_target", pr_target_event(REPO))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "fork-hook-ran").exists()


def test_without_the_base_commit_the_run_stops_with_a_clear_error(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "deployforge.yaml").write_text(config("staging", tmp_path / "fork-hook-ran"))  # not a git checkout
    proc, _ = run_action(tmp_path, ws, "a" * 40, "pull_request_target", pr_target_event(None))
    assert proc.returncode == 1
    assert "the config must come from the base commit aaaaaaaaaaaa" in proc.stdout
    assert "allow-fork-code: true" in proc.stdout and not (tmp_path / "fork-hook-ran").exists()
