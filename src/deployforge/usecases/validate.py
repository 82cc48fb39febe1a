"""Use case: ``deployforge validate`` (the config, for the chosen environment or every one it defines)."""

from __future__ import annotations

from typing import Any

from deployforge.errors import EXIT_OK, ConfigError, ConfigIssue
from deployforge.model.config import Config
from deployforge.model.result import RunResult
from deployforge.text import did_you_mean
from deployforge.usecases.workspace import Workspace


def validate(ws: Workspace) -> RunResult:
    """Check the config. With no environment chosen, check it for every environment it defines."""
    from deployforge.config.load import load_every_environment

    chosen = ws.options.environment or ws.options.environ.get("DEPLOYFORGE_ENVIRONMENT")
    configs = (
        [ws.config]
        if chosen
        else load_every_environment(
            ws.options.config, environ=ws.options.environ, deferred=ws.deferred_credentials, parsed=ws.parsed_config
        )
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
            path = ("self_healing_rules", i, "resource_type")
            hint = did_you_mean(rtype, sorted(known)) or "`deployforge schema` lists the resource types"
            issues.append(
                ConfigIssue(
                    f"unknown resource type '{rtype}': this rule can never apply", config.locate(path), hint, path
                )
            )
    return issues
