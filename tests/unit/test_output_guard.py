"""The output guard: nothing a pull request controls can issue a GitHub workflow command.

The runner is simulated as it is written (actions/runner ``ActionCommandManager``): it splits the
log on LF, CR and CRLF, runs ``::cmd::`` lines (after leading whitespace) and legacy ``##[cmd]``
anywhere in a line, and while ``::stop-commands::TOKEN`` is in force ignores everything but
``::TOKEN::``.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from deployforge.ci.workflow_commands import (
    Log,
    command,
    escape_data,
    is_command_line,
    one_line,
    quote,
    runner_lines,
    safe,
)

ROOT = Path(__file__).resolve().parents[2]

TRICKS = [
    "ok\r::stop-commands::tok",
    "\n::set-output name=x::y",
    "\r\n::add-mask::x",
    "\u2028::error::ls",
    "\u2029::warning::ps",
    "\x85::notice::nel",
    "\x0b::debug::vt",
    "\x0c::group::ff",
    "   ::error file=a::indented",
    "text ##[set-output name=x;]legacy",
    "##[stop-commands]tok",
    "::endgroup::",
    "%0A::error::escaped",
    "\r",
]

text_with_tricks = st.lists(
    st.one_of(st.sampled_from(TRICKS), st.text(alphabet=st.characters(codec="utf-8"), max_size=20)),
    max_size=8,
).map("".join)


def processed(log: str, ours: set[str] = frozenset()) -> list[str]:  # type: ignore[assignment]
    """The commands the runner would run from this log (a simplified ActionCommandManager)."""
    out: list[str] = []
    stopped: str | None = None
    for line in runner_lines(log):
        trimmed = line.lstrip()
        if stopped is not None:
            if trimmed.startswith(f"::{stopped}::"):
                stopped = None
            continue
        if not is_command_line(line):
            continue
        if trimmed.startswith("::stop-commands::"):
            stopped = trimmed[len("::stop-commands::") :]
        out.append(trimmed)
    return out


@settings(max_examples=300, deadline=None)
@given(text_with_tricks)
def test_no_guarded_text_is_ever_a_command(text: str) -> None:
    for rendered in ("\n".join(quote(text)), "name: " + one_line(text), safe(text)):
        assert not any(is_command_line(line) for line in runner_lines(rendered)), rendered
    assert len(runner_lines("name: " + one_line(text))) == 1
    data = escape_data(text)
    assert len(runner_lines(command("notice", {"title": text}, text))) == 1 and "\r" not in data


def test_every_line_terminator_is_a_break_and_every_line_prefixed() -> None:
    lines = quote("a\rb\r\nc\nd\u2028e\u2029f\x85g")
    assert lines == ["  | a", "  | b", "  | c", "  | d", "  | e", "  | f", "  | g"]
    assert quote("x ##[add-mask]y") == ["  | x #\u200b#[add-mask]y"]
    assert one_line("evil\n::set-output name=x::y") == "evil\\n::set-output name=x::y"
    assert safe("fine\n::error::x\n  ::warning::y") == "fine\n| ::error::x\n|   ::warning::y"


def test_hook_output_is_fenced_and_our_commands_end_the_fence_first() -> None:
    stream = io.StringIO()
    tokens = iter(["t1", "t2"])
    log = Log(stream, token=lambda: next(tokens))
    log.hook_output("ok\r::stop-commands::tok")
    log.hook_output("::add-mask::x")
    log.command("add-mask", None, "s3cr3t-value")  # a secret the hook registered: must still work
    log.hook_output("more")
    log.resume()
    assert processed(stream.getvalue()) == [
        "::stop-commands::t1",
        "::add-mask::s3cr3t-value",
        "::stop-commands::t2",
    ]


HOOK_SCRIPT = (
    "import sys; sys.stdout.write('ok\\r::stop-commands::tok\\n'"
    " '::set-output name=x::injected\\n'"
    " 'p ##[add-mask]legacy\\n'"
    " '\\u2028::error::sep\\n'"
    " '\\r\\n::warning::crlf\\n')"
)


def _config(tmp: Path) -> Path:
    ws = tmp / "ws"
    ws.mkdir()
    (ws / "deployforge.yaml").write_text(
        "version: 1\nname: demo\nenvironments:\n  staging:\n    description: Staging\nresources: {}\n"
        "hooks:\n  - phase: pre_plan\n    name: fetch inputs\n"
        f"    command: [{json.dumps(sys.executable)}, -c, {json.dumps(HOOK_SCRIPT)}]\n"
    )
    return ws


def _env(ws: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "DEPLOYFORGE_"))}
    (ws / "out").touch()
    env.update(
        PYTHONPATH=str(ROOT / "src"),
        GITHUB_ACTIONS="true",
        GITHUB_WORKSPACE=str(ws),
        GITHUB_OUTPUT=str(ws / "out"),
        NO_COLOR="1",
    )
    env.update(extra)
    return env


def test_the_action_log_runs_no_command_from_a_hook(tmp_path: Path) -> None:
    ws = _config(tmp_path)
    env = _env(ws, INPUT_COMMAND="plan", INPUT_ENVIRONMENT="staging")
    proc = subprocess.run(
        [sys.executable, "-m", "deployforge.action"], cwd=ws, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "  | ::set-output name=x::injected" in proc.stdout  # shown, as text
    commands = processed(proc.stdout + proc.stderr)
    names = [c.split("::")[1].split(" ")[0] for c in commands]
    assert set(names) <= {"group", "endgroup", "stop-commands"}, commands
    assert "injected" not in (ws / "out").read_text()


def test_the_cli_log_in_a_workflow_step_runs_no_command_from_a_hook(tmp_path: Path) -> None:
    ws = _config(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "deployforge", "plan", "-e", "staging"],
        cwd=ws,
        env=_env(ws),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode in (0, 2), proc.stdout + proc.stderr
    assert "::set-output name=x::injected" in proc.stderr
    commands = processed(proc.stderr)
    assert [c.split("::")[1] for c in commands] == ["stop-commands"], commands
    assert commands[0] != "::stop-commands::tok"  # our fence, not the hook's
    assert proc.stderr.rstrip().endswith(f"::{commands[0].split('::')[2]}::")  # the fence is ended on exit


def test_validate_refuses_control_characters_in_names(tmp_path: Path) -> None:
    ws = tmp_path
    (ws / "deployforge.yaml").write_text(
        "version: 1\nname: demo\nenvironments:\n  staging:\n    description: Staging\nresources: {}\n"
        'hooks:\n  - phase: pre_plan\n    name: "evil\\n::set-output name=x::y"\n    command: "true"\n'
    )
    proc = subprocess.run(
        [sys.executable, "-m", "deployforge", "validate"],
        cwd=ws,
        env=_env(ws),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "deployforge.yaml:9:11: hooks[0].name 'evil\\n::set-output name=x::y' holds a control character" in (
        proc.stderr
    )
    assert not any(is_command_line(line) for line in runner_lines(proc.stderr))
