"""The environment's drift issue against the local fake GitHub REST server: opened, updated (never
duplicated), closed when drift clears; 403 and rate limits degrade to a warning; the body stays
below GitHub's limit and never carries a secret."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import replace

import pytest
from tests.fakes.github import MAX_BODY, github_fake_fixture, github_fake_server_fixture  # noqa: F401

from deployforge.drift.issues import (
    BODY_LIMIT,
    DriftIssues,
    IssueSync,
    issue_settings_from_env,
    issue_title,
    marker,
    render_issue_body,
    run_url_from_env,
    sync_issue_from_env,
)
from deployforge.drift.model import AttributeDrift, DriftRecord, DriftReport, Severity, Status
from deployforge.errors import InputError
from deployforge.secrets import masking

REPO = "acme/infra"
RUN_URL = "https://github.com/acme/infra/actions/runs/42"


def record(n: int = 1, severity: Severity = Severity.PERFORMANCE, **kw: object) -> DriftRecord:
    fields: dict = dict(
        id=f"DF-AAA-{n:03d}",
        environment="prod",
        resource=f"web_asg{n}",
        type="aws_autoscaling_group",
        target="main",
        resource_id=f"asg-{n}",
        status=Status.MODIFIED,
        changes=(AttributeDrift("desired_capacity", 2, 4),),
        severity=severity,
        reason="capacity changed",
        first_seen="2026-11-26T01:00:00Z",
        last_seen="2026-11-26T03:00:00Z",
    )
    fields.update(kw)
    return DriftRecord(**fields)


def report(*records: DriftRecord, checked_at: str = "2026-11-26T03:00:00Z") -> DriftReport:
    return DriftReport(
        environment="prod",
        baseline_id="20261126T010000Z-aaaaaa",
        baseline_taken_at="2026-11-26T01:00:00Z",
        checked_at=checked_at,
        records=tuple(records),
        resources_checked=5,
    )


CLEAR = report()


def client(fake, *, sleeps: list[float] | None = None, api_url: str | None = None, **kw) -> DriftIssues:
    waits = sleeps if sleeps is not None else []
    return DriftIssues(api_url or fake.api_url, fake.token, REPO, sleep=waits.append, **kw)


def drift_issues(fake) -> list[dict]:
    return [i for i in fake.issues(REPO) if (i["body"] or "").startswith(marker("prod"))]


def test_drift_opens_the_issue_then_updates_it_then_closes_it(github_fake):
    opened = client(github_fake).sync(report(record(1)), RUN_URL)
    assert opened.action == "opened" and opened.number == 1
    assert opened.url == f"https://github.com/{REPO}/issues/1"
    (issue,) = drift_issues(github_fake)
    assert {lab["name"] for lab in issue["labels"]} == {"deployforge-drift", "env:prod"}
    assert issue["title"] == "Drift in prod: 1 performance-impacting"
    assert "DF-AAA-001" in issue["body"] and "`~ desired_capacity: 2 -> 4`" in issue["body"]
    assert RUN_URL in issue["body"]

    # drift lasts (and grows): the same issue is updated, no second one is opened
    lasting = report(record(1), record(2, Severity.SECURITY), checked_at="2026-11-26T04:00:00Z")
    updated = client(github_fake).sync(lasting, RUN_URL)
    assert (updated.action, updated.number) == ("updated", 1)
    (issue,) = drift_issues(github_fake)
    assert issue["state"] == "open" and "DF-AAA-002" in issue["body"]
    assert issue["title"] == "Drift in prod: 1 security-critical, 1 performance-impacting"
    assert len(github_fake.calls("POST")) == 1  # one create in all

    # the same report again: nothing to write
    assert client(github_fake).sync(lasting, RUN_URL).action == "unchanged"
    assert len(github_fake.calls("PATCH")) == 1

    # drift clears: a closing comment, then closed as completed
    closed = client(github_fake).sync(CLEAR, RUN_URL)
    assert (closed.action, closed.number) == ("closed", 1)
    (issue,) = drift_issues(github_fake)
    assert issue["state"] == "closed" and issue["state_reason"] == "completed"
    (comment,) = github_fake.comments(REPO, 1)
    assert "has cleared" in comment["body"] and RUN_URL in comment["body"]

    # still clear: nothing open, nothing to do; drift again: a new issue (a new episode)
    assert client(github_fake).sync(CLEAR).action == "unchanged"
    again = client(github_fake).sync(report(record(3)))
    assert (again.action, again.number) == ("opened", 2)


def test_no_drift_and_no_issue_writes_nothing(github_fake):
    outcome = client(github_fake).sync(CLEAR)
    assert outcome == IssueSync("unchanged", None, None, None, outcome.calls, 0)
    assert github_fake.calls("POST") == [] and github_fake.calls("PATCH") == []


def test_not_checked_keeps_the_issue_open(github_fake):
    client(github_fake).sync(report(record(1)))
    unread = record(9, None, status=Status.NOT_CHECKED, changes=(), error="AccessDenied: no ec2:Describe*")
    outcome = client(github_fake).sync(report(unread))
    assert outcome.action == "updated"  # not closed: what could not be read is never in sync
    (issue,) = drift_issues(github_fake)
    assert issue["state"] == "open" and "AccessDenied" in issue["body"]
    assert issue["title"] == "Drift in prod: 1 not checked"


def test_only_not_checked_and_no_issue_opens_nothing(github_fake):
    unread = record(9, None, status=Status.NOT_CHECKED, changes=(), error="throttled")
    assert client(github_fake).sync(report(unread)).action == "unchanged"
    assert github_fake.calls("POST") == []


def test_other_issues_with_the_labels_and_pull_requests_are_left_alone(github_fake):
    github_fake.add_pull_request(REPO, 1)
    gh = client(github_fake)
    human = gh._repo.create_issue("a human's note", "about drift", labels=["deployforge-drift", "env:prod"])
    other_env = client(github_fake).sync(replace(report(record(1)), environment="dev"))
    assert other_env.action == "opened"
    ours = client(github_fake).sync(report(record(1)))
    assert ours.action == "opened" and ours.number not in (1, human.number, other_env.number)
    closed = client(github_fake).sync(CLEAR)
    assert closed.number == ours.number
    states = {i["number"]: i["state"] for i in github_fake.issues(REPO)}
    assert states == {1: "open", human.number: "open", other_env.number: "open", ours.number: "closed"}


def test_found_again_on_a_later_page(github_fake):
    gh = client(github_fake, per_page=2)
    first = gh.sync(report(record(1)))
    for n in range(5):  # newer issues with the same labels push ours to page 3
        gh._repo.create_issue(f"note {n}", "x", labels=["deployforge-drift", "env:prod"])
    outcome = client(github_fake, per_page=2).sync(report(record(2)))
    assert (outcome.action, outcome.number) == ("updated", first.number)
    pages = [r.query.get("page", ["1"])[0] for r in github_fake.calls("GET") if r.path.endswith("/issues")]
    assert pages[-4:] == ["1", "2", "3", "4"]  # every page (duplicates too), until a short one


def test_duplicates_from_a_race_are_closed(github_fake):
    gh = client(github_fake)
    body = render_issue_body(report(record(1)))
    older = gh._repo.create_issue("Drift in prod", body, labels=["deployforge-drift", "env:prod"])
    newer = gh._repo.create_issue("Drift in prod", body, labels=["deployforge-drift", "env:prod"])
    outcome = client(github_fake).sync(report(record(1)))
    assert outcome.number == newer.number and outcome.closed_duplicates == (older.number,)
    states = {i["number"]: (i["state"], i["state_reason"]) for i in github_fake.issues(REPO)}
    assert states == {older.number: ("closed", "not_planned"), newer.number: ("open", None)}
    assert f"#{newer.number}" in github_fake.comments(REPO, older.number)[0]["body"]


def test_github_enterprise_api_prefix(github_fake):
    outcome = client(github_fake, api_url=github_fake.api_url_enterprise).sync(report(record(1)))
    assert outcome.action == "opened" and len(drift_issues(github_fake)) == 1


def test_read_only_token_degrades_to_a_warning(github_fake):
    github_fake.read_only = True
    outcome = client(github_fake).sync(report(record(1)))
    assert outcome.action == "degraded" and outcome.number is None
    assert "403" in outcome.warning and "issues: write" in outcome.warning
    assert github_fake.issues(REPO) == []


def test_bad_token_degrades_to_a_warning(github_fake):
    outcome = DriftIssues(github_fake.api_url, "ghs_wrong", REPO, sleep=lambda s: None).sync(report(record(1)))
    assert outcome.action == "degraded" and "401" in outcome.warning


def test_rate_limit_is_retried_honouring_retry_after(github_fake):
    sleeps: list[float] = []
    github_fake.rate_limit(times=1, retry_after=1, method="POST", path=r"/issues$")
    outcome = client(github_fake, sleeps=sleeps).sync(report(record(1)))
    assert outcome.action == "opened" and outcome.retries == 1
    assert sleeps == [1.0]
    assert [r.status for r in github_fake.calls("POST")] == [429, 201]
    assert len(drift_issues(github_fake)) == 1


def test_primary_rate_limit_waits_until_the_reset(github_fake):
    sleeps: list[float] = []
    github_fake.rate_limit(times=1, reset_in=5, status=403, method="GET")
    outcome = client(github_fake, sleeps=sleeps).sync(report(record(1)))
    assert outcome.action == "opened"
    assert len(sleeps) == 1 and 4 <= sleeps[0] <= 7


def test_rate_limit_past_the_bounded_retry_degrades(github_fake):
    sleeps: list[float] = []
    github_fake.rate_limit(times=3, retry_after=1)
    outcome = client(github_fake, sleeps=sleeps).sync(report(record(1)))
    assert outcome.action == "degraded" and "rate limit" in outcome.warning
    assert sleeps == [1.0, 1.0] and len(github_fake.calls()) == 3  # 3 attempts, then a warning
    # GitHub asking for longer than max_wait: no waiting at all
    sleeps.clear()
    github_fake.rate_limit(times=1, retry_after=3600)
    outcome = client(github_fake, sleeps=sleeps, max_wait=60).sync(report(record(1)))
    assert outcome.action == "degraded" and "3600s" in outcome.warning and sleeps == []


def test_server_errors_are_retried(github_fake):
    github_fake.fail(502, times=1, method="PATCH")
    client(github_fake).sync(report(record(1)))
    outcome = client(github_fake).sync(report(record(2)))
    assert outcome.action == "updated" and outcome.retries == 1


def test_unreachable_api_degrades(github_fake):
    outcome = DriftIssues("http://127.0.0.1:9", github_fake.token, REPO, sleep=lambda s: None, timeout=2).sync(
        report(record(1))
    )
    assert outcome.action == "degraded" and "could not reach" in outcome.warning


# -- settings from the environment -------------------------------------------------------------------


def test_missing_token_or_repository_is_an_input_error_naming_it():
    with pytest.raises(InputError) as exc:
        issue_settings_from_env({"GITHUB_REPOSITORY": REPO})
    assert "GITHUB_TOKEN" in exc.value.message and "GITHUB_REPOSITORY" not in exc.value.message
    with pytest.raises(InputError) as exc:
        issue_settings_from_env({"GITHUB_TOKEN": "ghs_x123"})
    assert "GITHUB_REPOSITORY" in exc.value.message and "token" not in exc.value.message
    with pytest.raises(InputError) as exc:
        sync_issue_from_env(CLEAR, {})
    assert "GITHUB_TOKEN" in exc.value.message and "GITHUB_REPOSITORY" in exc.value.message
    with pytest.raises(InputError, match="not owner/name"):
        issue_settings_from_env({"GITHUB_TOKEN": "ghs_x123", "GITHUB_REPOSITORY": "infra"})


def test_settings_from_env(github_fake):
    env = {
        "DEPLOYFORGE_GITHUB_TOKEN": github_fake.token,
        "GITHUB_TOKEN": "ghs_not_this_one",
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_API_URL": github_fake.api_url_enterprise + "/",
        "GITHUB_SERVER_URL": "https://ghe.example.com",
        "GITHUB_RUN_ID": "77",
    }
    settings = issue_settings_from_env(env)
    assert settings.token == github_fake.token and settings.api_url == github_fake.api_url_enterprise
    assert settings.run_url == "https://ghe.example.com/acme/infra/actions/runs/77"
    assert github_fake.token not in repr(settings)
    assert masking.mask(f"x {github_fake.token} y") == "x *** y"  # the token is registered for masking
    outcome = sync_issue_from_env(report(record(1)), env)
    assert outcome.action == "opened"
    assert "https://ghe.example.com/acme/infra/actions/runs/77" in drift_issues(github_fake)[0]["body"]
    assert run_url_from_env({"GITHUB_REPOSITORY": REPO}) is None


# -- the body ------------------------------------------------------------------------------------------


def test_body_is_cut_below_githubs_limit_keeping_the_summary(github_fake):
    big = tuple(
        record(
            n,
            Severity.INFORMATIONAL,
            changes=tuple(AttributeDrift(f"tags.k{i}", "a" * 300, "b" * 300) for i in range(24)),
        )
        for n in range(400)
    )
    rep = report(*big)
    body = render_issue_body(rep, run_url=RUN_URL)
    assert len(body) <= BODY_LIMIT < MAX_BODY
    assert "| 🔵 informational | 400 |" in body and "| **total** | **400** |" in body
    assert "Details cut to fit GitHub's issue size limit" in body and "of 400 records are not shown" in body
    assert body.rstrip().endswith("</sub>")  # the footer survives the cut
    assert "…and 4 more line(s)" in body  # diff lines past 20 per record are counted (each shown whole)
    assert "a" * 300 + " -> " + "b" * 300 in body
    outcome = client(github_fake).sync(rep)  # the fake refuses bodies over 65,536 characters (422)
    assert outcome.action == "opened"


def test_secrets_never_reach_the_body_even_cut(github_fake):
    secret = "s3cr3t-" + "x" * 200  # longer than a value cell: a cut before masking would leak its start
    masking.register(secret)
    leaky = record(
        1,
        Severity.SECURITY,
        changes=(AttributeDrift("environment.DB_PASSWORD", "old-" + secret, secret),),
        reason=f"value {secret}",
    )
    body = render_issue_body(report(leaky), mask=masking.mask)
    assert "s3cr3t" not in body and "***" in body
    client(github_fake).sync(report(leaky))
    (issue,) = drift_issues(github_fake)
    assert "s3cr3t" not in json.dumps(github_fake.issues(REPO)) and "***" in issue["body"]


def test_body_escapes_table_breakers():
    odd = record(1, changes=(AttributeDrift("description", "a|b`c", "line1\nline2"),))
    body = render_issue_body(report(odd))
    row = next(line for line in body.splitlines() if "DF-AAA-001" in line)
    assert row.count(" | ") == 6  # 7 cells: the pipe in the value is escaped
    assert "a\\|b`c" in row and "line1\\nline2" in row  # a newline in a value is escaped: one row


def test_title_counts():
    assert issue_title(CLEAR) == "Drift in prod: no drift"


def test_fake_rejects_over_long_bodies(github_fake):
    """The fake is as strict as GitHub here, so the cut test above means something."""
    request = urllib.request.Request(
        f"{github_fake.api_url}/repos/{REPO}/issues",
        data=json.dumps({"title": "t", "body": "x" * (MAX_BODY + 1)}).encode(),
        headers={"Authorization": f"token {github_fake.token}"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(request, timeout=5)
    assert exc.value.code == 422
