"""`deployforge --help` and `validate` must not import cloud SDKs (start-up stays fast)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
sys.argv = ["deployforge"] + json.loads(sys.argv[1])
from deployforge.cli.main import main
try:
    main()
except SystemExit:
    pass
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"boto3", "botocore", "moto", "google", "github", "hvac"})
print("HEAVY=" + json.dumps(heavy), file=sys.stderr)
"""


def _heavy_modules(args: list[str], cwd: Path) -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=60,
    )
    line = [ln for ln in out.stderr.splitlines() if ln.startswith("HEAVY=")]
    assert line, out.stderr
    return json.loads(line[0][len("HEAVY=") :])


def test_help_imports_no_cloud_sdk(tmp_path):
    assert _heavy_modules(["--help"], tmp_path) == []


def test_validate_imports_no_cloud_sdk(tmp_path):
    config = ROOT / "examples" / "quickstart" / "deployforge.yaml"
    (tmp_path / "deployforge.yaml").write_text(config.read_text())
    assert _heavy_modules(["validate", "-e", "dev"], tmp_path) == []
