"""The step's report files (JUnit, SARIF) and the paths between the container and the runner."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from deployforge.action.inputs import Settings

# -- reports -------------------------------------------------------------------------------------


def write_reports(settings: Settings, pub: Any) -> dict[str, str]:
    """JUnit (every present section) and SARIF (policy findings) of a publication
    (``render/publish.py``, shared with the CLI), or of a result; returns the outputs naming the
    files written."""
    from deployforge.render.publish import Publication, publish, write_report

    pub = pub if isinstance(pub, Publication) else publish(pub)
    written: dict[str, str] = {}
    if settings.junit_path and write_report(pub, "junit", settings.junit_path):
        written["junit-path"] = from_workspace(settings.junit_path, settings)
    if settings.sarif_path and write_report(pub, "sarif", settings.sarif_path, base=settings.workspace or os.getcwd()):
        written["sarif-path"] = from_workspace(settings.sarif_path, settings)
    return written


CONTAINER_WORKSPACE = "/github/workspace"  # where the runner mounts the workspace in a Docker action
CONTAINER_TEMP = "/github/runner_temp"


def from_workspace(path: str, settings: Settings) -> str:
    """An output path as the next steps see it: they run in the workspace, not in working-directory,
    and on the host, not in this container.

    A relative path is given relative to the workspace (what later steps and upload-artifact
    resolve it against). An absolute one is translated back to the host when it is under a folder
    the runner mounted (actions/runner ``ContainerActionHandler``: ``$GITHUB_WORKSPACE`` at
    /github/workspace, ``$RUNNER_TEMP`` at /github/runner_temp; it translates the inputs' host
    paths in, but not the outputs back): the host workspace is ``$RUNNER_WORKSPACE/<repository
    name>`` and the host temp folder ``<work folder>/_temp`` (``RUNNER_WORKSPACE``, the host's
    ``<work folder>/<repository>``, is not under a mount, so the container sees it unchanged).
    Where the host path cannot be known, an absolute path in the workspace is given relative to it."""
    if not os.path.isabs(path):
        if not settings.workspace:
            return path
        return os.path.relpath(os.path.abspath(path), os.path.abspath(settings.workspace))
    path = os.path.normpath(path)
    host_run = settings.runner_workspace
    known = bool(host_run) and os.path.isabs(host_run) and not host_run.startswith("/github/")
    for mount, host in (
        (CONTAINER_WORKSPACE, os.path.join(host_run, settings.repository.rpartition("/")[2]) if known else ""),
        (CONTAINER_TEMP, os.path.join(os.path.dirname(host_run.rstrip("/")), "_temp") if known else ""),
    ):
        if settings.workspace.rstrip("/") != CONTAINER_WORKSPACE:
            break  # not in the runner's container: paths are the host's already
        if path == mount or path.startswith(mount + "/"):
            rest = path[len(mount) :].lstrip("/")
            if host and settings.repository:
                return os.path.join(host, rest) if rest else host
            if mount == CONTAINER_WORKSPACE:
                return rest or "."
    return path


def relative_path(file: str | None, settings: Settings) -> str | None:
    """Annotation paths are relative to the repository root (the workspace)."""
    if not file:
        return None
    path = Path(file)
    base = Path(settings.workspace or os.getcwd()).resolve()
    try:
        return str((path if path.is_absolute() else Path.cwd() / path).resolve().relative_to(base))
    except ValueError:
        return file
