"""The sticky PR comment is ours only: found among the token's own comments, never a hidden one.

Against the local fake GitHub (real HTTP through PyGithub): ``GET /user`` names a personal access
token's user and is refused for installation tokens (``GITHUB_TOKEN``), whose comments are
``github-actions[bot]``'s; ``isMinimized`` comes from GraphQL.
"""

from __future__ import annotations

from tests.fakes.github import (
    BOT,
    PAT_USER,
    FakeGitHub,
    github_fake_fixture,  # noqa: F401
    github_fake_server_fixture,  # noqa: F401
)

from deployforge.ci.github import StickyComment
from deployforge.render.markdown import marker

REPO, PR = "octo/app", 7
MARK = marker("pr", "staging")


def publisher(fake: FakeGitHub, token: str | None = None) -> StickyComment:
    return StickyComment(fake.api_url, token or fake.token, REPO, max_wait=1)


def test_a_commenter_cannot_hijack_the_comment(github_fake: FakeGitHub) -> None:
    github_fake.add_pull_request(REPO, PR)
    [theirs] = github_fake.seed_comments(REPO, PR, [MARK + "\nI wrote this; edit me"])
    done = publisher(github_fake).upsert(PR, MARK, MARK + "\nthe report")
    assert done.status == "created"
    comments = {c["id"]: c for c in github_fake.comments(REPO, PR)}
    assert comments[theirs]["body"] == MARK + "\nI wrote this; edit me"  # untouched
    [ours] = [c for c in comments.values() if c["id"] != theirs]
    assert ours["user"]["login"] == BOT["login"] and done.url == ours["html_url"]
    # the next run updates ours, still not theirs: list + hidden? (GraphQL) + PATCH = 3 calls
    github_fake.requests.clear()
    again = publisher(github_fake).upsert(PR, MARK, MARK + "\nthe new report")
    assert again.status == "updated" and again.url == ours["html_url"] and again.calls == 3
    assert [(r.method, r.path) for r in github_fake.requests] == [
        ("GET", f"/repos/{REPO}/issues/{PR}/comments"),
        ("POST", "/graphql"),
        ("PATCH", f"/repos/{REPO}/issues/comments/{ours['id']}"),
    ]
    assert github_fake.comments(REPO, PR)[0]["body"].endswith("edit me")


def test_a_personal_token_finds_its_own_user_s_comment_only(github_fake: FakeGitHub) -> None:
    github_fake.add_pull_request(REPO, PR)
    github_fake.seed_comments(REPO, PR, [MARK + "\nthe bot's"], user=BOT)  # another identity's comment
    [mine] = github_fake.seed_comments(REPO, PR, [MARK + "\nmine"], user=PAT_USER)
    sticky = publisher(github_fake, github_fake.pat_token)
    done = sticky.upsert(PR, MARK, MARK + "\nupdated")
    assert sticky.identity() == "release-robot"
    assert done.status == "updated"
    bodies = {c["id"]: c["body"] for c in github_fake.comments(REPO, PR)}
    assert bodies[mine] == MARK + "\nupdated" and MARK + "\nthe bot's" in bodies.values()
    assert ("GET", "/user") in [(r.method, r.path) for r in github_fake.requests]


def test_a_hidden_comment_is_never_revived(github_fake: FakeGitHub) -> None:
    github_fake.add_pull_request(REPO, PR)
    [hidden] = github_fake.seed_comments(REPO, PR, [MARK + "\nold"], user=BOT)
    github_fake.minimize(REPO, hidden, "ABUSE")
    done = publisher(github_fake).upsert(PR, MARK, MARK + "\nreport")
    assert done.status == "created"
    comments = github_fake.comments(REPO, PR)
    assert comments[0]["body"] == MARK + "\nold" and comments[0]["minimized"] == "ABUSE"
    # new mode hides the previous visible comment, not the already hidden one
    done = publisher(github_fake).upsert(PR, MARK, MARK + "\nreport 2", mode="new")
    assert [c["minimized"] for c in github_fake.comments(REPO, PR)] == ["ABUSE", "OUTDATED", None]


def test_an_app_token_names_its_bot(github_fake: FakeGitHub) -> None:
    github_fake.add_pull_request(REPO, PR)
    github_fake.seed_comments(REPO, PR, [MARK + "\nfrom actions"], user=BOT)
    sticky = StickyComment(github_fake.api_url, github_fake.token, REPO, author="my-app[bot]", max_wait=1)
    assert sticky.identity() == "my-app[bot]"
    assert sticky._find(PR, MARK) == []  # github-actions[bot]'s comment is not my-app's
