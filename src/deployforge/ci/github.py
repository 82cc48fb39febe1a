"""GitHub Actions adapter: workflow commands and files (actions-toolkit), the sticky PR comment (PyGithub).

``GitHubSink`` writes what a step leaves behind: outputs (``GITHUB_OUTPUT``, heredoc-delimited so
multi-line values are safe), the job summary (``GITHUB_STEP_SUMMARY``), annotations
(``::error file=...,line=...::``) and ``::add-mask::`` for secrets.

``StickyComment`` finds this run's comment again through its hidden marker and updates it in
place, in as few API calls as possible:

* ``update`` (comment on the first page): list page 1 + which are hidden (GraphQL) + PATCH = 3
  calls; not found: list + POST (a personal access token adds ``GET /user`` once).
* ``new``: list + hidden? + minimize the previous one (GraphQL, classifier OUTDATED) + POST = 4.

Only the token's own comments are ever found (see ``StickyComment``).

Failures never fail the job: a read-only token (fork PRs), a 401/404 or an exhausted rate limit
come back as ``CommentOutcome(status="degraded", warning=...)``; the caller warns and relies on
the job summary. Rate limits are retried a bounded number of times, waiting what GitHub asks
(``Retry-After``, else ``X-RateLimit-Reset``) when that is no longer than ``max_wait``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from deployforge.ci.github_api import GitHubRepoClient, GitHubUnavailable, ServerTrouble

T = TypeVar("T")

_PR_REF = re.compile(r"^refs/pull/(\d+)/(?:merge|head)$")


class GitHubActionsPlatform:
    """GitHub Actions as a CI platform (``ci/platform.py``): every ``GITHUB_*``/``RUNNER_*`` read
    outside the Action's own inputs is here."""

    name = "github-actions"
    workflow_commands = True

    def detect(self, environ: Mapping[str, str]) -> bool:
        return environ.get("GITHUB_ACTIONS") == "true"

    def context(self, env: Mapping[str, str]) -> dict[str, Any]:
        server = (env.get("GITHUB_SERVER_URL") or "https://github.com").strip().rstrip("/")
        repository = (env.get("GITHUB_REPOSITORY") or "").strip() or None
        run_id = (env.get("GITHUB_RUN_ID") or "").strip() or None
        attempt = env.get("GITHUB_RUN_ATTEMPT")
        ref = env.get("GITHUB_REF")
        out: dict[str, Any] = {
            "system": self.name,
            "actor": env.get("GITHUB_ACTOR"),
            "repository": repository,
            "run_id": run_id,
            "commit": env.get("GITHUB_SHA"),
            "ref": ref,
            "branch": env.get("GITHUB_HEAD_REF") or env.get("GITHUB_REF_NAME"),
            "workflow": env.get("GITHUB_WORKFLOW"),
            "job": env.get("GITHUB_JOB"),
            "event": env.get("GITHUB_EVENT_NAME"),
            "host": env.get("RUNNER_NAME"),
        }
        if repository and run_id:
            out["run_url"] = f"{server}/{repository}/actions/runs/{run_id}"
            if attempt and attempt != "1":
                out["run_url"] += f"/attempts/{attempt}"
        if attempt and attempt.isascii() and attempt.isdigit():
            out["attempt"] = int(attempt)
        match = _PR_REF.match(ref or "")
        if match:
            out["pr"] = int(match.group(1))
            if repository:
                out["pr_url"] = f"{server}/{repository}/pull/{match.group(1)}"
            out["branch"] = env.get("GITHUB_HEAD_REF") or None
        return {key: value for key, value in out.items() if value not in (None, "")}

    def workspace(self, environ: Mapping[str, str]) -> str | None:
        return environ.get("GITHUB_WORKSPACE") or None

    def sink(self, environ: Mapping[str, str]) -> GitHubSink:
        return GitHubSink()


GITHUB_ACTIONS = GitHubActionsPlatform()


class GitHubSink:
    """The GitHub Actions runner's side of a step.

    Everything written to the log goes through the one output guard
    (``deployforge.ci.workflow_commands``): messages cannot start a workflow command, hook output
    is fenced with ``::stop-commands::`` and prefixed, and the commands DeployForge issues
    (annotations, ``::add-mask::``, groups) are escaped. Outputs go to ``GITHUB_OUTPUT`` through
    actions-toolkit (a random heredoc delimiter per value).
    """

    def __init__(self, log: Any = None) -> None:
        from actions_toolkit import core

        from deployforge.ci.workflow_commands import default_log

        self._core = core
        self.log = log or default_log()
        self._masked: set[str] = set()  # each value is announced once: the runner keeps every mask for the job

    def info(self, message: str) -> None:
        self.log.info(message)

    def hook_output(self, line: str) -> None:
        self.log.hook_output(line)

    def set_output(self, name: str, value: str) -> None:
        self._core.set_output(name, value)  # GITHUB_OUTPUT with a random heredoc delimiter

    def annotate(
        self,
        level: str,
        message: str,
        *,
        title: str = "",
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        props = {"title": title, "file": file, "line": line, "col": column}
        self.log.command(level if level in ("error", "warning", "notice") else "error", props, message)

    def mask(self, value: str) -> None:
        """``::add-mask::`` the value; a multi-line one line by line, leaving out lines too short or
        without a letter or digit (masking a ``{`` would star every brace in the rest of the log)."""
        from deployforge.ci.workflow_commands import split_lines

        if value:
            for line in split_lines(value) or [value]:
                line = line.strip()
                if len(line) >= 4 and any(ch.isalnum() for ch in line) and line not in self._masked:
                    self._masked.add(line)
                    self.log.command("add-mask", None, line)

    def write_summary(self, markdown: str) -> bool:
        import os

        path = os.environ.get("GITHUB_STEP_SUMMARY")
        if not path:
            return False
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(markdown)
        return True

    def start_group(self, name: str) -> None:
        self.log.command("group", None, name)

    def end_group(self) -> None:
        self.log.command("endgroup")


@dataclass(frozen=True)
class CommentOutcome:
    status: str  # created | updated | degraded
    url: str | None = None
    calls: int = 0
    warning: str | None = None
    retries: int = 0


class CommentUnavailable(GitHubUnavailable):
    """The comment could not be written; the message says why (becomes a warning)."""


GITHUB_TOKEN_IDENTITY = "github-actions[bot]"


class StickyComment(GitHubRepoClient):
    """The one PR comment per (workflow, environment), found again by its hidden marker.

    Only comments written by the token's own identity count (anyone can post a comment that starts
    with the marker): a personal access token's user (``GET /user``), or for an installation token
    (``ghs_...``: the workflow's ``GITHUB_TOKEN``), for which ``GET /user`` is refused with 403
    "Resource not accessible by integration", ``github-actions[bot]``. A token of another GitHub App
    names its bot with ``author`` (``DEPLOYFORGE_COMMENT_AUTHOR``, e.g. ``my-app[bot]``). Comments a
    maintainer minimized (hid) are left alone: GitHub's REST API does not say which are, so the
    candidates are checked with one GraphQL ``nodes`` query (``isMinimized``).
    """

    unavailable = CommentUnavailable
    forbidden_hint = "pull requests from forks get a read-only token"
    user_agent = "deployforge-action"

    def __init__(self, api_url: str, token: str, repository: str, *, author: str | None = None, **kwargs: Any):
        super().__init__(api_url, token, repository, **kwargs)
        self._token_kind = "installation" if token.startswith(("ghs_", "v1.")) else "user"
        self._author = author or None

    # -- whose comments ------------------------------------------------------------------------

    def identity(self) -> str:
        """The login the token writes as (asked once)."""
        if self._author is None:
            if self._token_kind == "installation":
                self._author = GITHUB_TOKEN_IDENTITY  # GET /user: 403 for installation tokens
            else:
                try:
                    self._author = self._call("read the token's user", lambda: str(self._gh.get_user().login))
                except CommentUnavailable as exc:
                    if "Resource not accessible by integration" not in str(exc):
                        raise
                    self._author = GITHUB_TOKEN_IDENTITY
        return self._author

    def _minimized(self, comments: list[Any]) -> set[str]:
        """The node ids of those comments that are minimized (one GraphQL query)."""
        if not comments:
            return set()
        ids = [str(c.node_id) for c in comments]
        query = "query($ids: [ID!]!) { nodes(ids: $ids) { ... on IssueComment { id isMinimized } } }"
        requester = self._gh.requester

        def ask() -> Any:
            return requester.graphql_query(query, {"ids": ids})[1]

        data = self._call("check which comments are hidden", ask)
        nodes = ((data or {}).get("data") or {}).get("nodes") or []
        return {str(n.get("id")) for n in nodes if isinstance(n, dict) and n.get("isMinimized")}

    # -- the comment -----------------------------------------------------------------------------

    def _find(self, number: int, marker: str) -> list[Any]:
        """Our comments (oldest first): by the token's identity, starting with the marker, not hidden."""
        author = self.identity()
        issue = self._repo.get_issue(number)
        comments = issue.get_comments()
        found: list[Any] = []
        page = 0
        while True:

            def read(p: int = page) -> list[Any]:
                return list(comments.get_page(p))

            batch = self._call("read the pull request's comments", read)
            found += [
                c
                for c in batch
                if (c.body or "").startswith(marker) and c.user is not None and str(c.user.login) == author
            ]
            if len(batch) < self.per_page:
                break
            page += 1
        hidden = self._minimized(found)
        return [c for c in found if str(c.node_id) not in hidden]

    def reviewed_bodies(self, number: int, prefix: str, needles: tuple[str, ...]) -> list[str]:
        """The bodies of our comments (oldest first, hidden ones left out) that start with
        ``prefix`` and hold every one of ``needles`` (a label, an environment): the plan comments
        a reviewer saw, whichever workflow wrote them. Raises CommentUnavailable."""
        return [
            str(c.body) for c in self._find(number, prefix) if all(n in str(c.body).split("\n", 1)[0] for n in needles)
        ]

    def pull_for_commit(self, sha: str) -> int | None:
        """The pull request a pushed commit came from (``GET /repos/{o}/{r}/commits/{sha}/pulls``):
        the one merged as this commit, else one whose head it is. Raises CommentUnavailable."""

        def ask() -> list[Any]:
            return list(self._repo.get_commit(sha).get_pulls())

        pulls = self._call("find the pull request of the commit", ask)
        merged = [p for p in pulls if getattr(p, "merge_commit_sha", None) == sha]
        heads = [p for p in pulls if (p.head.sha if p.head else None) == sha]
        chosen = merged or heads or pulls
        return int(chosen[0].number) if chosen else None

    def upsert(
        self, number: int, marker: str, body: str, mode: str = "update", *, create: bool = True
    ) -> CommentOutcome:
        """Create or update this run's comment (``create=False``: only update one that exists, else
        'skipped'). Never raises for GitHub trouble: returns 'degraded'."""
        try:
            return self._upsert(number, marker, body, mode, create)
        except CommentUnavailable as exc:
            return CommentOutcome("degraded", None, self.calls, str(exc), self.retries)

    def _upsert(self, number: int, marker: str, body: str, mode: str, create: bool = True) -> CommentOutcome:
        if not body.startswith(marker):
            raise ValueError("the comment body must start with its marker")
        existing = self._find(number, marker)
        if not existing and not create:
            return CommentOutcome("skipped", None, self.calls, None, self.retries)
        if mode == "update" and existing:
            comment = existing[-1]
            if comment.body == body:
                return CommentOutcome("unchanged", comment.html_url, self.calls, None, self.retries)
            self._call("update the comment", lambda: comment.edit(body))
            return CommentOutcome("updated", comment.html_url, self.calls, None, self.retries)
        if mode == "new" and existing:
            previous = existing[-1]
            self._call("hide the previous comment", lambda: previous.minimize("OUTDATED"))
        issue = self._repo.get_issue(number)
        attempt = 0
        while True:
            attempt += 1
            try:
                created = self._call(
                    "comment on the pull request", lambda: issue.create_comment(body), idempotent=False
                )
                return CommentOutcome("created", created.html_url, self.calls, None, self.retries)
            except ServerTrouble as exc:
                # the POST may have landed (a 502 after the write): look before posting again, or
                # the pull request gets the comment twice
                known = {c.id for c in existing}
                landed = [c for c in self._find(number, marker) if c.id not in known and c.body == body]
                if landed:
                    return CommentOutcome("created", landed[-1].html_url, self.calls, None, self.retries)
                if not self._backoff(attempt):
                    raise CommentUnavailable(str(exc)) from None


# -- the check run carrying every annotation -------------------------------------------------------

CHECK_RUN_BATCH = 50  # the Checks API takes at most 50 annotations per request
CHECK_LEVELS = {"error": "failure", "warning": "warning", "notice": "notice"}


@dataclass(frozen=True)
class CheckOutcome:
    status: str  # created | degraded
    url: str | None = None
    calls: int = 0
    warning: str | None = None
    forbidden: bool = False  # the token lacks checks: write (403)


class CheckRunUnavailable(GitHubUnavailable):
    """The check run could not be written; the message says why (becomes a warning)."""


class CheckRunPublisher(GitHubRepoClient):
    """One check run per (workflow, label, environment) with every annotation of the run: the
    runner shows only 10 annotations of each type per step, a check run shows them all.

    Created with the first 50 annotations (``POST /repos/{o}/{r}/check-runs``); each further 50 go
    in one ``PATCH .../check-runs/{id}`` (GitHub appends them), the last one completing the run.
    Needs ``permissions: checks: write``; a 403 comes back as ``degraded`` with ``forbidden``.
    """

    unavailable = CheckRunUnavailable
    forbidden_hint = "add `checks: write` to the job's permissions"
    user_agent = "deployforge-action"

    def publish(
        self,
        name: str,
        head_sha: str,
        conclusion: str,
        title: str,
        summary: str,
        annotations: list[dict[str, Any]],
    ) -> CheckOutcome:
        batches = [annotations[i : i + CHECK_RUN_BATCH] for i in range(0, len(annotations), CHECK_RUN_BATCH)] or [[]]
        try:

            def output(batch: list[dict[str, Any]]) -> dict[str, Any]:
                return {"title": title, "summary": summary[:65535], "annotations": batch}

            last = len(batches) == 1
            done: dict[str, Any] = {"status": "completed", "conclusion": conclusion} if last else {}
            run = self._create(name, head_sha, output(batches[0]), {"status": "in_progress"} | done)
            for index, batch in enumerate(batches[1:], start=2):
                finish = {"status": "completed", "conclusion": conclusion} if index == len(batches) else {}
                self._call(
                    "add annotations to the check run",
                    lambda b=batch, f=finish: run.edit(output=output(b), **f),  # type: ignore[misc]
                )
            return CheckOutcome("created", str(run.html_url), self.calls)
        except CheckRunUnavailable as exc:
            return CheckOutcome("degraded", None, self.calls, str(exc), forbidden="(403" in str(exc))

    def _create(self, name: str, head_sha: str, output: dict[str, Any], status: dict[str, Any]) -> Any:
        """POST the check run once: after a 5xx the run may exist (GitHub answered after writing it), so
        it is looked up by the ``external_id`` this attempt sent before posting again."""
        import uuid

        external_id = f"deployforge-{uuid.uuid4().hex}"
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._call(
                    "create a check run",
                    lambda: self._repo.create_check_run(
                        name=name, head_sha=head_sha, external_id=external_id, output=output, **status
                    ),
                    idempotent=False,
                )
            except ServerTrouble as exc:

                def ours() -> list[Any]:
                    runs = self._repo.get_commit(head_sha).get_check_runs(check_name=name)
                    return [r for r in runs if r.external_id == external_id]

                landed = self._call("look for the check run", ours)
                if landed:
                    return landed[0]
                if not self._backoff(attempt):
                    raise CheckRunUnavailable(str(exc)) from None


class LabelsUnavailable(GitHubUnavailable):
    """The labels could not be set; the message says why (becomes a warning)."""


class PullRequestLabels(GitHubRepoClient):
    """The pull request carries one of a family of labels (``labels: true``): the wanted one added
    (``POST /repos/{o}/{r}/issues/{n}/labels``; GitHub creates a label that does not exist yet), the
    family's others removed (``DELETE .../labels/{name}``), the rest of the labels untouched."""

    unavailable = LabelsUnavailable
    forbidden_hint = "the token needs pull-requests: write (issues: write for labels)"
    user_agent = "deployforge-action"

    def set_one(self, number: int, wanted: str, family: tuple[str, ...]) -> str | None:
        """None when done, else why not (never raises for GitHub trouble)."""
        try:
            issue = self._call("read the pull request", lambda: self._repo.get_issue(number))
            present = {str(label.name) for label in issue.labels}
            for name in sorted(present & set(family) - {wanted}):

                def remove(n: str = name) -> None:
                    issue.remove_from_labels(n)

                self._call("remove a label", remove)
            if wanted not in present:
                self._call("add a label", lambda: issue.add_to_labels(wanted))
            return None
        except LabelsUnavailable as exc:
            return str(exc)
