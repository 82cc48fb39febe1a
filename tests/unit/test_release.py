"""release.yml's pin step, run as the workflow runs it, and the action.yml it writes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DIGEST = "sha256:" + "ab12" * 16
REF = f"ghcr.io/deployforge/action@{DIGEST}"


def _step(name: str) -> dict:
    workflow = yaml.safe_load((ROOT / ".github/workflows/release.yml").read_text(encoding="utf-8"))
    [step] = [s for s in workflow["jobs"]["image"]["steps"] if s.get("name") == name]
    return step


def test_the_pin_step_rewrites_only_the_image_and_the_result_is_a_valid_action(tmp_path: Path) -> None:
    shutil.copy(ROOT / "action.yml", tmp_path / "action.yml")
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts/pin_action_image.py", tmp_path / "scripts")
    step = _step("Pin the image in action.yml")
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "IMAGE_REF": REF}
    done = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    before = (ROOT / "action.yml").read_text(encoding="utf-8")
    after = (tmp_path / "action.yml").read_text(encoding="utf-8")
    assert yaml.safe_load(before)["runs"]["image"] == "Dockerfile"  # main builds from source
    assert yaml.safe_load(after)["runs"] == {"using": "docker", "image": f"docker://{REF}"}
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b]
    assert changed == [("  image: Dockerfile", f"  image: 'docker://{REF}'")]
    checker = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
    assert checker, "check-jsonschema is a dev dependency"
    valid = subprocess.run(
        [checker, "--builtin-schema", "vendor.github-actions", str(tmp_path / "action.yml")],
        capture_output=True,
        text=True,
    )
    assert valid.returncode == 0, valid.stdout + valid.stderr
    # the step takes the digest the push step printed, through an output and an environment variable
    assert _step("Pin the image in action.yml")["env"]["IMAGE_REF"] == "${{ steps.push.outputs.ref }}"
    assert "RepoDigests" in _step("Build and push the image")["run"]


@pytest.mark.parametrize(
    "ref",
    [
        "ghcr.io/deployforge/action:v3",
        "ghcr.io/deployforge/action@sha256:abc",
        "action@sha256:" + "0" * 64,
        "x; rm -rf /",
    ],
)
def test_a_reference_not_pinned_by_digest_is_refused_and_nothing_is_written(tmp_path: Path, ref: str) -> None:
    target = tmp_path / "action.yml"
    shutil.copy(ROOT / "action.yml", target)
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts/pin_action_image.py"), ref, str(target)], capture_output=True, text=True
    )
    assert done.returncode == 2 and "pinned by digest" in done.stderr
    assert target.read_text(encoding="utf-8") == (ROOT / "action.yml").read_text(encoding="utf-8")


def test_pinning_twice_is_refused(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from pin_action_image import pin
    finally:
        sys.path.pop(0)
    once = pin((ROOT / "action.yml").read_text(encoding="utf-8"), REF)
    with pytest.raises(ValueError, match="pinned already"):
        pin(once, REF)
