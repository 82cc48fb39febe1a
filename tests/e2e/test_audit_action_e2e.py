"""The GitHub Action puts the audit log's signed checkpoint in the job summary and PR comment footer."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.e2e.test_action_e2e import PR, REPO, ROOT, Runner
from tests.e2e.test_action_e2e import runner as runner
from tests.fakes.github import github_fake_fixture, github_fake_server_fixture  # noqa: F401

LINE = re.compile(
    r"deployforge audit checkpoint log=[0-9a-f]{64} seq=(\d+) hash=[0-9a-f]{64} key=[0-9a-f]{64} sig=[A-Za-z0-9+/=]+"
)


def test_the_footer_carries_the_signed_checkpoint_and_it_verifies(runner: Runner) -> None:
    keys = runner.tmp / "keys"  # outside the workspace, as a CI secret file would be
    keys.mkdir()
    key = ed25519.Ed25519PrivateKey.generate()
    (keys / "audit.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    config = runner.workspace / "deployforge.yaml"
    config.write_text(config.read_text() + f"audit:\n  signing:\n    key_file: {keys / 'audit.pem'}\n")
    first, _, summary = runner.run()
    assert first.returncode == 0, first.stderr
    assert not LINE.search(summary)  # before the first record there is no checkpoint yet
    second, _, summary = runner.run()
    assert second.returncode == 0, second.stderr
    found = LINE.search(summary)
    assert found and found.group(1) == "1", summary[-600:]  # the log as it stood when the report was made
    (comment,) = runner.fake.comments(REPO, PR)
    assert found.group(0) in comment["body"]
    verify = subprocess.run(
        [sys.executable, "-m", "deployforge", "audit", "verify", "--checkpoint", found.group(0)],
        cwd=runner.workspace,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "2 records, chain intact, signed checkpoint verified, matches the witness" in verify.stdout


def test_an_action_deploy_records_its_steps_in_the_runs_trace(runner: Runner) -> None:
    done, outputs, _ = runner.run(command="deploy", **{"comment-mode": "off"})
    assert done.returncode == 0, done.stderr
    log = runner.workspace / ".deployforge" / "audit" / "audit.jsonl"
    records = [json.loads(line) for line in log.read_text().splitlines()]
    [run] = [r for r in records if r.get("kind") == "run" and r["command"] == "action:deploy"]
    assert run["trace_id"] == outputs["run-id"]
    steps = [r for r in records if r.get("trace_id") == run["trace_id"] and r.get("kind") in ("step", "deploy.step")]
    names = [s["name"] for s in steps if s.get("kind") == "step"]
    assert "plan" in names and "apply" in names and names.index("plan") < names.index("apply"), names
    assert run["steps"] == len(steps)  # the run record counts them, as a CLI run's does
