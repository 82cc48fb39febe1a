"""One publish pipeline: every rendering of a run's result, made in one place from one object.

``publish(result, ctx)`` returns a ``Publication``; each front door takes what it shows from it
and never renders on its own:

- the GitHub Action: ``summary`` (the job summary, within GitHub's 1 MiB), ``report`` (every row,
  the file a cut points to), ``comment`` (the PR comment, within 65,536 characters),
  ``annotations``, and the report files;
- the Jenkins library (``deployforge jenkins report``): ``comment`` and ``html``;
- the CLI: the report files of ``--junit`` (and ``validate --sarif``).

The sections are rendered once and shared by the summary, the report and the comment (they are
most of the cost). Report files go through ``write_report(publication, format, path)``; the
formats are ``REPORT_FORMATS``. Adding a format is a renderer plus one entry there (then a flag or
an input where a front door should offer it). The outcome every rendering states is the result's
own (``model/outcome.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from deployforge.render.markdown import RenderContext, Section


@dataclass
class Publication:
    result: Any  # model.result.RunResult
    ctx: RenderContext = field(default_factory=RenderContext)

    @cached_property
    def sections(self) -> list[Section]:
        from deployforge.render.markdown import sections

        return sections(self.result)

    @cached_property
    def comment(self) -> str:
        from deployforge.render.markdown import render_comment

        return render_comment(self.result, self.ctx, secs=self.sections)

    @cached_property
    def summary(self) -> str:
        from deployforge.render.summary import render_summary

        return render_summary(self.result, self.ctx, secs=self.sections)

    @cached_property
    def report(self) -> str:
        """The summary with every row: where a cut comment or summary points."""
        from deployforge.render.summary import render_summary

        return render_summary(self.result, self.ctx, limit=None, secs=self.sections)

    @cached_property
    def html(self) -> str:
        """The comment as one self-contained page (Jenkins' publishHTML)."""
        from deployforge.render.html import render_html

        env = f" · {self.result.environment}" if self.result.environment else ""
        return render_html(self.comment, title=f"DeployForge {self.result.command}{env}")

    def annotations(self, locate: Callable[[str], tuple[str, int] | None] | None = None) -> list[Any]:
        """Config issues, policy findings and drift on their lines, most important first."""
        from deployforge.render.markdown import annotations_for

        return annotations_for(self.result, locate)

    @cached_property
    def junit_suites(self) -> list[Any]:
        from deployforge.render.suites import junit_suites

        return junit_suites(self.result)

    def sarif(self, base: str | None = None) -> dict[str, Any] | None:
        """SARIF 2.1.0 of the policy findings (None when no policy ran); paths relative to ``base``."""
        if self.result.policy is None:
            return None
        from deployforge import __version__
        from deployforge.policy.report import to_sarif

        return to_sarif(self.result.policy, __version__, base)


def publish(result: Any, ctx: RenderContext | None = None) -> Publication:
    """Everything ``result`` renders into, made on first use and made once."""
    return Publication(result, ctx or RenderContext())


# -- report files ----------------------------------------------------------------------------------


def _junit(pub: Publication, path: str, options: Mapping[str, Any]) -> bool:
    from deployforge.render.junit import write_junit

    suites = pub.junit_suites
    if not suites and not options.get("empty"):
        return False
    write_junit(path, suites)
    return True


def _sarif(pub: Publication, path: str, options: Mapping[str, Any]) -> bool:
    from deployforge.render.sarif import write_sarif

    document = pub.sarif(options.get("base"))
    if document is None:
        return False
    write_sarif(path, document)
    return True


def _text(attribute: str) -> Callable[[Publication, str, Mapping[str, Any]], bool]:
    def write(pub: Publication, path: str, options: Mapping[str, Any]) -> bool:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(getattr(pub, attribute), encoding="utf-8")
        return True

    return write


# format -> writer(publication, path, options) -> whether a file was written (False: nothing to
# report in this format, e.g. SARIF without a policy)
REPORT_FORMATS: dict[str, Callable[[Publication, str, Mapping[str, Any]], bool]] = {
    "junit": _junit,  # every present section's suites (render/suites.py)
    "sarif": _sarif,  # policy findings (code scanning, Warnings NG)
    "markdown": _text("report"),  # the full report
    "html": _text("html"),  # the comment as a page
}


def write_report(pub: Publication, fmt: str, path: str, **options: Any) -> bool:
    """Write ``pub`` as ``fmt`` to ``path``; False when this result has nothing to say in that format.
    ``empty=True`` (JUnit) writes a report even without a suite; ``base`` (SARIF) relativises paths."""
    return REPORT_FORMATS[fmt](pub, path, options)
