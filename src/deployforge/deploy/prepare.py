"""The deploy section and hooks checked and compiled before anything runs (pure of side effects:
reads the config only). ``usecases/deploy.py`` runs what this prepares; ``usecases/validate.py`` checks it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from deployforge.deploy.gates import validate_gate
from deployforge.deploy.shifters.base import validate_settings
from deployforge.deploy.strategy import CompiledStrategy, compile_strategy
from deployforge.errors import ConfigError, ConfigIssue
from deployforge.hooks import HookSpec, parse_hooks
from deployforge.model.config import Config


@dataclass(frozen=True)
class DeployPlan:
    """Everything checked before anything runs."""

    compiled: CompiledStrategy
    shifter_kind: str | None
    shifter_target: str | None
    shifter_settings: Mapping[str, Any]
    gates: tuple[Mapping[str, Any], ...]
    hooks: tuple[HookSpec, ...]


def prepare(config: Config, *, strategy: str | None = None, timeout: float | None = None) -> DeployPlan:
    """Check ``deploy:`` and ``hooks:`` and compile the strategy; ConfigError (exit 2) lists every problem,
    each located through the config's own source positions (the file is not read again)."""
    deploy = dict(config.deploy or {})
    locate = config.locate
    issues: list[ConfigIssue] = []
    targets = {name: t.provider for name, t in config.targets.items()}
    gates = tuple(deploy.get("gates") or ())
    names = [str(g.get("name")) for g in gates]
    for i, gate in enumerate(gates):
        for sub, message in validate_gate(gate, targets):
            path = ("deploy", "gates", i, *sub)
            issues.append(ConfigIssue(message, locate(path), None, path))
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            issues.append(ConfigIssue(f"two gates are named '{name}'", locate(("deploy", "gates", i)), None, ()))
        seen.add(name)
    shifter = dict(deploy.get("shifter") or {})
    kind = shifter.pop("type", None)
    target = shifter.pop("target", None)
    if shifter or kind:
        if not kind:
            issues.append(ConfigIssue("deploy.shifter needs a type", locate(("deploy", "shifter")), None, ()))
        else:
            for message in validate_settings(str(kind), shifter):
                issues.append(ConfigIssue(message, locate(("deploy", "shifter")), None, ("deploy", "shifter")))
        if not target:
            issues.append(
                ConfigIssue(
                    "deploy.shifter needs a target",
                    locate(("deploy", "shifter")),
                    f"targets: {', '.join(sorted(targets))}",
                    ("deploy", "shifter"),
                )
            )
        elif target not in targets:
            issues.append(
                ConfigIssue(
                    f"deploy.shifter names unknown target '{target}'",
                    locate(("deploy", "shifter", "target")),
                    f"targets: {', '.join(sorted(targets))}",
                    ("deploy", "shifter", "target"),
                )
            )
    try:
        compiled = compile_strategy(deploy, strategy=strategy, timeout=timeout, gate_names=names, locate=locate)
    except ConfigError as exc:
        issues.extend(exc.issues)
        compiled = None
    if compiled is not None and not kind and any(s.kind == "set_weight" for s in compiled.steps):
        issues.append(
            ConfigIssue(
                f"strategy '{compiled.name}' shifts traffic, but deploy.shifter is not set",
                locate(("deploy",)),
                "add deploy.shifter (type: aws_alb_listener or aws_lambda_alias), or use --evolve-strategy all-at-once",
                ("deploy",),
            )
        )
    try:
        hooks = tuple(parse_hooks(config.hooks))
    except ValueError as exc:
        issues.append(ConfigIssue(str(exc), locate(("hooks",)), None, ("hooks",)))
        hooks = ()
    if issues or compiled is None:
        raise ConfigError(issues)
    return DeployPlan(compiled, kind, target, shifter, gates, hooks)
