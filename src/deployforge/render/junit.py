"""A generic JUnit XML model and writer (built on junit-xml), shared by every stage.

One schema serves policy findings now, canary gates and drift later: each stage turns its
result into ``JUnitSuite`` objects (``deployforge.policy.report.to_junit_suite`` is the first),
and ``render_junit`` writes any number of suites into one ``<testsuites>`` document that
Jenkins' ``junit`` step and the common JUnit report actions read.

Conventions every producer follows so CI history keeps working:

- a test case's ``name`` is stable across runs: ``<rule or gate id> :: <file or resource>``;
- ``classname`` groups cases (``policy.<namespace>``, ``canary.<stage>``, ``drift.<env>``);
- a failure is the check saying no; ``skipped`` is a warning or an exception; ``error`` means
  the check could not run.

Pure: ``render_junit`` returns text; ``write_junit`` is the one helper that touches a file.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class JUnitOutcome:
    """A failure, error or skip: short message (attribute), longer text (element body), type."""

    message: str
    text: str = ""
    type: str = ""


@dataclass(frozen=True)
class JUnitCase:
    name: str
    classname: str
    time: float = 0.0
    failure: JUnitOutcome | None = None
    error: JUnitOutcome | None = None
    skipped: JUnitOutcome | None = None
    properties: tuple[tuple[str, str], ...] = ()
    stdout: str | None = None
    file: str | None = None
    line: int | None = None

    @property
    def status(self) -> str:
        if self.error is not None:
            return "error"
        if self.failure is not None:
            return "failure"
        if self.skipped is not None:
            return "skipped"
        return "passed"


@dataclass(frozen=True)
class JUnitSuite:
    name: str
    cases: tuple[JUnitCase, ...] = ()
    properties: tuple[tuple[str, str], ...] = ()
    timestamp: str | None = None  # ISO 8601; left out by default so golden files stay stable
    hostname: str | None = None

    @property
    def counts(self) -> dict[str, int]:
        out = {"tests": len(self.cases), "failures": 0, "errors": 0, "skipped": 0}
        for case in self.cases:
            status = case.status
            if status == "failure":
                out["failures"] += 1
            elif status == "error":
                out["errors"] += 1
            elif status == "skipped":
                out["skipped"] += 1
        return out


def render_junit(suites: Sequence[JUnitSuite]) -> str:
    """The suites as one JUnit XML document (``<testsuites>``), deterministic for equal input."""
    import junit_xml

    rendered = []
    for suite in suites:
        cases = []
        for case in suite.cases:
            tc = junit_xml.TestCase(
                case.name,
                classname=case.classname,
                elapsed_sec=case.time,
                stdout=case.stdout,
                file=case.file,
                line=case.line,
                allow_multiple_subelements=False,
            )
            if case.failure is not None:
                tc.add_failure_info(
                    message=case.failure.message, output=case.failure.text or None, failure_type=case.failure.type
                )
            if case.error is not None:
                tc.add_error_info(
                    message=case.error.message, output=case.error.text or None, error_type=case.error.type
                )
            if case.skipped is not None:
                tc.add_skipped_info(message=case.skipped.message, output=case.skipped.text or None)
            cases.append(tc)
        rendered.append(
            junit_xml.TestSuite(
                suite.name,
                cases,
                properties=dict(suite.properties) or None,
                timestamp=suite.timestamp,
                hostname=suite.hostname,
            )
        )
    root = ET.fromstring(junit_xml.to_xml_report_string(rendered, encoding="utf-8"))
    # junit-xml has no per-case properties and omits time="0": add both (Jenkins and the
    # report actions read <properties> inside <testcase>, and some readers require time).
    for suite_el, suite in zip(root.findall("testsuite"), suites, strict=True):
        suite_el.set("time", _fmt_time(sum(c.time for c in suite.cases)))
        for case_el, case in zip(suite_el.findall("testcase"), suite.cases, strict=True):
            case_el.set("time", _fmt_time(case.time))
            if case.properties:
                props = ET.Element("properties")
                for name, value in case.properties:
                    ET.SubElement(props, "property", name=name, value=value)
                case_el.insert(0, props)
    root.set("time", _fmt_time(sum(c.time for s in suites for c in s.cases)))
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _fmt_time(seconds: float) -> str:
    return f"{seconds:.3f}"


def _masked_suite(suite: JUnitSuite, mask: Callable[[str], str]) -> JUnitSuite:
    from dataclasses import replace

    def outcome(o: JUnitOutcome | None) -> JUnitOutcome | None:
        return None if o is None else JUnitOutcome(mask(o.message), mask(o.text), o.type)

    def props(items: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        return tuple((name, mask(value)) for name, value in items)

    cases = tuple(
        replace(
            c,
            name=mask(c.name),
            failure=outcome(c.failure),
            error=outcome(c.error),
            skipped=outcome(c.skipped),
            properties=props(c.properties),
            stdout=mask(c.stdout) if c.stdout else c.stdout,
        )
        for c in suite.cases
    )
    return replace(suite, name=mask(suite.name), cases=cases, properties=props(suite.properties))


def write_junit(path: str | Path, suites: Sequence[JUnitSuite]) -> None:
    """Write the suites to ``path`` (atomically: a reader never sees half a report).

    Every secret the run resolved is masked in the file (hook output, messages, gate details):
    in each text before the XML is rendered (escaping turns ``&`` into ``&amp;``, and a masked form
    must match the raw value), and once more in the document.
    """
    from deployforge.secrets.masking import mask

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(mask(render_junit([_masked_suite(s, mask) for s in suites])), encoding="utf-8")
    tmp.replace(target)


def parse_junit(text: str) -> tuple[JUnitSuite, ...]:
    """Read a JUnit document back into suites (the Action combines suites written by several steps)."""
    root = ET.fromstring(text)
    suite_els = [root] if root.tag == "testsuite" else root.findall("testsuite")
    suites = []
    for s in suite_els:
        cases = []
        for c in s.findall("testcase"):

            def outcome(tag: str, el: ET.Element = c) -> JUnitOutcome | None:
                sub = el.find(tag)
                if sub is None:
                    return None
                return JUnitOutcome(sub.get("message", ""), sub.text or "", sub.get("type", ""))

            line = c.get("line")
            cases.append(
                JUnitCase(
                    name=c.get("name", ""),
                    classname=c.get("classname", ""),
                    time=float(c.get("time") or 0),
                    failure=outcome("failure"),
                    error=outcome("error"),
                    skipped=outcome("skipped"),
                    properties=tuple((p.get("name", ""), p.get("value", "")) for p in c.findall("properties/property")),
                    stdout=(c.findtext("system-out") or None),
                    file=c.get("file"),
                    line=int(line) if line else None,
                )
            )
        suites.append(
            JUnitSuite(
                name=s.get("name", ""),
                cases=tuple(cases),
                properties=tuple((p.get("name", ""), p.get("value", "")) for p in s.findall("properties/property")),
                timestamp=s.get("timestamp"),
                hostname=s.get("hostname"),
            )
        )
    return tuple(suites)


def combine(*groups: Iterable[JUnitSuite]) -> tuple[JUnitSuite, ...]:
    """Suites from several stages in one document; suites of the same name are merged in order."""
    merged: dict[str, JUnitSuite] = {}
    for group in groups:
        for suite in group:
            prev = merged.get(suite.name)
            if prev is None:
                merged[suite.name] = suite
            else:
                merged[suite.name] = JUnitSuite(
                    suite.name,
                    prev.cases + suite.cases,
                    tuple(dict.fromkeys(prev.properties + suite.properties)),
                    prev.timestamp or suite.timestamp,
                    prev.hostname or suite.hostname,
                )
    return tuple(merged.values())


def check_junit(text: str) -> list[str]:
    """Structural problems that would make Jenkins' junit step or a JUnit report action misread it.

    Checks: well-formed XML; root ``testsuites`` (or one ``testsuite``); every suite has a name
    and counts (tests/failures/errors/skipped) that match its cases; every case has a name and a
    classname, at most one of failure/error/skipped, each with a message; numeric time attributes;
    case names unique within a suite (CI history keys on classname + name).
    """
    problems: list[str] = []
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        return [f"not well-formed XML: {exc}"]
    if root.tag not in ("testsuites", "testsuite"):
        return [f"root element is <{root.tag}>, expected <testsuites>"]
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for s in suites:
        sname = s.get("name")
        if not sname:
            problems.append("a <testsuite> has no name")
        cases = s.findall("testcase")
        counted = {"tests": len(cases), "failures": 0, "errors": 0, "skipped": 0}
        seen: set[tuple[str, str]] = set()
        for c in cases:
            name, classname = c.get("name"), c.get("classname")
            if not name or not classname:
                problems.append(f"suite {sname}: a <testcase> lacks name or classname")
            key = (classname or "", name or "")
            if key in seen:
                problems.append(f"suite {sname}: duplicate test case {classname} / {name}")
            seen.add(key)
            kinds = [tag for tag in ("failure", "error", "skipped") if c.find(tag) is not None]
            if len(kinds) > 1:
                problems.append(f"suite {sname}: case {name} has {' and '.join(kinds)}")
            for tag in kinds:
                el = c.find(tag)
                assert el is not None
                if tag != "skipped" and not el.get("message"):
                    problems.append(f"suite {sname}: case {name}: <{tag}> without a message")
                counted["failures" if tag == "failure" else "errors" if tag == "error" else "skipped"] += 1
            for attr in ("time",):
                if c.get(attr) is not None:
                    try:
                        float(c.get(attr) or "")
                    except ValueError:
                        problems.append(f"suite {sname}: case {name}: {attr}={c.get(attr)!r} is not a number")
        for attr_name, value in counted.items():
            declared = s.get(attr_name)
            if declared is None:
                problems.append(f"suite {sname}: missing {attr_name} attribute")
            elif int(declared) != value:
                problems.append(f"suite {sname}: {attr_name}={declared} but {value} counted")
        for total_name in totals:
            totals[total_name] += counted[total_name]
    if root.tag == "testsuites":
        for total_name, value in totals.items():
            declared = root.get(total_name)
            if declared is not None and int(declared) != value:
                problems.append(f"testsuites: {total_name}={declared} but {value} counted")
    return problems
