"""Run the built image's ENTRYPOINT the way the GitHub runner runs a Docker action, twice, and check it.

Called by scripts/checks/50-container.sh with DF_* variables (the buildah command, the image's
entrypoint, the workspace and file-command folders, the fake GitHub URL, the image size).
Checks: exit code, outputs in GITHUB_OUTPUT, the job summary, one PR comment created then updated
in place, API calls per upsert (<= 3), the image size (<= 250 MB; deterministic for a given base).
Container start -> first output line is a figure with a 1 s budget, printed and flagged when over
budget but not a failure: a time measured while pytest loads both cores says as much about the
machine as about the image (it was 0.35 s alone and 0.58 s under the suite's load here).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

B = shlex.split(os.environ["DF_B"])
ENTRYPOINT = json.loads(os.environ["DF_ENTRYPOINT"])
WS = Path(os.environ["DF_WS"])
FILES = Path(os.environ["DF_FILES"])
GH = os.environ["DF_GH"]
TOKEN = "ghs_faketoken0123456789"
IMAGE = "localhost/deployforge-action:check"
MAX_FIRST_LINE_S, MAX_SIZE_MB, MAX_CALLS = 1.0, 250, 3


def size_mb(text: str) -> float:
    text = text.strip()
    if text.isdigit():
        return int(text) / 1e6
    m = re.fullmatch(r"([\d.]+)\s*([kMG]?B)", text)
    assert m, f"unreadable image size {text!r}"
    return float(m.group(1)) * {"B": 1e-6, "kB": 1e-3, "MB": 1, "GB": 1e3}[m.group(2)]


def fake(path: str) -> object:
    return json.load(urllib.request.urlopen(GH + path, timeout=10))


def run_once(n: int) -> tuple[float, dict[str, str], str]:
    out = FILES / f"output-{n}"
    summary = FILES / f"summary-{n}"
    out.write_text("")
    summary.write_text("")
    inputs = {
        "INPUT_COMMAND": "plan",
        "INPUT_ENVIRONMENT": "staging",
        "INPUT_GITHUB-TOKEN": TOKEN,  # the runner keeps hyphens in input names
        "INPUT_COMMENT-MODE": "update",
        "INPUT_FAIL-ON": "error,policy",
        "INPUT_WORKING-DIRECTORY": ".",
    }
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_WORKSPACE": "/github/workspace",
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": "/github/file_commands/event.json",
        "GITHUB_OUTPUT": f"/github/file_commands/output-{n}",
        "GITHUB_STEP_SUMMARY": f"/github/file_commands/summary-{n}",
        "GITHUB_REPOSITORY": "octo/infra",
        "GITHUB_API_URL": GH,
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_RUN_ID": str(1000 + n),
        "GITHUB_SHA": "9f2c1e0b7a6d5c4b3a2910fedcba987654321000",
        "GITHUB_WORKFLOW": "pr",
        "RUNNER_TEMP": "/github/file_commands",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "HOME": "/github/home",
        **inputs,
    }
    ctr = subprocess.run([*B, "from", "--quiet", IMAGE], check=True, capture_output=True, text=True).stdout.strip()
    cmd = [*B, "run", "--isolation", "chroot", "--workingdir", "/github/workspace"]
    cmd += ["-v", f"{WS}:/github/workspace", "-v", f"{FILES}:/github/file_commands"]
    for name, value in env.items():
        cmd += ["--env", f"{name}={value}"]
    cmd += [ctr, "--", *ENTRYPOINT]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    first = proc.stdout.readline()
    first_line_s = time.monotonic() - started
    rest = proc.stdout.read()
    code = proc.wait(timeout=300)
    subprocess.run([*B, "rm", ctr], check=True, capture_output=True)
    log = first + rest
    print(log.rstrip())
    assert code == 0, f"the entrypoint exited {code}"
    assert "Traceback" not in log
    assert first.startswith("DeployForge "), first
    outputs: dict[str, str] = {}
    lines = out.read_text().splitlines()
    i = 0
    while i < len(lines):
        name, _, delim = lines[i].partition("<<")
        end = lines.index(delim, i + 1)
        outputs[name] = "\n".join(lines[i + 1 : end])
        i = end + 1
    return first_line_s, outputs, summary.read_text()


def check_git() -> None:
    """git in the image works on the mounted workspace (perl was removed from the image: core git is C)."""
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "ci",
        "GIT_AUTHOR_EMAIL": "ci@example.com",
        "GIT_COMMITTER_NAME": "ci",
        "GIT_COMMITTER_EMAIL": "ci@example.com",
    }
    subprocess.run(["git", "init", "-q", str(WS)], check=True, env=env)
    subprocess.run(["git", "-C", str(WS), "add", "deployforge.yaml"], check=True, env=env)
    subprocess.run(["git", "-C", str(WS), "commit", "-qm", "config"], check=True, env=env)
    head = subprocess.run(
        ["git", "-C", str(WS), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    ctr = subprocess.run([*B, "from", "--quiet", IMAGE], check=True, capture_output=True, text=True).stdout.strip()
    try:
        seen = subprocess.run(
            [
                *B,
                "run",
                "--isolation",
                "chroot",
                "--workingdir",
                "/github/workspace",
                "-v",
                f"{WS}:/github/workspace",
                ctr,
                "--",
                "git",
                "log",
                "-1",
                "--format=%H",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    finally:
        subprocess.run([*B, "rm", ctr], check=True, capture_output=True)
    assert seen == head, f"git in the image saw {seen!r}, expected {head!r}"
    print(f"ok   git in the image reads the mounted workspace (HEAD {head[:12]})")


RUNNER_UID = 1001  # the user later steps run as on GitHub's hosted runners (the action ran as root)


def check_readable_by_runner(folder: Path) -> int:
    """Every report the Action left can be read, and every folder listed, by uid 1001: a later step
    uploads them (actions/upload-artifact) or reads the plan. Checked in a child that drops to 1001."""
    paths = [folder, *sorted(folder.rglob("*"))]
    pid = os.fork()
    if pid == 0:  # the child: become the runner's user, then try as it would
        code = 0
        try:
            os.setgroups([])
            os.setgid(RUNNER_UID)
            os.setuid(RUNNER_UID)
            for path in paths:
                if path.is_dir():
                    os.listdir(path)
                else:
                    path.read_bytes()
        except OSError as exc:
            print(f"FAIL uid {RUNNER_UID} cannot read {exc.filename}: {exc.strerror}", flush=True)
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0, f"a later step (uid {RUNNER_UID}) could not read the reports"
    return len(paths)


def main() -> int:
    size = size_mb(os.environ["DF_SIZE"])
    check_git()
    t1, out1, summary1 = run_once(1)
    state = fake("/_fake/state")["octo/infra"]["comments"]
    assert len(state) == 1 and "1 to create" in state[0]["body"], state
    assert out1["comment-url"] == state[0]["html_url"] and out1["result"] == "changes" and out1["changes"] == "1"
    assert "DeployForge plan" in summary1
    first_calls = len(fake("/_fake/requests"))
    t2, out2, _ = run_once(2)
    state2 = fake("/_fake/state")["octo/infra"]["comments"]
    assert [c["id"] for c in state2] == [state[0]["id"]], "the second run must update the same comment"
    assert out2["comment-url"] == out1["comment-url"]
    log = fake("/_fake/requests")
    second_calls = log[first_calls:]
    # list the comments, ask GraphQL whether ours is minimized (a hidden one is never reused), update it
    calls = [(c["method"], c["path"].rsplit("/", 1)[-1], c["status"]) for c in second_calls]
    ours = str(state[0]["id"])
    assert calls == [("GET", "comments", 200), ("POST", "graphql", 200), ("PATCH", ours, 200)], second_calls
    assert (WS / ".deployforge/reports/plan.json").is_file()
    # the workspace folders above the reports are the runner's own (0755 on a real runner)
    for folder in (WS.parent, WS, WS / ".deployforge"):
        folder.chmod(folder.stat().st_mode | 0o055)
    readable = check_readable_by_runner(WS / ".deployforge/reports")
    print(f"ok   a later step as uid {RUNNER_UID} reads all {readable} report files and folders")
    base = size_mb(os.environ.get("DF_BASE_SIZE", "0"))
    print(f"figures: image size {size:.0f} MB (limit {MAX_SIZE_MB}); base {base:.0f} MB, ours {size - base:.0f} MB")
    print(f"figures: container start -> first output line {t1:.2f}s / {t2:.2f}s (limit {MAX_FIRST_LINE_S}s)")
    print(f"figures: API calls per upsert: create {first_calls}, update {len(second_calls)} (limit {MAX_CALLS})")
    assert size <= MAX_SIZE_MB, f"the image is {size:.0f} MB, over its {MAX_SIZE_MB} MB budget"
    if min(t1, t2) > MAX_FIRST_LINE_S:
        print(f"WARNING: first output line after {min(t1, t2):.2f}s, over its {MAX_FIRST_LINE_S}s budget")
    assert first_calls <= MAX_CALLS and len(second_calls) <= MAX_CALLS
    return 0


if __name__ == "__main__":
    sys.exit(main())
