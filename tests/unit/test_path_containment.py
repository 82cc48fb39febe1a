"""Report, plan and audit paths and working-directory stay inside the workspace (or RUNNER_TEMP)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = "version: 1\nname: demo\nenvironments:\n  staging:\n    description: Staging\nresources: {}\n"


def action(tmp: Path, **inputs: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    ws = tmp / "a" / "b" / "ws"
    ws.mkdir(parents=True, exist_ok=True)
    (ws / "deployforge.yaml").write_text(CONFIG)
    (tmp / "temp").mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "DEPLOYFORGE_"))}
    env.update(PYTHONPATH=str(ROOT / "src"), GITHUB_WORKSPACE=str(ws), RUNNER_TEMP=str(tmp / "temp"), NO_COLOR="1")
    env.update({"INPUT_COMMAND": "plan", "INPUT_ENVIRONMENT": "staging"})
    env.update({f"INPUT_{k.upper()}": v for k, v in inputs.items()})
    proc = subprocess.run(
        [sys.executable, "-m", "deployforge.action"], cwd=ws, env=env, capture_output=True, text=True, timeout=120
    )
    return proc, ws


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("junit-path", "../../x/junit.xml"),
        ("sarif-path", "/etc/deployforge.sarif"),
        ("plan-path", "../plan.json"),
        ("working-directory", ".."),
    ],
)
def test_an_input_path_outside_the_workspace_is_refused(tmp_path: Path, name: str, value: str) -> None:
    proc, _ = action(tmp_path, **{name: value})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"input '{name}' is '{value}'" in proc.stdout and "outside the workspace" in proc.stdout
    assert "result=failed" in proc.stdout and "Traceback" not in proc.stdout + proc.stderr
    assert not (tmp_path / "a" / "x").exists() and not (tmp_path / "a" / "b" / "plan.json").exists()


def test_runner_temp_and_the_workspace_are_fine(tmp_path: Path) -> None:
    proc, ws = action(tmp_path, **{"plan-path": str(tmp_path / "temp" / "plan.json"), "junit-path": "r/j.xml"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "temp" / "plan.json").is_file() and ws.is_dir()


def test_a_symlink_cannot_lead_out(tmp_path: Path) -> None:
    ws = tmp_path / "a" / "b" / "ws"
    ws.mkdir(parents=True)
    (ws / "out").symlink_to(tmp_path)
    proc, _ = action(tmp_path, **{"junit-path": "out/junit.xml"})
    assert proc.returncode == 1 and "input 'junit-path'" in proc.stdout


@pytest.mark.parametrize("value", ["../../x/audit.jsonl", "/tmp/deployforge-audit.jsonl"])
def test_a_config_audit_or_state_path_outside_the_workspace_is_a_located_error(tmp_path: Path, value: str) -> None:
    (tmp_path / "ws").mkdir()
    cfg = tmp_path / "ws" / "deployforge.yaml"
    cfg.write_text(CONFIG + f"audit:\n  path: {value}\nstate:\n  path: {value}\n")
    outside = Path("/tmp/deployforge-audit.jsonl")

    def seen() -> tuple[int, int] | None:  # another run may have left it: only this one must not write it
        return (outside.stat().st_mtime_ns, outside.stat().st_size) if outside.exists() else None

    before = seen()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "DEPLOYFORGE_"))}
    env.update(PYTHONPATH=str(ROOT / "src"), NO_COLOR="1")
    proc = subprocess.run(
        [sys.executable, "-m", "deployforge", "plan"], cwd=cfg.parent, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 1, proc.stderr  # plan: bad input exits 1 (2 means changes)
    assert "deployforge.yaml:8:9: audit.path" in proc.stderr and "deployforge.yaml:10:9: state.path" in proc.stderr
    assert "outside the workspace" in proc.stderr or "is absolute" in proc.stderr
    assert not (tmp_path / "x").exists() and seen() == before
