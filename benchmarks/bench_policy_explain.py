"""What naming the failing condition of a false ``allow`` costs (policy/explain.py, issue 17 point 8).

The product page's ``production.rego`` over a ``.tf`` file of N buckets, end to end through the CLI
(``deployforge validate --policy production.rego main.tf``, a subprocess: wall time and the CPU of
every process, min and median of ``--repeats``), for three inputs of the same size:

- ``pass``: every bucket allowed (nothing to explain: the evaluation alone);
- ``fail``: every bucket in a region the policy refuses (each failure explained, up to
  ``explain.MAX_EXPLAINED``; the rest keep the plain message);

and, in-process over the same failing documents, the explanation alone two ways:

- ``explain (bundle)``: what DeployForge does: the prefixes built once into a bundle, then
  ``set_input`` + ``query_bundle`` per document;
- ``naive``: ``set_input`` + ``query`` per document (rego-cpp compiles the query every time).

No peer is measured: OPA's ``--explain`` traces every evaluation step rather than naming the first
failing condition, and no OPA binary is installed on this machine kind.

Run:  python benchmarks/bench_policy_explain.py [--sizes 100,1000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _harness import ROOT, fmt, repeat


def _tf(path: Path, n: int, region: str) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(
                f'resource "aws_s3_bucket" "b{i}" {{\n  bucket = "b{i}"\n  region = "{region}"\n'
                f'  tags = {{ owner = "team-{i}" }}\n}}\n'
            )


def _cli(folder: str, tf: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "NO_COLOR": "1"}
    started, cpu0 = time.perf_counter(), os.times()
    out = subprocess.run(
        [sys.executable, "-m", "deployforge", "validate", "--policy", "production.rego", tf],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall, cpu1 = time.perf_counter() - started, os.times()
    if out.returncode not in (0, 1):
        raise RuntimeError(out.stderr[-2000:])
    explained = out.stdout.count("does not hold")
    cpu = (cpu1.children_user - cpu0.children_user) + (cpu1.children_system - cpu0.children_system)
    return {"wall_s": wall, "cpu_s": cpu, "explained": explained}


def _explain_only(folder: str, tf: str, naive: bool) -> dict[str, Any]:
    from deployforge.policy import explain
    from deployforge.policy.engine import Engine
    from deployforge.policy.inputs import read_inputs

    docs, _ = read_inputs([os.path.join(folder, tf)])
    documents = [r.document for d in docs for r in d.resources]
    engine = Engine.load([os.path.join(folder, "production.rego")])
    explain.MAX_EXPLAINED = len(documents) + 1
    explainer = explain.Explainer(engine, "deployforge.policies", "allow")
    started, cpu = time.perf_counter(), time.process_time()
    named = 0
    if naive:
        ref = "data.deployforge.policies"
        query = f"x := [{', '.join(f'{ref}.{n}' for n, _b, _k in explainer.kept)}]"
        for document in documents:
            explainer.interp.set_input(document)
            named += explain._query(explainer.interp, query) is not None
    else:
        for document in documents:
            named += explainer.explain(document) is not None
    return {"wall_s": time.perf_counter() - started, "cpu_s": time.process_time() - cpu, "named": named}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from deployforge.policy.explain import MAX_EXPLAINED

    print(f"production.rego, N buckets; explained at most {MAX_EXPLAINED} failures per rule; min / median")
    with tempfile.TemporaryDirectory() as folder:
        shutil.copy(ROOT / "examples" / "policies" / "production.rego", folder)
        for n in [int(s) for s in args.sizes.split(",")]:
            _tf(Path(folder) / f"pass{n}.tf", n, "us-west-2")
            _tf(Path(folder) / f"fail{n}.tf", n, "us-east-1")
            passing = repeat(args.repeats, _cli, folder, f"pass{n}.tf")
            failing = repeat(args.repeats, _cli, folder, f"fail{n}.tf")
            bundle = repeat(args.repeats, _explain_only, folder, f"fail{n}.tf", False)
            naive = repeat(args.repeats, _explain_only, folder, f"fail{n}.tf", True)
            print(f"N={n}")
            print(f"  cli, all pass       wall {fmt(passing, 'wall_s')}  cpu {fmt(passing, 'cpu_s')}")
            print(
                f"  cli, all fail       wall {fmt(failing, 'wall_s')}  cpu {fmt(failing, 'cpu_s')}  "
                f"({failing[0]['explained']} explained)"
            )
            print(f"  explain (bundle)    wall {fmt(bundle, 'wall_s')}  cpu {fmt(bundle, 'cpu_s')}  ({n} documents)")
            print(f"  naive query per doc wall {fmt(naive, 'wall_s')}  cpu {fmt(naive, 'cpu_s')}  ({n} documents)")


if __name__ == "__main__":
    main()
