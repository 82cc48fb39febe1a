"""Health gates: checks evaluated during a bake. Settings are validated purely; evaluation is I/O.

Gate types (``deploy.gates[]``; every gate has a ``name`` and a ``type``):

* ``cloudwatch_alarm``: ``target``, ``alarm_name``. Passes unless the alarm is in ALARM
  (``fail_on_insufficient_data: true`` also fails INSUFFICIENT_DATA).
* ``cloudwatch_metric``: ``target``, ``namespace``, ``metric_name``, ``dimensions`` (map),
  ``stat`` (Average), ``period`` (60s), ``window`` (5m), ``threshold``, ``comparison`` (the
  passing condition: ``<=`` default, ``<``, ``>=``, ``>``), ``missing_data`` (pass | fail,
  default pass). One GetMetricData query; the newest datapoint is compared.
* ``http``: ``url``, ``expect_status`` (200, or a list), ``max_latency_ms``, ``json_field``
  (``{path: a.b.0, equals: X}``), ``timeout`` (5s).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from deployforge.deploy.model import GateResult
from deployforge.deploy.shifters.base import ShifterNotFoundError
from deployforge.durations import parse_duration
from deployforge.errors import DeployForgeError, ProviderError
from deployforge.text import clip

GATE_TYPES = ("cloudwatch_alarm", "cloudwatch_metric", "http")
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<=": lambda v, t: v <= t,
    "<": lambda v, t: v < t,
    ">=": lambda v, t: v >= t,
    ">": lambda v, t: v > t,
}


def validate_gate(gate: Mapping[str, Any], targets: Mapping[str, str]) -> list[tuple[tuple[Any, ...], str]]:
    """Problems with one gate's settings as (sub-path, message). ``targets``: name -> provider kind."""
    out: list[tuple[tuple[Any, ...], str]] = []
    gtype = gate.get("type")
    if not gate.get("name"):
        out.append(((), "a gate needs a name"))
    if gtype not in GATE_TYPES:
        out.append((("type",), f"unknown gate type {gtype!r} (valid: {', '.join(GATE_TYPES)})"))
        return out
    if gtype in ("cloudwatch_alarm", "cloudwatch_metric"):
        target = gate.get("target")
        if not target:
            out.append(((), f"gate '{gate.get('name')}' has no target (targets: {', '.join(sorted(targets))})"))
        elif target not in targets:
            out.append((("target",), f"gate '{gate.get('name')}' names unknown target '{target}'"))
        elif targets[target] != "aws":
            out.append((("target",), f"a {gtype} gate needs an aws target; '{target}' is {targets[target]}"))
    if gtype == "cloudwatch_alarm" and not gate.get("alarm_name"):
        out.append(((), "a cloudwatch_alarm gate needs alarm_name"))
    if gtype == "cloudwatch_metric":
        for key in ("namespace", "metric_name", "threshold"):
            if gate.get(key) is None:
                out.append(((), f"a cloudwatch_metric gate needs {key}"))
        if gate.get("comparison", "<=") not in _COMPARE:
            out.append((("comparison",), f"comparison must be one of {', '.join(_COMPARE)}"))
        for key in ("period", "window"):
            if gate.get(key) is not None:
                try:
                    parse_duration(gate[key])
                except ValueError as exc:
                    out.append(((key,), str(exc)))
    if gtype == "http":
        url = gate.get("url")
        if not url:
            out.append(((), f"http gate '{gate.get('name')}' has no url to probe"))
        elif not str(url).startswith(("http://", "https://")):
            out.append((("url",), f"url must start with http:// or https:// (got {url!r})"))
    return out


@dataclass
class Gate:
    """A gate ready to evaluate; ``client`` is a boto3 CloudWatch client for CloudWatch gates."""

    name: str
    type: str
    settings: Mapping[str, Any]
    client: Any = None
    boundary: Callable[[str, str], Any] | None = None

    def preflight(self) -> None:
        """An alarm gate's alarm must exist (exit 2 before traffic moves)."""
        if self.type == "cloudwatch_alarm":
            name = self.settings["alarm_name"]
            with self._guard("describe_alarms"):
                found = self.client.describe_alarms(AlarmNames=[name]).get("MetricAlarms", [])
            if not found:
                raise ShifterNotFoundError(
                    f"gate '{self.name}': CloudWatch alarm '{name}' does not exist",
                    hint="create the alarm (e.g. as an aws_cloudwatch_metric_alarm resource) or fix alarm_name",
                )

    def _guard(self, action: str) -> Any:
        if self.boundary is not None:
            return self.boundary(f"gate {self.name}", action)
        from contextlib import nullcontext

        return nullcontext()

    def evaluate(self) -> tuple[bool, Any, str, str]:
        """(passed, value, expected, detail). Errors while checking are a failed check."""
        try:
            if self.type == "cloudwatch_alarm":
                return self._alarm()
            if self.type == "cloudwatch_metric":
                return self._metric()
            return self._http()
        except DeployForgeError as exc:
            return False, "error", self._expected(), exc.message

    def _expected(self) -> str:
        s = self.settings
        if self.type == "cloudwatch_alarm":
            return "not ALARM"
        if self.type == "cloudwatch_metric":
            return f"{s.get('comparison', '<=')} {s.get('threshold')}"
        parts = [f"status {s.get('expect_status', 200)}"]
        if s.get("max_latency_ms") is not None:
            parts.append(f"latency <= {s['max_latency_ms']} ms")
        if s.get("json_field"):
            parts.append(f"{s['json_field'].get('path')} == {s['json_field'].get('equals')!r}")
        return ", ".join(parts)

    def _alarm(self) -> tuple[bool, Any, str, str]:
        name = self.settings["alarm_name"]
        with self._guard("describe_alarms"):
            alarms = self.client.describe_alarms(AlarmNames=[name]).get("MetricAlarms", [])
        if not alarms:
            return False, "missing", self._expected(), f"alarm {name} no longer exists"
        state = alarms[0]["StateValue"]
        bad = {"ALARM", "INSUFFICIENT_DATA"} if self.settings.get("fail_on_insufficient_data") else {"ALARM"}
        return state not in bad, state, self._expected(), clip(alarms[0].get("StateReason", ""), 200)

    def _metric(self) -> tuple[bool, Any, str, str]:
        s = self.settings
        period = int(parse_duration(s.get("period", 60)))
        window = parse_duration(s.get("window", "5m"))
        now = datetime.now(UTC)
        query = {
            "Id": "gate",
            "MetricStat": {
                "Metric": {
                    "Namespace": s["namespace"],
                    "MetricName": s["metric_name"],
                    "Dimensions": [{"Name": k, "Value": str(v)} for k, v in (s.get("dimensions") or {}).items()],
                },
                "Period": max(1, period),
                "Stat": s.get("stat", "Average"),
            },
            "ReturnData": True,
        }
        with self._guard("get_metric_data"):
            resp = self.client.get_metric_data(
                MetricDataQueries=[query],
                StartTime=now - timedelta(seconds=window),
                EndTime=now + timedelta(seconds=period),
                ScanBy="TimestampDescending",
            )
        results = resp.get("MetricDataResults", [])
        values = results[0].get("Values", []) if results else []
        stamps = results[0].get("Timestamps", []) if results else []
        if not values:
            passed = s.get("missing_data", "pass") == "pass"
            return passed, None, self._expected(), "no datapoints in the window"
        newest = max(zip(stamps, values, strict=False))[1] if stamps else values[0]
        value = float(newest)
        ok = _COMPARE[s.get("comparison", "<=")](value, float(s["threshold"]))
        return ok, value, self._expected(), f"{s['namespace']}/{s['metric_name']} {s.get('stat', 'Average')}"

    def _http(self) -> tuple[bool, Any, str, str]:
        s = self.settings
        expect = s.get("expect_status", 200)
        allowed = {int(x) for x in (expect if isinstance(expect, list) else [expect])}
        timeout = parse_duration(s.get("timeout", 5))
        started = time.perf_counter()
        body = b""
        try:
            with urllib.request.urlopen(str(s["url"]), timeout=timeout) as resp:
                status = resp.status
                body = resp.read(1_000_000)
        except urllib.error.HTTPError as exc:
            status = exc.code
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            return False, "unreachable", self._expected(), f"{s['url']}: {reason}"
        latency = (time.perf_counter() - started) * 1000
        value: dict[str, Any] = {"status": status, "latency_ms": round(latency, 1)}
        if status not in allowed:
            return False, value, self._expected(), f"HTTP {status} from {s['url']}"
        if s.get("max_latency_ms") is not None and latency > float(s["max_latency_ms"]):
            return False, value, self._expected(), f"latency {latency:.0f} ms over {s['max_latency_ms']} ms"
        field = s.get("json_field")
        if field:
            try:
                found: Any = json.loads(body)
                for part in str(field.get("path", "")).split("."):
                    found = found[int(part)] if isinstance(found, list) else found[part]
            except (ValueError, KeyError, IndexError, TypeError):
                return False, value, self._expected(), f"no JSON field {field.get('path')} in the response"
            value["field"] = found
            if "equals" in field and found != field["equals"]:
                return False, value, self._expected(), f"{field.get('path')} is {found!r}"
        return True, value, self._expected(), ""


def evaluate(gate: Gate, *, step: int, weight: int, elapsed: float) -> GateResult:
    started = time.perf_counter()
    try:
        passed, value, expected, detail = gate.evaluate()
    except ProviderError as exc:  # translated at the boundary: a failed check, not a crash
        passed, value, expected, detail = False, "error", gate.type, exc.message
    return GateResult(
        gate=gate.name,
        type=gate.type,
        passed=passed,
        value=value,
        expected=expected,
        detail=detail,
        step=step,
        weight=weight,
        elapsed_s=elapsed,
        duration_ms=(time.perf_counter() - started) * 1000,
    )
