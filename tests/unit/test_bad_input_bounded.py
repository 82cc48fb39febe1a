"""Hostile configs: bounded parsing, a located exit 2, an audit record, never a traceback.

Each case ran into a traceback (or minutes and gigabytes) before: a YAML alias bomb, a recursive
alias, a 5,000-digit integer, ``!!float abc``, ``!!int 3.5``, a workflow ``retries`` that is not a
number, and ``variables: "$$$$"``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAD = "version: 1\nname: demo\nenvironments:\n  staging:\n    description: S\n"


def alias_bomb(levels: int = 9) -> str:
    """The classic: each anchor a list of nine aliases of the one before (9**9 values, ~400 bytes)."""
    lines = ["variables:", "  a: &a [x,x,x,x,x,x,x,x,x]"]
    for i in range(1, levels):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"  {cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "version: 1\nname: demo\n" + "\n".join(lines) + "\n"


CASES = {
    "alias bomb": (alias_bomb(), "expands to more than", 4),
    "recursive alias": (HEAD + "resources: &a [*a]\n", "a recursive alias", 6),
    "5,000-digit integer": (
        HEAD
        + "resources:\n  web:\n    type: aws_autoscaling_group\n    properties:\n      min_size: "
        + "9" * 5000
        + "\n",
        "is not a valid int",
        10,
    ),
    "!!float abc": (HEAD + "variables:\n  x: !!float abc\n", "'abc' is not a valid float", 7),
    "!!int 3.5": (HEAD + "variables:\n  x: !!int 3.5\n", "'3.5' is not a valid int", 7),
    "huge integer": (HEAD + "variables:\n  x: 123456789012345678901234567890\n", "does not fit 64 bits", 7),
    "retries from a step": (
        HEAD + "targets:\n  aws_main: {provider: aws, region: us-east-1}\nworkflows:\n  w:\n    steps:\n"
        "      - uses: aws.rds.create\n        id: a\n        with: {identifier: db}\n"
        "      - uses: aws.rds.create\n        with: {identifier: db2}\n        retries: ${steps.a.count}\n",
        "retries must be a whole number",
        16,
    ),
    "variables: $$$$": (HEAD + 'variables: "$$$$"\n', "variables must be a mapping, not text", 6),
    "a 3 MB file": (HEAD + "variables:\n  x: " + "x" * 3_000_000 + "\n", "larger than 2 MiB", 1),
    "deep nesting": (HEAD + "variables:\n  x: " + "[" * 500 + "]" * 500 + "\n", "nests deeper than 100", 7),
}


def run(tmp: Path, text: str, *args: str, **env_extra: str) -> subprocess.CompletedProcess[str]:
    (tmp / "deployforge.yaml").write_text(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "DEPLOYFORGE_"))}
    env.update(PYTHONPATH=str(ROOT / "src"), NO_COLOR="1", **env_extra)
    return subprocess.run(
        [sys.executable, "-m", "deployforge", *(args or ("validate",))],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_config_is_a_located_exit_2_with_an_audit_record(tmp_path: Path, case: str) -> None:
    text, message, line = CASES[case]
    started = time.monotonic()
    proc = run(tmp_path, text)
    assert time.monotonic() - started < 30
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout and "internal error" not in proc.stderr
    assert message in proc.stderr and f"deployforge.yaml:{line}:" in proc.stderr, proc.stderr
    records = (tmp_path / ".deployforge" / "audit" / "audit.jsonl").read_text().splitlines()
    last = json.loads(records[-1])
    assert last["exit_code"] == 2 and last["outcome"] == "error" and last["command"] == "validate"
    assert not (tmp_path / ".deployforge" / "logs").exists()  # no crash report: nothing crashed


def test_the_alias_bomb_is_cheap(tmp_path: Path) -> None:
    """Bounded in time and memory (it took over 1 GB and 40 s before)."""
    (tmp_path / "deployforge.yaml").write_text(alias_bomb())
    probe = (
        "import resource, subprocess, sys, time\n"
        "t = time.monotonic()\n"
        "subprocess.run([sys.executable, '-m', 'deployforge', 'validate'], capture_output=True)\n"
        "print(time.monotonic() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True)
    seconds, peak_kb = out.stdout.split()
    assert float(seconds) < 20 and int(peak_kb) < 300 * 1024, out.stdout


def test_sigterm_while_parsing_ends_the_command_with_its_record(tmp_path: Path) -> None:
    """A big (legal-sized) config keeps the parser busy; SIGTERM ends it like Ctrl-C, recorded."""
    rows = [f"  v{i}: [" + ",".join(["1"] * 20) + "]" for i in range(3000)]
    (tmp_path / "deployforge.yaml").write_text(HEAD + "variables:\n" + "\n".join(rows) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "DEPLOYFORGE_"))}
    env.update(PYTHONPATH=str(ROOT / "src"), NO_COLOR="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "deployforge", "validate", "-v"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    # -v: "trace DF-TRC-... · deployforge validate" comes first, once the handler is in place
    assert proc.stderr.readline().startswith("trace DF-TRC-")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == 130, err
    assert "Interrupted." in err and "Traceback" not in err


def test_crash_reports_never_overwrite_each_other(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from deployforge.cli.common import _crash_report

    monkeypatch.chdir(tmp_path)
    paths = {_crash_report(RuntimeError(f"crash {i}")) for i in range(5)}  # all within one second
    assert len(paths) == 5
    texts = sorted(Path(p).read_text() for p in paths)
    assert [t.strip().splitlines()[-1] for t in texts] == [f"RuntimeError: crash {i}" for i in range(5)]
