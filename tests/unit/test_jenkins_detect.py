"""Jenkins detection in the Python core: the build, its GitHub pull request, where the comment goes."""

from __future__ import annotations

import pytest

from deployforge.audit.context import ci_context
from deployforge.ci.jenkins import (
    JenkinsContext,
    PullRequest,
    comment_target,
    detect,
    github_pull_request,
)

PR_BUILD = {
    "JENKINS_URL": "https://ci.example.com/",
    "BUILD_URL": "https://ci.example.com/job/app/job/PR-42/3/",
    "CHANGE_ID": "42",
    "CHANGE_URL": "https://github.com/octo/app/pull/42",
    "CHANGE_TARGET": "main",
    "GIT_COMMIT": "0123456789abcdef0123456789abcdef01234567",
    "JOB_NAME": "app/PR-42",
}


def test_not_jenkins_without_jenkins_url():
    assert detect({"BUILD_URL": "https://x/1/", "CHANGE_ID": "4"}) is None
    assert detect({"JENKINS_URL": "  "}) is None
    assert comment_target({}).skipped == "not running under Jenkins (JENKINS_URL is not set)"


def test_detects_a_pull_request_build():
    ctx = detect(PR_BUILD)
    assert ctx == JenkinsContext(
        jenkins_url="https://ci.example.com/",
        build_url="https://ci.example.com/job/app/job/PR-42/3/",
        change_id="42",
        change_url="https://github.com/octo/app/pull/42",
        change_target="main",
        commit="0123456789abcdef0123456789abcdef01234567",
        job="app/PR-42",
    )
    assert ctx.is_change
    assert github_pull_request(ctx) == PullRequest(
        "octo/app", 42, "https://github.com", "https://api.github.com", target_branch="main"
    )
    target = comment_target(PR_BUILD)
    assert target.skipped is None and target.pull_request is not None
    assert target.pull_request.url == "https://github.com/octo/app/pull/42"


def test_branch_build_has_no_comment_target():
    env = {k: v for k, v in PR_BUILD.items() if not k.startswith("CHANGE_")} | {"BRANCH_NAME": "main"}
    ctx = detect(env)
    assert ctx is not None and not ctx.is_change
    assert github_pull_request(ctx) is None
    assert comment_target(env).skipped == "a branch build, not a pull request (CHANGE_ID is not set)"


def test_github_enterprise_api_url_and_override():
    env = PR_BUILD | {"CHANGE_URL": "https://ghe.corp.example:8443/platform/infra/pull/42"}
    pr = github_pull_request(detect(env))  # type: ignore[arg-type]
    assert pr == PullRequest(
        "platform/infra", 42, "https://ghe.corp.example:8443", "https://ghe.corp.example:8443/api/v3", "main"
    )
    pr2 = github_pull_request(detect(env), env | {"GITHUB_API_URL": "http://127.0.0.1:9/api/v3/"})  # type: ignore[arg-type]
    assert pr2 is not None and pr2.api_url == "http://127.0.0.1:9/api/v3"


@pytest.mark.parametrize(
    "change_url",
    [
        "https://gitlab.com/octo/app/-/merge_requests/42",
        "https://bitbucket.org/octo/app/pull-requests/42",
        "https://github.com/octo/app/pull/43",  # disagrees with CHANGE_ID
        "ftp://github.com/octo/app/pull/42",
        "",
    ],
)
def test_changes_that_are_not_github_pull_requests_are_skipped_with_a_reason(change_url: str):
    env = PR_BUILD | {"CHANGE_URL": change_url}
    target = comment_target(env)
    assert target.pull_request is None
    assert target.skipped is not None and "is not a GitHub pull request" in target.skipped
    assert (change_url or "not set") in target.skipped


def test_audit_context_agrees_on_jenkins():
    ctx = ci_context(PR_BUILD)
    assert ctx["system"] == "jenkins"
    assert ctx["pr"] == 42 and ctx["pr_url"] == PR_BUILD["CHANGE_URL"]
    assert ctx["commit"] == PR_BUILD["GIT_COMMIT"] and ctx["run_url"] == PR_BUILD["BUILD_URL"]


def test_jenkins_git_url_credentials_never_reach_the_audit_context():
    from deployforge.audit.context import ci_context

    env = {"JENKINS_URL": "http://j/", "GIT_URL": "https://x-access-token:ghp_S3CRETgiturl@github.com/octo/infra.git"}
    assert ci_context(env)["repository"] == "https://github.com/octo/infra.git"
    env["GIT_URL"] = "git@github.com:octo/infra.git"
    assert ci_context(env)["repository"] == "git@github.com:octo/infra.git"
