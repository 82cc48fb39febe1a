"""The use cases every front door calls: validate, plan, apply, state and audit housekeeping.

Front doors (the CLI, the GitHub Action entrypoint, the Jenkins library
through the CLI) turn their inputs into ``Options``, call these functions and
render the ``RunResult`` they return. Nothing here prints or exits.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from deployforge.errors import (
    EXIT_CHANGES,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    ConfigError,
    DeployForgeError,
    StalePlanError,
    UsageError,
)
from deployforge.model.config import Config
from deployforge.model.plan import PLAN_FORMAT, Action, Plan
from deployforge.model.result import RunResult
from deployforge.providers.base import Provider
from deployforge.state.base import LockInfo, StateBackend, StateDocument


@dataclass(frozen=True)
class Options:
    config: str = "deployforge.yaml"
    environment: str | None = None
    sandbox: bool = False
    parallelism: int = 10
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


class Workspace:
    """One command's view of a project: its config, state backend, providers and audit log."""

    def __init__(self, options: Options, run_id: str | None = None):
        from deployforge.audit.trace import new_trace_id, parent_from

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

    @cached_property
    def config(self) -> Config:
        from deployforge.config.load import load_config

        env = self.options.environment or self.options.environ.get("DEPLOYFORGE_ENVIRONMENT") or None
        # on the sandbox, every target's credentials are the sandbox's: an unset $VAR there is no matter
        deferred = self.deferred_credentials or self.sandboxed
        return load_config(self.options.config, environment=env, environ=self.options.environ, deferred=deferred)

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
    def secret_index(self) -> Any:
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
    def secrets(self) -> Any:
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


# -- use cases --------------------------------------------------------------


def validate(ws: Workspace) -> RunResult:
    """Check the config. With no environment chosen, check it for every environment it defines."""
    from deployforge.config.load import load_every_environment

    chosen = ws.options.environment or ws.options.environ.get("DEPLOYFORGE_ENVIRONMENT")
    configs = (
        [ws.config]
        if chosen
        else load_every_environment(ws.options.config, environ=ws.options.environ, deferred=ws.deferred_credentials)
    )
    issues: list[Any] = []
    for each in configs:
        issues += [i for i in section_issues(ws, each) if i not in issues]
    if issues:
        raise ConfigError(issues)
    warnings = tuple(dict.fromkeys(f"warning: {w}" for c in configs for w in c.warnings))
    config = configs[0]
    if not chosen:
        ws.__dict__["config"] = config  # the audit record names the first environment's hash
    return RunResult(
        "validate",
        config.environment if chosen else None,
        ws.run_id,
        EXIT_OK,
        config.path,
        config.config_hash,
        extra={
            "environments": [c.environment for c in configs],
            "resources": len(config.resources),
            "targets": sorted(config.targets),
        },
        messages=warnings,
    )


def section_issues(ws: Workspace, config: Config) -> list[Any]:
    """What `run`, `deploy` and drift self-healing would refuse in the config, found by `validate`:
    the deploy section and hooks compiled (strategy, gates, shifter, timeouts), and each
    self-healing rule's resource_type known (a mistyped one would never match anything)."""
    from deployforge.errors import ConfigIssue
    from deployforge.providers.registry import TYPE_ALIASES, canonical_type, resource_type_infos

    issues: list[Any] = []
    if config.deploy or config.hooks:  # imported only then: the deploy stage is not a cheap import
        from deployforge.deploy.prepare import prepare

        try:
            prepare(config)
        except ConfigError as exc:
            issues += exc.issues
    known = set(resource_type_infos()) | set(TYPE_ALIASES)
    for i, rule in enumerate(config.self_healing_rules):
        rtype = str(rule.get("resource_type", ""))
        if rtype and canonical_type(rtype) not in known:
            from deployforge.text import did_you_mean

            path = ("self_healing_rules", i, "resource_type")
            hint = did_you_mean(rtype, sorted(known)) or "`deployforge schema` lists the resource types"
            issues.append(
                ConfigIssue(
                    f"unknown resource type '{rtype}': this rule can never apply", config.locate(path), hint, path
                )
            )
    return issues


def _type_info(ws: Workspace) -> Callable[[str], Any]:
    from deployforge.providers.registry import resource_type_infos

    infos = resource_type_infos()
    return lambda rtype: infos[rtype][1]


def compute_plan(ws: Workspace, state: StateDocument) -> Plan:
    from deployforge.engine.planner import make_plan, refresh

    config = ws.config
    providers = ws.providers_for(state)
    for provider in providers.values():
        provider.preflight()  # a wrong endpoint or profile fails here, before any planning
    observed = refresh(config.resources, state, providers, parallelism=ws.options.parallelism)
    ws.refreshed = observed  # what the cloud showed: the baseline after an apply reuses it

    def normalize(spec: Any) -> Any:
        return providers[spec.target].normalize(spec.type, spec.properties)

    return make_plan(
        config.resources,
        state,
        observed,
        _type_info(ws),
        environment=config.environment,
        config_hash=config.config_hash,
        run_id=ws.run_id,
        normalize=normalize,
    )


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


def hook_context(ws: Workspace, **extra: str) -> dict[str, str]:
    """The ``DEPLOYFORGE_*`` variables every lifecycle hook gets (hooks.py adds ``PHASE`` and ``TARGET``)."""
    from deployforge.audit import ci_context
    from deployforge.audit.trace import PARENT_ENV, TRACE_ENV

    ctx = {
        "DEPLOYFORGE_ENVIRONMENT": ws.config.environment,
        "DEPLOYFORGE_RUN_ID": ws.run_id,
        "DEPLOYFORGE_CONFIG": os.path.abspath(ws.options.config),
        # lineage: a deployforge command the hook runs records this run as its parent
        PARENT_ENV: ws.run_id,
        TRACE_ENV: ws.run_id,
    }
    commit = ci_context(ws.options.environ).get("commit")
    if commit:
        ctx["DEPLOYFORGE_COMMIT"] = str(commit)
    if ws.sandbox_endpoint:
        ctx["DEPLOYFORGE_SANDBOX_ENDPOINT"] = ws.sandbox_endpoint
    ctx.update(extra)
    return ctx


@dataclass(frozen=True)
class HookCallbacks:
    """How a front door shows hooks as they run (the CLI streams them to stderr)."""

    on_start: Callable[[Any, str | None], None] | None = None
    on_output: Callable[[Any, str], None] | None = None


def resolve_hook_env(ws: Workspace, specs: Any) -> list[Any]:
    """The hook specs with every ``vault://`` value of their ``env:`` read through the run's resolver
    (registered for masking, so a hook that prints one shows ***). A bad reference: exit 2."""
    out = []
    for spec in specs:
        if any(v.startswith("vault://") for v in spec.env.values()):
            env = {}
            for key, value in spec.env.items():
                resolved = ws.secrets.resolve_refs(value, f"hooks[{spec.index}].env.{key}")
                env[key] = resolved if isinstance(resolved, str) else json.dumps(resolved)
            spec = replace(spec, env=env)
        out.append(spec)
    return out


def pre_plan_hooks(ws: Workspace, callbacks: HookCallbacks = HookCallbacks()) -> Any:
    """Run the config's ``pre_plan`` hooks (None when it has none): a ``hooks.HooksReport``.

    ``plan`` and ``run`` both plan, so both run them first: a hook that generates or fetches what the
    plan reads gives a pull request's plan the same inputs as the deploy.
    """
    hooks = _ApplyHooks(ws, callbacks, phases=("pre_plan",))
    if not hooks.specs:
        return None
    hooks.run("pre_plan")
    return hooks.report


def plan(ws: Workspace, out: str | None = None, hook_callbacks: HookCallbacks = HookCallbacks()) -> RunResult:
    config = ws.config
    hooks = pre_plan_hooks(ws, hook_callbacks)
    if hooks is not None and hooks.failed("pre_plan"):
        reason = f"pre_plan hook failed: {hooks.failed('pre_plan')[0].describe()}"
        return RunResult(
            "plan",
            config.environment,
            ws.run_id,
            EXIT_FAILURE,
            config.path,
            config.config_hash,
            hooks=hooks,
            messages=(reason, "Nothing was planned."),
        )
    state = ws.read_state()
    the_plan = compute_plan(ws, state)
    from deployforge.policy.gate import gate_exit_code, plan_gate

    policy = plan_gate(config, the_plan)  # the config's policies: a denied plan is not saved
    if out and not (policy is not None and policy.failed):
        write_plan_file(out, the_plan)
    code = gate_exit_code(policy, EXIT_CHANGES if the_plan.has_changes else EXIT_OK)
    return RunResult(
        "plan",
        config.environment,
        ws.run_id,
        code,
        config.path,
        config.config_hash,
        plan=the_plan,
        policy=policy,
        hooks=hooks,
        extra={"plan_file": out} if out and code != EXIT_FAILURE else {},
    )


def write_plan_file(path: str, the_plan: Plan) -> None:
    from deployforge.state.local import atomic_write_json

    try:
        atomic_write_json(Path(path), the_plan.to_json())
    except OSError as exc:
        raise UsageError(f"cannot write the plan to {path}: {exc.strerror}") from None


def read_plan_file(path: str) -> Plan:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"plan file '{path}' not found", hint="create one with: deployforge plan --out FILE") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"'{path}' is not a readable DeployForge plan: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT:
        raise UsageError(
            f"'{path}' is not a DeployForge plan (format {PLAN_FORMAT})",
            hint="plans are written by: deployforge plan --out FILE",
        )
    try:
        return Plan.from_json(data)
    except (KeyError, ValueError, TypeError) as exc:
        raise UsageError(f"plan file '{path}' is damaged: missing or bad field {exc}") from None


def check_saved_plan(saved: Plan, config: Config, state: StateDocument, fresh: Plan) -> None:
    """Refuse a saved plan when the config, the state or the live objects moved since it was made."""
    hint = "make a new plan: deployforge plan --out FILE"
    if saved.environment != config.environment:
        raise StalePlanError(
            f"the plan is for environment '{saved.environment}', not '{config.environment}'",
            hint="pass --environment " + saved.environment,
        )
    if saved.config_hash != config.config_hash:
        raise StalePlanError("the configuration changed since the plan was made", hint=hint)
    lineage_moved = saved.state_serial > 0 and saved.state_lineage != state.lineage  # serial 0: no state yet
    if saved.state_serial != state.serial or lineage_moved:
        raise StalePlanError(
            f"the state changed since the plan was made (serial {saved.state_serial} -> {state.serial})",
            hint=hint,
        )
    now = {r.name: r for r in fresh.resources}
    for rp in saved.resources:
        current = now.get(rp.name)
        if current is None or current.live_fingerprint != rp.live_fingerprint:
            raise StalePlanError(f"{rp.address} changed in the cloud since the plan was made", hint=hint)


class _ApplyHooks:
    """The lifecycle hooks of ``plan`` (pre_plan only) and of a plain ``apply`` (``run``/``deploy`` run
    their own, with the canary).

    pre_plan (not with a saved plan) -> [plan, confirm] -> pre_deploy -> apply -> post_deploy ->
    post_success, or on_failure when any step failed. A failing pre_plan or pre_deploy hook stops
    the apply before anything changed.
    """

    def __init__(self, ws: Workspace, callbacks: HookCallbacks, phases: tuple[str, ...] | None = None):
        from deployforge.hooks import HooksReport, parse_hooks

        try:
            specs = [h for h in parse_hooks(ws.config.hooks) if phases is None or h.phase in phases]
        except ValueError as exc:
            from deployforge.errors import ConfigIssue

            raise ConfigError([ConfigIssue(str(exc), ws.config.locate(("hooks",)), None, ("hooks",))]) from None
        self.ws = ws
        self.callbacks = callbacks
        # vault:// values in the hooks' env (of ``phases`` only), read before anything runs (a bad
        # reference: exit 2)
        self.specs = resolve_hook_env(ws, specs)
        self.report = HooksReport()

    def run(self, phase: str, **extra: str) -> str | None:
        """Run ``phase``; the failure reason when a hook of it failed, else None."""
        from deployforge.hooks import run_phase_traced

        if not any(s.phase == phase for s in self.specs):
            return None
        runs = run_phase_traced(
            self.specs,
            phase,
            context=hook_context(self.ws, **extra),
            base_dir=str(self.ws.project_dir),
            on_output=self.callbacks.on_output,
            on_start=self.callbacks.on_start,
        )
        self.report = self.report.plus(runs)
        failed = self.report.failed(phase)
        return f"{phase} hook failed: {failed[0].describe()}" if failed else None

    def failure(self, reason: str) -> None:
        self.run("on_failure", DEPLOYFORGE_FAILURE_REASON=reason)


def apply(
    ws: Workspace,
    *,
    plan_file: str | None = None,
    confirm: Callable[[Plan], bool] | None = None,
    cancel: threading.Event | None = None,
    on_event: Callable[..., None] | None = None,
    ci_run_url: str | None = None,
    hooks: HookCallbacks | None = None,
) -> RunResult:
    """Plan (or take a saved plan) and apply it under the environment's lock.

    With ``hooks`` (the ``apply`` command, unless ``--no-hooks``), the config's lifecycle hooks run
    around it (``_ApplyHooks``); ``run``/``deploy`` call this without them, as they run their own.
    """
    from deployforge.engine.apply import Applier

    config = ws.config
    saved = read_plan_file(plan_file) if plan_file else None
    ensure_audit_writable(ws)  # a change that cannot be recorded is not made
    lifecycle = _ApplyHooks(ws, hooks) if hooks is not None and config.hooks else None

    def result(code: int, **kw: Any) -> RunResult:
        return RunResult("apply", config.environment, ws.run_id, code, config.path, config.config_hash, **kw)

    def stopped(reason: str, the_plan: Plan | None = None) -> RunResult:
        assert lifecycle is not None
        lifecycle.failure(reason)
        return result(EXIT_FAILURE, plan=the_plan, hooks=lifecycle.report, messages=(reason, "Nothing was changed."))

    if lifecycle is not None and saved is None:
        reason = lifecycle.run("pre_plan")
        if reason:
            return stopped(reason)
    from contextlib import nullcontext

    from deployforge.audit import trace

    top = not trace.in_step()  # `run` and `deploy` call this inside their own "apply" step
    backend = ws.backend
    lock = backend.acquire_lock(LockInfo.new(config.environment, ws.run_id, "apply", ci_run_url))
    try:
        state = ws.read_state()
        with trace.step("plan") if top else nullcontext():
            fresh = compute_plan(ws, state)
        if saved is not None:
            check_saved_plan(saved, config, state, fresh)
            the_plan = replace(saved, run_id=ws.run_id)
        else:
            the_plan = fresh
        cleanup = any(r.name not in config.resources for r in the_plan.resources)
        adopted = any(r.name not in state.resources and r.resource_id for r in the_plan.resources)
        if not the_plan.has_changes and not cleanup and not adopted:
            return result(
                EXIT_OK, plan=the_plan, messages=("No changes. The infrastructure matches the configuration.",)
            )
        if saved is None and confirm is not None and not confirm(the_plan):
            return result(EXIT_FAILURE, plan=the_plan, messages=("Apply cancelled; nothing was changed.",))
        # the secrets the changes need, read before the first change (a bad reference: exit 2)
        ws.resolve_plan_secrets(the_plan, state)
        if lifecycle is not None:
            reason = lifecycle.run("pre_deploy")
            if reason:
                return stopped(reason, the_plan)
        applier = Applier(
            plan=the_plan,
            resources=config.resources,
            providers=ws.providers_for(state),
            backend=backend,
            state=state,
            run_id=ws.run_id,
            parallelism=ws.options.parallelism,
            cancel=cancel,
            on_event=on_event,
            resolve_secrets=ws.resolve_spec_secrets,
        )
        with trace.step("apply") if top else nullcontext() as step:
            outcome = applier.run()
            if step is not None:
                step.set(results={k: v for k, v in outcome.counts().items() if v})
                if not outcome.ok:
                    step.outcome = "interrupted" if outcome.interrupted else "failed"
    finally:
        backend.release_lock(lock)
    code = EXIT_OK if outcome.ok else (EXIT_INTERRUPTED if outcome.interrupted else EXIT_FAILURE)
    extra: dict[str, Any] = {}
    messages: tuple[str, ...] = ()
    if outcome.ok:
        try:
            extra["baseline"] = take_baseline(ws, applier.state, seen=_seen_by_apply(ws, applier.state)).id
        except DeployForgeError as exc:  # the apply itself succeeded: say so, and what was not saved
            messages = (f"warning: the baseline snapshot was not saved: {exc.message}",)
    if lifecycle is not None and not outcome.interrupted:
        reason = lifecycle.run("post_deploy") if outcome.ok else "apply failed"
        if reason is None:
            post = lifecycle.run("post_success")
            if post:
                messages = (*messages, post)
        else:
            if outcome.ok:
                code = EXIT_FAILURE
                messages = (*messages, f"{reason} (the changes were applied)")
            lifecycle.failure(reason)
    return result(
        code,
        plan=the_plan,
        apply=outcome,
        extra=extra,
        messages=messages,
        hooks=lifecycle.report if lifecycle is not None else None,
    )


def _seen_by_apply(ws: Workspace, state: StateDocument) -> dict[str, Any]:
    """The live objects an apply already knows, so its baseline reads nothing again: each resource it
    wrote is recorded in state as read back after the change (secret values as markers), and the others
    were read by the plan's refresh moments ago and left alone."""
    from deployforge.providers.base import LiveResource

    seen: dict[str, Any] = {}
    for name, entry in state.resources.items():
        if entry.get("run_id") == ws.run_id:
            seen[name] = LiveResource(
                entry["type"], entry["id"], entry.get("attributes") or {}, entry.get("outputs") or {}
            )
        else:
            observed = ws.refreshed.get(name)
            if observed is not None and observed.live is not None and observed.live.id == entry["id"]:
                seen[name] = observed.live
    return seen


def take_baseline(ws: Workspace, state: StateDocument, seen: Mapping[str, Any] | None = None) -> Any:
    """Snapshot the live attributes of every managed resource as the new baseline.

    ``seen``: live objects already read by this run (name -> LiveResource); the others are read now,
    in batches."""
    from deployforge.audit import ci_context
    from deployforge.engine.planner import refresh
    from deployforge.state.baseline import Baseline, BaselineResource

    seen = seen or {}
    unread = StateDocument(
        environment=state.environment,
        resources={n: e for n, e in state.resources.items() if n not in seen},
    )
    observed = refresh({}, unread, ws.providers_for(unread), parallelism=ws.options.parallelism)
    resources = {}
    for name, entry in state.resources.items():
        live = seen[name] if name in seen else observed[name].live
        if live is not None:
            resources[name] = BaselineResource(name, entry["type"], entry["target"], live.id, dict(live.attributes))
    baseline = Baseline(
        environment=ws.config.environment,
        id=ws.run_id,
        taken_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        config_hash=ws.config.config_hash,
        commit=ci_context(ws.options.environ).get("commit"),
        state_serial=state.serial,
        resources=resources,
    )
    ws.backend.write_baseline(baseline)
    return baseline


def _outcome(command: str, exit_code: int, error: DeployForgeError | None) -> str:
    """The audit record's one-word outcome: ok, changes (plan), drift (drift commands), interrupted, error."""
    if exit_code == EXIT_INTERRUPTED:
        return "interrupted"
    if error is not None:
        return "error"
    if exit_code == EXIT_OK:
        return "ok"
    if exit_code == EXIT_CHANGES and command in ("plan", "action:plan"):
        return "changes"
    if exit_code == EXIT_CHANGES and command.startswith("drift"):
        return "drift"
    return "error"


def plan_hash(the_plan: Plan | None) -> str | None:
    if the_plan is None:
        return None
    from deployforge.config.load import canonical_hash

    return canonical_hash({k: v for k, v in the_plan.to_json().items() if k not in ("created_at", "run_id")})


def audit_path(ws: Workspace) -> Path:
    """The local audit log's file (``audit/storage.py`` decides)."""
    from deployforge.audit.storage import audit_path as path_of

    return path_of(ws)


def audit_log(ws: Workspace) -> Any:
    """The audit log this project writes to: local (default), S3 with Object Lock, or GCS with retention.

    The storage comes from the config's ``audit:`` section (``storage: local | s3 | gcs``, see
    docs/audit.md); every string appended passes the secrets layer's masking hook.
    """
    from deployforge.audit.storage import open_log

    return open_log(ws)


class _StepLog:
    """Opens the audit log on the first step (a command without steps never opens it)."""

    def __init__(self, ws: Workspace):
        self._ws = ws
        self._log: Any = None

    def append(self, fields: dict[str, Any]) -> dict[str, Any] | None:
        if self._log is None:
            try:
                enabled = self._ws.config.audit.enabled
            except DeployForgeError:
                enabled = True
            self._log = audit_log(self._ws) if enabled else False
        if self._log is False:  # audit disabled in the config
            return None
        result: dict[str, Any] = self._log.append(fields)
        return result


def step_log(ws: Workspace) -> _StepLog:
    """Where a command's trace steps go (``audit.trace.recording``): the audit log, opened lazily."""
    return _StepLog(ws)


def ensure_audit_writable(ws: Workspace) -> None:
    """Raise StateError (before anything changes) when this command's audit record could not be appended."""
    if ws.config.audit.enabled:
        log = audit_log(ws)
        log.check_writable()
        from deployforge.audit.witness import check_witness_before_change

        check_witness_before_change(ws, log)


def record_audit(
    ws: Workspace,
    *,
    command: str,
    argv: list[str],
    result: RunResult | None,
    error: DeployForgeError | None,
    exit_code: int,
    started: float,
    cpu_started: float | None = None,
    steps: int | None = None,
) -> dict[str, Any] | None:
    """Append this command's record to the audit log. Never raises for a config that failed to load."""
    from deployforge.audit import ci_context, peak_memory_mb
    from deployforge.audit.lineage import cpu_seconds, file_sha256, policy_bundle_hash

    try:
        enabled = ws.config.audit.enabled
        config_hash: str | None = ws.config.config_hash
        environment: str | None = ws.config.environment
    except DeployForgeError:
        enabled, config_hash, environment = True, None, ws.options.environment
    if not enabled:
        return None
    fields: dict[str, Any] = {
        "kind": "run",
        "run_id": ws.run_id,
        "trace_id": ws.run_id,
        "parent_trace_id": ws.parent_trace_id,
        "command": command,
        "argv": argv,
        "environment": environment,
        "context": ci_context(ws.options.environ),
        "config_path": ws.options.config,
        "config_hash": config_hash,
        "config_file_sha256": file_sha256(ws.options.config),
        "plan_hash": plan_hash(result.plan) if result else None,
        "policy_bundle_hash": policy_bundle_hash(result.policy) if result else None,
        "outcome": _outcome(command, exit_code, error),
        "exit_code": exit_code,
        "duration_ms": round((time.monotonic() - started) * 1000, 1),
        "cpu_ms": round((cpu_seconds() - cpu_started) * 1000, 1) if cpu_started is not None else None,
        "peak_memory_mb": peak_memory_mb(include_children=True),
        "api_calls": ws.api_calls_by_provider(),
    }
    if steps is not None:
        fields["steps"] = steps
    if result is not None and result.plan is not None:
        fields["changes"] = {k: v for k, v in result.plan.counts().items() if v}
    if result is not None and result.apply is not None:
        fields["apply"] = {k: v for k, v in result.apply.counts().items() if v}
    if error is not None:
        fields["error"] = error.message
    log = audit_log(ws)
    record: dict[str, Any] = log.append(fields)
    from deployforge.audit.witness import publish_checkpoint

    publish_checkpoint(ws, log)  # signed checkpoint -> audit.witness (docs/audit.md, Witnesses)
    return record


def describe_exit(code: int) -> str:
    return {
        EXIT_OK: "ok",
        EXIT_FAILURE: "failed",
        EXIT_CHANGES: "changes",
        EXIT_INTERRUPTED: "interrupted",
    }.get(code, str(code))
