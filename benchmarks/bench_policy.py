"""Policy evaluation speed: 25 rules over 5,000 resources, naive vs DeployForge's engine, in one run.

naive: one regopy Interpreter with the modules loaded, then ``set_input`` + ``query`` per resource.
ours:  ``deployforge.policy.evaluate`` (all rules compiled once into one bundle, one
       ``query_bundle`` per resource, the resources split over the machine's cores).

Prints wall and CPU time for both and the speed-up; checks both found the same denials.
Run: PYTHONPATH=src python benchmarks/bench_policy.py [--resources N]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

RULES = 25


def make_policy() -> str:
    rules = []
    for i in range(RULES):
        rules.append(
            f"""deny contains msg if {{
  input.resource.tags.team == "t{i}"
  input.resource.size > {i}
  msg := sprintf("%s breaks rule {i}", [input.address])
}}"""
        )
    return "package deployforge.bench\nimport rego.v1\n\n" + "\n\n".join(rules) + "\n"


def make_tf(n: int) -> str:
    blocks = ['provider "aws" {\n  region = "us-west-2"\n}\n']
    for i in range(n):
        blocks.append(
            f'resource "aws_s3_bucket" "b{i}" {{\n  bucket = "b{i}"\n  size = {i % 40}\n'
            f'  tags = {{\n    team = "t{i % 60}"\n    owner = "o{i % 7}"\n  }}\n}}\n'
        )
    return "\n".join(blocks)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--resources", type=int, default=5000)
    args = parser.parse_args()

    import regopy

    from deployforge.policy.evaluate import PolicyOptions, evaluate
    from deployforge.policy.inputs import read_inputs

    with tempfile.TemporaryDirectory() as tmp:
        pol = Path(tmp) / "bench.rego"
        pol.write_text(make_policy())
        tf = Path(tmp) / "main.tf"
        tf.write_text(make_tf(args.resources))
        t0 = time.perf_counter()
        docs, problems = read_inputs([str(tf)])
        parse_s = time.perf_counter() - t0
        assert not problems
        resources = [r.document for d in docs for r in d.resources]
        print(f"{len(resources)} resources, {RULES} rules, {os.cpu_count()} CPUs; parsing the .tf: {parse_s:.2f} s")

        # naive
        w0, c0 = time.perf_counter(), time.process_time()
        interp = regopy.Interpreter()
        interp.add_module("bench.rego", pol.read_text())
        naive_denials = 0
        for doc in resources:
            interp.set_input(doc)
            out = interp.query("data.deployforge.bench.deny")
            exprs = out[0].expressions if len(out) else []
            naive_denials += len(exprs[0]) if exprs else 0
        naive_wall, naive_cpu = time.perf_counter() - w0, time.process_time() - c0

        # ours
        w0, c0 = time.perf_counter(), time.process_time()
        report = evaluate(docs, PolicyOptions(policies=(str(pol),)))
        ours_wall, ours_cpu = time.perf_counter() - w0, time.process_time() - c0
        ours_denials = len(report.failures)

    assert not report.errors, report.errors[:3]
    assert naive_denials == ours_denials, (naive_denials, ours_denials)
    print(f"naive (set_input + query per resource): {naive_wall:6.2f} s wall  {naive_cpu:6.2f} s CPU (this process)")
    workers = os.cpu_count()
    print(f"deployforge (bundle, {workers} workers):      {ours_wall:6.2f} s wall  {ours_cpu:6.2f} s CPU (parent)")
    print(f"speed-up: {naive_wall / ours_wall:.1f}x  ({naive_denials} denials found by both)")
    per_naive, per_ours = naive_wall / len(resources) * 1000, ours_wall / len(resources) * 1000
    print(f"per resource: naive {per_naive:.2f} ms, ours {per_ours:.3f} ms")
    print(f"load average during the run: {os.getloadavg()[0]:.1f} (figures on a busy machine are pessimistic)")


if __name__ == "__main__":
    main()
