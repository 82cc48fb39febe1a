"""docs/tutorial.md, run as written: every command of its ```bash blocks, in order, in one shell
environment and against one sandbox (issue 17 point 14).

Conventions of the page (its introduction says them too):

- each ```bash block holds commands, one per line (``\\`` continues a line, a heredoc runs to its
  terminator); comment lines are skipped;
- a command exits 0 unless its first line says ``# exits N``;
- a ```text block right after a ```bash block lists lines that must appear, in that order, in what
  the block's commands printed (stdout and stderr as a terminal shows them); ``…`` stands for
  anything, and runs of spaces count as one.

Each command runs in a fresh ``bash`` that first restores the exported variables and the working
folder the previous command left (``export -p``, ``pwd``), as one interactive shell would keep them.
The page is read from the repository, so a command edited there is what runs here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "docs" / "tutorial.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.MULTILINE | re.DOTALL)
HEREDOC = re.compile(r"<<-?\s*(['\"]?)(\w+)\1")
EXITS = re.compile(r"#\s*exits (\d+)")


@dataclass
class Block:
    commands: list[str]
    expected: list[str] = field(default_factory=list)


def split_commands(script: str) -> list[str]:
    """The commands of a bash block: continuation lines and heredocs kept with their command."""
    commands: list[str] = []
    lines = script.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        command = [line]
        while command[-1].rstrip().endswith("\\") and i < len(lines):
            command.append(lines[i])
            i += 1
        heredoc = HEREDOC.search("\n".join(command))
        if heredoc:
            while i < len(lines):
                command.append(lines[i])
                i += 1
                if command[-1] == heredoc.group(2):
                    break
        commands.append("\n".join(command))
    return commands


def blocks(text: str) -> list[Block]:
    out: list[Block] = []
    previous_end = -1
    for m in FENCE.finditer(text):
        lang, body = m.group(1), m.group(2)
        if lang == "bash":
            out.append(Block(split_commands(body)))
        elif lang == "text" and out and not text[previous_end : m.start()].strip() and not out[-1].expected:
            out[-1].expected = [ln for ln in body.split("\n") if ln.strip()]
        previous_end = m.end()
    return out


def _normal(text: str) -> str:
    return " ".join(text.split())


def missing_lines(expected: list[str], output: str) -> list[str]:
    """The expected lines not found in ``output`` in order (``…`` matches anything)."""
    lines = [_normal(ln) for ln in output.splitlines()]
    at, missing = 0, []
    for want in expected:
        pattern = re.compile(".*".join(re.escape(_normal(part)) for part in want.split("…")))
        found = next((i for i in range(at, len(lines)) if pattern.search(lines[i])), None)
        if found is None:
            missing.append(want)
        else:
            at = found + 1
    return missing


def test_the_tutorial_conventions_are_read_as_documented():
    page = (
        "intro\n```bash\n. .venv/bin/activate\n# a comment\ncat > a <<'EOF'\nx\n  EOF\nEOF\n"
        "env A=1 \\\n    B=2 true   # exits 3\n```\n\n```text\nline one\n```\n"
    )
    [block] = blocks(page)
    assert block.commands == [
        ". .venv/bin/activate",
        "cat > a <<'EOF'\nx\n  EOF\nEOF",
        "env A=1 \\\n    B=2 true   # exits 3",
    ]
    assert block.expected == ["line one"]
    assert missing_lines(["a … c", "d"], "x a b   c\nd\n") == []
    assert missing_lines(["d", "a"], "a\nd\n") == ["a"]  # in order


def test_the_readme_links_the_tutorial():
    assert "(docs/tutorial.md)" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_command_of_the_tutorial_runs_as_written(tmp_path: Path):
    page = blocks(TUTORIAL.read_text(encoding="utf-8"))
    assert len(page) >= 10 and sum(len(b.commands) for b in page) >= 25
    # the repository, as a reader has it after ./scripts/quickstart.sh: examples/ and .venv
    shutil.copytree(ROOT / "examples", tmp_path / "examples", ignore=shutil.ignore_patterns(".deployforge"))
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parents[1])
    state, cwd = tmp_path / ".shell-env", tmp_path / ".shell-cwd"
    cwd.write_text(str(tmp_path))
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",  # deployforge comes from the tutorial's own `. .venv/bin/activate`
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",  # stdout and stderr in the order a terminal shows them
        "NO_COLOR": "1",
    }
    env.update({k: v for k, v in os.environ.items() if k in ("SSL_CERT_FILE", "TMPDIR")})
    ran = 0
    try:
        for number, block in enumerate(page, 1):
            output = ""
            for command in block.commands:
                wanted = int(m.group(1)) if (m := EXITS.search(command.split("\n", 1)[0])) else 0
                script = (
                    f'[ -f "{state}" ] && . "{state}"\ncd "$(cat "{cwd}")"\n{command}\n'
                    f'__rc=$?\nexport -p > "{state}"\npwd > "{cwd}"\nexit $__rc\n'
                )
                done = subprocess.run(
                    ["bash", "-c", script],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    timeout=240,
                    stdin=subprocess.DEVNULL,
                )
                output += done.stdout
                ran += 1
                assert done.returncode == wanted, f"block {number}: `{command}` exited {done.returncode}\n{done.stdout}"
                assert "Traceback" not in done.stdout, done.stdout
            missing = missing_lines(block.expected, output)
            assert not missing, f"block {number}: not in the output: {missing}\n--- output:\n{output}"
        # the workflow the page writes uses the Action with inputs it has
        import yaml

        project = Path(cwd.read_text().strip())
        flow = yaml.safe_load((project / ".github" / "workflows" / "deployforge-pr.yml").read_text())
        [step] = [s for s in flow["jobs"]["plan"]["steps"] if s.get("uses") == "deployforge/action@v3"]
        inputs = yaml.safe_load((ROOT / "action.yml").read_text())["inputs"]
        assert set(step["with"]) <= set(inputs), set(step["with"]) - set(inputs)
    finally:
        project = Path(cwd.read_text().strip())
        if (project / "deployforge.yaml").exists():
            subprocess.run(
                [sys.executable, "-m", "deployforge", "sandbox", "down"],
                cwd=project,
                env={**env, "PYTHONPATH": str(ROOT / "src")},
                capture_output=True,
                timeout=120,
            )
    assert ran == sum(len(b.commands) for b in page)
