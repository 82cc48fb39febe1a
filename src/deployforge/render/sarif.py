"""SARIF 2.1.0 documents (for GitHub code scanning), pure.

GitHub reads ``properties.security-severity`` on each rule (a number as a string, 0.0-10.0:
over 9.0 critical, 7.0-8.9 high, 4.0-6.9 medium, 0.1-3.9 low) and the ``level`` of each result.
A result's location needs a relative ``artifactLocation.uri`` and a ``region.startLine`` >= 1.
Producers turn their findings into ``SarifRule`` / ``SarifResult`` and call ``render_sarif``
(the policy package does it in ``deployforge.policy.report.to_sarif``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"

SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "0.0"}
LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}


@dataclass(frozen=True)
class SarifRule:
    id: str
    name: str
    description: str
    severity: str = "high"  # critical | high | medium | low | info
    help: str | None = None  # remediation
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class SarifResult:
    rule_id: str
    message: str
    severity: str = "high"
    file: str | None = None
    line: int = 0
    kind: str = "fail"  # fail | review (warnings) | informational
    suppressed: bool = False  # an exception granted by the policy
    properties: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


def artifact_uri(file: str, base: str | None = None) -> str:
    """A relative, forward-slash URI (GitHub code scanning needs paths relative to the checkout)."""
    path = Path(file)
    if base is not None and not path.is_absolute():  # relative to where we run, which may be below the checkout
        path = Path(os.getcwd()) / path
    if path.is_absolute():
        root = Path(base or os.getcwd()).resolve()
        try:
            path = path.resolve().relative_to(root)
        except ValueError:
            return path.resolve().as_uri()
    return path.as_posix().removeprefix("./")


def render_sarif(
    rules: Sequence[SarifRule],
    results: Sequence[SarifResult],
    *,
    tool: str = "DeployForge",
    version: str = "0",
    information_uri: str | None = None,
    base: str | None = None,
) -> dict[str, Any]:
    """One SARIF run with ``rules`` in the tool's driver and ``results`` pointing at them."""
    index = {rule.id: i for i, rule in enumerate(rules)}
    driver: dict[str, Any] = {
        "name": tool,
        "version": version,
        "semanticVersion": version,
        "rules": [
            {
                "id": rule.id,
                "name": rule.name,
                "shortDescription": {"text": rule.description},
                "fullDescription": {"text": rule.description},
                **({"help": {"text": rule.help}} if rule.help else {}),
                "defaultConfiguration": {"level": LEVEL.get(rule.severity, "warning")},
                "properties": {
                    "security-severity": SECURITY_SEVERITY.get(rule.severity, "5.5"),
                    "problem.severity": "error" if LEVEL.get(rule.severity) == "error" else "warning",
                    "tags": ["security", *rule.tags],
                },
            }
            for rule in rules
        ],
    }
    if information_uri:
        driver["informationUri"] = information_uri
    out_results = []
    for res in results:
        item: dict[str, Any] = {
            "ruleId": res.rule_id,
            "level": LEVEL.get(res.severity, "warning") if res.kind == "fail" else "note",
            "kind": res.kind,
            "message": {"text": res.message},
        }
        if res.rule_id in index:
            item["ruleIndex"] = index[res.rule_id]
        if res.file:
            item["locations"] = [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": artifact_uri(res.file, base)},
                        "region": {"startLine": max(1, res.line or 1)},
                    }
                }
            ]
            item["partialFingerprints"] = {"deployforgeFinding/v1": _fingerprint(res)}
        if res.suppressed:
            item["suppressions"] = [{"kind": "inSource", "justification": "exception rule in the policy"}]
        if res.properties:
            item["properties"] = res.properties
        out_results.append(item)
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [{"tool": {"driver": driver}, "results": out_results, "columnKind": "unicodeCodePoints"}],
    }


def _fingerprint(res: SarifResult) -> str:
    import hashlib

    key = f"{res.rule_id}|{res.file}|{res.properties.get('resource', '')}|{res.message}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=False) + "\n"


def write_sarif(path: str | Path, document: dict[str, Any]) -> None:
    """Write the document to ``path`` atomically, every secret the run resolved masked."""
    from deployforge.secrets.masking import mask_data

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(dumps(mask_data(document)), encoding="utf-8")
    tmp.replace(target)


def check_github_requirements(document: dict[str, Any]) -> list[str]:
    """What GitHub code scanning needs beyond the schema (its upload rejects or misfiles otherwise)."""
    problems: list[str] = []
    if document.get("version") != SARIF_VERSION:
        problems.append("version must be 2.1.0")
    for r_i, run in enumerate(document.get("runs", [])):
        driver = run.get("tool", {}).get("driver", {})
        if not driver.get("name"):
            problems.append(f"runs[{r_i}]: tool.driver.name is required")
        ids = set()
        for rule in driver.get("rules", []):
            ids.add(rule.get("id"))
            sev = rule.get("properties", {}).get("security-severity")
            try:
                if sev is None or not 0.0 <= float(sev) <= 10.0:
                    raise ValueError
            except ValueError:
                problems.append(f"rule {rule.get('id')}: security-severity must be a number 0.0-10.0, got {sev!r}")
        for i, res in enumerate(run.get("results", [])):
            if res.get("ruleId") not in ids:
                problems.append(f"results[{i}]: ruleId {res.get('ruleId')!r} is not a rule of the driver")
            if not res.get("message", {}).get("text"):
                problems.append(f"results[{i}]: message.text is required")
            for loc in res.get("locations", []):
                phys = loc.get("physicalLocation", {})
                uri = phys.get("artifactLocation", {}).get("uri", "")
                if not uri or uri.startswith("/"):
                    problems.append(f"results[{i}]: artifactLocation.uri must be a relative path, got {uri!r}")
                if phys.get("region", {}).get("startLine", 0) < 1:
                    problems.append(f"results[{i}]: region.startLine must be >= 1")
    return problems
