"""Seeded mutations of configs, Rego and Terraform text: what a hostile pull request could write.

Pure and deterministic: ``mutate(text, rng, kind)`` applies one to four mutations chosen by
``rng`` (a ``random.Random``), so a failing case is reproduced from its seed alone.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "corpus"

# values a line's scalar is replaced with (YAML)
YAML_VALUES = [
    "9" * 5000, "123456789012345678901234567890", "-1", "0", "0x1F", "0o17", "1e999", ".inf", "-.nan", ".NaN",
    "!!float abc", "!!int 3.5", "!!binary zz", "!!timestamp nope", "!!python/object:os.system x", "!!set {a, b}",
    "&a [*a]", "*missing", "&x 1", "<<: *x", "${var.nope}", "${steps.a.b}", "$$$$", "$", "${", "$VAR", "${X:-}",
    "vault://", "vault://secret/data/x#k", "[", "]", "{", "}", "{a: [b, {c: d}]}", "'unterminated", '"bad \\q"',
    "|", ">-", "- x", "? complex", "null", "~", "true", "no", "yes", "''", '""', "\t", "a\x00b", "\x1b[31m",
    "evil\u2028::set-output name=x::y", "` </details> <img src=x onerror=1> @org/team #1",
    "[" * 60 + "]" * 60, "{a: " * 40 + "1" + "}" * 40,
]  # fmt: skip
YAML_LINES = [
    "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d]",
    "---", "...", "%YAML 1.1", "%TAG ! tag:evil,2000:", "resources: &r {x: *r}", "hooks: [{phase: pre_plan}]",
    'workflows: {w: {steps: [{uses: "aws.rds.create", retries: "${steps.x.y}"}]}}', "variables: \"$$$$\"",
    "environments: []", "resources: 7", "targets: {t: {provider: aws, region: mars-1}}", "audit: {path: ../../x}",
    "state: {path: /tmp/x}", "? [a, b]\n: c", "x: !!str", "\ufeffversion: 1",
]  # fmt: skip
REGO_SNIPPETS = [
    "x := [" * 30 + "1" + "]" * 30, 'y := json.unmarshal("[[[[[[1]]]]]]")', "z := numbers.range(1, 1000)",
    "deny contains msg if { msg := input.nope }", "deny[msg] { msg := 1 }", 'p := http.send({"url": "x"})',
    'q := sprintf("%v", [input])', "import future.keywords", "default allow := false", "{", "}", '"unterminated',
    "deny contains msg if { some x in input.resources; msg := x.name }", "package other", "r := 1 / 0",
]  # fmt: skip
TF_SNIPPETS = [
    'resource "aws_s3_bucket" "x" {', "}", "{", 'variable "v" { default = "${var.v}" }', "locals { a = b }",
    'resource "a" "b" { c = [' + "[" * 40 + "]" * 40 + "] }", "x = <<EOT\nunterminated", "#", "/*", "= = =",
    'module "m" { source = "../../../etc" }', '"\\u0000"', "tags = { a = 1, a = 2 }", "count = 99999999999999999999",
]  # fmt: skip


def _lines(text: str) -> list[str]:
    return text.split("\n")


def _replace_value(text: str, rng: random.Random, values: list[str]) -> str:
    lines = _lines(text)
    candidates = [i for i, line in enumerate(lines) if ": " in line or line.rstrip().endswith(":")]
    if not candidates:
        return text
    i = rng.choice(candidates)
    head = lines[i].split(": ", 1)[0] if ": " in lines[i] else lines[i].rstrip()[:-1]
    lines[i] = f"{head}: {rng.choice(values)}"
    return "\n".join(lines)


def _insert_line(text: str, rng: random.Random, snippets: list[str]) -> str:
    lines = _lines(text)
    i = rng.randrange(len(lines) + 1)
    indent = " " * rng.choice([0, 0, 2, 4])
    lines.insert(i, indent + rng.choice(snippets).replace("\n", "\n" + indent))
    return "\n".join(lines)


def _delete_line(text: str, rng: random.Random) -> str:
    lines = _lines(text)
    if len(lines) > 1:
        del lines[rng.randrange(len(lines))]
    return "\n".join(lines)


def _duplicate_line(text: str, rng: random.Random) -> str:
    lines = _lines(text)
    i = rng.randrange(len(lines))
    lines.insert(i, lines[i])
    return "\n".join(lines)


def _reindent(text: str, rng: random.Random) -> str:
    lines = _lines(text)
    i = rng.randrange(len(lines))
    lines[i] = (" " * rng.choice([1, 2, 3])) + lines[i] if rng.random() < 0.5 else lines[i].lstrip()
    return "\n".join(lines)


def _truncate(text: str, rng: random.Random) -> str:
    return text[: rng.randrange(len(text) + 1)]


def _flip(text: str, rng: random.Random) -> str:
    if not text:
        return text
    i = rng.randrange(len(text))
    alphabet = ":-[]{}&*!|>'\"#%@`\t\n\r\\$" + chr(rng.randrange(0x20, 0x2FFF))
    return text[:i] + rng.choice(alphabet) + text[i + 1 :]


def _swap(text: str, rng: random.Random) -> str:
    lines = _lines(text)
    if len(lines) > 1:
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


def mutators(kind: str) -> list[Callable[[str, random.Random], str]]:
    snippets = {"config": YAML_LINES, "rego": REGO_SNIPPETS, "tf": TF_SNIPPETS}[kind]
    out: list[Callable[[str, random.Random], str]] = [
        lambda t, r: _insert_line(t, r, snippets),
        _delete_line,
        _duplicate_line,
        _reindent,
        _truncate,
        _flip,
        _swap,
    ]
    if kind == "config":
        out += [lambda t, r: _replace_value(t, r, YAML_VALUES)] * 4  # the most productive one
    return out


def mutate(text: str, rng: random.Random, kind: str = "config") -> str:
    ops = mutators(kind)
    for _ in range(rng.randint(1, 4)):
        text = rng.choice(ops)(text, rng)
    return text


def seeds(kind: str) -> list[tuple[str, str]]:
    """(name, text) of the committed seed corpus of one kind."""
    folder = {"config": "configs", "rego": "rego", "tf": "tf"}[kind]
    return [(p.name, p.read_text(encoding="utf-8")) for p in sorted((CORPUS / folder).iterdir()) if p.is_file()]


def cases(kind: str, count: int, seed: int) -> list[tuple[str, str]]:
    """``count`` mutated texts (name, text), deterministic for ``seed``; the seeds themselves first."""
    rng = random.Random(seed)
    base = seeds(kind)
    out = list(base)[:count]
    while len(out) < count:
        name, text = rng.choice(base)
        out.append((f"{name}#{len(out)}", mutate(text, rng, kind)))
    return out


def injection_corpus() -> list[str]:
    raw = (CORPUS / "injection.txt").read_text(encoding="utf-8").splitlines()
    return [line.encode().decode("unicode_escape") if "\\" in line else line for line in raw if line]
