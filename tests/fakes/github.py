"""A small local fake of the GitHub REST API (and the one GraphQL mutation we use), on loopback.

Real HTTP, so PyGithub's requester, pagination and error mapping run as they do against
github.com. It implements only what DeployForge calls, and it is strict where GitHub is strict
(and a little stricter about request bodies, so a wrong field fails the test instead of being
ignored):

    GET    /repos/{o}/{r}                                   the repository
    GET    /repos/{o}/{r}/issues/{n}                        an issue or pull request
    GET    /repos/{o}/{r}/issues/{n}/comments               paginated (per_page, page, Link header)
    POST   /repos/{o}/{r}/issues/{n}/comments               {"body"}             -> 201
    GET    /repos/{o}/{r}/issues/comments/{id}
    PATCH  /repos/{o}/{r}/issues/comments/{id}              {"body"}
    DELETE /repos/{o}/{r}/issues/comments/{id}                                   -> 204
    GET    /repos/{o}/{r}/issues                            state=open|closed|all, labels=a,b, creator,
                                                            paginated; pull requests included (as GitHub does)
    POST   /repos/{o}/{r}/issues                            {"title", "body", "labels", "assignees"} -> 201
    PATCH  /repos/{o}/{r}/issues/{n}                        {"title", "body", "state", "state_reason", "labels"}
    POST   /repos/{o}/{r}/check-runs                        {"name", "head_sha", "status", "conclusion",
                                                            "output": {"title", "summary", "annotations"}} -> 201
    PATCH  /repos/{o}/{r}/check-runs/{id}                   the same fields; output.annotations are appended
                                                            (GitHub: at most 50 annotations per request, else 422)
    GET    /repos/{o}/{r}/check-runs/{id}/annotations       paginated
    POST   /repos/{o}/{r}/issues/{n}/labels                 {"labels": [...]} -> 200, the issue's labels
    DELETE /repos/{o}/{r}/issues/{n}/labels/{name}          -> 200, 404 when the issue lacks it
    GET    /repos/{o}/{r}/commits/{sha}/pulls               the pull requests whose head (or merge) commit is sha
    GET    /repos/{o}/{r}/commits/{sha}/check-runs          check_name=; {"total_count", "check_runs"}, newest first
    POST   /graphql  (and /api/graphql)                     minimizeComment / unminimizeComment
    GET    /rate_limit
    GET    /user                                            a personal access token's user; 403 "Resource
                                                            not accessible by integration" for ghs_ tokens
    POST   /graphql  query nodes(ids: [...]) { ... on IssueComment { id isMinimized } }

Every path also answers under the GitHub Enterprise prefix ``/api/v3`` (``api_url_enterprise``).

Checks: ``Authorization: token X`` or ``Bearer X`` must carry a known token (else 401 "Bad
credentials"); a read-only token gets 403 "Resource not accessible by integration" on every
write (what a fork PR's token gets); bodies must be JSON objects with only known fields, right
types, and ``body`` at most 65,536 characters (else 422, like GitHub).

Switchable per test (reset by the ``github_fake`` fixture):

    fake.add_pull_request("octo/app", 7, head_sha="abc")  # issues that exist (PRs are issues)
    fake.rate_limit(times=1, retry_after=1)                # 429 + Retry-After
    fake.rate_limit(times=1, reset_in=1, status=403)       # primary limit: X-RateLimit-Remaining 0 + Reset
    fake.fail(500, times=1, method="POST", path=r"/comments$")
    fake.read_only = True                                  # every token is read-only
    fake.no_checks = True                                  # the token lacks checks: write (403 on check runs)
    fake.check_runs("octo/app")                            # check runs with every annotation they got
    fake.requests                                          # list[Recorded]: method, path, query, body
    fake.comments("octo/app", 7), fake.issues("octo/app")  # what the server holds
    fake.seed_comments("octo/app", 7, ["a", "b", ...])     # comments written by someone else (returns ids)
    fake.minimize("octo/app", comment_id)                  # a maintainer hid a comment
    fake.pat_token                                         # a personal access token (writes as PAT_USER)

Comments are written as the token's identity: ``github-actions[bot]`` for the installation
tokens (``token``, ``readonly_token``: ghs_...), ``release-robot`` for ``pat_token``.

Use in a test module (pytest finds fixtures imported into the module)::

    from tests.fakes.github import github_fake_fixture, github_fake_server_fixture  # noqa: F401

    def test_x(github_fake):
        github_fake.add_pull_request("octo/app", 7)
        ... GITHUB_API_URL=github_fake.api_url, token github_fake.token ...

Standalone (for the container check, or by hand)::

    python -m tests.fakes.github --pr octo/app#7 --url-file /tmp/url   # prints the URL, serves until killed

and its control endpoints (no auth): ``GET /_fake/requests``, ``GET /_fake/state``,
``POST /_fake/reset``, ``POST /_fake/rate_limit`` ``{"times", "retry_after", "reset_in", "status"}``,
``POST /_fake/read_only`` ``{"value": true}``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

MAX_BODY = 65536
DEFAULT_TOKEN = "ghs_faketoken0123456789"
READONLY_TOKEN = "ghs_readonlytoken0123456789"
PAT_TOKEN = "ghp_fakepersonaltoken0123456789"
BOT = {"login": "github-actions[bot]", "id": 41898282, "type": "Bot"}
OTHER_USER = {"login": "a-reviewer", "id": 1001, "type": "User"}
PAT_USER = {"login": "release-robot", "id": 2002, "type": "User"}


@dataclass
class Recorded:
    method: str
    path: str  # without the /api/v3 prefix and the query
    query: dict[str, list[str]]
    body: Any
    status: int = 0


@dataclass
class _Fault:
    status: int
    times: int
    headers: dict[str, str]
    message: str
    method: str | None = None
    path: re.Pattern[str] | None = None
    after: bool = False  # the request is carried out, then answered with the error (a gateway timeout)

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method != method:
            return False
        return not (self.path and not self.path.search(path))


@dataclass
class _Repo:
    owner: str
    name: str
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)
    comments: dict[int, dict[str, Any]] = field(default_factory=dict)  # id -> comment (+ "_issue")
    check_runs: dict[int, dict[str, Any]] = field(default_factory=dict)  # id -> check run (+ "_annotations")


class _Error(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class FakeGitHub:
    """The server and its state. Thread-safe; one instance per test session (per xdist worker)."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        readonly_token: str = READONLY_TOKEN,
        html_base: str = "https://github.com",
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        self.token = token
        self.readonly_token = readonly_token
        self.pat_token = PAT_TOKEN
        self.html_base = html_base.rstrip("/")
        self._lock = threading.RLock()
        self._httpd = ThreadingHTTPServer((host, port), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None
        self.reset()

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_url(self) -> str:
        """What GITHUB_API_URL is on github.com (REST at the root, GraphQL at /graphql)."""
        return self.url

    @property
    def api_url_enterprise(self) -> str:
        """What GITHUB_API_URL is on GitHub Enterprise Server (REST under /api/v3)."""
        return self.url + "/api/v3"

    def start(self) -> FakeGitHub:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fake-github", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def reset(self) -> None:
        with self._lock:
            self._repos: dict[str, _Repo] = {}
            self._faults: list[_Fault] = []
            self.requests: list[Recorded] = []
            self.read_only = False
            self.no_checks = False
            self._next_id = 1000
            self._prefix = ""

    # -- switches and seeds ----------------------------------------------------------------------

    def rate_limit(
        self,
        times: int = 1,
        *,
        retry_after: int | None = None,
        reset_in: int | None = None,
        status: int = 429,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        """The next ``times`` matching requests are rate limited (Retry-After and/or X-RateLimit-Reset)."""
        headers: dict[str, str] = {"X-RateLimit-Limit": "5000", "X-RateLimit-Used": "5000"}
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        if reset_in is not None:
            headers["X-RateLimit-Remaining"] = "0"
            headers["X-RateLimit-Reset"] = str(int(time.time()) + reset_in)
        message = (
            "API rate limit exceeded for installation ID 1."
            if reset_in is not None
            else "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
        )
        self.fail(status, times=times, method=method, path=path, message=message, headers=headers)

    def fail(
        self,
        status: int,
        *,
        times: int = 1,
        method: str | None = None,
        path: str | None = None,
        message: str = "Server Error",
        headers: dict[str, str] | None = None,
        after: bool = False,
    ) -> None:
        """The next ``times`` matching requests fail with ``status``; ``after``: each is carried out
        first (GitHub's 502/504 after the write landed)."""
        with self._lock:
            self._faults.append(
                _Fault(status, times, headers or {}, message, method, re.compile(path) if path else None, after)
            )

    def add_pull_request(
        self, repo: str, number: int, *, head_sha: str = "0" * 40, title: str = "A change", merge_sha: str | None = None
    ) -> None:
        """A pull request (an issue with ``pull_request``); ``merge_sha``: it was merged as that commit."""
        with self._lock:
            r = self._repo(repo)
            r.issues[number] = self._issue_doc(r, number, title, "", [], pull=True)
            r.issues[number]["_head_sha"] = head_sha
            r.issues[number]["_merge_sha"] = merge_sha

    def seed_comments(
        self, repo: str, number: int, bodies: list[str], *, user: dict[str, Any] | None = None
    ) -> list[int]:
        """Comments by someone else (default: a reviewer), as if written before the run; their ids."""
        with self._lock:
            r = self._repo(repo)
            if number not in r.issues:
                raise KeyError(f"no issue {number} in {repo}")
            return [self._new_comment(r, number, body, user or OTHER_USER)["id"] for body in bodies]

    def minimize(self, repo: str, comment_id: int, classifier: str = "OUTDATED") -> None:
        """Hide a comment, as a maintainer does from the comment's menu."""
        with self._lock:
            self._repo(repo).comments[comment_id]["_minimized"] = classifier

    def comments(self, repo: str, number: int) -> list[dict[str, Any]]:
        with self._lock:
            r = self._repo(repo)
            return [
                self._public(c) | {"minimized": c.get("_minimized")}
                for c in r.comments.values()
                if c["_issue"] == number
            ]

    def issues(self, repo: str) -> list[dict[str, Any]]:
        with self._lock:
            return [self._public(i) for i in self._repo(repo).issues.values()]

    def check_runs(self, repo: str) -> list[dict[str, Any]]:
        """The repository's check runs, each with ``annotations``: every one it was given, in order."""
        with self._lock:
            return [
                self._public(c) | {"annotations": list(c["_annotations"])} for c in self._repo(repo).check_runs.values()
            ]

    def calls(self, method: str | None = None) -> list[Recorded]:
        """Recorded API requests (control endpoints excluded), optionally of one method."""
        with self._lock:
            return [r for r in self.requests if method is None or r.method == method]

    # -- documents -------------------------------------------------------------------------------

    def _repo(self, full_name: str) -> _Repo:
        owner, _, name = full_name.partition("/")
        if full_name not in self._repos:
            self._repos[full_name] = _Repo(owner, name)
        return self._repos[full_name]

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _repo_url(self, r: _Repo) -> str:
        return f"{self.url}{self._prefix}/repos/{r.owner}/{r.name}"  # the prefix of the request being served

    def _issue_doc(
        self, r: _Repo, number: int, title: str, body: str | None, labels: list[str], *, pull: bool = False
    ) -> dict[str, Any]:
        kind = "pull" if pull else "issues"
        ident = self._id()
        doc: dict[str, Any] = {
            "id": ident,
            "node_id": f"I_kw{ident}",
            "number": number,
            "title": title,
            "body": body,
            "state": "open",
            "state_reason": None,
            "locked": False,
            "labels": [{"name": name, "id": abs(hash(name)) % 10**6} for name in labels],
            "assignees": [],
            "comments": 0,
            "user": BOT,
            "url": f"{self._repo_url(r)}/issues/{number}",
            "html_url": f"{self.html_base}/{r.owner}/{r.name}/{kind}/{number}",
            "comments_url": f"{self._repo_url(r)}/issues/{number}/comments",
            "repository_url": self._repo_url(r),
            "created_at": _now(),
            "updated_at": _now(),
            "closed_at": None,
        }
        if pull:
            doc["pull_request"] = {
                "url": f"{self._repo_url(r)}/pulls/{number}",
                "html_url": doc["html_url"],
            }
        return doc

    def _new_comment(self, r: _Repo, number: int, body: str, user: dict[str, Any]) -> dict[str, Any]:
        ident = self._id()
        issue = r.issues[number]
        comment = {
            "id": ident,
            "node_id": f"IC_kw{ident}",
            "body": body,
            "user": user,
            "url": f"{self._repo_url(r)}/issues/comments/{ident}",
            "html_url": f"{issue['html_url']}#issuecomment-{ident}",
            "issue_url": issue["url"],
            "created_at": _now(),
            "updated_at": _now(),
            "author_association": "NONE" if user.get("type") == "Bot" else "MEMBER",
            "_issue": number,
        }
        r.comments[ident] = comment
        issue["comments"] += 1
        return comment

    @staticmethod
    def _public(doc: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in doc.items() if not k.startswith("_")}

    # -- request handling ------------------------------------------------------------------------

    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], raw_body: bytes
    ) -> tuple[int, dict[str, str], Any]:
        split = urlsplit(raw_path)
        path = split.path
        prefix = "/api/v3" if path.startswith("/api/v3/") else ""
        path = path[len(prefix) :]
        if path == "/api/graphql":
            path = "/graphql"
        query = parse_qs(split.query)
        if path.startswith("/_fake/"):
            return self._control(method, path, raw_body)
        try:
            body = json.loads(raw_body) if raw_body else None
        except ValueError:
            body = "<invalid json>"
        with self._lock:
            self._prefix = prefix
            record = Recorded(method, path, query, body)
            self.requests.append(record)
            try:
                status, extra, doc = self._dispatch(method, path, query, headers, body)
            except _Error as exc:
                status, extra, doc = (
                    exc.status,
                    exc.headers,
                    {
                        "message": exc.message,
                        "documentation_url": "https://docs.github.com/rest",
                    },
                )
            record.status = status
        base = {"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "4999", "X-GitHub-Request-Id": "FAKE"}
        return status, base | extra, doc

    def _auth(self, method: str, headers: dict[str, str]) -> str:
        value = headers.get("authorization", "")
        scheme, _, token = value.partition(" ")
        if scheme.lower() not in ("token", "bearer") or token not in (self.token, self.readonly_token, self.pat_token):
            raise _Error(401, "Bad credentials")
        writing = method in ("POST", "PATCH", "PUT", "DELETE")
        if writing and (self.read_only or token == self.readonly_token):
            raise _Error(403, "Resource not accessible by integration")
        return token

    def _identity(self, token: str) -> dict[str, Any]:
        return PAT_USER if token == self.pat_token else BOT

    def _dispatch(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: Any
    ) -> tuple[int, dict[str, str], Any]:
        late: _Fault | None = None
        for fault in self._faults:
            if fault.times > 0 and fault.matches(method, path):
                fault.times -= 1
                if not fault.after:
                    raise _Error(fault.status, fault.message, dict(fault.headers))
                late = fault
                break
        answer = self._serve(method, path, query, headers, body)
        if late is not None:
            raise _Error(late.status, late.message, dict(late.headers))
        return answer

    def _serve(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: Any
    ) -> tuple[int, dict[str, str], Any]:
        if path == "/rate_limit" and method == "GET":
            core = {"limit": 5000, "remaining": 4999, "reset": int(time.time()) + 3600, "used": 1}
            return 200, {}, {"resources": {"core": core}, "rate": core}
        if path == "/graphql" and method == "POST":
            self._auth("GET", headers)  # GraphQL: reads and writes both POST; writes checked below
            return self._graphql(headers, body)
        token = self._auth(method, headers)
        if path == "/user" and method == "GET":
            if token != self.pat_token:  # installation tokens (GITHUB_TOKEN) have no user
                raise _Error(403, "Resource not accessible by integration")
            return 200, {}, dict(PAT_USER)
        m = re.fullmatch(r"/repos/([^/]+)/([^/]+)(/.*)?", path)
        if not m:
            raise _Error(404, "Not Found")
        r = self._repo(f"{m.group(1)}/{m.group(2)}")
        rest = m.group(3) or ""
        if rest == "" and method == "GET":
            return (
                200,
                {},
                {
                    "id": 1,
                    "name": r.name,
                    "full_name": f"{r.owner}/{r.name}",
                    "owner": {"login": r.owner, "id": 2, "type": "Organization"},
                    "url": self._repo_url(r),
                    "html_url": f"{self.html_base}/{r.owner}/{r.name}",
                    "private": False,
                    "default_branch": "main",
                },
            )
        if rest == "/check-runs" and method == "POST":
            return self._check_run(r, None, token, body)
        if (m2 := re.fullmatch(r"/check-runs/(\d+)(/annotations)?", rest)) is not None:
            run = r.check_runs.get(int(m2.group(1)))
            if run is None:
                raise _Error(404, "Not Found")
            if m2.group(2) and method == "GET":
                return self._page(
                    list(run["_annotations"]), query, f"{self._repo_url(r)}/check-runs/{run['id']}/annotations"
                )
            if not m2.group(2) and method == "GET":
                return 200, {}, self._public(run)
            if not m2.group(2) and method == "PATCH":
                return self._check_run(r, run, token, body)
        if (m2 := re.fullmatch(r"/issues/(\d+)/labels(?:/([^/]+))?", rest)) is not None:
            issue = self._issue(r, int(m2.group(1)))
            if method == "POST" and not m2.group(2):
                # GitHub takes {"labels": [...]}, or the array itself (what PyGithub sends)
                given = (
                    body
                    if isinstance(body, list)
                    else self._fields(body, required={"labels": list}, optional={})["labels"]
                )
                given = [x.get("name") if isinstance(x, dict) else x for x in given]
                if not given or not all(isinstance(x, str) and x for x in given):
                    raise _Error(422, "labels must be a non-empty list of names")
                names = [lab["name"] for lab in issue["labels"]]
                for name in given:
                    if name not in names:
                        issue["labels"].append({"name": name, "id": abs(hash(name)) % 10**6})
                return 200, {}, list(issue["labels"])
            if method == "DELETE" and m2.group(2):
                from urllib.parse import unquote

                name = unquote(m2.group(2))
                if name not in [lab["name"] for lab in issue["labels"]]:
                    raise _Error(404, "Label does not exist")
                issue["labels"] = [lab for lab in issue["labels"] if lab["name"] != name]
                return 200, {}, list(issue["labels"])
            if method == "GET" and not m2.group(2):
                return 200, {}, list(issue["labels"])
        if (m2 := re.fullmatch(r"/commits/([0-9a-f]{7,40})/check-runs", rest)) is not None and method == "GET":
            name = query.get("check_name", [None])[0]
            runs = [
                self._public(c)
                for c in sorted(r.check_runs.values(), key=lambda c: -c["id"])
                if c["head_sha"] == m2.group(1) and name in (None, c["name"])
            ]
            status, headers, chunk = self._page(runs, query, f"{self._repo_url(r)}/commits/{m2.group(1)}/check-runs")
            return status, headers, {"total_count": len(runs), "check_runs": chunk}
        if (m2 := re.fullmatch(r"/commits/([0-9a-f]{7,40})/pulls", rest)) is not None and method == "GET":
            sha = m2.group(1)
            pulls = [
                self._pull_doc(r, i)
                for i in r.issues.values()
                if "pull_request" in i and sha in (i.get("_head_sha"), i.get("_merge_sha"))
            ]
            return self._page(pulls, query, f"{self._repo_url(r)}/commits/{sha}/pulls")
        if (m2 := re.fullmatch(r"/issues/(\d+)/comments", rest)) is not None:
            issue = self._issue(r, int(m2.group(1)))
            if method == "GET":
                items = [self._public(c) for c in r.comments.values() if c["_issue"] == issue["number"]]
                return self._page(items, query, f"{self._repo_url(r)}/issues/{issue['number']}/comments")
            if method == "POST":
                fields = self._fields(body, required={"body": str}, optional={})
                user = self._identity(token)
                return 201, {}, self._public(self._new_comment(r, issue["number"], fields["body"], user))
        if (m2 := re.fullmatch(r"/issues/comments/(\d+)", rest)) is not None:
            comment = r.comments.get(int(m2.group(1)))
            if comment is None:
                raise _Error(404, "Not Found")
            if method == "GET":
                return 200, {}, self._public(comment)
            if method == "PATCH":
                fields = self._fields(body, required={"body": str}, optional={})
                comment["body"] = fields["body"]
                comment["updated_at"] = _now()
                return 200, {}, self._public(comment)
            if method == "DELETE":
                del r.comments[comment["id"]]
                r.issues[comment["_issue"]]["comments"] -= 1
                return 204, {}, None
        if rest == "/issues":
            if method == "GET":
                return self._list_issues(r, query)
            if method == "POST":
                fields = self._fields(
                    body, required={"title": str}, optional={"body": str, "labels": list, "assignees": list}
                )
                number = max([0, *r.issues]) + 1
                doc = self._issue_doc(r, number, fields["title"], fields.get("body"), fields.get("labels", []))
                doc["assignees"] = [{"login": a} for a in fields.get("assignees", [])]
                r.issues[number] = doc
                return 201, {}, self._public(doc)
        if (m2 := re.fullmatch(r"/issues/(\d+)", rest)) is not None:
            issue = self._issue(r, int(m2.group(1)))
            if method == "GET":  # API urls under the prefix of this request (/api/v3 on Enterprise)
                here = f"{self._repo_url(r)}/issues/{issue['number']}"
                urls = {"url": here, "comments_url": f"{here}/comments", "repository_url": self._repo_url(r)}
                return 200, {}, self._public(issue) | urls
            if method == "PATCH":
                fields = self._fields(
                    body,
                    required={},
                    optional={"title": str, "body": str, "state": str, "state_reason": str, "labels": list},
                )
                if "state" in fields:
                    if fields["state"] not in ("open", "closed"):
                        raise _Error(422, f"state: '{fields['state']}' is not a valid state")
                    issue["closed_at"] = _now() if fields["state"] == "closed" else None
                if fields.get("state_reason") not in (None, "completed", "not_planned", "reopened"):
                    raise _Error(422, "state_reason is not valid")
                if "labels" in fields:
                    fields["labels"] = [{"name": n, "id": abs(hash(n)) % 10**6} for n in fields["labels"]]
                issue.update(fields)
                issue["updated_at"] = _now()
                return 200, {}, self._public(issue)
        raise _Error(404, "Not Found")

    _LEVELS = ("notice", "warning", "failure")
    _CONCLUSIONS = ("action_required", "cancelled", "failure", "neutral", "success", "skipped", "stale", "timed_out")

    def _check_run(
        self, r: _Repo, run: dict[str, Any] | None, token: str, body: Any
    ) -> tuple[int, dict[str, str], Any]:
        """Create (``run`` None) or update a check run, checked as GitHub's Checks API checks it."""
        if self.no_checks:
            raise _Error(403, "Resource not accessible by integration")
        known: dict[str, type] = {"name": str, "head_sha": str, "status": str, "conclusion": str, "output": dict}
        known |= {"details_url": str, "external_id": str, "started_at": str, "completed_at": str, "actions": list}
        required = {"name": str, "head_sha": str} if run is None else {}
        if isinstance(body, dict) and isinstance(body.get("actions"), list):
            body = dict(body, actions=[])  # (objects, not strings: not checked here)
        fields = self._fields(body, required=required, optional={k: v for k, v in known.items() if k not in required})
        status = fields.get("status", (run or {}).get("status", "queued"))
        if status not in ("queued", "in_progress", "completed"):
            raise _Error(422, f"status: '{status}' is not valid")
        conclusion = fields.get("conclusion", (run or {}).get("conclusion"))
        if conclusion is not None and conclusion not in self._CONCLUSIONS:
            raise _Error(422, f"conclusion: '{conclusion}' is not valid")
        if status == "completed" and conclusion is None:
            raise _Error(422, "conclusion is required when status is completed")
        annotations: list[dict[str, Any]] = []
        output = fields.get("output")
        if output is not None:
            if not isinstance(output.get("title"), str) or not isinstance(output.get("summary"), str):
                raise _Error(422, "output.title and output.summary are required")
            if len(output["summary"]) > 65535 or len(output.get("text") or "") > 65535:
                raise _Error(422, "output.summary is too long (maximum is 65535 characters)")
            annotations = output.get("annotations") or []
            if not isinstance(annotations, list):
                raise _Error(422, "output.annotations must be an array")
            if len(annotations) > 50:  # the Checks API's documented limit per request
                raise _Error(422, "Only 50 annotations are allowed per request")
            for a in annotations:
                if not isinstance(a, dict) or not isinstance(a.get("path"), str) or not a["path"]:
                    raise _Error(422, "annotations: path is required")
                if not all(isinstance(a.get(k), int) and a[k] >= 1 for k in ("start_line", "end_line")):
                    raise _Error(422, "annotations: start_line and end_line are required integers")
                if a.get("annotation_level") not in self._LEVELS:
                    raise _Error(422, f"annotations: annotation_level {a.get('annotation_level')!r} is not valid")
                if not isinstance(a.get("message"), str) or not a["message"]:
                    raise _Error(422, "annotations: message is required")
                if len(a["message"]) > 65535:
                    raise _Error(422, "annotations: message is too long")
        if run is None:
            ident = self._id()
            run = {
                "id": ident,
                "node_id": f"CR_kw{ident}",
                "name": fields["name"],
                "head_sha": fields["head_sha"],
                "external_id": fields.get("external_id", ""),
                "url": f"{self._repo_url(r)}/check-runs/{ident}",
                "html_url": f"{self.html_base}/{r.owner}/{r.name}/runs/{ident}",
                "details_url": fields.get("details_url"),
                "status": status,
                "conclusion": conclusion,
                "started_at": _now(),
                "completed_at": _now() if status == "completed" else None,
                "output": {"title": None, "summary": None, "text": None, "annotations_count": 0},
                "app": {"slug": "github-actions", "id": 15368, "name": "GitHub Actions"},
                "_annotations": [],
            }
            r.check_runs[ident] = run
            created = 201
        else:
            created = 200
            for name in ("name", "details_url", "external_id"):
                if name in fields:
                    run[name] = fields[name]
            run["status"], run["conclusion"] = status, conclusion
        if output is not None:
            run["_annotations"] += annotations
            run["output"] = {
                "title": output["title"],
                "summary": output["summary"],
                "text": output.get("text"),
                "annotations_count": len(run["_annotations"]),
                "annotations_url": f"{run['url']}/annotations",
            }
        return created, {}, self._public(run)

    def _pull_doc(self, r: _Repo, issue: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": issue["id"],
            "number": issue["number"],
            "state": issue["state"],
            "title": issue["title"],
            "html_url": issue["html_url"],
            "url": f"{self._repo_url(r)}/pulls/{issue['number']}",
            "head": {"sha": issue.get("_head_sha"), "ref": "feature"},
            "base": {"ref": "main"},
            "merge_commit_sha": issue.get("_merge_sha"),
            "merged_at": _now() if issue.get("_merge_sha") else None,
            "user": OTHER_USER,
        }

    def _issue(self, r: _Repo, number: int) -> dict[str, Any]:
        issue = r.issues.get(number)
        if issue is None:
            raise _Error(404, "Not Found")
        return issue

    @staticmethod
    def _fields(body: Any, *, required: dict[str, type], optional: dict[str, type]) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise _Error(400, "Problems parsing JSON")
        unknown = set(body) - set(required) - set(optional)
        if unknown:
            raise _Error(422, f"unexpected fields: {sorted(unknown)}")
        for name, kind in (required | optional).items():
            if name in body and body[name] is not None and not isinstance(body[name], kind):
                raise _Error(422, f"{name} must be a {kind.__name__}")
            if name in required and not body.get(name):
                raise _Error(422, f"{name} is missing")
            if kind is list and isinstance(body.get(name), list) and not all(isinstance(x, str) for x in body[name]):
                raise _Error(422, f"{name} must be a list of strings")
        if isinstance(body.get("body"), str) and len(body["body"]) > MAX_BODY:
            raise _Error(422, f"Validation Failed: body is too long (maximum is {MAX_BODY} characters)")
        return body

    def _list_issues(self, r: _Repo, query: dict[str, list[str]]) -> tuple[int, dict[str, str], Any]:
        state = query.get("state", ["open"])[0]
        if state not in ("open", "closed", "all"):
            raise _Error(422, f"state: '{state}' is not valid")
        wanted = [x for x in query.get("labels", [""])[0].split(",") if x]
        creator = query.get("creator", [None])[0]
        items = []
        for issue in sorted(r.issues.values(), key=lambda i: -i["number"]):  # newest first, like GitHub
            if state != "all" and issue["state"] != state:
                continue
            names = {lab["name"] for lab in issue["labels"]}
            if any(w not in names for w in wanted):
                continue
            if creator and issue["user"]["login"] != creator:
                continue
            items.append(self._public(issue))
        return self._page(items, query, f"{self._repo_url(r)}/issues")

    def _page(self, items: list[Any], query: dict[str, list[str]], base: str) -> tuple[int, dict[str, str], Any]:
        per_page = min(int(query.get("per_page", ["30"])[0]), 100)
        page = max(int(query.get("page", ["1"])[0]), 1)
        last = max((len(items) + per_page - 1) // per_page, 1)
        chunk = items[(page - 1) * per_page : page * per_page]
        keep = "&".join(f"{k}={v[0]}" for k, v in sorted(query.items()) if k not in ("page", "per_page"))
        keep = f"&{keep}" if keep else ""

        def link(p: int, rel: str) -> str:
            return f'<{base}?per_page={per_page}&page={p}{keep}>; rel="{rel}"'

        links = []
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        if page > 1:
            links += [link(1, "first"), link(page - 1, "prev")]
        return 200, ({"Link": ", ".join(links)} if links else {}), chunk

    def _graphql(self, headers: dict[str, str], body: Any) -> tuple[int, dict[str, str], Any]:
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            raise _Error(400, "Problems parsing JSON")
        query = body["query"]
        variables = body.get("variables") or {}
        if re.match(r"\s*query\b", query) and re.search(r"\bnodes\s*\(\s*ids\s*:", query):
            ids = variables.get("ids")
            if not isinstance(ids, list) or not re.search(r"\.\.\.\s*on\s+IssueComment\s*{[^}]*isMinimized", query):
                return 200, {}, {"errors": [{"message": "the fake answers nodes(ids:) { ... on IssueComment }"}]}
            by_id = {c["node_id"]: c for r in self._repos.values() for c in r.comments.values()}
            nodes = [{"id": i, "isMinimized": bool(by_id[i].get("_minimized"))} if i in by_id else None for i in ids]
            return 200, {}, {"data": {"nodes": nodes}}
        m = re.search(r"\b(minimizeComment|unminimizeComment)\s*\(", query)
        if not m:
            return 200, {}, {"errors": [{"message": "the fake supports only (un)minimizeComment and nodes"}]}
        self._auth("POST", headers)
        data = variables.get("input") or {}
        subject = data.get("subjectId")
        if m.group(1) == "minimizeComment" and data.get("classifier") not in (
            "SPAM", "ABUSE", "OFF_TOPIC", "OUTDATED", "DUPLICATE", "RESOLVED",
        ):  # fmt: skip
            return 200, {}, {"errors": [{"message": f"bad classifier {data.get('classifier')!r}"}]}
        for r in self._repos.values():
            for comment in r.comments.values():
                if comment["node_id"] == subject:
                    minimize = m.group(1) == "minimizeComment"
                    comment["_minimized"] = data["classifier"] if minimize else None
                    key = "minimizedComment" if minimize else "unminimizedComment"
                    return 200, {}, {"data": {m.group(1): {key: {"isMinimized": minimize}}}}
        return 200, {}, {"errors": [{"type": "NOT_FOUND", "message": f"Could not resolve to a node with id {subject}"}]}

    def _control(self, method: str, path: str, raw_body: bytes) -> tuple[int, dict[str, str], Any]:
        body = json.loads(raw_body) if raw_body else {}
        with self._lock:
            if path == "/_fake/requests" and method == "GET":
                return 200, {}, [{"method": r.method, "path": r.path, "status": r.status} for r in self.requests]
            if path == "/_fake/state" and method == "GET":
                return (
                    200,
                    {},
                    {
                        name: {
                            "issues": [self._public(i) for i in r.issues.values()],
                            "comments": [
                                self._public(c) | {"minimized": c.get("_minimized")} for c in r.comments.values()
                            ],
                        }
                        for name, r in self._repos.items()
                    },
                )
            if path == "/_fake/reset" and method == "POST":
                self.reset()
                return 200, {}, {}
            if path == "/_fake/pull_request" and method == "POST":
                self.add_pull_request(body["repo"], int(body["number"]))
                return 200, {}, {}
            if path == "/_fake/rate_limit" and method == "POST":
                self.rate_limit(**body)
                return 200, {}, {}
            if path == "/_fake/read_only" and method == "POST":
                self.read_only = bool(body.get("value", True))
                return 200, {}, {}
        return 404, {}, {"message": "no such control endpoint"}


def _handler_for(fake: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, extra, doc = fake.handle(self.command, self.path, headers, raw)
            payload = b"" if doc is None else json.dumps(doc).encode()
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


# -- pytest fixtures -----------------------------------------------------------------------------

try:
    import pytest
except ImportError:  # the standalone server does not need pytest
    pytest = None  # type: ignore[assignment]

if pytest is not None:
    # Declared under other names (name=...) so that importing them does not shadow the parameters.
    @pytest.fixture(scope="session", name="github_fake_server")
    def github_fake_server_fixture() -> Iterator[FakeGitHub]:
        """One fake GitHub per test session (per xdist worker)."""
        fake = FakeGitHub().start()
        yield fake
        fake.stop()

    @pytest.fixture(name="github_fake")
    def github_fake_fixture(github_fake_server: FakeGitHub) -> Iterator[FakeGitHub]:
        """The session's fake GitHub, emptied (state, faults, request log, read-only switch) for this test."""
        github_fake_server.reset()
        yield github_fake_server
        github_fake_server.reset()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve a fake GitHub REST API on loopback until killed.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--pr", action="append", default=[], metavar="OWNER/REPO#N", help="a pull request that exists")
    parser.add_argument("--url-file", help="write the URL here once listening")
    args = parser.parse_args(argv)
    fake = FakeGitHub(token=args.token, host=args.host, port=args.port)
    for spec in args.pr:
        repo, _, number = spec.partition("#")
        fake.add_pull_request(repo, int(number))
    if args.url_file:
        with open(args.url_file + ".tmp", "w") as fh:
            fh.write(fake.url)
        import os

        os.replace(args.url_file + ".tmp", args.url_file)
    print(fake.url, flush=True)
    try:
        fake._httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
