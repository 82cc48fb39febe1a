"""ci.yml's self-test job runs on GitHub as written: no moto in the image, its config plans."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _job() -> dict:
    return yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text(encoding="utf-8"))["jobs"]["self-test"]


def test_the_self_test_needs_no_emulator_in_the_image() -> None:
    job = _job()
    [step] = [s for s in job["steps"] if s.get("uses") == "./"]
    assert step["with"].get("sandbox", "false") in ("false", False), "the Action's image has no moto"
    # moto runs beside the job, as a service the Action's container reaches by name
    assert job["services"]["moto"]["image"].startswith("motoserver/moto:")
    # the service runs the moto that requirements-dev.lock pins, and the tests here run that one too
    lock = (ROOT / "requirements-dev.lock").read_text(encoding="utf-8")
    [pinned] = [line.split("==")[1].split()[0] for line in lock.splitlines() if line.startswith("moto==")]
    assert job["services"]["moto"]["image"] == f"motoserver/moto:{pinned}"
    installed = subprocess.run(
        [sys.executable, "-c", "import moto; print(moto.__version__)"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert installed == pinned, "the venv does not follow requirements-dev.lock: run scripts/bootstrap.sh dev"
    config = yaml.safe_load((ROOT / step["with"]["config"]).read_text(encoding="utf-8"))
    assert config["targets"]["aws"]["endpoint_url"].endswith(":-http://moto:5000}")


@pytest.mark.integration
def test_the_self_test_config_plans_two_changes_against_moto(moto_endpoint: str, tmp_path: Path) -> None:
    job = _job()
    [step] = [s for s in job["steps"] if s.get("uses") == "./"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEPLOYFORGE_", "GITHUB_"))}
    env.update(step["env"], DEPLOYFORGE_SELFTEST_ENDPOINT=moto_endpoint, NO_COLOR="1")
    env["PYTHONPATH"] = str(ROOT / "src")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "deployforge",
            "plan",
            "-c",
            str(ROOT / step["with"]["config"]),
            "-e",
            "dev",
            "--format",
            "json",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr  # 2: changes found
    plan = json.loads(done.stdout)["plan"]
    assert plan["summary"]["create"] == 2
    # the job's last step checks this number
    assert 'test "$CHANGES" = 2' in job["steps"][-1]["run"]
