"""One publish pipeline (render/publish.py): every rendering of a result comes from one Publication."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from deployforge.model.result import RunResult
from deployforge.policy.model import Check, Finding, Outcome, PolicyReport
from deployforge.render import publish as publishing
from deployforge.render.markdown import RenderContext, render_comment
from deployforge.render.publish import REPORT_FORMATS, publish, write_report
from deployforge.render.summary import render_summary

SRC = Path(__file__).resolve().parents[2] / "src" / "deployforge"


def _denied() -> RunResult:
    report = PolicyReport(
        findings=(Finding("S3_PUBLIC", "high", Outcome.FAILURE, "bucket logs is public", "main.tf", 4),),
        checks=(Check("S3_PUBLIC", "main.tf", "main.tf"),),
    )
    return RunResult("validate", "prod", "DF-TRC-2QBB3T9B12", 1, policy=report)


def test_a_publication_renders_what_the_renderers_do_once(monkeypatch):
    result, ctx = _denied(), RenderContext(workflow="pr", label="stack-a")
    calls = []
    real = publishing.Publication.sections.func  # type: ignore[attr-defined]

    def counted(self):
        calls.append(1)
        return real(self)

    monkeypatch.setattr(publishing.Publication, "sections", publishing.cached_property(counted))
    publishing.Publication.sections.__set_name__(publishing.Publication, "sections")
    pub = publish(result, ctx)
    assert pub.comment == render_comment(result, ctx)
    assert pub.summary == render_summary(result, ctx)
    assert pub.report == render_summary(result, ctx, limit=None)
    assert "bucket logs is public" in pub.html and "<table>" in pub.html
    assert len(calls) == 1  # the sections were rendered once for the comment, the summary and the report
    [note] = [a for a in pub.annotations() if a.file]
    assert (note.level, note.file, note.line) == ("error", "main.tf", 4)


def test_report_files(tmp_path):
    pub = publish(_denied())
    assert set(REPORT_FORMATS) == {"junit", "sarif", "markdown", "html"}
    assert write_report(pub, "junit", str(tmp_path / "j.xml"))
    suite = ET.parse(tmp_path / "j.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "1"
    assert ("deployforge.trace_id", "DF-TRC-2QBB3T9B12") in [
        (p.get("name"), p.get("value")) for p in suite.iter("property")
    ]
    assert write_report(pub, "sarif", str(tmp_path / "r.sarif"), base=str(tmp_path))
    sarif = json.loads((tmp_path / "r.sarif").read_text())
    assert sarif["runs"][0]["results"][0]["ruleId"] == "S3_PUBLIC"
    assert write_report(pub, "markdown", str(tmp_path / "out" / "report.md"))
    assert (tmp_path / "out" / "report.md").read_text() == pub.report
    assert write_report(pub, "html", str(tmp_path / "r.html")) and (tmp_path / "r.html").read_text() == pub.html


def test_formats_with_nothing_to_say_write_nothing(tmp_path):
    plain = publish(RunResult("apply", "prod", "DF-TRC-2QBB3T9B12", 0))
    assert not write_report(plain, "sarif", str(tmp_path / "r.sarif")) and not (tmp_path / "r.sarif").exists()
    assert not write_report(plain, "junit", str(tmp_path / "j.xml")) and not (tmp_path / "j.xml").exists()
    # a CI reader expecting a file gets an empty report when asked for one
    assert write_report(plain, "junit", str(tmp_path / "j.xml"), empty=True)
    assert ET.parse(tmp_path / "j.xml").getroot().tag == "testsuites"


# who may call the renderers and report writers directly instead of going through render/publish.py
DIRECT_RENDERING_ALLOWED = {
    "render/": "the renderers themselves and the pipeline",
    "cli/policy.py": "`policy test` reports policy unit tests, not a run's result",
    "hooks.py": "its own JUnit producer (render/suites.py calls it)",
    "usecases/policy.py": "annotations_text: policy findings as workflow commands for the CLI's log",
}
RENDERING = re.compile(
    r"\b(render_comment|render_summary|write_junit|write_sarif|render_html|to_sarif|to_junit_suite|"
    r"render_annotations|annotations_for)\("
)


def test_front_doors_render_through_the_pipeline():
    direct = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if any(rel == a or (a.endswith("/") and rel.startswith(a)) for a in DIRECT_RENDERING_ALLOWED):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if RENDERING.search(line) and "def " not in line:
                direct.append(f"{rel}:{number}: {line.strip()}")
    assert direct == [], "render through deployforge.render.publish:\n" + "\n".join(direct)
