"""GitLab CI as a CI platform (``ci/platform.py``): detection, the job's audit context and workspace.

This module is the whole of DeployForge's GitLab support today, and the example of what adding a
CI system takes: one module like this and one line in ``ci/platform.PLATFORMS``. The variables are
GitLab's predefined CI/CD variables::

    GITLAB_CI                       "true" in every GitLab job
    CI_PIPELINE_ID, CI_PIPELINE_URL the pipeline (the run id and link)
    CI_JOB_NAME, CI_JOB_URL         the job
    CI_PROJECT_PATH, CI_PROJECT_URL the project (namespace/name) and its web URL
    CI_COMMIT_SHA, CI_COMMIT_REF_NAME, CI_MERGE_REQUEST_SOURCE_BRANCH_NAME
    CI_MERGE_REQUEST_IID            the merge request's number in its project (merge request pipelines)
    CI_PIPELINE_SOURCE              what started it: push, merge_request_event, schedule ...
    GITLAB_USER_LOGIN               who started it
    CI_PROJECT_DIR                  the checkout
    CI_RUNNER_DESCRIPTION           the runner

GitLab's log reads no workflow commands, so output needs no fencing and annotations are text
lines (the local sink). Merge request comments are not written yet.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class GitLabCIPlatform:
    name = "gitlab-ci"
    workflow_commands = False

    def detect(self, environ: Mapping[str, str]) -> bool:
        return environ.get("GITLAB_CI") == "true"

    def context(self, env: Mapping[str, str]) -> dict[str, Any]:
        mr = (env.get("CI_MERGE_REQUEST_IID") or "").strip()
        project_url = (env.get("CI_PROJECT_URL") or "").strip().rstrip("/")
        out: dict[str, Any] = {
            "system": self.name,
            "actor": env.get("GITLAB_USER_LOGIN"),
            "run_id": env.get("CI_PIPELINE_ID"),
            "run_url": env.get("CI_PIPELINE_URL") or env.get("CI_JOB_URL"),
            "repository": env.get("CI_PROJECT_PATH"),
            "commit": env.get("CI_COMMIT_SHA"),
            "branch": env.get("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME") or env.get("CI_COMMIT_REF_NAME"),
            "job": env.get("CI_JOB_NAME"),
            "event": env.get("CI_PIPELINE_SOURCE"),
            "host": env.get("CI_RUNNER_DESCRIPTION"),
        }
        if mr:
            out["pr"] = int(mr) if mr.isascii() and mr.isdigit() else mr
            if project_url:
                out["pr_url"] = f"{project_url}/-/merge_requests/{mr}"
        return {key: value for key, value in out.items() if value not in (None, "")}

    def workspace(self, environ: Mapping[str, str]) -> str | None:
        return environ.get("CI_PROJECT_DIR") or None

    def sink(self, environ: Mapping[str, str]) -> Any:
        from deployforge.ci.local import LocalSink

        return LocalSink(environ)


GITLAB_CI = GitLabCIPlatform()
