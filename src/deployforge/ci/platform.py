"""The CI seam: which CI system a command runs under, and everything DeployForge reads from it.

Every read of a CI system's environment goes through one of these platforms; the rest of the code
asks ``detect(environ)`` and never looks at ``GITHUB_*``, ``JENKINS_URL`` or ``CI`` itself:

- ``context(environ)``: who ran it and where, for the audit record and the lock holder (system,
  actor, run id and link, repository, commit, branch, pull request, host ...; absent values
  omitted);
- ``workspace(environ)``: the checkout a config's paths must stay inside;
- ``workflow_commands``: whether the log is read for commands (GitHub's ``::error::``), so text
  must be guarded and annotations can be written as commands;
- ``sink(environ)``: how a step reports (annotations, masking, outputs, the job summary).

Adding a CI system is one new module with a class of this shape, plus one line in ``PLATFORMS``
(``ci/gitlab.py`` is the smallest example). The order of ``PLATFORMS`` is the order of detection:
GitHub Actions wins over Jenkins (a Jenkins agent running the Action's image), and the generic
"some CI" and the local machine come last.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from deployforge.ci.github import GITHUB_ACTIONS
from deployforge.ci.gitlab import GITLAB_CI
from deployforge.ci.jenkins import JENKINS
from deployforge.ci.local import GENERIC_CI, LOCAL


class CIPlatform(Protocol):
    name: str  # the audit context's "system": github-actions, jenkins, gitlab-ci, ci, local
    workflow_commands: bool  # the log is read for ::commands:: (GitHub Actions)

    def detect(self, environ: Mapping[str, str]) -> bool: ...

    def context(self, environ: Mapping[str, str]) -> dict[str, Any]: ...

    def workspace(self, environ: Mapping[str, str]) -> str | None: ...

    def sink(self, environ: Mapping[str, str]) -> Any: ...


PLATFORMS: tuple[CIPlatform, ...] = (GITHUB_ACTIONS, JENKINS, GITLAB_CI, GENERIC_CI, LOCAL)


def detect(environ: Mapping[str, str]) -> CIPlatform:
    """The CI system ``environ`` describes (the local machine when none does)."""
    for platform in PLATFORMS:
        if platform.detect(environ):
            return platform
    return LOCAL


def in_ci(environ: Mapping[str, str]) -> bool:
    """Running in a CI system's log (every command then names its trace first)."""
    return detect(environ) is not LOCAL


def reads_workflow_commands(environ: Mapping[str, str]) -> bool:
    """The log is read for workflow commands: what a command prints must be guarded, and
    annotations can be written as commands."""
    return detect(environ).workflow_commands


def run_url(environ: Mapping[str, str]) -> str | None:
    """The link to this CI run, when the CI system gives one."""
    return detect(environ).context(environ).get("run_url")


def actor(environ: Mapping[str, str]) -> str | None:
    """Who started the run, as the CI system names them (None: ask the machine)."""
    return detect(environ).context(environ).get("actor")
