"""Policy findings and the report: pure, frozen data (no regopy, no I/O).

A ``PolicyReport`` is the ``policy`` section of ``model.result.RunResult``. Every renderer
(console table, JSON, JUnit, SARIF, GitHub annotations, the PR comment) reads this one object.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from operator import itemgetter
from typing import Any, NamedTuple


class Outcome(StrEnum):
    FAILURE = "failure"  # deny / violation / allow == false
    WARNING = "warning"  # warn
    EXCEPTION = "exception"  # a deny excepted by an `exception` rule
    ERROR = "error"  # the input or the policy could not be evaluated


SEVERITIES = ("critical", "high", "medium", "low", "info")

# Defaults: denials are high, warnings medium (a policy's metadata `severity` overrides).
DEFAULT_SEVERITY = {
    Outcome.FAILURE: "high",
    Outcome.WARNING: "medium",
    Outcome.EXCEPTION: "low",
    Outcome.ERROR: "high",
}


def normalize_severity(value: Any, outcome: Outcome) -> str:
    text = str(value).strip().lower() if value is not None else ""
    aliases = {"crit": "critical", "error": "high", "warning": "medium", "moderate": "medium", "informational": "info"}
    text = aliases.get(text, text)
    return text if text in SEVERITIES else DEFAULT_SEVERITY[outcome]


@dataclass(frozen=True)
class Finding:
    """One rule result about one input (a file, a document of it, or one resource)."""

    rule_id: str  # metadata rule_id, else "<package>.<rule>" (e.g. "main.deny_public_bucket")
    severity: str  # critical | high | medium | low | info
    outcome: Outcome
    message: str
    file: str | None = None
    line: int = 0
    resource: str | None = None  # resource address, e.g. aws_s3_bucket.logs
    remediation: str | None = None
    namespace: str | None = None  # the Rego package
    rule: str | None = None  # the rule name (deny, warn_tags, allow, ...)
    subject: str = ""  # what was checked, for stable test-case names (default: resource, else file)
    metadata: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def target(self) -> str:
        """What the finding is about, for stable test-case names: the resource, else the file."""
        if self.subject:
            return self.subject
        if self.resource:
            return f"{self.resource} ({self.file})" if self.file else self.resource
        return self.file or "-"

    @property
    def location(self) -> str:
        if not self.file:
            return "-"
        return f"{self.file}:{self.line}" if self.line else self.file

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rule_id": self.rule_id,
            "severity": self.severity,
            "outcome": self.outcome.value,
            "message": self.message,
            "file": self.file,
            "line": self.line or None,
            "resource": self.resource,
            "remediation": self.remediation,
            "namespace": self.namespace,
            "rule": self.rule,
        }
        if self.metadata:
            out["metadata"] = self.metadata
        return out


class Check(NamedTuple):
    """One (rule, target) pair that was evaluated: the unit JUnit reports as a test case.

    A named tuple, not a dataclass: there is one per rule and document (125,000 for 25 rules over
    5,000 resources), and the engine's workers send them to the parent as plain tuples
    (``Check._make`` rebuilds them), which costs a tenth of pickling dataclasses."""

    rule_id: str
    target: str
    file: str | None = None
    resource: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"rule_id": self.rule_id, "target": self.target, "file": self.file, "resource": self.resource}


_RULE_AND_TARGET = itemgetter(0, 1)  # a Check's (rule_id, target)


def combined_hash(*hashes: str | None) -> str | None:
    """One hash for several reports' bundles (in order); a single bundle keeps its own hash."""
    present = [h for h in hashes if h]
    if len(present) <= 1:
        return present[0] if present else None
    return hashlib.sha256("\n".join(present).encode()).hexdigest()


@dataclass(frozen=True)
class PolicyReport:
    """Every finding of one policy evaluation, plus what was checked (for passing test cases)."""

    findings: tuple[Finding, ...] = ()
    checks: tuple[Check, ...] = ()  # every (rule, target) evaluated, passing or not
    policies: tuple[str, ...] = ()  # the policy files loaded
    inputs: tuple[str, ...] = ()  # the input files read
    namespaces: tuple[str, ...] = ()
    fail_on_warn: bool = False
    duration_ms: float = 0.0
    prints: tuple[str, ...] = ()  # what the policies' print() calls wrote ("file:line: value")
    # sha256 over the policy and data files (each path and its content's sha256): the audit record's
    # policy_bundle_hash, so a run's record names the exact policies it was judged by
    bundle_hash: str | None = None

    # The views below are computed once: a report is frozen, and its renderers (the outcome, the JSON
    # document, the audit record, the reports) each read them; with 125,000 checks and 9,000 findings
    # every recomputation cost 0.03-0.06 s on the CLI's critical path.

    @cached_property
    def failures(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.outcome is Outcome.FAILURE)

    @cached_property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.outcome is Outcome.WARNING)

    @cached_property
    def exceptions(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.outcome is Outcome.EXCEPTION)

    @cached_property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.outcome is Outcome.ERROR)

    @property
    def failed(self) -> bool:
        """True when the gate must stop: a denial, an error, or a warning under fail_on_warn."""
        return bool(self.failures or self.errors or (self.fail_on_warn and self.warnings))

    @property
    def exit_code(self) -> int:
        """0 pass, 1 policy failures (or warnings with fail_on_warn), 2 input or policy errors."""
        if self.errors:
            return 2
        return 1 if self.failed else 0

    @cached_property
    def passed_checks(self) -> int:
        hit = {(f.rule_id, f.target) for f in self.findings}  # an errored check did not pass either
        if not hit:
            return len(self.checks)
        # (rule_id, target) of each check, looked up without a Python loop: 125,000 checks for 25
        # rules over 5,000 documents
        return len(self.checks) - sum(map(hit.__contains__, map(_RULE_AND_TARGET, self.checks)))

    def merged(self, other: PolicyReport) -> PolicyReport:
        return PolicyReport(
            findings=self.findings + other.findings,
            checks=self.checks + other.checks,
            policies=tuple(dict.fromkeys(self.policies + other.policies)),
            inputs=tuple(dict.fromkeys(self.inputs + other.inputs)),
            namespaces=tuple(dict.fromkeys(self.namespaces + other.namespaces)),
            fail_on_warn=self.fail_on_warn or other.fail_on_warn,
            duration_ms=self.duration_ms + other.duration_ms,
            prints=self.prints + other.prints,
            bundle_hash=combined_hash(self.bundle_hash, other.bundle_hash),
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON document (a new top-level dict each call; the findings' list is shared)."""
        return dict(self._json)

    @cached_property
    def _json(self) -> dict[str, Any]:
        return {
            "passed": not self.failed,
            "exit_code": self.exit_code,
            "counts": {
                "checks": len(self.checks),
                "passed": self.passed_checks,
                "failures": len(self.failures),
                "warnings": len(self.warnings),
                "exceptions": len(self.exceptions),
                "errors": len(self.errors),
            },
            "fail_on_warn": self.fail_on_warn,
            "policies": list(self.policies),
            "inputs": list(self.inputs),
            "namespaces": list(self.namespaces),
            "findings": [f.to_json() for f in self.findings],
            "prints": list(self.prints),
            "duration_ms": round(self.duration_ms, 1),
            "bundle_hash": self.bundle_hash,
        }
