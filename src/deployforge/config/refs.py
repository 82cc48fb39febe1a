"""References inside config values.

* ``$VAR`` / ``${VAR}`` / ``${VAR:-default}``: the process environment.
* ``${var.NAME}``: a config variable (top-level ``variables:``, overridden per environment).
* ``${resources.NAME.ATTR}``: an output of another resource (``id``, ``arn``...). It is
  kept in the value and resolved by the engine once that resource exists; it
  also makes this resource depend on NAME.
* ``vault://path#key``: a secret, resolved by the secrets layer when used.
* ``$$`` is a literal ``$``.

When a whole value is one ``$VAR`` / ``${var.X}`` reference, the substituted
text is read as a YAML scalar, so ``min_size: $MIN`` with ``MIN=2`` is the
integer 2.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import yaml

from deployforge.model.config import SecretRef
from deployforge.model.unknown import UNKNOWN, UnknownValue, contains_unknown  # noqa: F401 (re-exported)

TOKEN = re.compile(r"\$\$|\$\{([^}]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")
RESOURCE_REF = re.compile(r"\$\{resources\.([A-Za-z_][A-Za-z0-9_-]*)\.([A-Za-z_][A-Za-z0-9_.]*)\}")
_ENV_NAME = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(:-(.*))?$")
LATE_NAMESPACES = ("resources.", "steps.")  # resolved after load, by the engine / workflows


class RefProblem(Exception):
    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


class UnsetVariable(RefProblem):
    """``$NAME`` / ``${NAME}`` names an environment variable that is not set."""


def _scalar(text: str) -> Any:
    try:
        value = yaml.safe_load(text) if text.strip() else text
    except yaml.YAMLError:
        return text
    return value if isinstance(value, str | int | float | bool) else text


def interpolate(value: str, environ: Mapping[str, str], variables: Mapping[str, Any]) -> Any:
    """Substitute environment and config variables in one string; raise RefProblem."""
    if "$" not in value:
        return value
    whole = TOKEN.fullmatch(value)

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        inner = match.group(1)
        name = match.group(2)
        if inner is not None:
            inner = inner.strip()
            if inner.startswith(LATE_NAMESPACES):
                return match.group(0)
            if inner.startswith(("var.", "vars.")):
                key = inner.split(".", 1)[1]
                if key not in variables:
                    from deployforge.text import did_you_mean

                    raise RefProblem(
                        f"unknown variable '{key}' in '{value}'",
                        did_you_mean(key, variables) or "define it under variables: (or the environment's variables:)",
                    )
                return str(variables[key])
            parsed = _ENV_NAME.match(inner)
            if not parsed:
                raise RefProblem(
                    f"'${{{inner}}}' is not a reference DeployForge knows",
                    "use ${ENV_VAR}, ${ENV_VAR:-default}, ${var.NAME} or ${resources.NAME.ATTR}; "
                    "write $$ for a literal $",
                )
            name = parsed.group(1)
            if name not in environ:
                if parsed.group(2) is not None:
                    return parsed.group(3)
                raise UnsetVariable(
                    f"environment variable {name} is not set (used in '{value}')",
                    f"export {name}=..., or give a default: ${{{name}:-value}}",
                )
            return environ[name]
        if name not in environ:
            raise UnsetVariable(
                f"environment variable {name} is not set (used in '{value}')",
                f"export {name}=..., or give a default: ${{{name}:-value}}; "
                f"for a literal '$' write '$$' (e.g. $${name})",
            )
        return environ[name]

    result = TOKEN.sub(one, value)
    if whole and whole.group(0) != "$$" and not (whole.group(1) or "").strip().startswith(LATE_NAMESPACES):
        return _scalar(result)
    return result


def parse_secret(value: str) -> SecretRef:
    rest = value[len("vault://") :]
    path, _, key = rest.partition("#")
    if not path.strip("/"):
        raise RefProblem(f"'{value}' names no secret path", "write vault://PATH or vault://PATH#KEY")
    return SecretRef(path=path.strip("/"), key=key or None, raw=value)


def walk_strings(value: Any, path: tuple[Any, ...], fn: Callable[[str, tuple[Any, ...]], Any]) -> Any:
    """Rebuild ``value`` with ``fn`` applied to every string (keys untouched)."""
    if isinstance(value, str):
        return fn(value, path)
    if isinstance(value, dict):
        return {k: walk_strings(v, (*path, k), fn) for k, v in value.items()}
    if isinstance(value, list):
        return [walk_strings(v, (*path, i), fn) for i, v in enumerate(value)]
    return value


def resource_refs(value: Any) -> Iterator[tuple[str, str]]:
    """Every (resource name, attribute) referenced anywhere in ``value``."""
    if isinstance(value, str):
        if "${resources." in value:
            for m in RESOURCE_REF.finditer(value):
                yield m.group(1), m.group(2)
    elif isinstance(value, dict):
        for v in value.values():
            yield from resource_refs(v)
    elif isinstance(value, list):
        for v in value:
            yield from resource_refs(v)


def resolve_resource_refs(value: Any, outputs: Mapping[str, Mapping[str, Any]]) -> Any:
    """Replace ``${resources.x.attr}`` with known outputs; UNKNOWN where not known yet."""
    if isinstance(value, str):
        if "${resources." not in value:
            return value
        whole = RESOURCE_REF.fullmatch(value)
        if whole:
            return outputs.get(whole.group(1), {}).get(whole.group(2), UNKNOWN)
        unknown = False

        def sub(m: re.Match[str]) -> str:
            nonlocal unknown
            got = outputs.get(m.group(1), {}).get(m.group(2), UNKNOWN)
            if got is UNKNOWN:
                unknown = True
                return ""
            return str(got)

        text = RESOURCE_REF.sub(sub, value)
        return UNKNOWN if unknown else text
    if isinstance(value, dict):
        return {k: resolve_resource_refs(v, outputs) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_resource_refs(v, outputs) for v in value]
    return value
