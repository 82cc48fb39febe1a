"""Annotations as the runner shows them: 10 per type and step, the most important first (issue 14 point 3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.fakes.github import FakeGitHub, github_fake_fixture, github_fake_server_fixture  # noqa: F401

from deployforge.ci.annotation_budget import PER_TYPE, AnnotationBudget
from deployforge.render.markdown import annotations_for


class Capture:
    def __init__(self) -> None:
        self.annotations: list[tuple[str, str, str]] = []

    def annotate(self, level: str, message: str, *, title: str = "", **_: Any) -> None:
        self.annotations.append((level, message, title))

    def info(self, message: str) -> None:
        pass


def test_ten_per_type_most_important_first_and_one_saying_how_many_more() -> None:
    sink = Capture()
    budget = AnnotationBudget(sink)
    for i in range(30):
        budget.annotate("error", f"low finding {i}", rank=4)
    budget.annotate("error", "critical finding", rank=1)
    budget.annotate("error", "DeployForge: 31 policy failures")  # the step's verdict: rank 0
    for i in range(3):
        budget.annotate("warning", f"warning {i}", rank=3)
    budget.where = "the check run 'DeployForge (pr)'"
    budget.info("passes through")
    hidden = budget.flush()
    errors = [a for a in sink.annotations if a[0] == "error"]
    assert len(errors) == PER_TYPE == 10
    assert errors[0][1] == "DeployForge: 31 policy failures" and errors[1][1] == "critical finding"
    assert [e[1] for e in errors[2:9]] == [f"low finding {i}" for i in range(7)]  # arrival order within a rank
    assert errors[9][1].startswith("23 more errors not shown here") and "'DeployForge (pr)'" in errors[9][1]
    assert hidden == {"error": 23}
    assert [a[1] for a in sink.annotations if a[0] == "warning"] == ["warning 0", "warning 1", "warning 2"]
    assert budget.flush() == {} and len(sink.annotations) == 13  # flushed once


@dataclass(frozen=True)
class Doc:
    data: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return self.data


@dataclass(frozen=True)
class Result:
    drift: Any
    issues: tuple[Any, ...] = ()
    policy: Any = None


def test_drift_annotations_carry_the_resource_file_and_line() -> None:
    records = [
        {
            "id": "DF-1",
            "resource": "sg",
            "severity": "security-critical",
            "status": "MODIFIED",
            "changes": [{"path": "ingress"}],
        },
        {"id": "DF-2", "resource": "gone", "severity": "informational", "status": "MODIFIED", "changes": []},
    ]
    where = {"sg": ("deployforge.yaml", 14)}
    notes = annotations_for(Result(Doc({"records": records})), where.get)
    assert (notes[0].file, notes[0].line, notes[0].level, notes[0].rank) == ("deployforge.yaml", 14, "error", 1)
    assert (notes[1].file, notes[1].line, notes[1].rank) == (None, None, 5)


def test_the_action_locates_resources_in_the_config(tmp_path, monkeypatch) -> None:
    from deployforge.action import _resource_locator, read_settings

    (tmp_path / "deployforge.yaml").write_text(
        "version: 1\nname: x\nresources:\n  logs:\n    type: aws_s3_bucket\n  sg:\n    type: aws_security_group\n"
    )
    monkeypatch.chdir(tmp_path)
    locate = _resource_locator(read_settings({}))
    assert locate("sg") == ("deployforge.yaml", 6) and locate("nope") is None


def test_the_action_locates_resources_through_the_loaded_config_without_parsing_again(tmp_path, monkeypatch) -> None:
    """After a command that loaded the config, the drift annotations' places come from the config's
    own positions: the same lines, and the file is not parsed a second time."""
    import yaml

    from deployforge.action import _resource_locator, read_settings
    from deployforge.usecases.workspace import Options, Workspace

    (tmp_path / "deployforge.yaml").write_text(
        "targets: {main: {provider: aws, region: us-east-1}}\n"
        "resources:\n  logs:\n    type: aws_s3_bucket\n    properties: {bucket: my-logs}\n"
        "  sg:\n    type: aws_security_group\n    properties: {name: web}\n"
    )
    monkeypatch.chdir(tmp_path)
    ws = Workspace(Options(config="deployforge.yaml", environ={}))
    assert ws.loaded_config() is None  # nothing loaded yet: nothing is loaded to answer
    assert ws.config.environment == "default" and ws.loaded_config() is ws.config
    parses: list[str] = []
    compose_all = yaml.compose_all
    monkeypatch.setattr(yaml, "compose_all", lambda *a, **k: parses.append("parse") or compose_all(*a, **k))
    locate = _resource_locator(read_settings({}), ws.loaded_config())
    assert locate("sg") == ("deployforge.yaml", 6) and locate("logs") == ("deployforge.yaml", 3)
    assert locate("nope") is None and parses == []
    parsed = _resource_locator(read_settings({}))  # the config did not load: the file is parsed here
    assert parses == ["parse"] and parsed("sg") == locate("sg") and parsed("logs") == locate("logs")


def test_the_check_run_gets_masked_messages_and_repository_paths(
    github_fake: FakeGitHub, tmp_path, monkeypatch
) -> None:
    from deployforge.action import _check_run, read_settings
    from deployforge.render.markdown import RenderContext
    from deployforge.secrets import masking

    secret = "s3cr3t-Value-From-Vault"
    masking.register(secret)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "deployforge.yaml").write_text("version: 1\n")
    settings = read_settings(
        {
            "INPUT_GITHUB-TOKEN": github_fake.token,
            "INPUT_CHECK-RUN": "always",
            "GITHUB_REPOSITORY": "octo/app",
            "GITHUB_API_URL": github_fake.api_url,
            "GITHUB_SHA": "c" * 40,
            "GITHUB_WORKSPACE": str(tmp_path),
            "GITHUB_WORKFLOW": "pr",
        }
    )
    budget = AnnotationBudget(Capture())
    budget.annotate("error", f"hook printed {secret}", title="hook", file="/etc/passwd", line=3, rank=1)
    budget.annotate("warning", "drift", file="stacks/app.yaml", line=9, rank=3)

    @dataclass(frozen=True)
    class Done:
        environment: str = "staging"
        command: str = "plan"

    _check_run(settings, {}, budget, Done(), True, RenderContext(artifact=".deployforge/reports/report.md"))
    [run] = github_fake.check_runs("octo/app")
    assert run["name"] == "DeployForge (pr · staging)" and run["conclusion"] == "failure"
    first, second = run["annotations"]
    assert first["message"] == "hook printed ***" and secret not in str(run)  # the API is not the masked log
    assert first["path"] == "deployforge.yaml" and first["start_line"] == 3  # outside the repository: the config
    assert (second["path"], second["annotation_level"]) == ("stacks/app.yaml", "warning")
    # the summary is Markdown: the environment and the report path sit in code spans
    assert "in `staging`; the full report is in `.deployforge/reports/report.md`" in run["output"]["summary"]
