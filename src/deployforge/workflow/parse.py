"""Compile the ``workflows:`` section into ``Workflow`` DAGs, collecting located problems.

Forms (all may be mixed):

* a chain: ``"aws.rds.create -> gcp.dataflow.start -> aws.s3.export"`` (``->`` or ``→``);
* a list whose items are chains or step mappings (items without ``needs`` are independent);
* ``{description:, steps: [...]}`` or ``{steps: {ID: step, ...}}``.

A step mapping: ``uses: <target>.<service>.<action>`` (the target may be a target name or a
provider kind, ``aws`` / ``gcp`` / ``google``, when exactly one target has it), ``with:``,
``needs:``, ``retries:``, ``timeout:``, ``continue_on_failure:``, ``id:``. A step's id defaults
to ``<service>_<action>`` (``rds_create``), numbered when repeated (``rds_create_2``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from deployforge.engine.dag import find_cycle, topological_order
from deployforge.errors import ConfigError, ConfigIssue, Location
from deployforge.text import did_you_mean
from deployforge.workflow.catalog import actions_for, lookup
from deployforge.workflow.model import Step, Workflow

CHAIN_SPLIT = re.compile(r"\s*(?:->|→)\s*")
STEP_REF = re.compile(r"\$\{\s*steps\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_.-]+)\s*\}")
STEP_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
KIND_ALIASES = {"aws": "aws", "gcp": "google", "google": "google"}


def _locate(pos: Any, path: tuple[Any, ...], *, key: bool = False) -> Location | None:
    if pos is None:
        return None
    try:
        loc: Location = pos.location(path, key=key)
        return loc
    except Exception:
        return None


def parse_duration(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    if text.isascii() and text.isdigit():
        return float(text)
    total = 0.0
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)", text):
        total += float(number) * units[unit]
    return total


def step_refs(value: Any) -> list[tuple[str, str]]:
    """Every (step id, output) a value refers to through ``${steps.ID.outputs.NAME}``."""
    found: list[tuple[str, str]] = []
    if isinstance(value, str):
        found.extend((m.group(1), m.group(2)) for m in STEP_REF.finditer(value))
    elif isinstance(value, Mapping):
        for v in value.values():
            found.extend(step_refs(v))
    elif isinstance(value, list):
        for v in value:
            found.extend(step_refs(v))
    return found


class _Compiler:
    def __init__(self, name: str, targets: Mapping[str, Any], pos: Any):
        self.name = name
        self.targets = targets
        self.pos = pos
        self.issues: list[ConfigIssue] = []
        self.raw: list[dict[str, Any]] = []  # step drafts in file order

    def issue(self, message: str, path: tuple[Any, ...], hint: str | None = None, *, key: bool = False) -> None:
        location = _locate(self.pos, path, key=key)
        self.issues.append(ConfigIssue(f"workflow '{self.name}': {message}", location, hint, path))

    def resolve_target(self, uses: str, path: tuple[Any, ...]) -> tuple[str, str, str, str] | None:
        parts = uses.strip().split(".")
        if len(parts) != 3 or not all(parts):
            self.issue(
                f"step '{uses}' is not <target>.<service>.<action>",
                path,
                "e.g. aws_prod.rds.create or aws.rds.create (aws/gcp stand for the only target of that cloud)",
            )
            return None
        tname, service, action = parts
        if tname in self.targets:
            target = tname
        elif tname in KIND_ALIASES:
            kind = KIND_ALIASES[tname]
            matches = [n for n, t in self.targets.items() if getattr(t, "provider", None) == kind]
            if len(matches) != 1:
                which = ", ".join(matches) if matches else "none"
                self.issue(
                    f"step '{uses}': '{tname}' must name a target when there is not exactly one {kind} target "
                    f"({kind} targets: {which})",
                    path,
                    f"write <target>.{service}.{action} with one of: {', '.join(self.targets) or '(no targets)'}",
                )
                return None
            target = matches[0]
        else:
            hint = did_you_mean(tname, list(self.targets) + list(KIND_ALIASES)) or (
                f"targets in this file: {', '.join(self.targets) or 'none'}"
            )
            self.issue(f"step '{uses}': unknown target '{tname}'", path, hint)
            return None
        kind = self.targets[target].provider
        if lookup(kind, f"{service}.{action}") is None:
            known = actions_for(kind)
            hint = did_you_mean(f"{service}.{action}", known) or f"{kind} actions: {', '.join(known)}"
            self.issue(f"step '{uses}': unknown {kind} action '{service}.{action}'", path, hint)
            return None
        return target, kind, service, action

    def add(self, uses: str, path: tuple[Any, ...], spec: Mapping[str, Any], chain_prev: str | None) -> str | None:
        resolved = self.resolve_target(uses, (*path, "uses") if spec else path)
        service_action = uses.strip().split(".")[1:] if uses.count(".") == 2 else ["step"]
        step_id = spec.get("id")
        if not step_id:
            base = "_".join(service_action).replace("-", "_") or "step"
            step_id, n = base, 2
            taken = {d["id"] for d in self.raw}
            while step_id in taken:
                step_id, n = f"{base}_{n}", n + 1
        elif not STEP_ID.match(str(step_id)):
            self.issue(f"step id '{step_id}' must be letters, digits, _ or -", path)
        elif any(d["id"] == step_id for d in self.raw):
            self.issue(f"two steps have the id '{step_id}'", path, "give each step its own id:")
        needs = spec.get("needs") or []
        if isinstance(needs, str):
            needs = [needs]
        draft = {
            "id": str(step_id),
            "uses": uses.strip(),
            "resolved": resolved,
            "path": path,
            "with": dict(spec.get("with") or {}),
            "needs": [str(n) for n in needs],
            "chain_prev": chain_prev,
            "retries": self.count(spec.get("retries"), (*path, "retries")),
            "timeout": self.duration(spec.get("timeout"), (*path, "timeout")),
            "continue_on_failure": bool(spec.get("continue_on_failure", False)),
        }
        self.raw.append(draft)
        return str(step_id)

    def count(self, value: Any, path: tuple[Any, ...]) -> int:
        """A step's ``retries``: a whole number written in the config (a ${steps...} value is only
        known when the workflow runs, too late to plan retries by)."""
        if value is None or value is False:
            return 0
        if isinstance(value, int) and 0 <= value <= 100:
            return int(value)
        self.issue(
            f"retries must be a whole number from 0 to 100, not {value!r}",
            path,
            "write the number in the config (retries cannot come from a step's output)",
        )
        return 0

    def duration(self, value: Any, path: tuple[Any, ...]) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or (isinstance(value, str) and "${" in value):
            self.issue(f"timeout must be a duration such as 300s or 30m, not {value!r}", path)
            return None
        try:
            return parse_duration(value)
        except (ValueError, OverflowError):
            self.issue(f"timeout must be a duration such as 300s or 30m, not {value!r}", path)
            return None

    def chain(self, text: str, path: tuple[Any, ...]) -> None:
        prev: str | None = None
        parts = CHAIN_SPLIT.split(text.strip())
        if any(not p for p in parts):
            self.issue(f"'{text}' has an empty step in its chain", path, "write a -> b -> c")
            return
        for part in parts:
            prev = self.add(part, path, {}, prev)

    def items(self, items: list[Any], path: tuple[Any, ...]) -> None:
        for i, item in enumerate(items):
            if isinstance(item, str):
                self.chain(item, (*path, i))
            elif isinstance(item, Mapping):
                self.add(str(item.get("uses", "")), (*path, i), item, None)

    def compile(self, doc: Any) -> Workflow | None:
        base: tuple[Any, ...] = ("workflows", self.name)
        description = ""
        if isinstance(doc, str):
            self.chain(doc, base)
        elif isinstance(doc, list):
            self.items(doc, base)
        elif isinstance(doc, Mapping):
            description = str(doc.get("description") or "")
            steps = doc.get("steps")
            if isinstance(steps, list):
                self.items(steps, (*base, "steps"))
            elif isinstance(steps, Mapping):
                for sid, spec in steps.items():
                    keyed = {**spec, "id": spec.get("id") or sid}
                    self.add(str(spec.get("uses", "")), (*base, "steps", sid), keyed, None)
        if not self.raw:
            self.issue("has no steps", base, key=True)
            return None
        ids = [d["id"] for d in self.raw]
        built: dict[str, Step] = {}
        for d in self.raw:
            needs: list[str] = []
            if d["chain_prev"]:
                needs.append(d["chain_prev"])
            for j, need in enumerate(d["needs"]):
                if need not in ids:
                    self.issue(
                        f"step '{d['id']}' needs unknown step '{need}'",
                        (*d["path"], "needs", j) if isinstance(d["path"][-1], str | int) else d["path"],
                        did_you_mean(need, ids) or f"steps: {', '.join(ids)}",
                    )
                else:
                    needs.append(need)
            for ref_id, output in step_refs(d["with"]):
                if ref_id not in ids:
                    self.issue(
                        f"step '{d['id']}' refers to unknown step '{ref_id}' (${{steps.{ref_id}.outputs.{output}}})",
                        (*d["path"], "with"),
                        did_you_mean(ref_id, ids) or f"steps: {', '.join(ids)}",
                    )
                    continue
                other = next(x for x in self.raw if x["id"] == ref_id)
                if other["resolved"] is not None:
                    info = lookup(other["resolved"][1], f"{other['resolved'][2]}.{other['resolved'][3]}")
                    top = output.split(".")[0]
                    if info is not None and info.outputs and top not in info.outputs:
                        self.issue(
                            f"${{steps.{ref_id}.outputs.{output}}}: {info.name} has no output '{top}'",
                            (*d["path"], "with"),
                            did_you_mean(top, info.outputs) or f"outputs of {info.name}: {', '.join(info.outputs)}",
                        )
                needs.append(ref_id)
            if d["id"] in needs:
                self.issue(f"step '{d['id']}' needs itself", d["path"])
                needs = [n for n in needs if n != d["id"]]
            if d["resolved"] is not None:
                target, kind, service, action = d["resolved"]
                info = lookup(kind, f"{service}.{action}")
                assert info is not None
                for param in d["with"]:
                    if param not in info.params:
                        self.issue(
                            f"step '{d['id']}': {info.name} has no parameter '{param}'",
                            (*d["path"], "with", param),
                            did_you_mean(param, info.params) or f"parameters: {', '.join(info.params)}",
                            key=True,
                        )
                for param in info.required:
                    if param not in d["with"]:
                        self.issue(
                            f"step '{d['id']}': {info.name} needs the parameter '{param}'",
                            d["path"],
                            f"add with: {{{param}: ...}}",
                        )
                built[d["id"]] = Step(
                    id=d["id"],
                    uses=d["uses"],
                    target=target,
                    provider=kind,
                    service=service,
                    action=action,
                    params=d["with"],
                    needs=tuple(dict.fromkeys(needs)),
                    retries=d["retries"],
                    timeout=d["timeout"],
                    continue_on_failure=d["continue_on_failure"],
                    location=_locate(self.pos, d["path"]),
                )
        cycle = find_cycle({sid: s.needs for sid, s in built.items()})
        if cycle:
            first = next(d for d in self.raw if d["id"] == cycle[0])
            self.issue(
                f"steps form a cycle: {' -> '.join(cycle)}",
                first["path"],
                "remove a needs: entry or a ${steps...} reference to break it",
            )
        if self.issues:
            return None
        order = topological_order({sid: s.needs for sid, s in built.items()})
        return Workflow(self.name, tuple(built[sid] for sid in order), description, _locate(self.pos, base, key=True))


def compile_workflow(name: str, doc: Any, targets: Mapping[str, Any], pos: Any = None) -> Workflow:
    """One workflow, or ``ConfigError`` with every problem found in it."""
    compiler = _Compiler(name, targets, pos)
    workflow = compiler.compile(doc)
    if compiler.issues or workflow is None:
        raise ConfigError(compiler.issues or [ConfigIssue(f"workflow '{name}' has no steps")])
    return workflow


def workflow_issues(workflows: Mapping[str, Any], targets: Mapping[str, Any], pos: Any = None) -> list[ConfigIssue]:
    """Problems of every workflow (for ``deployforge validate`` and config loading)."""
    issues: list[ConfigIssue] = []
    for name, doc in (workflows or {}).items():
        compiler = _Compiler(str(name), targets, pos)
        compiler.compile(doc)
        issues.extend(compiler.issues)
    return issues


def get_workflow(workflows: Mapping[str, Any], name: str, targets: Mapping[str, Any]) -> Workflow:
    from deployforge.errors import UsageError

    if name not in (workflows or {}):
        hint = did_you_mean(name, workflows or {}) or (
            f"workflows in this config: {', '.join(workflows)}" if workflows else "define one under workflows:"
        )
        raise UsageError(f"workflow '{name}' is not defined", hint=hint)
    return compile_workflow(name, workflows[name], targets)
