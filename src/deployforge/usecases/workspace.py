"""The composition root of one command: ``Options`` (what a front door was asked) and ``Workspace``
(the project's config, state backend, providers, secrets and sandbox, made on first use), with the
hints that name the command a user ran (``command_line``, ``point_to_sandbox``).

Front doors (the CLI, the GitHub Action entrypoint, the Jenkins library through the CLI) turn their
inputs into ``Options``, build a ``Workspace`` and hand it to the use cases of this package.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deployforge.errors import DeployForgeError, UsageError
from deployforge.model.config import Config
from deployforge.model.plan import Action, Plan
from deployforge.model.result import RunResult
from deployforge.providers.base import Provider
from deployforge.state.base import StateBackend, StateDocument

if TYPE_CHECKING:
    from deployforge.config.load import ParsedConfig
    from deployforge.secrets import SecretResolver
    from deployforge.secrets.properties import SecretIndex


@dataclass(frozen=True)
class Options:
    config: str = "deployforge.yaml"
    environment: str | None = None
    sandbox: bool = False
    parallelism: int = 10
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


class Workspace:
    """One command's view of a project: its config, state backend, providers and audit log."""

    def __init__(self, options: Options, run_id: str | None = None, parsed: ParsedConfig | None = None):
        """``parsed``: the config file as this command already parsed it (another environment's
        workspace of the same command), so it is not parsed again."""
        from deployforge.audit.trace import new_trace_id, parent_from

        if parsed is not None:
            self.__dict__["parsed_config"] = parsed

        self.options = options
        # the run id is the run's trace id, DF-TRC-XXXXXXXXXX (audit/trace.py)
        self.run_id = run_id or new_trace_id()
        self.parent_trace_id = parent_from(options.environ)
        self._providers: dict[str, Provider] = {}
        self.sandbox_warnings: tuple[str, ...] = ()
        self.sandbox_notes: tuple[str, ...] = ()
        self.refreshed: Mapping[str, Any] = {}  # the last compute_plan's reads (planner.Observed by name)

    # set by `validate` before the config is read: it makes no cloud call, so an unset variable in a
    # target's auth/credentials is a warning there, not an error
    deferred_credentials = False

    def result(self, command: str, exit_code: int, **fields: Any) -> RunResult:
        """The ``RunResult`` of ``command`` on this workspace's config (its environment, path and hash)."""
        config = self.config
        return RunResult(command, config.environment, self.run_id, exit_code, config.path, config.config_hash, **fields)

    @cached_property
    def parsed_config(self) -> ParsedConfig:
        """The config file read and parsed (with positions) once for this command: every
        environment's ``Config`` it loads is built from it."""
        from deployforge.config.load import parse_config

        return parse_config(self.options.config, self.options.environ)

    @cached_property
    def config(self) -> Config:
        from deployforge.config.load import load_config

        env = self.options.environment or self.options.environ.get("DEPLOYFORGE_ENVIRONMENT") or None
        # on the sandbox, every target's credentials are the sandbox's: an unset $VAR there is no matter
        deferred = self.deferred_credentials or self.sandboxed
        return load_config(
            self.options.config,
            environment=env,
            environ=self.options.environ,
            deferred=deferred,
            parsed=self.parsed_config,
        )

    def loaded_config(self) -> Config | None:
        """The config, when this command has loaded it (None when it has not, or loading failed):
        what a front door reads after the command without loading or parsing anything again."""
        loaded = self.__dict__.get("config")
        return loaded if isinstance(loaded, Config) else None

    @property
    def project_dir(self) -> Path:
        return Path(self.options.config).resolve().parent

    @property
    def root(self) -> Path:
        """The project's .deployforge folder (local state, sandbox, audit log)."""
        try:
            rel = self.config.state.path
        except DeployForgeError:
            rel = ".deployforge"
        return self.project_dir / rel

    @property
    def sandboxed(self) -> bool:
        return self.options.sandbox or self.options.environ.get("DEPLOYFORGE_SANDBOX") in ("1", "true", "yes")

    @cached_property
    def sandbox_info(self) -> Any:
        """The project's running sandbox (started now if needed), or None without --sandbox."""
        if not self.sandboxed:
            return None
        from deployforge.providers import sandbox

        info = sandbox.ensure_running(self.root)
        self.sandbox_warnings = tuple(info.warnings)
        return info

    @property
    def sandbox_endpoint(self) -> str | None:
        return self.sandbox_info.endpoint if self.sandbox_info is not None else None

    @cached_property
    def backend(self) -> StateBackend:
        settings = self.config.state
        if settings.backend == "s3":
            from deployforge.state.s3 import S3Backend

            endpoint = self.sandbox_endpoint or settings.endpoint_url
            return S3Backend(
                settings.url or "", region=settings.region, endpoint_url=endpoint, profile=settings.profile
            )
        from deployforge.state.local import LocalBackend

        return LocalBackend(self.project_dir / settings.path)

    def provider(self, target_name: str) -> Provider:
        if target_name not in self._providers:
            from deployforge.providers.registry import provider_for_target

            target = self.config.targets.get(target_name)
            if target is None:
                raise UsageError(
                    f"state refers to target '{target_name}', which the config no longer defines",
                    hint="restore the target in the config until its resources are deleted",
                )
            settings = target.settings()
            if target.provider == "google" and self.sandbox_info is not None and self.sandbox_info.google_endpoint:
                # the sandbox's Google stand-ins, with their own service account (the config's
                # credentials: are not read)
                settings.update(
                    endpoint_url=self.sandbox_info.google_endpoint,
                    credentials=self.sandbox_info.google_key_file,
                    project=target.project or "sandbox-project",
                )
            settings = self._resolved_settings(target_name, target.provider, settings)
            if self.sandbox_endpoint and target.provider == "aws":
                settings.update(
                    endpoint_url=self.sandbox_endpoint,
                    profile=None,
                    access_key_id="sandbox",
                    secret_access_key="sandbox",
                    region=target.region or "us-east-1",
                )
            provider = provider_for_target(target.provider, target_name, settings)
            if self.has_secret_properties:
                from deployforge.secrets.properties import RedactingProvider

                # reads report vault://-valued attributes as markers (plans, state, baselines, drift)
                provider = RedactingProvider(provider, self.secret_index)
            self._providers[target_name] = provider
        return self._providers[target_name]

    @cached_property
    def has_secret_properties(self) -> bool:
        """Whether some resource's properties hold a ``vault://`` reference."""
        from deployforge.secrets.properties import secret_keys

        return any(secret_keys(r.properties) for r in self.config.resources.values())

    @cached_property
    def secret_index(self) -> SecretIndex:
        """Which managed objects have secret-valued attributes (from the state document)."""
        from deployforge.secrets.properties import SecretIndex

        return SecretIndex()

    def resolve_spec_secrets(self, spec: Any) -> Any:
        """``spec`` with its ``vault://`` property values read from Vault (registered for masking)."""
        from deployforge.secrets.properties import resolve_properties

        properties = resolve_properties(spec.properties, self.secrets.resolve, f"resources.{spec.name}.properties")
        return replace(spec, properties=properties)

    def resolve_plan_secrets(self, the_plan: Plan, state: StateDocument) -> None:
        """Read now every ``vault://`` value the plan's changes need: all of a resource to create or
        replace, the changed properties of one to update. A bad reference: exit 2, before any change."""
        from deployforge.secrets.properties import property_refs

        for rp in the_plan.resources:
            resource = self.config.resources.get(rp.name)
            if resource is None or (rp.action is Action.NOOP and rp.name in state.resources):
                continue
            properties = resource.properties
            if rp.action is Action.UPDATE or (rp.action is Action.NOOP and rp.resource_id):
                changed = {c.key for c in rp.changes}
                properties = {k: v for k, v in properties.items() if k in changed}
            for where, ref in property_refs(rp.name, properties):
                self.secrets.resolve(ref, where)

    @cached_property
    def secrets(self) -> SecretResolver:
        """Resolves ``vault://`` references for this command (each secret path read once; values masked)."""
        from deployforge.secrets import SecretResolver

        info = self.sandbox_info
        if info is None or not info.vault_addr:
            return SecretResolver(self.options.environ)
        # the sandbox's OpenBao: every vault:// of the config resolves there, to a generated value
        from deployforge.providers.sandbox.clouds import references, seed

        refs = references(self.config)
        seeded = seed(info.vault_addr, info.vault_token, refs)
        if refs:
            from deployforge.ci.workflow_commands import one_line  # references come from the config

            now = f"; generated now: {one_line(', '.join(seeded))}" if seeded else ""
            self.sandbox_notes = (
                *self.sandbox_notes,
                f"{len(refs)} vault:// reference(s) resolve to generated sandbox values in the sandbox's "
                f"OpenBao ({info.vault_addr}), not your Vault{now}",
            )
        environ = {k: v for k, v in self.options.environ.items() if not k.startswith("VAULT_")}
        environ.update(VAULT_ADDR=info.vault_addr, VAULT_TOKEN=info.vault_token)
        return SecretResolver(environ)

    def _resolved_settings(self, target_name: str, kind: str, settings: dict[str, Any]) -> dict[str, Any]:
        """A target's settings with ``vault://`` references (``credentials:``) resolved through Vault."""
        from deployforge.secrets import has_refs

        if has_refs(settings):
            settings = self.secrets.resolve_refs(settings, f"targets.{target_name}")
        if kind == "google" and self.options.environ.get("STORAGE_EMULATOR_HOST"):
            settings["storage_endpoint"] = self.options.environ["STORAGE_EMULATOR_HOST"]
        return settings

    def providers_for(self, state: StateDocument) -> dict[str, Provider]:
        names = {r.target for r in self.config.resources.values()} | {e["target"] for e in state.resources.values()}
        return {name: self.provider(name) for name in sorted(names)}

    def read_state(self) -> StateDocument:
        state = self.backend.read(self.config.environment) or StateDocument(environment=self.config.environment)
        self.secret_index.load(state)
        return state

    def api_calls(self) -> dict[str, int]:
        calls: dict[str, int] = {}
        for provider in self._providers.values():
            for service, count in (getattr(provider, "api_calls", None) or {}).items():
                calls[service] = calls.get(service, 0) + count
        return calls

    def api_calls_by_provider(self) -> dict[str, dict[str, int]]:
        """API calls per provider kind (aws, google...), then per service."""
        out: dict[str, dict[str, int]] = {}
        for name, provider in self._providers.items():
            kind = str(getattr(provider, "name", None) or name)
            for service, count in (getattr(provider, "api_calls", None) or {}).items():
                per = out.setdefault(kind, {})
                per[service] = per.get(service, 0) + count
        return out


# what a missing AWS set-up looks like (providers/aws/errors.SETUP_CODES): a new user following the
# docs on a laptop usually meant the sandbox
_NO_AWS_SETUP = frozenset({"ProfileNotFound", "NoCredentialsError", "PartialCredentialsError", "NoRegion"})


def point_to_sandbox(ws: Workspace, exc: DeployForgeError) -> None:
    """When AWS credentials are missing and a sandbox runs for this project, say so in the hint."""
    if ws.options.sandbox or getattr(exc, "code", None) not in _NO_AWS_SETUP:
        return
    try:
        from deployforge.providers.sandbox import status

        running = status(ws.root)
    except Exception:  # a hint must never hide the error it improves
        return
    if running is None:
        return
    again = "deployforge " + shlex.join([*sys.argv[1:], "--sandbox"])
    note = f"a sandbox is running for this project ({running.endpoint}): to use it, add --sandbox: {again}"
    exc.hint = f"{note}; or, for AWS: {exc.hint}" if exc.hint else note


def command_line(ws: Workspace, *words: str, environment: bool = True) -> str:
    """``deployforge WORDS...`` with the -c, -e and --sandbox this command ran with: a hint a user can
    paste. ``environment=False`` leaves -e out when the config has a single environment anyway."""
    import shlex

    line = ["deployforge", *words]
    if ws.options.config != "deployforge.yaml":
        line += ["-c", ws.options.config]
    if environment or ws.config.environments:
        line += ["-e", ws.config.environment]
    if ws.options.sandbox:
        line.append("--sandbox")
    return shlex.join(line)
