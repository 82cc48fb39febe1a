#!/usr/bin/env python3
"""The long fuzz run: thousands of seeded, mutated configs, .tf files and Rego policies through
DeployForge, plus the injection corpus through the comment, the summary and the output guard.

    .venv/bin/python scripts/fuzz.py                       # 10,000 configs, 1,000 .tf, 40 Rego
    .venv/bin/python scripts/fuzz.py --configs 500 --seed 7 --rego 0

Prints the figures (tracebacks, hangs over the time limit, slowest case, peak memory) and writes a
reproducer for every crash or hang to .deployforge/fuzz/ (its seed and case number name it).
Exit status 1 when anything crashed, hung or changed structure.
"""

from __future__ import annotations

import argparse
import io
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]


def run_kind(kind: str, count: int, seed: int, seconds: float, out: Path) -> tuple[Counter[str], float, int]:
    from tests.fuzz.harness import check_config, check_rego, check_tf
    from tests.fuzz.mutate import cases

    check = {"config": check_config, "tf": check_tf, "rego": check_rego}[kind]
    counts: Counter[str] = Counter()
    slowest = 0.0
    unlocated = 0
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"deployforge-fuzz-{kind}-") as tmp:
        for i, (name, text) in enumerate(cases(kind, count, seed)):
            outcome = check(text, Path(tmp), seconds)
            counts[outcome.kind] += 1
            slowest = max(slowest, outcome.seconds)
            if outcome.kind == "error" and not outcome.located:
                unlocated += 1
            if outcome.kind in ("crash", "hang"):
                out.mkdir(parents=True, exist_ok=True)
                case = out / f"{kind}-seed{seed}-case{i}.txt"
                detail = "\n".join("# " + line for line in outcome.detail.splitlines())
                case.write_text(f"# {name}: {outcome.kind}\n{detail}\n{text}", errors="surrogatepass")
            if (i + 1) % 1000 == 0:
                print(f"  {kind}: {i + 1}/{count} ({time.monotonic() - started:.0f}s)", flush=True)
    return counts, slowest, unlocated


def injection_figures() -> tuple[int, int, int]:
    """(cases, structural changes to comment/summary, workflow commands from input)."""
    sys.path.insert(0, str(ROOT / "tests" / "unit"))
    from test_output_guard import processed  # type: ignore[import-not-found]
    from test_safe_markdown import BENIGN, CTX, _result, structure  # type: ignore[import-not-found]
    from tests.fuzz.mutate import injection_corpus

    from deployforge.ci.workflow_commands import Log, one_line, quote, runner_lines, safe
    from deployforge.render.markdown import render_comment
    from deployforge.render.summary import render_summary

    corpus = injection_corpus()
    expected = {r: structure(r(BENIGN, CTX)) for r in (render_comment, render_summary)}
    changes = commands = 0
    for text in corpus:
        for render in (render_comment, render_summary):
            got = structure(render(_result(text), CTX))
            if got != expected[render]:
                changes += 1
        stream = io.StringIO()
        log = Log(stream, token=lambda: "fence0token")
        log.hook_output(text)
        log.info("hook pre_plan: " + one_line(text))
        log.info(safe(text))
        log.resume()
        log_text = stream.getvalue() + "\n".join(quote(text))
        commands += sum(1 for c in processed(log_text) if not c.startswith("::stop-commands::fence0token"))
        commands += sum(1 for line in runner_lines(log_text) if line.startswith("::") and "fence0token" not in line)
    return len(corpus), changes, commands


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", type=int, default=10_000)
    parser.add_argument("--tf", type=int, default=1_000)
    parser.add_argument("--rego", type=int, default=40)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds before a case counts as a hang")
    args = parser.parse_args()
    out = ROOT / ".deployforge" / "fuzz"
    bad = 0
    print(f"seed {args.seed}, time limit {args.timeout:g}s per case")
    for kind, count in (("config", args.configs), ("tf", args.tf), ("rego", args.rego)):
        if count <= 0:
            continue
        started = time.monotonic()
        counts, slowest, unlocated = run_kind(kind, count, args.seed, args.timeout, out)
        took = time.monotonic() - started
        bad += counts["crash"] + counts["hang"]
        print(
            f"{kind:6} {count:6,} cases in {took:6.1f}s: {counts['ok']:,} accepted, {counts['error']:,} refused "
            f"({unlocated:,} without a location), {counts['crash']} tracebacks/crashes, {counts['hang']} hangs over "
            f"{args.timeout:g}s; slowest case {slowest:.2f}s"
        )
    self_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak memory: {self_mb:.0f} MB (this process), {child_mb:.0f} MB (largest subprocess)")
    n, changes, commands = injection_figures()
    bad += changes + commands
    print(
        f"injection corpus: {n} tricks x (comment, summary, log): {changes} structural changes, "
        f"{commands} workflow commands from input"
    )
    if bad:
        print(f"reproducers: {out}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
