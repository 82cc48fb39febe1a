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
