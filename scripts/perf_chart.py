#!/usr/bin/env python3
"""Draw the charts of docs/performance.md from the benchmarks' JSON output (plain SVG, no libraries).

    python benchmarks/bench_scaling.py --json perf.json
    python benchmarks/bench_apply.py   --json perf.json
    python benchmarks/bench_drift.py   --json perf.json
    python benchmarks/bench_sandbox.py --json perf.json
    python scripts/perf_chart.py perf.json docs/

writes ``performance-scaling.svg`` (time per resource against the number of resources, log scales:
a flat line is linear cost) and ``performance-comparison.svg`` (ours against the naive approach and
the floor, from whichever benchmarks are in the file).
"""

from __future__ import annotations

import json
import math
import sys
from html import escape
from pathlib import Path
from typing import Any

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]
W, H, LEFT, RIGHT, TOP, BOTTOM = 640, 360, 70, 170, 40, 50


def _text(x: float, y: float, text: str, size: int = 12, anchor: str = "start", **extra: str) -> str:
    attrs = " ".join(f'{k.replace("_", "-")}="{v}"' for k, v in extra.items())
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-family="sans-serif" font-size="{size}" '
        f'text-anchor="{anchor}" {attrs}>{escape(text)}</text>'
    )


def scaling_svg(scaling: dict[str, Any]) -> str:
    series = {name: [(r["resources"], r["per_resource_us"]) for r in data["rows"]] for name, data in scaling.items()}
    xs = [x for points in series.values() for x, _ in points]
    ys = [y for points in series.values() for _, y in points]
    x0, x1 = math.log10(min(xs)), math.log10(max(xs))
    y0, y1 = math.floor(math.log10(min(ys))), math.ceil(math.log10(max(ys)))
    x1 = x1 if x1 > x0 else x0 + 1
    y1 = y1 if y1 > y0 else y0 + 1
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def px(x: float) -> float:
        return LEFT + (math.log10(x) - x0) / (x1 - x0) * pw

    def py(y: float) -> float:
        return TOP + ph - (math.log10(y) - y0) / (y1 - y0) * ph

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}">']
    out.append('<rect width="100%" height="100%" fill="white"/>')
    out.append(_text(W / 2 - RIGHT / 2, 22, "Time per resource by size (flat = linear)", 14, "middle"))
    for decade in range(y0, y1 + 1):
        y = py(10**decade)
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + pw}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(_text(LEFT - 6, y + 4, f"{10**decade:g} µs", 11, "end"))
    for x in sorted(set(xs)):
        out.append(f'<line x1="{px(x):.1f}" y1="{TOP}" x2="{px(x):.1f}" y2="{TOP + ph}" stroke="#eee"/>')
        out.append(_text(px(x), TOP + ph + 18, f"{x:,}", 11, "middle"))
    out.append(_text(LEFT + pw / 2, H - 8, "resources (log scale)", 12, "middle"))
    out.append(f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>')
    for i, (name, points) in enumerate(series.items()):
        color = COLORS[i % len(COLORS)]
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in points)
        out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        for x, y in points:
            out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{color}"/>')
        verdict = scaling[name].get("verdict", "")
        ly = TOP + 14 + i * 20
        out.append(
            f'<line x1="{W - RIGHT + 12}" y1="{ly - 4}" x2="{W - RIGHT + 32}" y2="{ly - 4}" stroke="{color}" stroke-width="2"/>'  # noqa: E501
        )
        out.append(_text(W - RIGHT + 38, ly, f"{name} ({verdict})", 11))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def comparison_svg(data: dict[str, Any]) -> str | None:
    bars: list[tuple[str, float, float, str, str]] = []  # label, ours, other, other's name
    apply = data.get("apply")
    if apply:
        naive = {r["resources"]: r for r in apply["naive"]}
        for row in apply["ours"]:
            if row["resources"] in naive:
                bars.append(
                    (
                        f"apply {row['resources']:,}",
                        row["wall_min_s"],
                        naive[row["resources"]]["wall_min_s"],
                        "naive",
                        "s",
                    )
                )
    drift = data.get("drift")
    if drift:
        bars.append(
            (f"drift load {drift['resources']:,}", drift["ours_load_min_s"], drift["naive_load_min_s"], "naive", "s")
        )
        bars.append((f"drift e2e {drift['resources']:,}", drift["ours_min_s"], drift["naive_min_s"], "naive", "s"))
    sandbox = data.get("sandbox")
    if sandbox:
        bars.append(
            (f"sandbox apply {sandbox['resources']}", sandbox["apply_min_s"], sandbox["floor_min_s"], "floor", "s")
        )
    if not bars:
        return None
    height = TOP + 40 * len(bars) + 50
    top = max(max(a, b) for _, a, b, _, _ in bars)
    pw = W - 320
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" viewBox="0 0 {W} {height}">']
    out.append('<rect width="100%" height="100%" fill="white"/>')
    out.append(
        _text(W / 2, 22, "DeployForge (blue) against the naive approach or the floor (grey), seconds", 13, "middle")
    )
    for i, (label, ours, other, other_name, unit) in enumerate(bars):
        y = TOP + i * 40
        out.append(_text(150, y + 16, label, 11, "end"))
        for j, (value, color, name) in enumerate(((ours, "#1f77b4", "ours"), (other, "#aaa", other_name))):
            width = max(1.0, value / top * pw)
            out.append(f'<rect x="160" y="{y + j * 15}" width="{width:.1f}" height="13" fill="{color}"/>')
            out.append(_text(165 + width, y + j * 15 + 11, f"{value:.2f} {unit} {name}", 10))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit("usage: perf_chart.py FIGURES.json OUTPUT_DIR")
    data = json.loads(Path(sys.argv[1]).read_text())
    outdir = Path(sys.argv[2])
    outdir.mkdir(parents=True, exist_ok=True)
    if "scaling" in data:
        (outdir / "performance-scaling.svg").write_text(scaling_svg(data["scaling"]), encoding="utf-8")
        print(f"wrote {outdir / 'performance-scaling.svg'}")
    comparison = comparison_svg(data)
    if comparison:
        (outdir / "performance-comparison.svg").write_text(comparison, encoding="utf-8")
        print(f"wrote {outdir / 'performance-comparison.svg'}")


if __name__ == "__main__":
    main()
