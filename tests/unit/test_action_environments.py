"""`deployforge environments --matrix`: a GitHub Actions matrix the drift and deploy workflows fan out over."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deployforge", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
    )


def test_matrix_lists_every_environment_as_one_json_line(tmp_path: Path) -> None:
    (tmp_path / "deployforge.yaml").write_text(
        (ROOT / "examples/quickstart/deployforge.yaml").read_text().replace("${DEPLOYFORGE_AWS_PROFILE:-default}", "x")
    )
    proc = run("environments", "--matrix", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.strip().splitlines()) == 1  # fits `echo "matrix=$(...)" >> $GITHUB_OUTPUT`
    matrix = json.loads(proc.stdout)
    assert matrix == {
        "include": [
            {"environment": "dev", "config": "deployforge.yaml", "require_confirmation": False},
            {"environment": "prod", "config": "deployforge.yaml", "require_confirmation": True},
        ]
    }
    text = run("environments", cwd=tmp_path)
    assert text.stdout.splitlines() == ["dev", "prod (deploys need confirmation)"]


def test_a_broken_environment_fails_with_its_location(tmp_path: Path) -> None:
    (tmp_path / "deployforge.yaml").write_text("version: 1\nname: x\nenvironments:\n  dev: {bogus: 1}\n")
    proc = run("environments", "--matrix", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "deployforge.yaml:4" in proc.stderr and "Traceback" not in proc.stderr


def test_the_example_drift_workflow_uses_the_matrix() -> None:
    flow = yaml.safe_load((ROOT / "examples/github/drift.yml").read_text())
    steps = flow["jobs"]["environments"]["steps"]
    assert any("deployforge environments --matrix" in s.get("run", "") for s in steps)
    assert flow["jobs"]["drift"]["strategy"]["matrix"] == "${{ fromJSON(needs.environments.outputs.matrix) }}"


# -- issue 14: host paths in outputs, the marker of a config that did not load ---------------------


def test_absolute_output_paths_are_translated_back_to_the_host() -> None:
    from deployforge.action import from_workspace, read_settings

    inside = {
        "GITHUB_WORKSPACE": "/github/workspace",  # what the runner sets in a Docker action
        "RUNNER_WORKSPACE": "/home/runner/work/infra",  # not under a mount: the host's path
        "GITHUB_REPOSITORY": "octo/infra",
    }
    s = read_settings(inside)
    assert from_workspace("/github/workspace/out/plan.json", s) == "/home/runner/work/infra/infra/out/plan.json"
    assert from_workspace("/github/runner_temp/plan.json", s) == "/home/runner/work/_temp/plan.json"
    assert from_workspace("/elsewhere/plan.json", s) == "/elsewhere/plan.json"
    unknown = read_settings({"GITHUB_WORKSPACE": "/github/workspace", "GITHUB_REPOSITORY": "octo/infra"})
    assert from_workspace("/github/workspace/out/plan.json", unknown) == "out/plan.json"  # later steps resolve it
    host = read_settings(
        {"GITHUB_WORKSPACE": "/home/runner/work/infra/infra", "RUNNER_WORKSPACE": "/home/runner/work/infra"}
    )
    assert from_workspace("/home/runner/work/infra/infra/p.json", host) == "/home/runner/work/infra/infra/p.json"


class _Unloadable:
    def __init__(self, config: str, environment: str | None = None, environ: dict[str, str] | None = None):
        from deployforge.usecases.workspace import Options

        self.options = Options(config=config, environment=environment, environ=environ or {})

    @property
    def config(self):
        from deployforge.errors import ConfigError, ConfigIssue

        raise ConfigError([ConfigIssue("broken", None)])


def test_a_config_that_does_not_load_keeps_the_environment_it_would_have_chosen(tmp_path) -> None:
    from deployforge.action import _environment_of

    cfg = tmp_path / "deployforge.yaml"
    cfg.write_text("version: 1\nenvironments: {staging: {}, prod: {}}\ndefault_environment: prod\nresources: 7\n")
    assert _environment_of(_Unloadable(str(cfg))) == "prod"  # the config's default
    assert _environment_of(_Unloadable(str(cfg), "staging")) == "staging"  # the input
    assert _environment_of(_Unloadable(str(cfg), None, {"DEPLOYFORGE_ENVIRONMENT": "qa"})) == "qa"
    cfg.write_text("version: 1\nenvironments: {only: {}}\nresources: [\n")  # not even YAML
    assert _environment_of(_Unloadable(str(cfg))) == "default"
    cfg.write_text("version: 1\nenvironments: {only: {}}\nresources: 7\n")
    assert _environment_of(_Unloadable(str(cfg))) == "only"
