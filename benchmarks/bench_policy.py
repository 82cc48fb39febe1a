"""Policy speed, end to end: ``deployforge validate --policy`` vs a naive loop, OPA and checkov, in one run.

25 DISTINCT rules (each its own rule name, condition and attributes), over N resources, for two
inputs: a multi-document YAML file (package ``main``, one document per resource, conftest's shape)
and a ``.tf`` file with N resource blocks (package ``deployforge.bench``, one resource at a time).

Measured for each size and input, min and median of ``--repeats`` runs, wall time and the CPU of
every process (this one's ``process_time`` plus ``getrusage(RUSAGE_CHILDREN)``, which counts the
CLI and its engine workers once they are reaped), always INCLUDING reading and parsing the input:

- ``deployforge``: the CLI as a user runs it (``validate --policy bench.rego FILE``), a subprocess;
- ``naive``: our parser, then one regopy Interpreter, ``set_input`` + ``query`` per resource;
- ``OPA``: OPA v1.20.2 (the ``opa-golib-python-bindings`` wheel: OPA's Go library behind ctypes),
  one ``eval`` per resource of the same rules on the same documents (parsing by our reader, counted);
- ``checkov`` (``.tf`` only, a real peer that parses HCL itself): ``checkov -f main.tf`` with its
  own built-in Terraform checks (not the same 25 rules: a reference point for parse + check).

The .tf parse alone is printed too (issue 18: a 5,000-block .tf in under 1 s).

Setup (installs what it compares against, through pip, into ~/.cache/deployforge-bench):
    python benchmarks/bench_policy.py --install   # OPA wheel (py3.14 tag, ctypes only) + checkov venv
Run:
    python benchmarks/bench_policy.py [--sizes 500,5000,20000] [--repeats 3] [--json results.json]

After the sizes, a linearity statement per input kind: the per-resource time (wall and CPU) of
``deployforge validate`` at each size, and whether it stays within 1.3x from the middle size to the
largest (below a few thousand resources the fixed costs, interpreter start-up and policy loading,
dominate, so the smallest size is shown but not judged). The machine's load average is printed
with every figure: the CLI spreads its work over the CPUs and OPA's loop uses one, so a machine
busy with other work hurts the wall-clock ratio (the CPU figures are the steadier comparison).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "deployforge-bench"
OPA_DIR = CACHE / "opa"
CHECKOV_VENV = CACHE / "checkov-venv"
RULES = 25


def rule_bodies(prefix: str) -> list[str]:
    """25 distinct checks on distinct attributes; ``prefix`` is how a resource is reached."""
    r = prefix
    checks = [
        f'{r}.acl == "public-read"',
        f"not {r}.versioning",
        f"not {r}.tags.owner",
        f'{r}.tags.env == "dev"; {r}.size > 30',
        f'startswith({r}.bucket, "tmp-")',
        f'{r}.encryption == "none"',
        f"{r}.size > 38",
        f'not regex.match("^[a-z0-9-]+$", {r}.bucket)',
        f'{r}.region == "us-east-1"',
        f"count({r}.cidrs) > 2",
        f'"0.0.0.0/0" in {r}.cidrs',
        f"{r}.port == 22",
        f'{r}.tags.team == "t13"',
        f'endswith({r}.bucket, "-old")',
        f"{r}.retention < 7",
        f"{r}.logging == false",
        f'upper({r}.tier) == "GOLD"; {r}.size < 3',
        f'{r}.protocol == "HTTP"',
        f'contains({r}.bucket, "secret")',
        f"{r}.replicas < 2",
        f'{r}.tags.cost == ""',
        f'object.get({r}, "kms", "") == ""; {r}.size == 17',
        f"{r}.public_access == true",
        f"to_number({r}.version) < 2",
        f"{r}.mfa_delete == false; {r}.size > 35",
    ]
    assert len(checks) == RULES and len(set(checks)) == RULES
    return checks


def make_policy(package: str, prefix: str, address: str) -> str:
    rules = []
    for i, cond in enumerate(rule_bodies(prefix)):
        body = "\n  ".join(c.strip() for c in cond.split(";"))
        rules.append(f'deny_r{i} contains msg if {{\n  {body}\n  msg := sprintf("%s breaks rule {i}", [{address}])\n}}')
    return f"package {package}\nimport rego.v1\n\n" + "\n\n".join(rules) + "\n"


def attrs(i: int) -> dict[str, Any]:
    a: dict[str, Any] = {
        "bucket": ("tmp-" if i % 97 == 0 else "") + f"b{i}" + ("-old" if i % 89 == 0 else ""),
        "acl": "public-read" if i % 50 == 0 else "private",
        "size": i % 40,
        "encryption": "none" if i % 31 == 0 else "aes256",
        "region": "us-east-1" if i % 23 == 0 else "us-west-2",
        "cidrs": ["10.0.0.0/8"] + (["0.0.0.0/0"] if i % 41 == 0 else []),
        "port": 22 if i % 43 == 0 else 443,
        "retention": i % 30,
        "logging": i % 37 != 0,
        "tier": "gold" if i % 5 == 0 else "silver",
        "protocol": "HTTP" if i % 47 == 0 else "HTTPS",
        "replicas": i % 4,
        "public_access": i % 53 == 0,
        "version": str(1 + i % 3),
        "mfa_delete": i % 2 == 0,
        "tags": {"team": f"t{i % 60}", "env": "dev" if i % 3 == 0 else "prod", "cost": "" if i % 71 == 0 else "c"},
    }
    if i % 7:
        a["tags"]["owner"] = f"o{i % 7}"
    if i % 11:
        a["versioning"] = True
    return a


def make_yaml(n: int) -> str:
    import yaml

    docs = [{"kind": "Bucket", "name": f"b{i}", "spec": attrs(i)} for i in range(n)]
    return yaml.safe_dump_all(docs, sort_keys=False)


def _hcl(value: Any, indent: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_hcl(v, indent) for v in value) + "]"
    inner = indent + "  "
    return "{\n" + "".join(f"{inner}{k} = {_hcl(v, inner)}\n" for k, v in value.items()) + indent + "}"


def make_tf(n: int) -> str:
    blocks = ['provider "aws" {\n  region = "us-west-2"\n}\n']
    for i in range(n):
        body = "".join(f"  {k} = {_hcl(v, '  ')}\n" for k, v in attrs(i).items())
        blocks.append(f'resource "aws_s3_bucket" "b{i}" {{\n{body}}}\n')
    return "\n".join(blocks)


# -- measuring ----------------------------------------------------------------------------------------


def measure(fn: Callable[[], Any], repeats: int) -> tuple[list[float], list[float], Any]:
    walls, cpus = [], []
    result = None
    for _ in range(repeats):
        c0 = time.process_time()
        ch0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        w0 = time.perf_counter()
        result = fn()
        wall = time.perf_counter() - w0
        ch1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = time.process_time() - c0 + (ch1.ru_utime - ch0.ru_utime) + (ch1.ru_stime - ch0.ru_stime)
        walls.append(wall)
        cpus.append(cpu)
    return walls, cpus, result


def fmt(walls: list[float], cpus: list[float]) -> str:
    return (
        f"wall min {min(walls):6.2f} med {statistics.median(walls):6.2f} s   "
        f"CPU min {min(cpus):6.2f} med {statistics.median(cpus):6.2f} s"
    )


def run_cli(policy: Path, path: Path) -> int:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run(
        [sys.executable, "-m", "deployforge", "validate", "--policy", str(policy), "--format", "json", str(path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=path.parent,
        check=False,
    )
    if out.returncode not in (0, 1):
        raise SystemExit(f"deployforge failed ({out.returncode}): {out.stderr[-2000:]}")
    return int(json.loads(out.stdout)["policy"]["counts"]["failures"])


def documents(path: Path, per_resource: bool) -> list[Any]:
    from deployforge.policy.inputs import read_inputs

    docs, problems = read_inputs([str(path)])
    assert not problems, problems[:3]
    if per_resource:
        return [r.document for d in docs for r in d.resources]
    return [d.document for d in docs]


def naive(policy: Path, path: Path, query: str, per_resource: bool) -> int:
    import regopy

    from deployforge.policy.engine import raw_query

    docs = documents(path, per_resource)
    interp = regopy.Interpreter()
    interp.add_module("bench.rego", policy.read_text())
    denials = 0
    for doc in docs:
        interp.set_input(doc)
        ok, text = raw_query(interp, query)
        value = json.loads(text)["expressions"][0] if ok and text.strip() != "undefined" else {}
        denials += sum(len(v) for k, v in value.items() if k.startswith("deny"))
    return denials


def opa(policy: Path, path: Path, package: str, per_resource: bool) -> int:
    sys.path.insert(0, str(OPA_DIR))
    from opa_bindings import OpaEngine  # type: ignore[import-not-found]

    docs = documents(path, per_resource)
    engine = OpaEngine()
    engine.add_policy("bench.rego", policy.read_text())
    denials = 0
    for doc in docs:
        value = engine.eval_document(package, doc)
        denials += sum(len(v) for k, v in value.items() if k.startswith("deny"))
    engine.close()
    return denials


def breakdown(policy: Path, path: Path) -> dict[str, float]:
    """Where deployforge's CPU goes (issue 18 point 6), measured in this process: parsing the input,
    then the engine phase for all documents as ONE part (the CLI runs one part per CPU, each paying
    the loading and compiling once), each step timed with ``time.process_time`` around the
    functions that do it. What the CLI spends besides (interpreter start-up and imports, forking,
    the parent's rebuilding of findings, the JSON report) is the CLI's CPU minus these."""
    import gc
    import pickle

    import deployforge.policy.engine as en
    import deployforge.policy.evaluate as ev
    from deployforge.policy.inputs import read_inputs

    spent: dict[str, float] = {}
    saved: list[tuple[Any, str, Any]] = []

    def timed(owner: Any, name: str, part: str) -> None:
        original = getattr(owner, name)
        saved.append((owner, name, original))

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                spent[part] = spent.get(part, 0.0) + time.process_time() - start

        setattr(owner, name, wrapper)

    started = time.process_time()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    docs, _problems = read_inputs([str(path)])
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    spent["parse (YAML / HCL; slices' CPU included)"] = (
        time.process_time() - started + after.ru_utime - children.ru_utime + after.ru_stime - children.ru_stime
    )
    timed(en.Engine, "load", "load + compile the policies (one part)")
    timed(en.Engine, "compile", "load + compile the policies (one part)")
    timed(en, "batch_input", "rule indexing: choosing documents per guard")
    import regopy

    builder = "in C, _rego_input" if en.NATIVE_INPUT and en.native_builder() else "through ctypes"
    timed(en, "make_input", f"building rego-cpp's input ({builder})")
    timed(regopy.Interpreter, "set_input", "rego-cpp: set_input")
    timed(regopy.Input, "__del__", "rego-cpp: freeing each input")
    timed(en, "raw_query", "rego-cpp: query (the evaluation)")
    timed(en, "_read_batch", "reading rego-cpp's answers (JSON)")
    timed(ev, "_interpret", "answers -> findings and checks")
    threshold = en.PARALLEL_THRESHOLD
    en.PARALLEL_THRESHOLD = 1 << 62  # every step in this process, where it is timed
    gc.disable()  # as in the CLI's engine processes
    try:
        from deployforge.policy.isolate import Limits

        options = ev.PolicyOptions(policies=(str(policy),))
        start = time.process_time()
        result = ev._engine_phase([str(policy)], [], docs, options, Limits())
        total = time.process_time() - start
        start = time.process_time()
        pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        sent = time.process_time() - start
    finally:
        gc.enable()
        en.PARALLEL_THRESHOLD = threshold
        for owner, name, original in saved:
            setattr(owner, name, original)
    accounted = sum(v for k, v in spent.items() if not k.startswith("parse"))
    spent["rest of the engine phase (loops)"] = total - accounted
    spent["sending the result to the parent (pickle)"] = sent
    return spent


def checkov(path: Path) -> str:
    exe = CHECKOV_VENV / "bin" / "checkov"
    out = subprocess.run(
        [str(exe), "-f", str(path), "--framework", "terraform", "-o", "json", "--quiet", "--skip-download"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "HCL_PARSE_TIMEOUT_SEC": "0"},  # its default, 10 s per file, gives up on 5,000 blocks
    )
    try:
        data = json.loads(out.stdout)
    except ValueError:
        return f"unreadable output (exit {out.returncode})"
    data = data[0] if isinstance(data, list) else data
    s = data.get("summary", {})
    return (
        f"{s.get('failed')} failed checks on {s.get('resource_count')} resources "
        f"({s.get('parsing_errors')} parsing errors; its own rules)"
    )


def install() -> None:
    CACHE.mkdir(exist_ok=True)
    wheel_dir = CACHE / "wheels"
    subprocess.run(
        [
            sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version", "3.14",
            "-d", str(wheel_dir), "opa-golib-python-bindings==0.4.4",
        ],
        check=True,
    )  # fmt: skip
    import zipfile

    (wheel,) = wheel_dir.glob("opa_golib_python_bindings-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(OPA_DIR)  # pure ctypes + a Go c-shared library: runs on this Python too
    subprocess.run([sys.executable, "-m", "venv", str(CHECKOV_VENV)], check=True)
    subprocess.run([str(CHECKOV_VENV / "bin" / "pip"), "install", "-q", "checkov"], check=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="500,5000,20000")
    parser.add_argument("--json", default="", help="also write the figures to this JSON file")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--install", action="store_true", help="install OPA (wheel) and checkov into ~/.cache/deployforge-bench"
    )
    parser.add_argument("--skip", default="", help="comma list of: naive,opa,checkov")
    parser.add_argument(
        "--breakdown", action="store_true", help="also print where deployforge's CPU goes (parse, engine steps, rest)"
    )
    args = parser.parse_args()
    if args.install:
        install()
        return
    sys.path.insert(0, str(ROOT / "src"))
    skip = set(filter(None, args.skip.split(",")))
    have_opa = (OPA_DIR / "opa_bindings").is_dir() and "opa" not in skip
    have_checkov = (CHECKOV_VENV / "bin" / "checkov").exists() and "checkov" not in skip
    print(f"{RULES} distinct rules; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}")
    if not have_opa:
        print("OPA not installed (run --install): compared against the issue's figures only")
    sizes = [int(s) for s in args.sizes.split(",")]
    results: dict[str, Any] = {"rules": RULES, "cpus": os.cpu_count(), "runs": []}
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            for kind in ("yaml", "tf"):
                per_resource = kind == "tf"
                package = "deployforge.bench" if per_resource else "main"
                prefix = "input.resource" if per_resource else "input.spec"
                address = "input.address" if per_resource else "input.name"
                policy = folder / f"bench_{kind}.rego"
                policy.write_text(make_policy(package, prefix, address))
                path = folder / ("bench.yaml" if kind == "yaml" else "main.tf")
                path.write_text(make_yaml(n) if kind == "yaml" else make_tf(n))
                print(f"\n== {n} resources, {kind} input ({path.stat().st_size // 1024} KiB)")
                if kind == "tf":
                    from deployforge.policy.inputs import read_inputs

                    walls, cpus, _ = measure(partial(read_inputs, [str(path)]), args.repeats)
                    print(f"  parse .tf only:           {fmt(walls, cpus)}")
                row: dict[str, Any] = {"size": n, "kind": kind, "load_average": round(os.getloadavg()[0], 2)}
                if kind == "tf":
                    row["parse_tf"] = _figures(walls, cpus)
                walls, cpus, ours = measure(partial(run_cli, policy, path), args.repeats)
                print(f"  deployforge validate:     {fmt(walls, cpus)}   {ours} denials  (load {load()})")
                ours_med, ours_cpu = statistics.median(walls), statistics.median(cpus)
                row["deployforge"] = _figures(walls, cpus, denials=ours)
                if args.breakdown:
                    parts = breakdown(policy, path)
                    print("    where the CPU goes (in one process, all documents as one part):")
                    for part, cpu in parts.items():
                        print(f"      {part:<48} {cpu:6.2f} s")
                    rest = ours_cpu - sum(parts.values())
                    label = "CLI: start-up, forks, parent, JSON report"
                    print(f"      {label:<48} {rest:6.2f} s (CLI CPU med - the above)")
                    row["breakdown"] = {k: round(v, 3) for k, v in parts.items()} | {"cli_rest": round(rest, 3)}
                if "naive" not in skip:
                    query = f"data.{package}"
                    walls, cpus, got = measure(partial(naive, policy, path, query, per_resource), 1)
                    print(f"  naive regopy loop:        {fmt(walls, cpus)}   {got} denials  (load {load()})")
                    print(f"  ratio naive / deployforge (median wall): {statistics.median(walls) / ours_med:.2f}x")
                    row["naive"] = _figures(walls, cpus, denials=got)
                    assert got == ours, f"the naive loop found {got} denials, deployforge {ours}"
                if have_opa:
                    walls, cpus, got = measure(partial(opa, policy, path, package, per_resource), args.repeats)
                    print(f"  OPA eval per resource:    {fmt(walls, cpus)}   {got} denials  (load {load()})")
                    ratio_wall = statistics.median(walls) / ours_med
                    ratio_cpu = statistics.median(cpus) / ours_cpu
                    verdict = "deployforge faster" if ratio_wall > 1 else "OPA faster"
                    print(
                        f"  ratio OPA / deployforge: median wall {ratio_wall:.2f}x ({verdict}), "
                        f"median CPU {ratio_cpu:.2f}x"
                    )
                    row["opa"] = _figures(walls, cpus, denials=got)
                    if args.breakdown:  # the engines alone: no parsing, no CLI start-up, no report
                        parse = next(v for k, v in row["breakdown"].items() if k.startswith("parse"))
                        engine = (
                            sum(v for k, v in row["breakdown"].items() if not k.startswith("parse"))
                            - row["breakdown"]["cli_rest"]
                        )
                        opa_engine = statistics.median(cpus) - parse
                        print(
                            f"  engines alone (CPU): deployforge's engine phase {engine:.2f} s, OPA's loop without "
                            f"parsing {opa_engine:.2f} s: {opa_engine / engine:.2f}x"
                        )
                        row["engines_alone"] = {"deployforge": round(engine, 3), "opa": round(opa_engine, 3)}
                    assert got == ours, f"OPA found {got} denials, deployforge {ours}"
                results["runs"].append(row)
                if have_checkov and kind == "tf":
                    walls, cpus, got = measure(partial(checkov, path), 1)
                    print(f"  checkov -f main.tf:       {fmt(walls, cpus)}   {got}")
    results["linearity"] = linearity(results["runs"], sizes)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


def load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def _figures(walls: list[float], cpus: list[float], **extra: Any) -> dict[str, Any]:
    return {
        "wall_min_s": round(min(walls), 3),
        "wall_median_s": round(statistics.median(walls), 3),
        "cpu_min_s": round(min(cpus), 3),
        "cpu_median_s": round(statistics.median(cpus), 3),
        **extra,
    }


def linearity(runs: list[dict[str, Any]], sizes: list[int]) -> dict[str, str]:
    """Per input kind: deployforge's per-resource time at each size, and a verdict from the middle
    size to the largest (the smallest is dominated by fixed costs)."""
    out: dict[str, str] = {}
    print("\n== linearity (deployforge validate, per resource: median wall / median CPU)")
    for kind in ("yaml", "tf"):
        rows = sorted((r for r in runs if r["kind"] == kind), key=lambda r: r["size"])
        if not rows:
            continue
        per = [(r["size"], r["deployforge"]["wall_median_s"], r["deployforge"]["cpu_median_s"]) for r in rows]
        per = [(n, w / n * 1e3, c / n * 1e3) for n, w, c in per]
        text = ", ".join(f"{n}: {w:.3f} / {c:.3f} ms" for n, w, c in per)
        if len(per) >= 2:
            base = per[len(per) // 2] if len(per) >= 3 else per[0]
            last = per[-1]
            growth = last[2] / base[2] if base[2] else float("inf")
            verdict = "linear" if growth <= 1.3 else "worse than linear"
            statement = f"{verdict}: CPU per resource x{growth:.2f} from {base[0]} to {last[0]} resources"
        else:
            statement = "one size only"
        print(f"  {kind}: {text}; {statement}")
        out[kind] = f"{text}; {statement}"
    return out


if __name__ == "__main__":
    main()
