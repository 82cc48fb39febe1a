"""The fake GitHub server behaves like the parts of GitHub we rely on, driven through PyGithub itself."""

from __future__ import annotations

import json
import urllib.request

import pytest
from github import Auth, Github, GithubException
from tests.fakes.github import FakeGitHub, github_fake_fixture, github_fake_server_fixture  # noqa: F401

REPO = "octo/app"


def client(fake: FakeGitHub, token: str | None = None, enterprise: bool = False) -> Github:
    base = fake.api_url_enterprise if enterprise else fake.api_url
    return Github(
        auth=Auth.Token(token or fake.token),
        base_url=base,
        retry=None,
        lazy=True,
        per_page=30,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )


def test_comments_paginate_with_link_headers(github_fake: FakeGitHub) -> None:
    github_fake.add_pull_request(REPO, 7)
    github_fake.seed_comments(REPO, 7, [f"c{i}" for i in range(65)])
    issue = client(github_fake).get_repo(REPO).get_issue(7)
    bodies = [c.body for c in issue.get_comments()]
    assert bodies == [f"c{i}" for i in range(65)]
    pages = [r for r in github_fake.calls("GET") if r.path.endswith("/comments")]
    assert [r.query.get("page", ["1"])[0] for r in pages] == ["1", "2", "3"]


def test_create_update_delete_comment_and_body_checks(github_fake: FakeGitHub) -> None:
    github_fake.add_pull_request(REPO, 7)
    issue = client(github_fake, enterprise=True).get_repo(REPO).get_issue(7)
    comment = issue.create_comment("first")
    comment.edit("second")
    assert [c["body"] for c in github_fake.comments(REPO, 7)] == ["second"]
    with pytest.raises(GithubException) as info:
        issue.create_comment("x" * 65537)
    assert info.value.status == 422
    comment.delete()
    assert github_fake.comments(REPO, 7) == []


def test_bad_token_read_only_token_and_read_only_switch(github_fake: FakeGitHub) -> None:
    github_fake.add_pull_request(REPO, 7)
    with pytest.raises(GithubException) as info:
        client(github_fake, token="wrong").get_repo(REPO).get_issue(7).create_comment("x")
    assert info.value.status == 401
    with pytest.raises(GithubException) as info:
        client(github_fake, token=github_fake.readonly_token).get_repo(REPO).get_issue(7).create_comment("x")
    assert info.value.status == 403
    github_fake.read_only = True
    with pytest.raises(GithubException):
        client(github_fake).get_repo(REPO).get_issue(7).create_comment("x")
    assert list(client(github_fake).get_repo(REPO).get_issue(7).get_comments()) == []  # reads still work


def test_rate_limit_headers_then_recovery(github_fake: FakeGitHub) -> None:
    github_fake.add_pull_request(REPO, 7)
    github_fake.rate_limit(times=1, retry_after=3)
    github_fake.rate_limit(times=1, reset_in=60, status=403)
    issue = client(github_fake).get_repo(REPO).get_issue(7)
    with pytest.raises(GithubException) as first:
        list(issue.get_comments())
    assert first.value.status == 429 and first.value.headers["retry-after"] == "3"
    with pytest.raises(GithubException) as second:
        list(issue.get_comments())
    assert second.value.status == 403 and second.value.headers["x-ratelimit-remaining"] == "0"
    assert list(issue.get_comments()) == []


def test_issues_list_create_update_close(github_fake: FakeGitHub) -> None:
    repo = client(github_fake).get_repo(REPO)
    github_fake.add_pull_request(REPO, 1)
    made = repo.create_issue(title="Drift in prod", body="details", labels=["deployforge-drift", "env:prod"])
    assert made.number == 2
    found = list(repo.get_issues(state="open", labels=["deployforge-drift"]))
    assert [i.number for i in found] == [2]
    made.edit(body="updated", state="closed", state_reason="completed")
    assert list(repo.get_issues(state="open", labels=["deployforge-drift"])) == []
    closed = github_fake.issues(REPO)[1]
    assert closed["state"] == "closed" and closed["body"] == "updated"
    with pytest.raises(GithubException) as info:
        made.edit(state="gone")
    assert info.value.status == 422


def test_minimize_via_graphql(github_fake: FakeGitHub) -> None:
    github_fake.add_pull_request(REPO, 7)
    comment = client(github_fake).get_repo(REPO).get_issue(7).create_comment("old")
    assert comment.minimize("OUTDATED") is True
    assert github_fake.comments(REPO, 7)[0]["minimized"] == "OUTDATED"


def test_control_endpoints(github_fake: FakeGitHub) -> None:
    urllib.request.urlopen(
        urllib.request.Request(
            github_fake.url + "/_fake/pull_request",
            data=json.dumps({"repo": REPO, "number": 3}).encode(),
            method="POST",
        )
    ).read()
    client(github_fake).get_repo(REPO).get_issue(3).create_comment("hi")
    log = json.load(urllib.request.urlopen(github_fake.url + "/_fake/requests"))
    assert [(e["method"], e["status"]) for e in log] == [("POST", 201)]
    state = json.load(urllib.request.urlopen(github_fake.url + "/_fake/state"))
    assert state[REPO]["comments"][0]["body"] == "hi"


def test_check_runs_take_at_most_50_annotations_per_request_and_append_on_update(github_fake: FakeGitHub) -> None:
    repo = client(github_fake).get_repo(REPO)

    def notes(n: int, start: int = 0) -> list[dict]:
        level = {"annotation_level": "warning", "path": "deployforge.yaml"}
        return [level | {"start_line": i + 1, "end_line": i + 1, "message": f"m{i}"} for i in range(start, start + n)]

    with pytest.raises(GithubException) as info:
        repo.create_check_run("DeployForge", "a" * 40, output={"title": "t", "summary": "s", "annotations": notes(51)})
    assert info.value.status == 422  # as GitHub: "Only 50 annotations are allowed per request"
    run = repo.create_check_run(
        "DeployForge", "a" * 40, status="in_progress", output={"title": "t", "summary": "s", "annotations": notes(50)}
    )
    run.edit(
        status="completed", conclusion="failure", output={"title": "t", "summary": "s", "annotations": notes(7, 50)}
    )
    [stored] = github_fake.check_runs(REPO)
    assert [a["message"] for a in stored["annotations"]] == [f"m{i}" for i in range(57)]
    assert stored["conclusion"] == "failure" and stored["output"]["annotations_count"] == 57
    with pytest.raises(GithubException) as info:
        repo.create_check_run("x", "a" * 40, status="completed", output={"title": "t", "summary": "s"})
    assert info.value.status == 422  # completed needs a conclusion
    github_fake.no_checks = True
    with pytest.raises(GithubException) as info:
        repo.create_check_run("x", "a" * 40)
    assert info.value.status == 403


def test_labels_and_the_pulls_of_a_commit(github_fake: FakeGitHub) -> None:
    github_fake.add_pull_request(REPO, 7, head_sha="b" * 40, merge_sha="c" * 40)
    repo = client(github_fake).get_repo(REPO)
    issue = repo.get_issue(7)
    issue.add_to_labels("deployforge:changes")
    issue.remove_from_labels("deployforge:changes")
    with pytest.raises(GithubException) as info:
        issue.remove_from_labels("deployforge:changes")
    assert info.value.status == 404
    assert [p.number for p in repo.get_commit("c" * 40).get_pulls()] == [7]
    assert [p.number for p in repo.get_commit("b" * 40).get_pulls()] == [7]
    assert list(repo.get_commit("d" * 40).get_pulls()) == []


def test_a_check_run_post_answered_502_after_the_write_is_not_posted_twice(github_fake: FakeGitHub) -> None:
    """GitHub can answer 5xx after it created the run: the publisher finds it by its external_id
    (GET commits/{sha}/check-runs) instead of creating a second one, then adds the other batches."""
    from deployforge.ci.github import CheckRunPublisher

    sha = "c" * 40
    notes = [
        {"path": "deployforge.yaml", "start_line": 1, "end_line": 1, "annotation_level": "failure", "message": f"n{i}"}
        for i in range(60)
    ]
    github_fake.fail(502, times=1, method="POST", path=r"/check-runs$", after=True)  # the write landed
    done = CheckRunPublisher(github_fake.api_url, github_fake.token, REPO, sleep=lambda _s: None).publish(
        "DeployForge · prod", sha, "failure", "60 findings", "summary", notes
    )
    assert done.status == "created", done
    [run] = github_fake.check_runs(REPO)  # one run, not two
    assert len(run["annotations"]) == 60 and run["conclusion"] == "failure"
    assert [r.path.rsplit("/", 1)[-1] for r in github_fake.calls("GET") if "check-runs" in r.path] == ["check-runs"]
    # without the write landing, the POST is tried again after the back-off: still one run
    github_fake.fail(502, times=1, method="POST", path=r"/check-runs$")
    again = CheckRunPublisher(github_fake.api_url, github_fake.token, REPO, sleep=lambda _s: None).publish(
        "DeployForge · dev", sha, "success", "ok", "summary", notes[:3]
    )
    assert again.status == "created"
    assert sorted(r["name"] for r in github_fake.check_runs(REPO)) == ["DeployForge · dev", "DeployForge · prod"]
