"""The JUnit suites of a run: each stage owns its suite, this module combines those present.

Every front door writes JUnit through ``junit_suites`` (the CLI's ``--junit`` on run/deploy, the
GitHub Action's ``junit-path``; Jenkins reads what the CLI writes), so a report looks the same
wherever it was made. Stages register a producer here: a function from their ``RunResult`` section
to one ``JUnitSuite`` or a list of them (render/junit.py holds the schema and its conventions).
Suites come in the order of ``JUNIT_PRODUCERS``, and each carries the run's trace id as the
``deployforge.trace_id`` property, so a CI test report links back to the audit trail.
"""

from __future__ import annotations

import importlib
from dataclasses import replace
from typing import Any

from deployforge.render.junit import JUnitSuite

# section of RunResult -> "module:function"; the function takes the section (and, where the name
# says so, ``environment=``) and returns a suite or a list of suites (empty when nothing ran)
JUNIT_PRODUCERS = {
    "policy": "deployforge.policy.report:to_junit_suite",
    "canary": "deployforge.deploy.render:to_junit_suite",
    "drift": "deployforge.drift.report:to_junit_suite",
    "hooks": "deployforge.hooks:to_junit_suite",
}
# producers that name their cases after the environment (as the CLI, the Action and Jenkins do)
NEEDS_ENVIRONMENT = frozenset({"canary", "hooks"})


def _load(target: str) -> Any:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def junit_suites(result: Any) -> list[JUnitSuite]:
    """The suites of whatever sections ``result`` has, in a fixed order, tagged with its trace id."""
    suites: list[JUnitSuite] = []
    for name, producer in JUNIT_PRODUCERS.items():
        section = getattr(result, name, None)
        if section is None:
            continue
        extra = {"environment": getattr(result, "environment", None)} if name in NEEDS_ENVIRONMENT else {}
        made = _load(producer)(section, **extra)
        suites += list(made) if isinstance(made, list | tuple) else [made]
    trace = getattr(result, "trace_id", None) or getattr(result, "run_id", None)
    if trace:
        suites = [replace(s, properties=(*s.properties, ("deployforge.trace_id", trace))) for s in suites]
    return suites
