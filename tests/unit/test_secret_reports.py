"""Secrets in the documents people read: the PR comment, the job summary, JUnit, the Action's log.

A value is masked before a renderer shortens or escapes the text around it (a cut or escaped secret
no longer matches the registry), and once more in the finished document.
"""

from __future__ import annotations

import pytest

from deployforge.model.result import RunResult
from deployforge.render.markdown import RenderContext, render_comment
from deployforge.render.summary import render_summary
from deployforge.secrets import masking

SECRET = "S3CRET<desc> Beta/7+x&y"  # characters HTML and XML escaping would change


@pytest.fixture(autouse=True)
def _fresh_registry():
    masking.clear()
    masking.register(SECRET)
    yield
    masking.clear()


def _failed_apply_result() -> RunResult:
    long = "AuthorizeSecurityGroupIngress failed: invalid CIDR " + "x" * 250 + f" {{'CidrIp': '{SECRET}'}}"
    return RunResult("run", "staging", "DF-TRC-TEST", 1, messages=(f"apply failed: {SECRET}", long))


def test_comment_and_summary_never_show_a_secret_even_cut_or_escaped():
    ctx = RenderContext(workflow="pr")
    for text in (render_comment(_failed_apply_result(), ctx), render_summary(_failed_apply_result(), ctx)):
        assert "S3CRET" not in text and "Beta/7" not in text
        assert "apply failed: ***" in text


def test_junit_masks_before_xml_escaping(tmp_path):
    from deployforge.hooks import HookRun, HooksReport, to_junit_suite
    from deployforge.render.junit import write_junit

    report = HooksReport((HookRun("smoke", "post_deploy", None, "failed", 1, 0.1, (f"DESC={SECRET}",)),))
    write_junit(tmp_path / "j.xml", to_junit_suite(report))
    text = (tmp_path / "j.xml").read_text()
    assert "S3CRET" not in text and "x&amp;y" not in text and "DESC=***" in text


def test_an_error_result_is_a_failure_even_with_exit_code_2():
    """A plan that stopped on bad input (exit 2) is not "changes found"."""

    stopped = RunResult("plan", "staging", "DF-TRC-TEST", 2, messages=("no key",), error="ReferenceResolutionError")
    assert not stopped.ok and not stopped.outcome.completed and stopped.to_json()["error"] == "ReferenceResolutionError"
    assert RunResult("plan", "staging", "DF-TRC-TEST", 2).ok  # without an error, 2 is "changes"
    assert "✅" not in render_comment(stopped, RenderContext(workflow="pr"))


def test_the_action_log_never_masks_braces(capsys):
    from deployforge.ci.github import GitHubSink

    GitHubSink().mask('{\n  "private_key": "PEMDATA-LINE"\n}')
    lines = capsys.readouterr().out.splitlines()
    assert lines == ['::add-mask::"private_key": "PEMDATA-LINE"']


def test_the_action_log_announces_each_mask_once(capsys):
    from deployforge.ci.github import GitHubSink

    sink = GitHubSink()
    for value in ("ghs_token-one", "ghs_token-one", "other-secret", "ghs_token-one"):
        sink.mask(value)  # the token is registered by the inputs, the environment and the API client
    assert capsys.readouterr().out.splitlines() == ["::add-mask::ghs_token-one", "::add-mask::other-secret"]


def test_the_hooks_section_names_each_hook_and_what_happened():
    from deployforge.hooks import HookRun, HooksReport
    from deployforge.render.markdown import hooks_section

    runs = (
        HookRun("fetch inputs", "pre_plan", None, "ok", 0, 0.1),
        HookRun("notify", "post_deploy", None, "failed", 3, 0.1, (), "exit code 3", continue_on_error=True),
        HookRun("migrate", "pre_deploy", "aws_prod", "timeout", None, 30.0, (), "killed after the timeout of 30s"),
    )
    result = RunResult("run", "prod", "DF-TRC-TEST", 1, hooks=HooksReport(runs))
    section = hooks_section(result)
    assert section is not None and section.status == "❌"
    assert section.headline == "3 hooks, 1 failed, 1 failed but allowed"
    assert "| pre_plan | `fetch inputs` | ok |" in section.details
    assert "| post_deploy | `notify` | failed (exit code 3), allowed (continue_on_error) |" in section.details
    assert section.attention == ("pre_deploy `migrate` on aws_prod: timeout (killed after the timeout of 30s)",)
    allowed_only = hooks_section(RunResult("plan", "prod", "DF-TRC-TEST", 2, hooks=HooksReport(runs[:2])))
    assert allowed_only is not None and allowed_only.status == "⚠️"  # a warning, not a failed run
