"""Reports the conformance figure at the end of the run: "N of M match OPA/conftest, K silent passes"."""

from __future__ import annotations

from typing import Any

_RESULTS: dict[str, str] = {}


def pytest_runtest_logreport(report: Any) -> None:
    if report.when != "call":
        return
    verdict = None
    for name, value in getattr(report, "user_properties", []):
        if name == "conformance":
            verdict = str(value)  # the last one recorded wins
    if verdict is not None:
        _RESULTS[report.nodeid] = "match" if report.passed else verdict


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _RESULTS:
        return
    total = len(_RESULTS)
    matched = sum(1 for v in _RESULTS.values() if v == "match")
    silent = sum(1 for v in _RESULTS.values() if v == "silent-pass")
    terminalreporter.write_line(f"conformance with OPA/conftest: {matched} of {total} match; {silent} silent passes")
    for nodeid, verdict in sorted(_RESULTS.items()):
        if verdict != "match":
            terminalreporter.write_line(f"  {verdict}: {nodeid}")
