"""Run the real `deployforge` CLI in a subprocess, against moto's server on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SRC = str(ROOT / "src")


@dataclass
class Project:
    dir: Path
    endpoint: str

    @property
    def config(self) -> Path:
        return self.dir / "deployforge.yaml"

    def write(self, text: str) -> Path:
        self.config.write_text(textwrap.dedent(text), encoding="utf-8")
        return self.config

    def env(self, **extra: str) -> dict[str, str]:
        # a local user's shell: no CI markers (a CI log shows more, e.g. every command's trace id)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DEPLOYFORGE_", "GITHUB_")) and k not in ("CI", "JENKINS_URL")
        }
        env.update(
            PYTHONPATH=SRC + os.pathsep + env.get("PYTHONPATH", ""),
            AWS_ENDPOINT=self.endpoint,
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            NO_COLOR="1",
        )
        env.update(extra)
        return env

    def popen(self, *args: str, **extra: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "deployforge", *args],
            cwd=self.dir,
            env=self.env(**extra),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def run(self, *args: str, timeout: float = 120, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "deployforge", *args],
            cwd=self.dir,
            env=self.env(**extra),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )


@pytest.fixture
def project(tmp_path: Path, moto_endpoint: str) -> Project:
    return Project(tmp_path, moto_endpoint)


def stack(n_groups: int = 0, **resources: dict) -> str:
    """A config on the moto endpoint: N independent security groups plus ``resources``."""
    doc: dict = {
        "targets": {"main": {"provider": "aws", "region": "us-east-1", "endpoint_url": "$AWS_ENDPOINT"}},
        "resources": {
            f"sg{i}": {
                "type": "aws_security_group",
                "properties": {"name": f"group-{i}", "description": f"group {i}"},
            }
            for i in range(n_groups)
        },
    }
    doc["resources"].update(resources)
    return yaml.safe_dump(doc, sort_keys=False)
