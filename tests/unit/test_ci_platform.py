"""The CI seam (ci/platform.py): every read of a CI system's environment goes through a platform.

Adding a CI system is one module plus one line in ``PLATFORMS``; the test with a made-up CI system
checks that everything that depends on the CI (the audit context, the trace header in CI logs, the
run link on locks, the lock holder, the workspace a config must stay inside) follows it without
touching another file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from deployforge.audit.context import ci_context
from deployforge.ci import platform
from deployforge.ci.platform import GITHUB_ACTIONS, detect, in_ci, reads_workflow_commands
from deployforge.config.load import workspace_root
from deployforge.state.base import LockInfo

SRC = Path(__file__).resolve().parents[2] / "src" / "deployforge"

GITLAB_MR = {
    "CI": "true",
    "GITLAB_CI": "true",
    "CI_PIPELINE_ID": "4711",
    "CI_PIPELINE_URL": "https://gitlab.example.com/platform/infra/-/pipelines/4711",
    "CI_PROJECT_PATH": "platform/infra",
    "CI_PROJECT_URL": "https://gitlab.example.com/platform/infra",
    "CI_COMMIT_SHA": "0a1b2c3d",
    "CI_COMMIT_REF_NAME": "refs/merge-requests/12/head",
    "CI_MERGE_REQUEST_IID": "12",
    "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "feature/vpc",
    "CI_PIPELINE_SOURCE": "merge_request_event",
    "CI_JOB_NAME": "plan",
    "GITLAB_USER_LOGIN": "ada",
    "CI_RUNNER_DESCRIPTION": "runner-7",
}


@pytest.mark.parametrize(
    ("environ", "system"),
    [
        ({"GITHUB_ACTIONS": "true", "JENKINS_URL": "https://ci", "CI": "true"}, "github-actions"),
        ({"JENKINS_URL": "https://ci.example.com/"}, "jenkins"),
        (GITLAB_MR, "gitlab-ci"),
        ({"CI": "true"}, "ci"),
        ({"CI": "1"}, "ci"),
        ({"CI": "false"}, "local"),
        ({}, "local"),
    ],
)
def test_detection_order(environ, system):
    assert detect(environ).name == system
    assert in_ci(environ) is (system != "local")
    assert reads_workflow_commands(environ) is (system == "github-actions")
    assert ci_context({**environ, "USER": "someone"})["system"] == system


def test_gitlab_merge_request_pipeline_context():
    ctx = ci_context(GITLAB_MR)
    assert ctx == {
        "system": "gitlab-ci",
        "actor": "ada",
        "run_id": "4711",
        "run_url": "https://gitlab.example.com/platform/infra/-/pipelines/4711",
        "repository": "platform/infra",
        "commit": "0a1b2c3d",
        "branch": "feature/vpc",
        "job": "plan",
        "event": "merge_request_event",
        "host": "runner-7",
        "pr": 12,
        "pr_url": "https://gitlab.example.com/platform/infra/-/merge_requests/12",
    }


def test_each_platform_names_its_workspace(tmp_path):
    checkout = tmp_path / "checkout"
    (checkout / "stack").mkdir(parents=True)
    for environ in (
        {"GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(checkout)},
        {"JENKINS_URL": "https://ci", "WORKSPACE": str(checkout)},
        {**GITLAB_MR, "CI_PROJECT_DIR": str(checkout)},
    ):
        assert workspace_root(str(checkout / "stack"), environ) == str(checkout.resolve()), environ
    # another CI's variable is not this one's workspace: off GitHub, GITHUB_WORKSPACE means nothing
    outside = workspace_root(str(checkout / "stack"), {"GITHUB_WORKSPACE": str(checkout)})
    assert outside == str((checkout / "stack").resolve())


class _Drone:
    """A CI system DeployForge does not know: what a new module in ci/ would hold."""

    name = "drone"
    workflow_commands = False

    def detect(self, environ):
        return environ.get("DRONE") == "true"

    def context(self, env) -> dict[str, Any]:
        out = {
            "system": self.name,
            "actor": env.get("DRONE_COMMIT_AUTHOR"),
            "run_id": env.get("DRONE_BUILD_NUMBER"),
            "run_url": env.get("DRONE_BUILD_LINK"),
            "commit": env.get("DRONE_COMMIT_SHA"),
        }
        return {k: v for k, v in out.items() if v}

    def workspace(self, environ):
        return environ.get("DRONE_WORKSPACE")

    def sink(self, environ):
        from deployforge.ci.local import LocalSink

        return LocalSink(environ)


def test_a_new_ci_system_is_one_module_and_its_registration(monkeypatch, tmp_path):
    monkeypatch.setattr(platform, "PLATFORMS", (GITHUB_ACTIONS, _Drone(), *platform.PLATFORMS[1:]))
    env = {
        "CI": "true",
        "DRONE": "true",
        "DRONE_COMMIT_AUTHOR": "grace",
        "DRONE_BUILD_NUMBER": "88",
        "DRONE_BUILD_LINK": "https://drone.example.com/infra/88",
        "DRONE_COMMIT_SHA": "feedbeef",
        "DRONE_WORKSPACE": str(tmp_path),
    }
    for name in list(os.environ):
        if name in ("GITHUB_ACTIONS", "JENKINS_URL", "GITLAB_CI", "CI") or name.startswith(("GITHUB_", "BUILD_")):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "infra").mkdir()
    # the audit record's context, the CI-log trace header, the lock's run link and holder, the workspace
    ctx = ci_context(env)
    assert (ctx["system"], ctx["actor"], ctx["run_url"], ctx["commit"]) == (
        "drone",
        "grace",
        "https://drone.example.com/infra/88",
        "feedbeef",
    )
    assert in_ci(env)
    from deployforge.cli.common import ci_run_url

    assert ci_run_url() == "https://drone.example.com/infra/88"
    assert LockInfo.new("prod", "run-1", "apply").actor == "grace"
    assert workspace_root(str(tmp_path / "infra"), env) == str(tmp_path.resolve())


# Files allowed to read a CI system's variables, and why. Everything else asks ci/platform.py.
ALLOWED = {
    "ci/": "the CI platforms and their adapters",
    "action/": "the GitHub Action's front door: the runner's variables are its inputs",
    "drift/issues.py": "the GitHub Issues adapter's settings (token, repository, API URL)",
    "secrets/masking.py": "names of credential variables to mask, not reads of the CI",
    "hooks.py": "drops the Action's INPUT_* variables from a hook's environment",
}
CI_VARIABLE = re.compile(
    r"""(?:environ|env|os\.environ)(?:\.get\(|\[)\s*["'](?:GITHUB_|RUNNER_|JENKINS_|BUILD_|CHANGE_|GIT_|GITLAB_|CI_|CI["']|WORKSPACE["'])"""
)


def test_no_ci_variable_is_read_outside_the_seam():
    readers = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if any(rel == a or (a.endswith("/") and rel.startswith(a)) for a in ALLOWED):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if CI_VARIABLE.search(line):
                readers.append(f"{rel}:{number}: {line.strip()}")
    assert readers == [], "read these through deployforge.ci.platform:\n" + "\n".join(readers)


def test_the_seam_guard_sees_a_read():
    assert CI_VARIABLE.search('    url = environ.get("BUILD_URL")')
    assert CI_VARIABLE.search("    if os.environ['GITHUB_ACTIONS'] == 'true':")
    assert CI_VARIABLE.search('ci = env.get("CI", "")')
    assert not CI_VARIABLE.search('token = environ.get("DEPLOYFORGE_TOKEN")')
