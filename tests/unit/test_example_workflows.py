"""The example workflows run on GitHub as written: credentials, permissions, concurrency, installs."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples/github").glob("*.yml"))


def _load(path: Path) -> dict:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as true
    return doc


def _steps(job: dict) -> list[dict]:
    return list(job.get("steps", []))


def test_every_job_that_runs_deployforge_on_a_cloud_gets_oidc_credentials() -> None:
    seen = 0
    for path in EXAMPLES:
        for name, job in _load(path)["jobs"].items():
            steps = _steps(job)
            runs = [i for i, s in enumerate(steps) if str(s.get("uses", "")).startswith("deployforge/action@")]
            if not runs:
                continue
            seen += 1
            creds = [i for i, s in enumerate(steps) if str(s.get("uses", "")).startswith("aws-actions/configure-aws")]
            assert creds and creds[0] < runs[0], f"{path.name}:{name}: no AWS credentials before DeployForge"
            uses = steps[creds[0]]["uses"]
            assert re.fullmatch(r"aws-actions/configure-aws-credentials@[0-9a-f]{40}", uses), f"{uses}: pin by SHA"
            assert job["permissions"]["id-token"] == "write", f"{path.name}:{name}: OIDC needs id-token: write"
            assert "role-to-assume" in steps[creds[0]]["with"]
    assert seen == 3


def test_sarif_upload_has_actions_read_and_the_pr_plan_a_concurrency_group() -> None:
    for path in EXAMPLES:
        for name, job in _load(path)["jobs"].items():
            if any("upload-sarif" in str(s.get("uses", "")) for s in _steps(job)):
                perms = job.get("permissions") or _load(path).get("permissions", {})
                assert perms.get("actions") == "read", f"{path.name}:{name}: upload-sarif needs actions: read"
                assert perms.get("security-events") == "write"
    pr = _load(ROOT / "examples/github/pr-plan.yml")
    assert "github.event.pull_request.number" in pr["concurrency"]["group"]
    assert pr["concurrency"]["cancel-in-progress"] is True
    assert "pull_request_target" not in pr["on"]


def test_nothing_tells_users_to_pip_install_the_unrelated_pypi_project() -> None:
    # `deployforge` on PyPI is someone else's project: installing it would run their code
    bad = re.compile(r"pip install\s+['\"]?deployforge(?:\[[^\]]*\])?['\"]?(?!\s*@)(?:[\s`',]|$)")
    files = [
        *ROOT.glob("*.md"),
        *(ROOT / "docs").glob("*.md"),
        *(ROOT / "examples").rglob("*"),
        *(ROOT / "jenkins-shared-library").rglob("*"),
        *(ROOT / "src").rglob("*.py"),
        *(ROOT / ".github").rglob("*.yml"),
    ]
    offenders = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in files
        if p.is_file()
        for n, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
        if bad.search(line) and "never" not in line.lower()  # the warnings themselves name it
    ]
    assert offenders == []
