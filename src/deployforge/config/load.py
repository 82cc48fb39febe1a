"""Load ``deployforge.yaml``: parse with positions, check the schema, resolve references, build the model.

Every problem in the file is collected and raised together as one
``ConfigError`` whose issues carry ``file:line:col`` and a hint.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deployforge.config.refs import (
    RefProblem,
    UnsetVariable,
    interpolate,
    parse_secret,
    resource_refs,
    walk_strings,
)
from deployforge.config.schema import config_schema
from deployforge.config.validate import SchemaValidator
from deployforge.config.yamlpos import Positions, load_yaml
from deployforge.engine.dag import find_cycle
from deployforge.errors import ConfigError, ConfigIssue, DeployForgeError, Location, UsageError
from deployforge.model.config import AuditSettings, AuditSigning, Config, Resource, SecretRef, StateSettings, Target
from deployforge.providers.registry import canonical_type, resource_type_infos
from deployforge.text import did_you_mean

DEFAULT_CONFIG = "deployforge.yaml"
DEFAULT_ENVIRONMENT = "default"
ENVIRONMENT_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,62}")
# Sections whose strings are interpolated at load time. Hooks get their context as
# DEPLOYFORGE_* environment variables instead; workflows resolve ${steps...} when they run.
_INTERPOLATED = (
    "variables",
    "targets",
    "environments",
    "resources",
    "state",
    "audit",
    "notifications",
    "deploy",
)


def read_config_text(path: str) -> str:
    from deployforge.config.yamlpos import MAX_BYTES

    try:
        if Path(path).is_file() and Path(path).stat().st_size > MAX_BYTES:  # never read a huge file whole
            raise ConfigError(
                [
                    ConfigIssue(
                        f"the config file is larger than {MAX_BYTES // (1024 * 1024)} MiB",
                        Location(path, 1, 1),
                        "a config is a few kilobytes: move bulk data out of it",
                    )
                ]
            )
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        hint = "create one (see examples/quickstart/deployforge.yaml) or pass --config PATH"
        if path != DEFAULT_CONFIG:
            hint = f"check the path; the default is ./{DEFAULT_CONFIG}"
        raise UsageError(f"config file '{path}' not found", hint=hint) from None
    except IsADirectoryError:
        raise UsageError(f"'{path}' is a folder, not a config file", hint=f"pass {path}/{DEFAULT_CONFIG}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError([ConfigIssue(f"the file is not UTF-8 text ({exc.reason})", Location(path))]) from None
    except OSError as exc:
        raise UsageError(f"cannot read config '{path}': {exc.strerror}") from None


def choose_environment(document: Mapping[str, Any], requested: str | None, pos: Positions) -> str:
    envs = document.get("environments") or {}
    if not isinstance(envs, dict):  # the schema check reports it; here it is as good as none
        envs = {}
    if requested:
        if not ENVIRONMENT_NAME.fullmatch(requested):
            raise UsageError(
                f"'{requested}' is not a valid environment name",
                hint="use letters, digits, '_', '-' and '.' (not first); it names state files and S3 keys",
            )
        if not envs and requested != DEFAULT_ENVIRONMENT:
            # a typo (or a DEPLOYFORGE_ENVIRONMENT meant for another project) would otherwise start an
            # empty state of that name: plan everything as new, and --rollback find nothing to do
            raise UsageError(
                f"environment '{requested}' is not defined: this config has no environments: section",
                hint=f"leave out --environment (the config's one environment is '{DEFAULT_ENVIRONMENT}'), "
                f"or add environments: {{{requested}: {{}}}} to the config",
            )
        if envs and requested not in envs:
            hint = did_you_mean(requested, envs) or f"environments in this file: {', '.join(envs)}"
            raise ConfigError(
                [
                    ConfigIssue(
                        f"environment '{requested}' is not defined",
                        pos.location(("environments",), key=True),
                        hint,
                    )
                ]
            )
        return requested
    if not envs:
        return DEFAULT_ENVIRONMENT
    if len(envs) == 1:
        return next(iter(envs))
    default = document.get("default_environment")
    if isinstance(default, str) and default:
        if default not in envs:
            hint = did_you_mean(default, envs) or f"environments in this file: {', '.join(envs)}"
            raise ConfigError(
                [
                    ConfigIssue(
                        f"default_environment '{default}' is not one of the environments",
                        pos.location(("default_environment",)),
                        hint,
                        ("default_environment",),
                    )
                ]
            )
        return default
    raise UsageError(
        f"this config defines several environments ({', '.join(envs)}); choose one",
        hint="pass --environment NAME (or set DEPLOYFORGE_ENVIRONMENT), or name the usual one in the "
        f"config: default_environment: {next(iter(envs))}",
    )


@functools.lru_cache(maxsize=1)
def _aws_regions() -> frozenset[str]:
    """The AWS regions the installed botocore knows (its endpoints data, read without importing boto3)."""
    import importlib.util

    spec = importlib.util.find_spec("botocore")
    if spec is None or spec.origin is None:
        return frozenset()
    try:
        with open(os.path.join(os.path.dirname(spec.origin), "data", "endpoints.json"), encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return frozenset()
    return frozenset(r for part in data.get("partitions", []) for r in part.get("regions", {}))


def canonical_hash(document: Any) -> str:
    blob = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _parse(path: str, environ: Mapping[str, str] | None = None) -> tuple[dict[str, Any], Positions]:
    """Read, parse and schema-check the raw document (before references are resolved)."""
    text = read_config_text(path)
    document, pos = load_yaml(text, path)
    if document is None or document == {}:
        raise ConfigError(
            [
                ConfigIssue(
                    "the config file is empty", Location(path, 1, 1), "start from examples/quickstart/deployforge.yaml"
                )
            ]
        )
    if not isinstance(document, dict):
        raise ConfigError(
            [ConfigIssue("the config must be a mapping of sections (targets:, resources:, ...)", Location(path, 1, 1))]
        )
    _fold_workflow_keys(document, pos)
    issues = SchemaValidator(config_schema(), pos).validate(document)
    if issues:
        raise ConfigError(issues + _later_issues(document, pos, path, issues, environ))
    return document, pos


def _later_issues(
    document: dict[str, Any],
    pos: Positions,
    path: str,
    found: list[ConfigIssue],
    environ: Mapping[str, str] | None,
) -> list[ConfigIssue]:
    """What the next checks (references, interpolation, targets...) find in a document that already
    failed the schema, so one run reports as much as it can instead of one round of errors per run.
    Those checks assume a well-formed document: if one trips over the schema errors, it adds nothing."""
    seen = {(i.location, i.message) for i in found} | {i.location for i in found}
    try:
        env_name = choose_environment(document, None, pos)
    except DeployForgeError:
        names = list(document.get("environments") or ()) if isinstance(document.get("environments"), dict) else []
        env_name = names[0] if names else DEFAULT_ENVIRONMENT
    try:
        known = frozenset(i.location for i in found)
        _build(document, pos, env_name, os.environ if environ is None else environ, path, known)
    except ConfigError as exc:
        return [i for i in exc.issues if i.location not in seen and (i.location, i.message) not in seen]
    except Exception:
        return []
    return []


_WORKFLOW_KEY = re.compile(r"""^workflow\s+(?:"([^"]+)"|'([^']+)')\s*$""")


def workspace_root(config_dir: str, environ: Mapping[str, str]) -> str:
    """What a config's paths must stay inside: ``DEPLOYFORGE_WORKSPACE`` when set (the Action sets it
    to its workspace), else the CI workspace (the CI platform's: GitHub's ``GITHUB_WORKSPACE``,
    Jenkins' ``WORKSPACE``...), else the current directory; unless the config lives elsewhere
    (then its folder)."""
    from deployforge.ci.platform import detect

    explicit = environ.get("DEPLOYFORGE_WORKSPACE")
    for candidate in (explicit, detect(environ).workspace(environ), os.getcwd()):
        if candidate:
            root = os.path.realpath(candidate)
            if _inside(os.path.realpath(config_dir), root):
                return root
    return os.path.realpath(config_dir)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def outside_workspace(value: str, config_dir: str, environ: Mapping[str, str]) -> str | None:
    """Why a path the config names (relative to its folder) leaves the workspace; None when it does not."""
    if os.path.isabs(value):
        return "is absolute: the config may only name paths inside the workspace"
    root = workspace_root(config_dir, environ)
    target = os.path.realpath(os.path.join(config_dir, value))  # symlinks followed: no escape through one
    if not _inside(target, root):
        return f"resolves to {target}, outside the workspace {root}"
    return None


def _fold_workflow_keys(document: dict[str, Any], pos: Positions) -> None:
    """The product page's ``workflow "NAME": a -> b -> c`` top-level form is ``workflows: {NAME: ...}``."""
    for key in list(document):
        m = _WORKFLOW_KEY.match(str(key))
        if not m:
            continue
        name = m.group(1) or m.group(2)
        workflows = document.get("workflows")
        if not isinstance(workflows, dict):
            workflows = document["workflows"] = {}
        if name in workflows:
            raise ConfigError(
                [ConfigIssue(f"workflow '{name}' is defined twice", pos.location((key,), key=True), None, (key,))]
            )
        workflows[name] = document.pop(key)
        for table in (pos.keys, pos.values):
            for path, mark in list(table.items()):
                if path[:1] == (key,):
                    table[("workflows", name, *path[1:])] = mark


@dataclass(frozen=True)
class ParsedConfig:
    """The config file read, parsed with positions and schema-checked, before an environment is
    chosen or a reference resolved: what every environment's ``Config`` is built from (a command
    parses the file once, however many environments it loads)."""

    path: str
    document: dict[str, Any]
    positions: Positions


def parse_config(path: str = DEFAULT_CONFIG, environ: Mapping[str, str] | None = None) -> ParsedConfig:
    environ = os.environ if environ is None else environ
    document, pos = _parse(path, environ)
    return ParsedConfig(path, document, pos)


def load_config(
    path: str = DEFAULT_CONFIG,
    *,
    environment: str | None = None,
    environ: Mapping[str, str] | None = None,
    deferred: bool = False,
    parsed: ParsedConfig | None = None,
) -> Config:
    """The ``Config`` of one environment (``parsed``: the file already parsed by this command)."""
    environ = os.environ if environ is None else environ
    document, pos = (parsed.document, parsed.positions) if parsed is not None else _parse(path, environ)
    env_name = choose_environment(document, environment, pos)
    return _build(document, pos, env_name, environ, path, deferred=deferred)


def load_every_environment(
    path: str = DEFAULT_CONFIG,
    *,
    environ: Mapping[str, str] | None = None,
    deferred: bool = False,
    parsed: ParsedConfig | None = None,
) -> list[Config]:
    """The config once per environment it defines (or once, for ``default``), with the problems of
    every environment reported together: what ``deployforge validate`` checks when none is chosen.
    ``parsed``: the file already parsed by this command."""
    environ = os.environ if environ is None else environ
    document, pos = (parsed.document, parsed.positions) if parsed is not None else _parse(path, environ)
    names = list(document.get("environments") or ()) or [DEFAULT_ENVIRONMENT]
    configs: list[Config] = []
    issues: list[ConfigIssue] = []
    try:
        choose_environment(document, None, pos)  # a default_environment that names no environment
    except ConfigError as exc:
        issues.extend(exc.issues)
    except UsageError:
        pass  # several environments and no default: fine for validate, which checks them all
    seen: set[tuple[Location | None, str]] = set()
    for name in names:
        try:
            configs.append(_build(document, pos, name, environ, path, deferred=deferred))
        except ConfigError as exc:
            for issue in exc.issues:
                if (issue.location, issue.message) not in seen:
                    seen.add((issue.location, issue.message))
                    general = len(names) == 1 or issue.path[:1] == ("environments",)
                    message = issue.message if general else f"{issue.message} (environment '{name}')"
                    issues.append(ConfigIssue(message, issue.location, issue.hint, issue.path))
    if issues:
        raise ConfigError(issues)
    return configs


# a target's settings that only a cloud call uses: an unset variable there is a warning for
# `validate` (deferred=True), which makes none, and an error for every command that does
_CLOUD_ONLY = ("auth", "credentials")


# AWS's own words for a launch template version; `$Latest` there means that, not $Latest from the
# environment (an unset variable of that name is read as the word; `$$Latest` works too)
_AWS_VERSION_WORDS = ("$Latest", "$Default")


def _cloud_only(p: tuple[Any, ...]) -> bool:
    return len(p) >= 3 and p[-1] in _CLOUD_ONLY and "targets" in p[:-2]


def _audit_signing(doc: Any) -> AuditSigning | None:
    """``audit.signing`` (the schema allows exactly one of key_file, kms_key_id, key)."""
    if not isinstance(doc, dict):
        return None
    return AuditSigning(
        key_file=doc.get("key_file"),
        kms_key_id=doc.get("kms_key_id"),
        key=doc.get("key"),
        public_key=doc.get("public_key"),
    )


def _build(
    document: dict[str, Any],
    pos: Positions,
    env_name: str,
    environ: Mapping[str, str],
    path: str,
    reported: frozenset[Location | None] = frozenset(),
    deferred: bool = False,
) -> Config:
    """The Config of one environment. ``reported``: places already reported as schema errors (by
    ``_later_issues``), whose values the checks below then take as they are. ``deferred``: an unset
    variable in a target's auth/credentials becomes a warning (for `validate`)."""
    issues: list[ConfigIssue] = []
    warnings: list[str] = []
    p: tuple[Any, ...]  # the path of the value an issue is about
    env_doc: dict[str, Any] = (document.get("environments") or {}).get(env_name) or {}

    # 1. variables: top level, then the environment's overrides
    variables: dict[str, Any] = {}

    def resolve(value: Any, at: tuple[Any, ...], variables: Mapping[str, Any]) -> Any:
        def one(text: str, p: tuple[Any, ...]) -> Any:
            if text.startswith("vault://"):
                try:
                    return parse_secret(text)
                except RefProblem as exc:
                    issues.append(ConfigIssue(exc.message, pos.location(p), exc.hint, p))
                    return text
            try:
                return interpolate(text, environ, variables)
            except UnsetVariable as exc:
                if text.strip() in _AWS_VERSION_WORDS and p and p[-1] == "version":
                    return text.strip()  # a launch template version as AWS writes it, not a variable
                if deferred and _cloud_only(p):
                    where = pos.location(p)
                    warnings.append(f"{where}: {exc.message}: commands that reach the cloud will need it")
                    return text  # validate makes no cloud call: the value is never used
                issues.append(ConfigIssue(exc.message, pos.location(p), exc.hint, p))
                return text
            except RefProblem as exc:
                issues.append(ConfigIssue(exc.message, pos.location(p), exc.hint, p))
                return text

        return walk_strings(value, at, one)

    for key, value in (document.get("variables") or {}).items():
        variables[key] = resolve(value, ("variables", key), {})
    for key, value in (env_doc.get("variables") or {}).items():
        variables[key] = resolve(value, ("environments", env_name, "variables", key), {})

    resolved: dict[str, Any] = {}
    for section, value in document.items():
        if section in _INTERPOLATED and section != "variables":
            resolved[section] = resolve(value, (section,), variables)
        else:
            resolved[section] = value

    # values that came from $VAR / ${var.X} are checked now that they are known
    seen = {i.location for i in issues}  # one report per place: an unresolved $VAR is not also a type error
    checker = SchemaValidator(config_schema(), pos, resolved=True)
    typing = [i for i in checker.validate(resolved) if i.location not in seen and i.location not in reported]
    if typing:  # semantic checks below assume well-typed sections (an unresolved reference stays text: fine)
        raise ConfigError(issues + typing)

    # 2. targets, with the environment's overrides
    targets: dict[str, Target] = {}
    env_targets = ((resolved.get("environments") or {}).get(env_name) or {}).get("targets") or {}
    for name in env_targets:
        if name not in (resolved.get("targets") or {}):
            p = ("environments", env_name, "targets", name)
            issues.append(
                ConfigIssue(
                    f"environment '{env_name}' overrides unknown target '{name}'",
                    pos.location(p, key=True),
                    did_you_mean(name, resolved.get("targets") or {}),
                    p,
                )
            )
    for name, raw in (resolved.get("targets") or {}).items():
        merged = {**raw, **(env_targets.get(name) or {})}
        targets[name] = Target(
            name=name,
            provider=merged["provider"],
            region=_text(merged.get("region")),
            project=_text(merged.get("project")),
            auth=_text(merged.get("auth")),
            credentials=merged.get("credentials")
            if isinstance(merged.get("credentials"), SecretRef)
            else _text(merged.get("credentials")),
            endpoint_url=_text(merged.get("endpoint_url")),
        )
        region = targets[name].region
        if merged["provider"] == "aws" and region and region not in _aws_regions():
            import difflib

            close = difflib.get_close_matches(region, sorted(_aws_regions()), n=3, cutoff=0.8)
            if close:  # an unknown name close to a known one is a typo; a new region is left alone
                in_env = "region" in (env_targets.get(name) or {})
                p = ("environments", env_name, "targets", name, "region") if in_env else ("targets", name, "region")
                hint = "did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
                issues.append(ConfigIssue(f"'{region}' is not an AWS region", pos.location(p), hint, p))
        if isinstance(merged.get("auth"), SecretRef):
            p = ("targets", name, "auth")
            issues.append(
                ConfigIssue(
                    "auth: names an AWS profile; it cannot be a vault:// secret",
                    pos.location(p),
                    "put keys in Vault and use a profile or OIDC instead",
                    p,
                )
            )

    # 3. resources
    infos = resource_type_infos()
    resources_doc: dict[str, Any] = resolved.get("resources") or {}
    resources: dict[str, Resource] = {}
    for name, raw in resources_doc.items():
        rp = ("resources", name)
        rtype = canonical_type(raw["type"])
        target = raw.get("target")
        if target is None:
            if len(targets) == 1:
                target = next(iter(targets))
            else:
                issues.append(
                    ConfigIssue(
                        f"resource '{name}' has no target",
                        pos.location(rp, key=True),
                        f"add target: one of {', '.join(targets) or '(define targets: first)'}",
                        rp,
                    )
                )
                continue
        elif target not in targets:
            issues.append(
                ConfigIssue(
                    f"resource '{name}': unknown target '{target}'",
                    pos.location((*rp, "target")),
                    did_you_mean(target, targets) or f"targets in this file: {', '.join(targets) or 'none'}",
                    (*rp, "target"),
                )
            )
            continue
        kind, info = infos[rtype]
        if targets[target].provider != kind:
            issues.append(
                ConfigIssue(
                    f"resource '{name}' is {rtype} (a {kind} resource) "
                    f"but target '{target}' is {targets[target].provider}",
                    pos.location((*rp, "target")),
                    f"use a {kind} target",
                    (*rp, "target"),
                )
            )
        if raw.get("tags") and not info.takes_tags:  # written nowhere, they would show as a change forever
            p = (*rp, "tags")
            issues.append(
                ConfigIssue(
                    f"resource '{name}': {rtype} takes no tags",
                    pos.location(p, key=True),
                    "Google Cloud resources have labels: move them under properties: as labels: {...}",
                    p,
                )
            )
        properties = dict(raw.get("properties") or {})
        # the natural key defaults to the resource's name
        properties.setdefault(info.natural_key, name)
        depends: set[str] = set()
        for i, dep in enumerate(raw.get("depends_on") or ()):
            if dep not in resources_doc:
                p = (*rp, "depends_on", i)
                issues.append(
                    ConfigIssue(
                        f"resource '{name}' depends on unknown resource '{dep}'",
                        pos.location(p),
                        did_you_mean(dep, resources_doc),
                        p,
                    )
                )
            else:
                depends.add(dep)
        for p, text in _strings_with_paths(properties, (*rp, "properties")):
            for ref_name, attr in resource_refs(text):
                if ref_name not in resources_doc:
                    issues.append(
                        ConfigIssue(
                            f"resource '{name}' refers to unknown resource '{ref_name}' "
                            f"(${{resources.{ref_name}.{attr}}})",
                            pos.location(p),
                            did_you_mean(ref_name, resources_doc),
                            p,
                        )
                    )
                    continue
                ref_type = resources_doc[ref_name].get("type")
                if ref_type in infos:
                    outputs = infos[ref_type][1].outputs
                    if attr.split(".")[0] not in outputs:
                        issues.append(
                            ConfigIssue(
                                f"${{resources.{ref_name}.{attr}}}: {ref_type} has no output '{attr}'",
                                pos.location(p),
                                did_you_mean(attr, outputs) or f"outputs of {ref_type}: {', '.join(sorted(outputs))}",
                                p,
                            )
                        )
                depends.add(ref_name)
        if name in depends:
            issues.append(ConfigIssue(f"resource '{name}' depends on itself", pos.location(rp, key=True), None, rp))
            depends.discard(name)
        resources[name] = Resource(
            name=name,
            type=rtype,
            target=target,
            properties=properties,
            tags={k: str(v) for k, v in (raw.get("tags") or {}).items()},
            depends_on=tuple(sorted(depends)),
            location=pos.location(rp, key=True),
        )
    cycle = find_cycle({n: r.depends_on for n, r in resources.items()})
    if cycle:
        first = resources[cycle[0]]
        issues.append(
            ConfigIssue(
                f"dependency cycle: {' -> '.join(cycle)}",
                first.location,
                "break the cycle: remove a depends_on or a ${resources...} reference",
                ("resources", cycle[0]),
            )
        )

    # 4. hooks reference targets
    for i, hook in enumerate(resolved.get("hooks") or ()):
        for j, tname in enumerate(hook.get("run_on") or ()):
            if tname not in targets:
                p = ("hooks", i, "run_on", j)
                issues.append(
                    ConfigIssue(
                        f"hook runs on unknown target '{tname}'",
                        pos.location(p),
                        did_you_mean(tname, targets),
                        p,
                    )
                )

    # 5. workflows: targets, actions, parameters, needs, ${steps...} references, cycles
    from deployforge.workflow.parse import workflow_issues

    issues.extend(workflow_issues(resolved.get("workflows") or {}, targets, pos))

    # 6. the files the config names stay inside the workspace (a pull request writes the config)
    for section, key in (("state", "path"), ("audit", "path")):
        value = (resolved.get(section) or {}).get(key) if isinstance(resolved.get(section), dict) else None
        if isinstance(value, str) and value:
            problem = outside_workspace(value, os.path.dirname(os.path.abspath(path)), environ)
            if problem:
                p = (section, key)
                issues.append(
                    ConfigIssue(
                        f"{section}.{key} '{value}' {problem}",
                        pos.location(p),
                        "use a path relative to the config file, inside the repository (e.g. .deployforge/audit)",
                        p,
                    )
                )

    if issues:
        raise ConfigError(issues)

    state_doc = resolved.get("state") or {}
    state = StateSettings(
        backend=state_doc.get("backend") or ("s3" if state_doc.get("url") else "local"),
        path=state_doc.get("path") or ".deployforge",
        url=state_doc.get("url"),
        region=state_doc.get("region"),
        endpoint_url=state_doc.get("endpoint_url"),
        profile=state_doc.get("profile"),
    )
    if state.backend == "s3" and not state.url:
        raise ConfigError(
            [
                ConfigIssue(
                    "state backend s3 needs url: s3://bucket/prefix",
                    pos.location(("state",), key=True),
                    None,
                    ("state",),
                )
            ]
        )
    audit_doc = resolved.get("audit") or {}
    audit = AuditSettings(
        enabled=audit_doc.get("enabled", True),
        path=audit_doc.get("path"),
        storage=audit_doc.get("storage") or "local",
        url=audit_doc.get("url"),
        region=audit_doc.get("region"),
        endpoint_url=audit_doc.get("endpoint_url"),
        profile=audit_doc.get("profile"),
        retention_days=audit_doc.get("retention_days"),
        lock_mode=audit_doc.get("lock_mode") or "governance",
        require_retention=audit_doc.get("require_retention", True),
        signing=_audit_signing(audit_doc.get("signing")),
        witness=audit_doc.get("witness"),
    )
    signing_doc = audit_doc.get("signing")
    if isinstance(signing_doc, dict):
        chosen = [k for k in ("key_file", "kms_key_id", "key") if signing_doc.get(k)]
        if len(chosen) > 1 or not (chosen or signing_doc.get("public_key")):
            raise ConfigError(
                [
                    ConfigIssue(
                        f"audit.signing names {len(chosen)} keys ({', '.join(chosen) or 'none'}); it takes exactly "
                        "one of key_file, kms_key_id, key",
                        pos.location(("audit", "signing"), key=True),
                        "keep the one key the writer signs with (public_key may go beside it)",
                        ("audit", "signing"),
                    )
                ]
            )
    if audit.witness and not (
        audit.signing and (audit.signing.key_file or audit.signing.kms_key_id or audit.signing.key)
    ):
        raise ConfigError(
            [
                ConfigIssue(
                    "audit.witness publishes signed checkpoints, and audit.signing names no key to sign them with",
                    pos.location(("audit", "witness")),
                    "add audit.signing (key_file, kms_key_id or key); docs/audit.md, Witnesses",
                    ("audit", "witness"),
                )
            ]
        )
    if audit.storage in ("s3", "gcs") and not audit.url:
        scheme = "s3" if audit.storage == "s3" else "gs"
        raise ConfigError(
            [
                ConfigIssue(
                    f"audit storage {audit.storage} needs url: {scheme}://BUCKET/PREFIX",
                    pos.location(("audit", "storage")),
                    "add url: under audit: (docs/audit.md)",
                    ("audit", "storage"),
                )
            ]
        )
    hashed = {k: v for k, v in resolved.items() if k != "environments"}
    hashed["environment"] = env_name
    hashed["variables"] = variables
    return Config(
        path=path,
        base_dir=str(Path(path).resolve().parent),
        environment=env_name,
        config_hash=canonical_hash(hashed),
        targets=targets,
        resources=resources,
        variables=variables,
        require_confirmation=bool(env_doc.get("require_confirmation") or env_doc.get("protected")),
        environments=tuple(document.get("environments") or ()),
        state=state,
        audit=audit,
        workflows=resolved.get("workflows") or {},
        deploy=resolved.get("deploy") or {},
        hooks=tuple(resolved.get("hooks") or ()),
        self_healing_rules=tuple(resolved.get("self_healing_rules") or ()),
        policies=tuple(resolved.get("policies") or ()),
        notifications=resolved.get("notifications") or {},
        warnings=tuple(warnings),
        positions=pos,
    )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _strings_with_paths(value: Any, path: tuple[Any, ...]) -> list[tuple[tuple[Any, ...], str]]:
    found: list[tuple[tuple[Any, ...], str]] = []

    def collect(text: str, at: tuple[Any, ...]) -> str:
        found.append((at, text))
        return text

    walk_strings(value, path, collect)
    return found
