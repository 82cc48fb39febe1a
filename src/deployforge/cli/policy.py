"""`deployforge policy test`, and the console side of `validate --policy` and the plan gate."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from deployforge.cli.common import CONTEXT, REPORT_FILE, emit_json, project_options, run_project_command

if TYPE_CHECKING:
    from deployforge.usecases.workspace import Workspace


def echo_policy(report: Any, style: Callable[..., str]) -> None:
    from deployforge.policy.report import render_table
    from deployforge.usecases.policy import annotations_text

    click.echo("")
    click.echo(render_table(report, style))
    annotations = annotations_text(report)
    if annotations:
        click.echo(annotations, nl=False)


def engine_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--rego-version, --policy-timeout, --policy-memory: how the Rego engine runs (docs/policies.md#limits)."""
    f = click.option(
        "--policy-memory",
        "policy_memory",
        type=click.IntRange(64, None),
        default=None,
        metavar="MB",
        help="Memory limit of each Rego engine process (default 2048; config: policies[].memory_mb).",
    )(f)
    f = click.option(
        "--policy-timeout",
        "policy_timeout",
        type=click.FloatRange(0.1, None),
        default=None,
        metavar="SECONDS",
        help="Time limit of the Rego evaluation (default 120; config: policies[].timeout).",
    )(f)
    f = click.option(
        "--rego-version",
        "rego_version",
        type=click.Choice(["v0", "v1"]),
        default=None,
        help="Rego syntax of the policies, as conftest's flag (default v1; config: policies[].rego_version).",
    )(f)
    return f


def run_validate_policy(
    ws: Workspace,
    fmt: str,
    style: Callable[..., str],
    holder: dict[str, Any],
    paths: tuple[str, ...],
    policies: tuple[str, ...],
    namespaces: tuple[str, ...],
    all_namespaces: bool,
    data: tuple[str, ...],
    junit: str | None,
    sarif: str | None,
    fail_on_warn: bool,
    engine: dict[str, Any] | None = None,
) -> int:
    from deployforge.policy.evaluate import PolicyOptions
    from deployforge.policy.report import render_table
    from deployforge.usecases import policy as use_cases

    options = PolicyOptions(tuple(policies), tuple(namespaces), all_namespaces, tuple(data), fail_on_warn)
    result = use_cases.validate(ws, paths, options, engine or {})
    holder["result"] = result
    report = result.policy
    from deployforge.policy.model import PolicyReport

    assert isinstance(report, PolicyReport)  # the policy use case's section
    written = _write_reports(result, junit, sarif)
    if fmt == "json":
        emit_json(result.to_json())
        return int(result.exit_code)
    if result.config_path:
        click.echo(style(f"{result.config_path}: config valid", fg="green"))
    click.echo(render_table(report, style))
    annotations = use_cases.annotations_text(report)
    if annotations:
        click.echo(annotations, nl=False)
    for path in written:
        click.echo(style(f"wrote {path}", dim=True), err=True)
    return int(result.exit_code)


def _write_reports(result: Any, junit: str | None, sarif: str | None) -> list[str]:
    """``--junit`` / ``--sarif`` through the one publish pipeline; returns what was written."""
    from deployforge.errors import UsageError
    from deployforge.render.publish import publish, write_report

    pub, written = publish(result), []
    try:
        for fmt, path in (("junit", junit), ("sarif", sarif)):
            if path and write_report(pub, fmt, path, empty=True):
                written.append(path)
    except OSError as exc:
        raise UsageError(f"cannot write the report: {exc}") from None
    return written


@click.group(context_settings=CONTEXT)
def policy() -> None:
    """Rego policies: run their tests."""


@policy.command("test", context_settings=CONTEXT)
@project_options
@click.argument("policy_dir", nargs=-1, required=True, metavar="POLICY_DIR...")
@click.option("--data", "data", multiple=True, metavar="FILE|DIR", help="JSON/YAML files merged into Rego's data.")
@click.option("--run", "run", metavar="TEXT", help="Only tests whose package.name contains TEXT.")
@click.option("--junit", type=REPORT_FILE, help="Write the test results as JUnit XML.")
@engine_options
@run_project_command("policy test")
def policy_test(
    ws: Workspace,
    fmt: str,
    style: Callable[..., str],
    holder: dict[str, Any],
    policy_dir: tuple[str, ...],
    data: tuple[str, ...],
    run: str | None,
    junit: str | None,
    verbose: bool,
    rego_version: str | None = None,
    policy_timeout: float | None = None,
    policy_memory: int | None = None,
) -> int:
    """Run the test_* rules of the policies in POLICY_DIR (like `opa test`): pass when the rule is true.

    -v also lists the passing tests.

    Exit codes: 0 all pass, 1 a test failed or errored, 2 a policy could not be loaded.
    """
    from deployforge.policy.isolate import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S, Limits
    from deployforge.policy.testing import render_text, run_tests, to_junit_suite

    limits = Limits(policy_timeout or DEFAULT_TIMEOUT_S, policy_memory or DEFAULT_MEMORY_MB)
    report = run_tests(list(policy_dir), list(data), run, rego_version=rego_version or "v1", limits=limits)
    if junit:
        from deployforge.render.junit import write_junit

        write_junit(junit, [to_junit_suite(report)])
    if fmt == "json":
        emit_json(report.to_json())
    else:
        click.echo(render_text(report, style, verbose=verbose))
    return report.exit_code
