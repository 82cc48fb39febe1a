"""Deploy strategies, compiled (purely) into one explicit list of steps before anything runs.

Strategy names:

* ``all-at-once`` (also CodeDeploy's ``AllAtOnce``): straight to promotion.
* ``<N>percent-step`` (``5percent-step``): N%, 2N%, ... below 100%, each followed by a bake of
  ``deploy.interval``; then promotion.
* ``canary-<P>pct-<M>m`` (``canary-10pct-5m``): P%, bake M minutes, promotion.
* ``linear-<P>pct-every-<M>m`` (``linear-10pct-every-1m``): P%, 2P%, ... each baked M minutes.
* CodeDeploy's names: ``Canary10Percent5Minutes``, ``Linear10PercentEvery1Minute`` (also with
  a ``CodeDeployDefault.`` / ``CodeDeployDefault.Lambda`` / ``ECS`` prefix), ``AllAtOnce``.
* ``steps`` (or no strategy with ``deploy.steps``): the explicit steps of the config:
  ``{set_weight: 10}``, ``{pause: {duration: 30s}}``, ``{analysis: {gates: [..], interval: 10s,
  count: 3}}``. Promotion follows the last step.

A *bake* holds the weight for its duration while the gates are checked every
``check_interval``; it ends when the duration is over and the last check passed. A failed check
holds the weight (the bake goes on past its duration) and counts toward ``failure_threshold``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from deployforge.durations import UNITS, format_duration, parse_duration
from deployforge.errors import ConfigError, ConfigIssue, Location

DEFAULT_INTERVAL = 60.0  # seconds of bake per step
DEFAULT_CHECK_INTERVAL = 10.0
DEFAULT_FAILURE_THRESHOLD = 3
DEFAULT_TIMEOUT = 3600.0

STRATEGY_FORMS = (
    "all-at-once",
    "<N>percent-step (e.g. 5percent-step)",
    "canary-<P>pct-<M>m (e.g. canary-10pct-5m)",
    "linear-<P>pct-every-<M>m (e.g. linear-10pct-every-1m)",
    "Canary<P>Percent<M>Minutes (CodeDeploy)",
    "Linear<P>PercentEvery<M>Minute(s) (CodeDeploy)",
    "AllAtOnce (CodeDeploy)",
    "steps (the explicit deploy.steps)",
)


@dataclass(frozen=True)
class Step:
    """One compiled step. ``kind``: set_weight | bake | pause | promote."""

    index: int
    kind: str
    weight: int | None = None  # set_weight, promote (100)
    duration: float = 0.0  # bake, pause
    check_interval: float = 0.0  # bake
    count: int = 0  # bake from an explicit analysis step: number of checks (0: by duration)
    gates: tuple[str, ...] = ()  # bake: gate names (all gates when empty)

    def describe(self) -> str:
        if self.kind == "set_weight":
            return f"set canary weight {self.weight}%"
        if self.kind == "pause":
            return f"pause {format_duration(self.duration)}"
        if self.kind == "bake":
            which = ", ".join(self.gates) if self.gates else "all gates"
            if self.count:
                return f"analysis: {self.count} checks of {which} every {format_duration(self.check_interval)}"
            return (
                f"bake {format_duration(self.duration)}, checking {which} every {format_duration(self.check_interval)}"
            )
        return "promote: canary becomes stable at 100%"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "kind": self.kind}
        if self.weight is not None:
            out["weight"] = self.weight
        if self.kind in ("bake", "pause"):
            out["duration_s"] = self.duration
        if self.kind == "bake":
            out["check_interval_s"] = self.check_interval
            if self.count:
                out["count"] = self.count
            out["gates"] = list(self.gates)
        return out


@dataclass(frozen=True)
class CompiledStrategy:
    name: str
    steps: tuple[Step, ...]
    failure_threshold: int = DEFAULT_FAILURE_THRESHOLD
    timeout: float = DEFAULT_TIMEOUT
    gates: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "strategy": self.name,
            "failure_threshold": self.failure_threshold,
            "timeout_s": self.timeout,
            "steps": [s.to_json() for s in self.steps],
        }

    def weights(self) -> list[int]:
        return [s.weight for s in self.steps if s.weight is not None]

    def waiting(self) -> float:
        """Seconds the steps wait at the least (bakes, pauses, analyses): a floor on the deploy's length."""
        return sum(s.duration or s.count * s.check_interval for s in self.steps if s.kind in ("bake", "pause"))

    def too_long(self) -> str | None:
        """A warning when the steps alone outlast the timeout (the canary could never be promoted)."""
        waiting = self.waiting()
        if waiting <= self.timeout:
            return None
        return (
            f"the steps wait {format_duration(waiting)} in all, longer than the timeout of "
            f"{format_duration(self.timeout)}: the canary would time out and roll back before promotion "
            "(raise --timeout / deploy.timeout, or shorten the interval)"
        )


def render_steps(compiled: CompiledStrategy) -> str:
    lines = [
        f"strategy {compiled.name}: {len(compiled.steps)} steps, failure threshold {compiled.failure_threshold}, "
        f"timeout {format_duration(compiled.timeout)}"
    ]
    lines += [f"  {s.index:>3}. {s.describe()}" for s in compiled.steps]
    warning = compiled.too_long()
    if warning:
        lines.append(f"warning: {warning}")
    return "\n".join(lines)


# -- names -> weight schedules -------------------------------------------------------------------

_PERCENT_STEP = re.compile(r"^(\d+)percent-step$", re.I)
_CANARY = re.compile(r"^canary-(\d+)pct-(\d+(?:\.\d+)?)(ms|s|m|h)$", re.I)
_LINEAR = re.compile(r"^linear-(\d+)pct-every-(\d+(?:\.\d+)?)(ms|s|m|h)$", re.I)
_CD_PREFIX = re.compile(r"^CodeDeployDefault\.(Lambda|ECS)?")
_CD_CANARY = re.compile(r"^Canary(\d+)Percent(\d+)Minutes?$")
_CD_LINEAR = re.compile(r"^Linear(\d+)PercentEvery(\d+)Minutes?$")


class StrategyError(ValueError):
    """A strategy name or step that cannot be compiled (message says why and what is valid)."""


def _check_percent(p: int, name: str) -> int:
    if not 1 <= p <= 100:
        raise StrategyError(f"strategy '{name}': percentage {p} is outside 1-100")
    return p


def schedule(name: str, interval: float) -> tuple[list[tuple[int, float]], bool]:
    """(weight, bake seconds) pairs below 100% for a named strategy, and whether it is 'steps'."""
    if name in ("steps", "explicit"):
        return [], True
    bare = _CD_PREFIX.sub("", name)
    if name.lower() == "all-at-once" or bare == "AllAtOnce":
        return [], False
    m = _PERCENT_STEP.match(name)
    if m:
        n = _check_percent(int(m.group(1)), name)
        return [(w, interval) for w in range(n, 100, n)], False
    m = _CANARY.match(name)
    if m:
        p = _check_percent(int(m.group(1)), name)
        bake = float(m.group(2)) * UNITS[m.group(3).lower()]
        return ([(p, bake)] if p < 100 else []), False
    m = _LINEAR.match(name)
    if m:
        p = _check_percent(int(m.group(1)), name)
        bake = float(m.group(2)) * UNITS[m.group(3).lower()]
        return [(w, bake) for w in range(p, 100, p)], False
    m = _CD_CANARY.match(bare)
    if m:
        p = _check_percent(int(m.group(1)), name)
        return ([(p, float(m.group(2)) * 60)] if p < 100 else []), False
    m = _CD_LINEAR.match(bare)
    if m:
        p = _check_percent(int(m.group(1)), name)
        return [(w, float(m.group(2)) * 60) for w in range(p, 100, p)], False
    raise StrategyError(f"unknown strategy '{name}'; valid strategies: {'; '.join(STRATEGY_FORMS)}")


# -- the compiler ----------------------------------------------------------------------------------


def _duration_setting(
    deploy: Mapping[str, Any], key: str, default: float, issues: list[ConfigIssue], loc: Any
) -> float:
    if deploy.get(key) is None:
        return default
    try:
        return parse_duration(deploy[key])
    except ValueError as exc:
        issues.append(ConfigIssue(str(exc), loc(("deploy", key)), None, ("deploy", key)))
        return default


def compile_strategy(
    deploy: Mapping[str, Any],
    *,
    strategy: str | None = None,
    timeout: float | None = None,
    gate_names: Sequence[str] = (),
    locate: Any = None,
) -> CompiledStrategy:
    """Compile ``deploy:`` (with ``--evolve-strategy`` / ``--timeout`` overrides) to explicit steps.

    Raises ``ConfigError`` listing every problem (with locations when ``locate(path)`` is given).
    """

    def loc(path: tuple[Any, ...]) -> Location | None:
        return locate(path) if locate else None

    issues: list[ConfigIssue] = []
    name = strategy or deploy.get("strategy") or ("steps" if deploy.get("steps") else "all-at-once")
    interval = _duration_setting(deploy, "interval", DEFAULT_INTERVAL, issues, loc)
    check_interval = _duration_setting(deploy, "check_interval", min(DEFAULT_CHECK_INTERVAL, interval), issues, loc)
    if check_interval <= 0:
        check_interval = interval or 0.001
    total_timeout = (
        timeout if timeout is not None else _duration_setting(deploy, "timeout", DEFAULT_TIMEOUT, issues, loc)
    )
    threshold = int(deploy.get("failure_threshold") or DEFAULT_FAILURE_THRESHOLD)
    all_gates = tuple(gate_names)

    raw: list[tuple[str, dict[str, Any]]] = []
    try:
        pairs, explicit = schedule(str(name), interval)
    except StrategyError as exc:
        where = ("deploy", "strategy") if not strategy and deploy.get("strategy") else None
        issues.append(
            ConfigIssue(
                str(exc),
                loc(where) if where else None,
                "pass --evolve-strategy with one of the listed forms",
                where or (),
            )
        )
        pairs, explicit = [], False
    if explicit:
        steps_cfg = deploy.get("steps") or []
        if not steps_cfg:
            issues.append(
                ConfigIssue(
                    "strategy 'steps' needs deploy.steps",
                    loc(("deploy",)),
                    "add steps: [{set_weight: 10}, {pause: {duration: 1m}}, ...]",
                    ("deploy",),
                )
            )
        for i, item in enumerate(steps_cfg):
            raw.extend(_explicit_step(item, i, check_interval, all_gates, issues, loc))
    else:
        for weight, bake in pairs:
            raw.append(("set_weight", {"weight": weight}))
            if all_gates or bake > 0:
                raw.append(("bake", {"duration": bake, "check_interval": min(check_interval, bake) or check_interval}))
    if issues:
        raise ConfigError(issues)
    raw.append(("promote", {"weight": 100}))
    steps = tuple(Step(index=i + 1, kind=kind, **fields) for i, (kind, fields) in enumerate(raw))
    return CompiledStrategy(str(name), steps, threshold, total_timeout, all_gates)


def _explicit_step(
    item: Any, i: int, check_interval: float, all_gates: tuple[str, ...], issues: list[ConfigIssue], loc: Any
) -> list[tuple[str, dict[str, Any]]]:
    path: tuple[Any, ...] = ("deploy", "steps", i)
    if not isinstance(item, Mapping) or len(item) != 1:
        issues.append(
            ConfigIssue(
                "a step is one of {set_weight: N}, {pause: {duration: D}}, {analysis: {gates, interval, count}}",
                loc(path),
                None,
                path,
            )
        )
        return []
    ((key, value),) = item.items()
    if key == "set_weight":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
            issues.append(ConfigIssue(f"set_weight {value!r} is outside 0-100", loc((*path, key)), None, (*path, key)))
            return []
        return [("set_weight", {"weight": value})]
    if key == "pause":
        duration = value.get("duration") if isinstance(value, Mapping) else value
        try:
            return [("pause", {"duration": parse_duration(duration)})]
        except ValueError as exc:
            issues.append(ConfigIssue(str(exc), loc((*path, key)), None, (*path, key)))
            return []
    if key == "analysis":
        value = value if isinstance(value, Mapping) else {}
        gates = tuple(value.get("gates") or all_gates)
        for g in gates:
            if g not in all_gates:
                issues.append(
                    ConfigIssue(
                        f"analysis names unknown gate '{g}'",
                        loc((*path, key, "gates")),
                        f"gates defined: {', '.join(all_gates) or '(none)'}",
                        (*path, key, "gates"),
                    )
                )
        if not gates:
            issues.append(
                ConfigIssue("an analysis step has no gates to check", loc((*path, key)), "define deploy.gates", path)
            )
        try:
            every = parse_duration(value.get("interval", check_interval))
        except ValueError as exc:
            issues.append(ConfigIssue(str(exc), loc((*path, key, "interval")), None, path))
            every = check_interval
        count = int(value.get("count") or 1)
        return [("bake", {"duration": every * count, "check_interval": every, "count": count, "gates": gates})]
    issues.append(
        ConfigIssue(
            f"unknown step '{key}'",
            loc((*path, key)),
            "steps are set_weight, pause and analysis",
            path,
        )
    )
    return []
