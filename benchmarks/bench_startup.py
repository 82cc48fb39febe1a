"""Start-up cost of `deployforge --help` and `deployforge validate` on the quickstart config.

Target: each <= 0.4 s wall on the CI machine. Compares, in the same run, with the naive
approach: importing the cloud SDK (boto3) and the emulator-free provider eagerly at start-up,
which is what a CLI that imports everything at module level pays on every invocation.

Each row is measured in the same run: min and median wall time of N fresh
processes, and the CPU they used (RUSAGE_CHILDREN: user + system of each finished child), so a
figure can be reproduced and compared on another machine. Quote figures from this output, not from
an older run.

Run: python benchmarks/bench_startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "quickstart" / "deployforge.yaml"
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "NO_COLOR": "1"}


def wall(cmd: list[str], runs: int) -> tuple[float, float, float]:
    """(best wall, median wall, median CPU) of ``runs`` fresh processes."""
    samples, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        samples.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append((after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime))
    return min(samples), statistics.median(samples), statistics.median(cpu)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    runs = ap.parse_args().runs
    py = [sys.executable, "-m", "deployforge"]
    eager = [
        sys.executable,
        "-c",
        "import boto3, botocore.session; boto3.client; "
        "import deployforge.providers.aws.provider, deployforge.state.s3; "
        "from deployforge.cli.main import main; import sys; sys.argv[0]='deployforge'; main()",
    ]
    rows = [
        ("python -c pass (interpreter floor)", [sys.executable, "-c", "pass"]),
        ("deployforge --help", [*py, "--help"]),
        ("deployforge validate (quickstart)", [*py, "validate", "-c", str(CONFIG), "-e", "dev"]),
        ("naive: --help with boto3 imported eagerly", [*eager, "--help"]),
        ("naive: validate with boto3 imported eagerly", [*eager, "validate", "-c", str(CONFIG), "-e", "dev"]),
    ]
    print(f"{'command':<48} {'best':>8} {'median':>8} {'CPU':>8}   ({runs} runs; CPU: median per process)")
    for label, cmd in rows:
        best, median, cpu = wall(cmd, runs)
        print(f"{label:<48} {best * 1000:6.0f}ms {median * 1000:6.0f}ms {cpu * 1000:6.0f}ms")
    print("target: --help and validate <= 400 ms wall")


if __name__ == "__main__":
    main()
