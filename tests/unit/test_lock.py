"""requirements.lock (scripts/lock.sh) pins what the image installs with --require-hashes.

It must cover every runtime dependency in pyproject.toml, at a version its specifier admits, with
hashes for every pin: otherwise the image build fails (pip refuses an unhashed or missing package)
or ships a version the code was not written for. The container check builds the image from it.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def _locked(lock: str = "requirements.lock") -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes), from the lock's `name==version [; marker] \\` blocks."""
    text = (ROOT / lock).read_text()
    pins: dict[str, tuple[str, list[str]]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        head = re.match(r"([A-Za-z0-9_.\-]+)==([^\s;\\]+)", block)
        if head:
            pins[canonicalize_name(head.group(1))] = (head.group(2), re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
    return pins


def test_every_runtime_dependency_is_pinned_within_its_specifier() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    locked = _locked()
    for spec in project["dependencies"]:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        assert name in locked, f"{req.name} is a dependency but not in requirements.lock: run scripts/lock.sh"
        version, _ = locked[name]
        assert req.specifier.contains(version, prereleases=True), (
            f"requirements.lock pins {req.name}=={version}, outside pyproject's {req.specifier}: run scripts/lock.sh"
        )


def test_every_pin_carries_hashes() -> None:
    locked = _locked()
    assert len(locked) >= 20  # the parse found the lock's blocks
    unhashed = [name for name, (_, hashes) in locked.items() if not hashes]
    assert unhashed == [], f"pins without a --hash: {unhashed}"


def test_the_image_installs_from_the_lock_with_hashes_required() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "COPY requirements.lock" in dockerfile
    assert re.search(r"pip install [^\n]*--require-hashes -r /src/requirements\.lock", dockerfile)
    assert re.search(r"pip install [^\n]*--no-deps /src", dockerfile), "DeployForge itself must add no unpinned deps"


def test_the_dev_lock_pins_every_extra_and_agrees_with_the_runtime_lock() -> None:
    """The test venv (scripts/bootstrap.sh) takes both locks as constraints: they must not conflict,
    and no extra may float (a new moto release once broke CI between two runs of the same commit)."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    runtime, dev = _locked(), _locked("requirements-dev.lock")
    for spec in extras["dev"] + extras["sandbox"]:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        assert name in dev, f"{req.name} is an extra but not in requirements-dev.lock: run scripts/lock.sh"
        version = dev[name][0]
        assert req.specifier.contains(version, prereleases=True), f"{req.name}=={version} outside {req.specifier}"
    disagree = {n: (v, dev[n][0]) for n, (v, _) in runtime.items() if n in dev and dev[n][0] != v}
    assert disagree == {}, f"the two locks pin different versions: {disagree}"
    bootstrap = (ROOT / "scripts/bootstrap.sh").read_text()
    assert "-c requirements.lock -c requirements-dev.lock" in bootstrap
