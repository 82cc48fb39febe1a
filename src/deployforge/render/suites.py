"""The JUnit suites of a run: each stage owns its suite, this module combines those present.

Every front door writes JUnit through ``junit_suites`` (the CLI's ``--junit`` on run/deploy, the
GitHub Action's ``junit-path``; Jenkins reads what the CLI writes), so a report looks the same
wherever it was made. Stages register a producer here: a function from their ``RunResult`` section
to one ``JUnitSuite`` or a list of them (render/junit.py holds the schema and its conventions).
Suites come in the order of ``JUNIT_PRODUCERS``, and each carries the run's trace id as the
``deployforge.trace_id`` property, so a CI test report links back to the audit trail.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from deployforge.render.junit import JUnitSuite

# each stage's producer, imported when its section is present (a stage's package is not a cheap
# import): the section and the run's environment in, a suite or a list of suites out (empty when
# nothing ran). Cases of the canary and the hooks are named after the environment, as the CLI, the
# Action and Jenkins name them.


def _policy(section: Any, environment: str | None) -> Any:
    from deployforge.policy.report import to_junit_suite

    return to_junit_suite(section)


def _canary(section: Any, environment: str | None) -> Any:
    from deployforge.deploy.render import to_junit_suite

    return to_junit_suite(section, environment=environment)


def _drift(section: Any, environment: str | None) -> Any:
    from deployforge.drift.report import to_junit_suite

    return to_junit_suite(section)


def _hooks(section: Any, environment: str | None) -> Any:
    from deployforge.hooks import to_junit_suite

    return to_junit_suite(section, environment=environment)


# section of RunResult -> its producer, in the order the suites are written
JUNIT_PRODUCERS: dict[str, Callable[[Any, str | None], Any]] = {
    "policy": _policy,
    "canary": _canary,
    "drift": _drift,
    "hooks": _hooks,
}


def junit_suites(result: Any) -> list[JUnitSuite]:
    """The suites of whatever sections ``result`` has, in a fixed order, tagged with its trace id."""
    suites: list[JUnitSuite] = []
    for name, producer in JUNIT_PRODUCERS.items():
        section = getattr(result, name, None)
        if section is None:
            continue
        made = producer(section, getattr(result, "environment", None))
        suites += list(made) if isinstance(made, list | tuple) else [made]
    trace = getattr(result, "trace_id", None) or getattr(result, "run_id", None)
    if trace:
        suites = [replace(s, properties=(*s.properties, ("deployforge.trace_id", trace))) for s in suites]
    return suites
