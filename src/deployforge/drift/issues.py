"""One GitHub issue per environment for the scheduled drift check: opened when drift appears,
updated while it lasts, closed (with a short comment) when it clears.

Two halves:

* **Pure** (no GitHub code): ``render_issue_body`` (summary table per severity, then each record
  with id, resource, status, classification, expected vs actual, first/last seen; a link to the
  workflow run; always below GitHub's 65,536-character body limit, cutting details, never the
  summary), ``issue_title``, ``closing_comment``, ``marker`` and ``labels``.
* **The adapter** ``DriftIssues`` (PyGithub, imported lazily): finds the environment's open issue
  by its labels (``deployforge-drift`` + ``env:<name>``) and its hidden marker, then creates,
  edits or closes it. ``sync_issue_from_env`` builds it from ``GITHUB_*`` variables.

Lifecycle (``decide``): active drift -> open a new issue, or update the open one; no drift and
everything read -> close it; no active drift but some resources NOT_CHECKED -> the drift cannot be
called cleared: the open issue is updated, never closed.

GitHub trouble never hides the drift result: a 403 (a read-only token, a fork), a 401/404, a rate
limit still there after a bounded retry (honouring ``Retry-After`` / ``X-RateLimit-Reset``) or an
unreachable API come back as ``IssueSync(action="degraded", warning=...)``. A missing token or
repository is an ``InputError`` naming what is missing. Every piece of text in the body passes
through ``deployforge.secrets.masking.mask`` before it is shortened, and the token is registered
with the masking registry.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from deployforge.ci.github_api import GitHubRepoClient, GitHubUnavailable
from deployforge.drift.model import DriftRecord, DriftReport, Severity, Status
from deployforge.errors import InputError
from deployforge.render.markdown import cell, code, plain, plural, short_value

T = TypeVar("T")

LABEL = "deployforge-drift"
GITHUB_BODY_LIMIT = 65536
BODY_LIMIT = 65000  # what we aim below (room for the marker and GitHub counting differently)
MARKER_PREFIX = "<!-- deployforge:drift-issue"
MAX_CHANGES_PER_RECORD = 10  # attribute changes listed per record; the rest are counted
MAX_DIFF_LINES = 20  # diff lines listed per record (each whole); the rest are counted
VALUE_WIDTH = 120  # characters of an expected/actual value

_ORDER = (Severity.SECURITY, Severity.PERFORMANCE, Severity.INFORMATIONAL)
_ICON = {Severity.SECURITY: "🔴", Severity.PERFORMANCE: "🟠", Severity.INFORMATIONAL: "🔵"}


def _identity(text: str) -> str:
    return text


# -- pure: marker, labels, title, body, closing comment --------------------------------------------


def _clean(text: str) -> str:
    return " ".join(text.replace("--", "- -").replace(">", "").split()) or "-"


def marker(environment: str) -> str:
    """The hidden first line naming the environment's issue."""
    return f"{MARKER_PREFIX} env={_clean(environment)} -->"


def labels(environment: str) -> tuple[str, str]:
    """``deployforge-drift`` and ``env:<name>`` (GitHub label names are at most 50 characters)."""
    return LABEL, f"env:{environment}"[:50]


def decide(report: DriftReport) -> str:
    """``open`` (active drift: open or update), ``close`` (all read, no drift) or ``keep`` (some NOT_CHECKED)."""
    if report.active:
        return "open"
    return "keep" if report.not_checked else "close"


def issue_title(report: DriftReport) -> str:
    c = report.counts()
    parts = [f"{c[s.value]} {s.value}" for s in _ORDER if c[s.value]]
    if c["not_checked"]:
        parts.append(f"{c['not_checked']} not checked")
    what = ", ".join(parts) or "no drift"
    return f"Drift in {report.environment}: {what}"


def run_url_from_env(environ: Mapping[str, str]) -> str | None:
    """The GitHub Actions run's link (``GITHUB_SERVER_URL/GITHUB_REPOSITORY/actions/runs/GITHUB_RUN_ID``)
    when the run is known: the GitHub platform's (``ci/github.py``)."""
    from deployforge.ci.github import GITHUB_ACTIONS

    return GITHUB_ACTIONS.context(environ).get("run_url")


def _value(value: Any, mask: Callable[[str], str]) -> str:
    """A value for a table cell: masked first (a cut secret would leak its start), then shortened."""
    text = value if isinstance(value, str) else short_value(value, 10**9)
    return code(short_value(" ".join(mask(text).split()), VALUE_WIDTH))


def _change_cell(record: DriftRecord, mask: Callable[[str], str]) -> str:
    if record.status is Status.NOT_CHECKED:
        return cell(plain(mask(record.error or "could not be read"), 200))
    if record.status is Status.DELETED and not record.changes:
        return "deleted outside the pipeline"
    if record.status is Status.UNMANAGED and not record.changes:
        return "exists, but nobody declared it"
    diff = record.diff  # the exact edits, each line whole (never a value cut mid-structure)
    lines = [code(" ".join(mask(line).split())) for line in diff[:MAX_DIFF_LINES]]
    if len(diff) > MAX_DIFF_LINES:
        lines.append(f"…and {len(diff) - MAX_DIFF_LINES} more line(s): `deployforge drift show {record.id}`")
    return cell("<br>".join(lines))


def _row(record: DriftRecord, mask: Callable[[str], str]) -> str:
    if record.severity is None:
        classification = "—"
    else:
        classification = f"**{record.severity.value}**: {plain(mask(record.reason), 160)}"
    return (
        f"| {code(record.id)} | {code(mask(record.resource))} ({cell(mask(record.type))}) | {record.status.value} "
        f"| {cell(classification)} | {_change_cell(record, mask)} | {cell(record.first_seen)} "
        f"| {cell(record.last_seen)} |"
    )


_TABLE_HEAD = (
    "| id | resource | status | classification | changes (baseline → live) | first seen | last seen |\n"
    "|---|---|---|---|---|---|---|"
)


def _groups(report: DriftReport) -> list[tuple[str, list[DriftRecord]]]:
    out = []
    for severity in _ORDER:
        records = [r for r in report.active if r.severity is severity]
        if records:
            out.append((f"{_ICON[severity]} {severity.value} ({len(records)})", records))
    if report.not_checked:
        out.append((f"⚪ not checked ({len(report.not_checked)})", list(report.not_checked)))
    return out


def render_issue_body(
    report: DriftReport,
    *,
    run_url: str | None = None,
    mask: Callable[[str], str] = _identity,
    limit: int = BODY_LIMIT,
) -> str:
    """The issue body. Pure; ``mask`` is applied to every piece of text from the report."""
    env = report.environment
    c = report.counts()
    active = len(report.active)
    checked = f"Last checked {cell(report.checked_at)}"
    if run_url:
        checked += f" in [this workflow run]({run_url})"
    head = [
        marker(env),
        f"## Drift in {code(mask(env))}",
        "",
        f"**{plural(active, 'active drift record')}** against baseline {code(mask(str(report.baseline_id)))} "
        f"(taken {cell(report.baseline_taken_at or 'unknown')}). {checked}.",
        "",
        "| severity | active drift |",
        "|---|---:|",
        *(f"| {_ICON[s]} {s.value} | {c[s.value]} |" for s in _ORDER),
        f"| **total** | **{active}** |",
        "",
        f"Also: {c['not_checked']} not checked (could not be read; never counted as in sync), "
        f"{c['ignored']} ignored (ignore file), {c['in_sync']} in sync.",
    ]
    foot = [
        "",
        "---",
        f"<sub>Kept up to date by `deployforge drift detect --github-issue -e {cell(mask(env))}`; closed "
        "automatically when the drift clears. Inspect one: `deployforge drift show ID`; repair: "
        "`deployforge drift remediate --drift-id=ID --dry-run`.</sub>",
    ]
    total = len(report.active) + len(report.not_checked)
    cut_note_room = 300
    body = list(head)
    used = sum(len(line) + 1 for line in head + foot)
    shown = 0
    cut = False
    for title, records in _groups(report):
        section = ["", f"### {title}", "", _TABLE_HEAD]
        section_len = sum(len(line) + 1 for line in section)
        for n, record in enumerate(records):
            row = _row(record, mask)
            extra = len(row) + 1 + (section_len if n == 0 else 0)
            if used + extra + cut_note_room > limit:
                cut = True
                break
            if n == 0:
                body += section
            body.append(row)
            used += extra
            shown += 1
        if cut:
            break
    if cut:
        body += [
            "",
            f"> **Details cut to fit GitHub's issue size limit:** {total - shown} of {total} records are not shown "
            f"here (the counts above are complete). Full list: `deployforge drift list -e {cell(mask(env))} "
            "--format json`.",
        ]
    text = mask("\n".join(body + foot) + "\n")
    if len(text) > limit:  # only a pathological head (an enormous environment name) gets here
        text = text[: limit - 2] + "…\n"
    return text


def closing_comment(report: DriftReport, run_url: str | None = None) -> str:
    where = f" in [this workflow run]({run_url})" if run_url else ""
    return (
        f"Drift in `{_clean(report.environment)}` has cleared: live state matches baseline "
        f"`{report.baseline_id}` again, checked {report.checked_at}{where}. Closing."
    )


def duplicate_comment(number: int) -> str:
    return f"Another open issue tracks this environment's drift: #{number}. Closing this one as a duplicate."


# -- the result --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssueSync:
    """What ``--github-issue`` did: opened | updated | closed | unchanged | degraded (then ``warning``)."""

    action: str
    number: int | None = None
    url: str | None = None
    warning: str | None = None
    calls: int = 0
    retries: int = 0
    closed_duplicates: tuple[int, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"action": self.action, "number": self.number, "url": self.url}
        if self.warning:
            out["warning"] = self.warning
        if self.closed_duplicates:
            out["closed_duplicates"] = list(self.closed_duplicates)
        return out

    def render(self) -> str:
        if self.action == "degraded":
            return f"GitHub issue: not updated ({self.warning})"
        if self.number is None:
            return "GitHub issue: none open, none needed"
        return f"GitHub issue #{self.number} {self.action}: {self.url}"


# -- settings from the environment -------------------------------------------------------------------


@dataclass(frozen=True)
class IssueSettings:
    api_url: str
    repository: str
    token: str = field(repr=False)
    run_url: str | None = None


def issue_settings_from_env(environ: Mapping[str, str]) -> IssueSettings:
    """Read ``GITHUB_*`` variables; a missing token or repository is an ``InputError`` naming it."""
    token = (environ.get("DEPLOYFORGE_GITHUB_TOKEN") or environ.get("GITHUB_TOKEN") or "").strip()
    repository = (environ.get("GITHUB_REPOSITORY") or "").strip()
    missing = []
    if not token:
        missing.append("a token (GITHUB_TOKEN or DEPLOYFORGE_GITHUB_TOKEN)")
    if not repository:
        missing.append("the repository (GITHUB_REPOSITORY, owner/name)")
    if missing:
        raise InputError(
            f"--github-issue needs {' and '.join(missing)}",
            hint="in a workflow: env: {GITHUB_TOKEN: ${{ github.token }}} with permissions: {issues: write}; "
            "GITHUB_REPOSITORY is set by GitHub Actions",
        )
    owner, _, name = repository.partition("/")
    if not owner or not name or "/" in name:
        raise InputError(
            f"GITHUB_REPOSITORY '{repository}' is not owner/name", hint="for example GITHUB_REPOSITORY=acme/infra"
        )
    from deployforge.secrets import masking

    masking.register(token)
    api_url = (environ.get("GITHUB_API_URL") or "https://api.github.com").strip().rstrip("/")
    return IssueSettings(api_url, repository, token, run_url_from_env(environ))


def sync_issue(report: DriftReport, settings: IssueSettings) -> IssueSync:
    """Open, update or close the environment's issue. GitHub trouble comes back as 'degraded'."""
    return DriftIssues(settings.api_url, settings.token, settings.repository).sync(report, settings.run_url)


def sync_issue_from_env(report: DriftReport, environ: Mapping[str, str]) -> IssueSync:
    """``sync_issue`` configured from ``GITHUB_*`` variables (``InputError`` when one is missing)."""
    return sync_issue(report, issue_settings_from_env(environ))


# -- the adapter ---------------------------------------------------------------------------------------


class IssueUnavailable(GitHubUnavailable):
    """GitHub could not be used; the message says why (becomes a warning)."""


class DriftIssues(GitHubRepoClient):
    """The environment's drift issue in one repository, through PyGithub (bounded retries)."""

    unavailable = IssueUnavailable
    forbidden_hint = "it needs permissions: issues: write (a fork's token is read-only)"
    user_agent = "deployforge-drift"

    def __init__(
        self,
        api_url: str,
        token: str,
        repository: str,
        *,
        max_attempts: int = 3,
        max_wait: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        per_page: int = 100,
        timeout: int = 20,
        mask: Callable[[str], str] | None = None,
    ):
        if mask is None:
            from deployforge.secrets.masking import mask as registry_mask

            mask = registry_mask
        self.mask = mask
        super().__init__(
            api_url,
            token,
            repository,
            max_attempts=max_attempts,
            max_wait=max_wait,
            sleep=sleep,
            per_page=per_page,
            timeout=timeout,
        )

    def find_open(self, environment: str) -> list[Any]:
        """The environment's open drift issues (label filter, then the marker), newest first."""
        wanted = marker(environment)
        listing = self._repo.get_issues(state="open", labels=list(labels(environment)))
        found: list[Any] = []
        page = 0
        while True:

            def read(p: int = page) -> list[Any]:
                return list(listing.get_page(p))

            batch = self._call("list the drift issues", read)
            found += [i for i in batch if i.pull_request is None and (i.body or "").startswith(wanted)]
            if len(batch) < self.per_page:
                return sorted(found, key=lambda i: -i.number)
            page += 1

    def sync(self, report: DriftReport, run_url: str | None = None) -> IssueSync:
        """Bring the issue in line with ``report``. Never raises for GitHub trouble ('degraded')."""
        try:
            return self._sync(report, run_url)
        except IssueUnavailable as exc:
            return IssueSync("degraded", warning=self.mask(str(exc)), calls=self.calls, retries=self.retries)

    def _done(self, action: str, issue: Any = None, duplicates: tuple[int, ...] = ()) -> IssueSync:
        number = issue.number if issue is not None else None
        url = issue.html_url if issue is not None else None
        return IssueSync(action, number, url, None, self.calls, self.retries, duplicates)

    def _close(self, issue: Any, comment: str, reason: str) -> None:
        self._call(f"comment on issue #{issue.number}", lambda: issue.create_comment(comment))
        self._call(f"close issue #{issue.number}", lambda: issue.edit(state="closed", state_reason=reason))

    def _sync(self, report: DriftReport, run_url: str | None) -> IssueSync:
        env = report.environment
        existing = self.find_open(env)
        what = decide(report)
        if what == "close":
            for issue in existing:
                self._close(issue, self.mask(closing_comment(report, run_url)), "completed")
            return self._done("closed", existing[0]) if existing else self._done("unchanged")
        if not existing and what == "keep":
            return self._done("unchanged")  # nothing drifted, some resources unread: nothing to open
        body = render_issue_body(report, run_url=run_url, mask=self.mask)
        title = self.mask(issue_title(report))
        if not existing:
            created = self._call(
                "open the drift issue", lambda: self._repo.create_issue(title, body, labels=list(labels(env)))
            )
            return self._done("opened", created)
        current = existing[0]
        for dup in existing[1:]:  # a race between two scheduled runs: keep the newest
            self._close(dup, duplicate_comment(current.number), "not_planned")
        closed = tuple(d.number for d in existing[1:])
        if current.body == body and current.title == title:
            return self._done("unchanged", current, closed)
        self._call(f"update issue #{current.number}", lambda: current.edit(title=title, body=body))
        return self._done("updated", current, closed)
