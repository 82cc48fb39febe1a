"""DeployForge's exception tree, exit codes, locations and hints.

Every failure a user can see is one of these. Adapters (boto3, the state
backends, the sandbox) translate foreign exceptions at their boundary; only the
front doors print them and end the process: the CLI's error layer
(``deployforge.cli.common``: ``run_project_command`` and ``reported_errors``) and
the Action's entrypoint (``deployforge.action``, as annotations).

Exit codes (documented in the README):

    0  success / no changes
    1  failure while doing the work (apply failed, provider error, lock held)
    2  bad input: config errors, usage errors, a stale saved plan
       (``plan`` also exits 2 when it found changes, like
       ``terraform plan -detailed-exitcode``)
  130  interrupted (Ctrl-C, or SIGTERM from a CI runner cancelling the job)

The tree::

    DeployForgeError                       exit 1 unless stated
    ├── InputError                         exit 2: the user must change something
    │   ├── ConfigError                    one or more located problems (ConfigIssue)
    │   ├── UsageError                     bad flags / arguments
    │   ├── StalePlanError                 saved plan no longer matches config or live state
    │   └── ReferenceResolutionError       $VAR / vault:// / ${resources.x.y} cannot be resolved
    ├── StateError                         state backend unreadable / unwritable
    │   └── LockHeldError                  another run holds the environment's lock
    ├── ProviderError                      a cloud API call failed (translated at the boundary)
    │   └── EndpointUnreachableError       the API endpoint could not be reached (exit 2)
    ├── ApplyFailedError                   apply finished with failed resources
    └── SandboxError                       the embedded emulator could not start / stop
"""

from __future__ import annotations

from dataclasses import dataclass, field

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_INPUT = 2
EXIT_CHANGES = 2
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM: 128 + SIGINT, as shells report it


@dataclass(frozen=True)
class Location:
    """A position in a file; ``line`` and ``column`` are 1-based (0 = unknown)."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line and self.column:
            return f"{self.file}:{self.line}:{self.column}"
        if self.line:
            return f"{self.file}:{self.line}"
        return self.file


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a config file, with where it is and what to do about it."""

    message: str
    location: Location | None = None
    hint: str | None = None
    path: tuple[str | int, ...] = field(default=())

    def render(self) -> str:
        where = f"{self.location}: " if self.location else ""
        text = f"{where}{self.message}"
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text

    def to_json(self) -> dict[str, object]:
        loc = self.location
        return {
            "message": self.message,
            "file": loc.file if loc else None,
            "line": loc.line if loc else None,
            "column": loc.column if loc else None,
            "hint": self.hint,
        }


class DeployForgeError(Exception):
    """Base of every error DeployForge reports to a user."""

    exit_code: int = EXIT_FAILURE
    # why the run failed, in the words of the Action's ``failure-reason`` output and the JSON
    # document's ``outcome.failure_reason`` (``model/outcome.py``); ``reason`` overrides it
    failure_reason: str = "error"

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        location: Location | None = None,
        reason: str | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.location = location
        # a machine-readable failure reason for CI front doors (e.g. "needs-confirmation"): the JSON
        # error document carries it, so the Jenkins library and the Action act on it without parsing text
        self.reason = reason

    def render(self) -> str:
        where = f"{self.location}: " if self.location else ""
        text = f"error: {where}{self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class InputError(DeployForgeError):
    exit_code = EXIT_INPUT
    failure_reason = "validation-failed"


class ConfigError(InputError):
    """Every problem found in a config file, reported together."""

    def __init__(self, issues: list[ConfigIssue] | tuple[ConfigIssue, ...]):
        self.issues = tuple(issues)
        count = len(self.issues)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in the configuration")

    def render(self) -> str:
        lines = [f"error: {issue.render()}" for issue in self.issues]
        lines.append(f"{len(self.issues)} error{'s' if len(self.issues) != 1 else ''} found; nothing was changed.")
        return "\n".join(lines)


class UsageError(InputError):
    pass


class StalePlanError(InputError):
    failure_reason = "plan-changed"  # the state moved between the reviewed plan and its apply


class ReferenceResolutionError(InputError):
    pass


class StateError(DeployForgeError):
    pass


class LockHeldError(StateError):
    failure_reason = "state-locked"

    def __init__(self, message: str, *, lock_id: str, holder: dict[str, object], hint: str | None = None):
        super().__init__(message, hint=hint)
        self.lock_id = lock_id
        self.holder = holder


class ProviderError(DeployForgeError):
    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        resource: str | None = None,
        code: str | None = None,
    ):
        super().__init__(message, hint=hint)
        self.resource = resource
        self.code = code


class EndpointUnreachableError(ProviderError):
    exit_code = EXIT_INPUT


class ApplyFailedError(DeployForgeError):
    failure_reason = "apply-failed"


class SandboxError(DeployForgeError):
    pass
