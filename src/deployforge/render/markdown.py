"""The PR comment: one Markdown document rendered from a ``RunResult`` (pure; no GitHub code).

Layout, top to bottom::

    <!-- deployforge:comment ... -->          hidden marker (the comment is found again by it)
    ### <icon> DeployForge <command> · `env`: <verdict>
    | Stage | Result |                         one row per present section
    **Destructive changes** / **Policy failures** / canary abort / security drift   (first, short)
    <details> per stage                      the long part
    footer: run link · commit · run id

Each result section is rendered by a small per-section renderer (``SECTIONS``) that reads only the
section's ``to_json()`` shape, so the policy, canary, drift and hooks sections slot in as their
engineers fill ``RunResult``. A section renderer returns a ``Section``: its table row, its
"attention" lines (shown before all details) and its details body.

The comment always fits GitHub's 65,536-character limit: the status line, the table, the
attention lists (capped) and the footer are always kept; details are cut, section by section,
and the comment says where the rest is (the job summary and the report artifact).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from deployforge.audit.ci import footer_part as audit_footer_part
from deployforge.render import safe_md

GITHUB_COMMENT_LIMIT = 65536
ATTENTION_CAP = 15  # attention lines per section; the rest is counted ("and 4 more")
MARKER_PREFIX = "<!-- deployforge:comment"

OK, WARN, FAIL, INFO = "✅", "⚠️", "❌", "ℹ️"  # noqa: RUF001


@dataclass(frozen=True)
class RenderContext:
    """Where the run happened: everything the result itself does not know."""

    workflow: str = ""
    run_url: str | None = None
    commit: str | None = None
    summary_url: str | None = None  # the job summary of this run (details that were cut live there)
    artifact: str | None = None  # the report file / artifact name holding the full report
    repository: str | None = None
    server_url: str = "https://github.com"
    label: str = ""  # names one comment per stack (the Action's label input)
    kind: str = ""  # "drift": a drift step's comment, apart from the plan's


@dataclass(frozen=True)
class Part:
    """A piece of a section's details: ``head`` lines kept whole (a table's header, an intro), then
    ``rows``, the units a size budget may cut (one table row, one resource's whole diff block),
    most important first. A cut leaves out rows from the end and says how many (``noun``)."""

    head: tuple[str, ...] = ()
    rows: tuple[str, ...] = ()
    noun: str = "row"

    def text(self, kept: int | None = None, note: str = "") -> str:
        rows = self.rows if kept is None else self.rows[:kept]
        out = "\n".join([*self.head, *rows])
        if note and len(rows) < len(self.rows):
            out += ("\n\n" if out else "") + note + "\n"  # blank lines: a table ends, the next part starts
        return out


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    status: str  # OK / WARN / FAIL / INFO
    headline: str  # the table cell
    attention_title: str = ""
    attention: tuple[str, ...] = ()  # markdown list items, most important first
    parts: tuple[Part, ...] = ()  # the details (may be long): cut row by row to fit a budget
    details_summary: str = ""  # HTML (inside <summary>): values in <code>, never backticks

    @property
    def details(self) -> str:
        """The whole details body, uncut."""
        return "\n".join(p.text() for p in self.parts if p.head or p.rows)


# -- helpers ---------------------------------------------------------------------------------------


def marker(workflow: str, environment: str | None, label: str = "", kind: str = "") -> str:
    """The hidden marker naming one (workflow, label, environment) comment, and a drift step's
    apart from a plan step's (``kind``). Without label and kind it is the marker of earlier
    versions, so their comments are still found and updated."""

    def clean(text: str) -> str:
        return " ".join(text.replace("--", "- -").replace(">", "").replace("<", "").split()) or "-"

    named = f" label={json.dumps(clean(label))}" if label else ""
    named += f" kind={json.dumps(clean(kind))}" if kind else ""
    return (
        f"{MARKER_PREFIX} workflow={json.dumps(clean(workflow))}{named} "
        f"environment={json.dumps(clean(environment or ''))} -->"
    )


def masked(text: Any) -> str:
    """``str(text)`` with every secret the run resolved replaced by ``***``: done first, before a
    helper below shortens or escapes the text (a cut or escaped secret no longer matches)."""
    from deployforge.secrets.masking import mask

    return mask(str(text))


def code(text: Any) -> str:
    """Inline code that survives any value (``render.safe_md.code``)."""
    return safe_md.code(text)


def html_code(text: Any) -> str:
    """A value inside raw HTML (``<summary>``, where Markdown is not parsed): ``<code>`` around the
    HTML-escaped text, a backtick as an entity (never a literal code-span fence)."""
    return "<code>" + safe_md.html(text).replace("`", "&#96;") + "</code>"


def summary_html(text: str) -> str:
    """A ``<summary>`` label: any Markdown code span becomes ``<code>`` (GitHub shows backticks
    literally inside HTML), any other backtick an entity."""
    import re

    def to_code(m: re.Match[str]) -> str:
        return "<code>" + m.group(2).strip().replace("`", "&#96;") + "</code>"

    return re.sub(r"(`+)(.+?)\1", to_code, text).replace("`", "&#96;")


def cell(text: Any) -> str:
    """A Markdown fragment (code spans, escaped text) made safe inside a table cell."""
    return safe_md.cell(str(text))


def plain(text: Any, limit: int = 300) -> str:
    """Free text from results (messages, reasons), on one line, inert (``render.safe_md.text``), bounded."""
    return safe_md.text(text, limit)


def short_value(value: Any, limit: int = 80) -> str:
    if not isinstance(value, str):  # non-ASCII shown as is, never as \u672c escapes
        value = json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
    text = masked(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def capped(items: Sequence[str], cap: int = ATTENTION_CAP) -> tuple[str, ...]:
    if len(items) <= cap:
        return tuple(items)
    return (*items[:cap], f"…and {len(items) - cap} more (see the details)")


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


# -- per-section renderers -------------------------------------------------------------------------

_ACTION_ORDER = {"delete": 0, "replace": 1, "update": 2, "create": 3, "no-op": 4}
_ACTION_SYMBOL = {"create": "+", "update": "~", "replace": "-/+", "delete": "-", "no-op": " "}


def plan_section(result: Any) -> Section | None:
    if result.plan is None:
        return None
    data = result.plan.to_json()
    changed = [r for r in data["resources"] if r["action"] != "no-op"]
    changed.sort(key=lambda r: (_ACTION_ORDER[r["action"]], f"{r['type']}.{r['name']}"))
    counts = {k: v for k, v in data["summary"].items() if v and k != "no-op"}
    destructive = [r for r in changed if r["action"] in ("delete", "replace")]
    if not changed:
        return Section("plan", "Plan", OK, "no changes")
    headline = ", ".join(f"{n} to {k}" for k, n in sorted(counts.items(), key=lambda kv: _ACTION_ORDER[kv[0]]))
    status = WARN if destructive else INFO
    attention = [
        f"{code(_ACTION_SYMBOL[r['action']])} **{r['action']}** {code(r['type'] + '.' + r['name'])}"
        + (f" ({code(r['resource_id'])})" if r.get("resource_id") else "")
        + (f": {plain(r['note'], 120)}" if r.get("note") else "")
        for r in destructive
    ]
    rows = []
    for r in changed:
        keys = [
            c["key"] + (" (forces replacement)" if c.get("forces_replacement") else "") for c in r.get("changes", [])
        ]
        attrs = ", ".join(keys[:8]) + (f", +{len(keys) - 8}" if len(keys) > 8 else "")
        rows.append(
            f"| {code(_ACTION_SYMBOL[r['action']])} | {cell(code(r['type'] + '.' + r['name']))} | {r['action']} "
            f"| {cell(plain(attrs)) or '-'} |"
        )
    diffs: list[str] = []  # one row per resource: its title and its whole diff block (never cut apart)
    for r in changed:
        if not r.get("changes"):
            continue
        diff: list[str] = []
        for c in r["changes"]:
            after = "(known after apply)" if c.get("after_unknown") else short_value(c.get("after"), 200)
            key = safe_md.one_line(c["key"])
            if r["action"] != "create":
                diff.append(f"- {key}: {safe_md.one_line(short_value(c.get('before'), 200))}")
            if r["action"] != "delete":
                diff.append(f"+ {key}: {safe_md.one_line(after)}")
        if diff:
            block = [f"\n**{code(r['type'] + '.' + r['name'])}** ({r['action']})\n", *safe_md.fence(diff, "diff")]
            diffs.append("\n".join(block))
    return Section(
        "plan",
        "Plan",
        status,
        headline + (f" ({plural(len(destructive), 'destructive change')})" if destructive else ""),
        "Destructive changes",
        capped(attention),
        (
            Part(("| | resource | action | attributes |", "|---|---|---|---|"), tuple(rows), "resource"),
            Part((), tuple(diffs), "attribute diff"),
        ),
        f"Plan: {plural(len(changed), 'change')}",
    )


def policy_section(result: Any) -> Section | None:
    if result.policy is None:
        return None
    data = result.policy.to_json()
    counts = data.get("counts", {})
    findings = data.get("findings", [])
    failures = [f for f in findings if f.get("outcome") in ("failure", "error")]
    warnings = [f for f in findings if f.get("outcome") == "warning"]
    sev_rank = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}
    failures.sort(key=lambda f: (sev_rank.get(f.get("severity", ""), 9), f.get("rule_id", "")))

    def where(f: dict[str, Any]) -> str:
        if f.get("resource"):
            return code(f["resource"])
        if f.get("file"):
            return code(f"{f['file']}:{f['line']}" if f.get("line") else f["file"])
        return ""

    status = FAIL if not data.get("passed", True) else (WARN if warnings else OK)
    parts = [f"{counts.get('passed', 0)} passed"]
    if failures:
        parts.append(plural(len(failures), "failure"))
    if warnings:
        parts.append(plural(len(warnings), "warning"))
    attention = [
        f"**{plain(f.get('severity', '?'), 40)}** {code(f.get('rule_id', '?'))} {where(f)}: "
        f"{plain(f.get('message', ''), 200)}"
        for f in failures
    ]
    rows = []
    for f in [*failures, *warnings, *[f for f in findings if f.get("outcome") == "exception"]]:
        message = cell(plain(f.get("message", ""), 300))
        if f.get("remediation"):
            message += f" — fix: {cell(plain(f['remediation'], 200))}"
        rows.append(
            f"| {plain(f.get('outcome'), 40)} | {plain(f.get('severity'), 40)} | {cell(code(f.get('rule_id')))} "
            f"| {cell(where(f)) or '-'} | {message} |"
        )
    head = ("| outcome | severity | rule | where | message |", "|---|---|---|---|---|")
    body = (Part(head, tuple(rows), "finding"),) if rows else (Part(("Every check passed.",)),)
    return Section(
        "policy",
        "Policy",
        status,
        ", ".join(parts),
        "Policy failures",
        capped(attention),
        body,
        f"Policy: {plural(counts.get('checks', 0), 'check')}",
    )


def canary_section(result: Any) -> Section | None:
    if result.canary is None:
        return None
    data = result.canary.to_json()
    verdict = str(data.get("verdict", "?"))
    status = OK if verdict == "promoted" else FAIL
    headline = f"{verdict.replace('_', ' ')}" + (f": {plain(data['reason'], 120)}" if data.get("reason") else "")
    attention: list[str] = []
    gate = data.get("failed_gate")
    if gate:
        attention.append(
            f"gate {code(gate.get('gate'))} failed at {plain(gate.get('weight'), 20)}%: value "
            f"{code(short_value(gate.get('value')))}, expected {code(short_value(gate.get('expected')))}"
        )
    lines: list[str] = []
    for step in data.get("steps", []):
        gates = ", ".join(
            f"{plain(g.get('gate'), 60)} {'pass' if g.get('passed') else 'FAIL'}" for g in step.get("gates", [])
        )
        lines.append(
            f"| {plain(step.get('index'), 20)} | {cell(plain(step.get('description', ''), 120))} "
            f"| {plain(step.get('weight'), 20)} | {plain(step.get('outcome'), 40)} | {cell(gates) or '-'} |"
        )
    return Section(
        "canary",
        "Canary",
        status,
        cell(headline),
        "Canary",
        tuple(attention),
        (Part(("| step | what | weight | outcome | gates |", "|---|---|---|---|---|"), tuple(lines), "step"),),
        f"Canary ({html_code(data.get('strategy', ''))})",
    )


def _diff_lines(change: dict[str, Any]) -> list[str]:
    from deployforge.drift.structural import change_lines

    return [line.text for line in change_lines(str(change.get("path")), change.get("expected"), change.get("actual"))]


def drift_section(result: Any) -> Section | None:
    if result.drift is None:
        return None
    data = result.drift.to_json()
    records = [r for r in data.get("records", []) if "ignored" not in r]
    active = [r for r in records if r.get("status") != "NOT_CHECKED"]
    not_checked = [r for r in records if r.get("status") == "NOT_CHECKED"]
    rank = {"security-critical": 0, "performance-impacting": 1, "informational": 2}
    active.sort(key=lambda r: (rank.get(r.get("severity") or "", 9), r.get("resource", "")))
    if not active and not not_checked:
        return Section("drift", "Drift", OK, f"in sync ({plural(data.get('resources_checked', 0), 'resource')})")
    status = FAIL if any(r.get("severity") == "security-critical" for r in active) or not_checked else WARN
    parts = [plural(len(active), "drifted resource")]
    if not_checked:
        parts.append(f"{len(not_checked)} not checked")
    attention = [
        f"{code(r.get('id'))} **{plain(r.get('severity'), 40)}** {code(r.get('resource'))}: "
        f"{', '.join(code(c.get('path')) for c in r.get('changes', [])[:5]) or plain(r.get('reason', ''), 120)}"
        for r in active
        if r.get("severity") == "security-critical"
    ]
    attention += [f"{code(r.get('resource'))} not checked: {plain(r.get('error') or '', 160)}" for r in not_checked]
    lines: list[str] = []
    for r in active:
        # the drift's own diff lines (``+ ingress tcp/22 from 0.0.0.0/0``), each whole
        diff = [d for c in r.get("changes") or [] for d in c.get("diff") or _diff_lines(c)]
        for d in diff or [str(r.get("status", "")).lower()]:
            lines.append(
                f"| {cell(code(r.get('id')))} | {plain(r.get('severity'), 40)} | {cell(code(r.get('resource')))} "
                f"| {cell(code(d))} |"
            )
    return Section(
        "drift",
        "Drift",
        status,
        ", ".join(parts),
        "Security-critical drift",
        capped(attention),
        (
            Part(
                ("| id | severity | resource | change (baseline → live) |", "|---|---|---|---|"),
                tuple(lines),
                "drift line",
            ),
        ),
        f"Drift in {html_code(data.get('environment', ''))}",
    )


def hooks_section(result: Any) -> Section | None:
    if result.hooks is None:
        return None
    data = result.hooks.to_json()
    raw: Any = (data.get("runs") or data.get("hooks") or []) if isinstance(data, dict) else data
    runs: list[dict[str, Any]] = [r for r in (raw or []) if isinstance(r, dict)]
    if not runs:
        return None

    def outcome(h: dict[str, Any]) -> str:
        status = str(h.get("status") or ("ok" if h.get("exit_code", 0) == 0 else "failed"))
        detail = h.get("message") or (f"exit code {h['exit_code']}" if h.get("exit_code") not in (None, 0) else "")
        text = status + (f" ({detail})" if detail and status != "ok" else "")
        return text + (", allowed (continue_on_error)" if status != "ok" and h.get("continue_on_error") else "")

    def blocking(h: dict[str, Any]) -> bool:
        return str(h.get("status", "ok")) != "ok" and not h.get("continue_on_error")

    def tolerated(h: dict[str, Any]) -> bool:
        return str(h.get("status", "ok")) != "ok" and bool(h.get("continue_on_error"))

    def label(h: dict[str, Any]) -> str:
        where = f" on {plain(h['target'], 80)}" if h.get("target") else ""
        return f"{code(h.get('name') or h.get('command') or '?')}{where}"

    failed, allowed = [h for h in runs if blocking(h)], [h for h in runs if tolerated(h)]
    lines = [f"| {plain(h.get('phase', ''), 40)} | {cell(label(h))} | {cell(plain(outcome(h), 160))} |" for h in runs]
    summary = plural(len(runs), "hook") + (f", {len(failed)} failed" if failed else "")
    summary += f", {len(allowed)} failed but allowed" if allowed else ""
    return Section(
        "hooks",
        "Hooks",
        FAIL if failed else (WARN if allowed else OK),
        summary,
        "Failed hooks",
        tuple(f"{plain(h.get('phase', ''), 40)} {label(h)}: {plain(outcome(h), 160)}" for h in failed),
        (Part(("| phase | hook | result |", "|---|---|---|"), tuple(lines), "hook"),),
        "Hooks",
    )


def issues_section(result: Any) -> Section | None:
    if not result.issues:
        return None
    items = [
        (f"{code(str(i.location))}: " if i.location else "")
        + plain(i.message, 300)
        + (f" ({plain(i.hint)})" if i.hint else "")
        for i in result.issues
    ]
    return Section(
        "config",
        "Config",
        FAIL,
        plural(len(items), "problem"),
        "Config problems",
        capped(items),
        (Part((), tuple(f"- {x}" for x in items), "problem"),),
        "Config problems",
    )


def apply_section(result: Any) -> Section | None:
    if result.apply is None:
        return None
    data = result.apply.to_json()
    touched = [r for r in data.get("resources", []) if r.get("outcome") != "unchanged"]
    failed = [r for r in touched if r.get("outcome") == "failed"]
    counts = {k: v for k, v in data.get("summary", {}).items() if v and k != "unchanged"}

    def addr(r: dict[str, Any]) -> str:
        return code(f"{r.get('type')}.{r.get('name')}")

    lines: list[str] = []
    for r in touched:
        detail = r.get("error") or r.get("reason") or ""
        lines.append(
            f"| {cell(addr(r))} | {plain(r.get('action', ''), 40)} | {plain(r.get('outcome', ''), 40)} "
            f"| {cell(plain(detail, 200)) or '-'} |"
        )
    status = FAIL if failed or data.get("interrupted") else OK
    return Section(
        "apply",
        "Apply",
        status,
        (", ".join(f"{n} {k}" for k, n in counts.items()) or "nothing to do")
        + (" (interrupted)" if data.get("interrupted") else ""),
        "Apply failures",
        capped([f"{addr(r)}: {plain(r.get('error') or '', 200)}" for r in failed]),
        (Part(("| resource | action | outcome | detail |", "|---|---|---|---|"), tuple(lines), "resource"),)
        if touched
        else (),
        "Apply",
    )


# Order of the table and of the attention lists: what needs a reviewer's eyes first.
SECTIONS: tuple[Callable[[Any], Section | None], ...] = (
    issues_section,
    policy_section,
    plan_section,
    apply_section,
    canary_section,
    hooks_section,
    drift_section,
)


def sections(result: Any) -> list[Section]:
    return [s for s in (render(result) for render in SECTIONS) if s is not None]


# -- the document ----------------------------------------------------------------------------------


def verdict(result: Any, secs: Sequence[Section]) -> tuple[str, str]:
    """(icon, words) for the status line."""
    if any(s.status == FAIL for s in secs) or not result.outcome.completed:
        failing = [s.title.lower() for s in secs if s.status == FAIL]
        return FAIL, "failed" + (f" ({', '.join(failing)})" if failing else "")
    if any(s.status == WARN for s in secs):
        return WARN, "needs attention"
    if result.plan is not None and result.plan.has_changes and result.apply is None:
        return INFO, "changes to apply"
    return OK, "passed"


def header(result: Any, secs: Sequence[Section], label: str = "") -> list[str]:
    icon, words = verdict(result, secs)
    env = f" · {code(result.environment)}" if result.environment else ""
    env += f" · {code(label)}" if label else ""
    out = [f"### {icon} DeployForge {result.command}{env}: {words}", ""]
    if secs:
        out += ["| Stage | | Result |", "|---|---|---|"]
        out += [f"| {s.title} | {s.status} | {cell(s.headline)} |" for s in secs]
        out.append("")
    for message in result.messages:
        line = plain(message)
        out += [f"> {line}", ""] if line else []
    return out


def attention(secs: Sequence[Section]) -> list[str]:
    out: list[str] = []
    for s in secs:
        if s.attention:
            out += [f"**{s.attention_title}**", ""] + [f"- {line}" for line in s.attention] + [""]
    return out


def footer(result: Any, ctx: RenderContext) -> list[str]:
    parts = []
    if ctx.run_url:
        parts.append(f"[workflow run]({ctx.run_url})")
    if ctx.commit:
        parts.append(f"commit {code(ctx.commit[:12])}")
    # the run's trace id: `deployforge audit trace <id> --format=mermaid` draws the run
    parts.append(f"trace {code(result.trace_id or result.run_id)}")
    if result.plan is not None:  # what a reviewer approved: apply-reviewed-plan applies only this
        from deployforge.model.digest import plan_digest

        parts.append(f"plan {code(plan_digest(result.plan)[:19])}")
    if checkpoint := audit_footer_part(result):  # the signed audit checkpoint: a witness (docs/audit.md)
        parts.append(checkpoint)
    return ["<sub>" + " · ".join(parts) + "</sub>"]


def details_block(s: Section, body: str, *, open_: bool = False) -> list[str]:
    return [
        f"<details{' open' if open_ else ''}><summary>{summary_html(s.details_summary or s.title)}</summary>",
        "",
        body,
        "",
        "</details>",
        "",
    ]


def where_the_rest_is(ctx: RenderContext) -> str:
    places = []
    if ctx.summary_url:
        places.append(f"the [job summary]({ctx.summary_url})")
    else:
        places.append("the job summary of this run")
    if ctx.artifact:
        places.append(f"the full report {code(ctx.artifact)} (uploaded with the reports)")
    return " and ".join(places)


def full_report(ctx: RenderContext) -> str:
    """Where every row is: the full report file (beside the other reports; upload it as an artifact)."""
    if ctx.artifact:
        return f"the full report {code(ctx.artifact)}"
    return "the full report file"


def cut_note(left_out: int, total: int, noun: str, where: str) -> str:
    nouns = noun if total == 1 else noun + "s"
    return f"> {WARN} {left_out:,} of {total:,} {nouns} left out here to fit the size limit; every one is in {where}."


def fit_details(
    secs: Sequence[Section],
    room: int,
    *,
    size: Callable[[str], int],
    block: Callable[[Section, str], str],
    note: Callable[[int, int, str], str],
) -> tuple[list[str], int]:
    """The details blocks of ``secs`` (``block(section, body)``), together at most ``room`` as
    measured by ``size`` (characters for the comment, UTF-8 bytes for the job summary).

    Rows are cut inside sections, from the currently largest section first, the least important
    rows (the end of the section's last part) first; a section is never left out (its head and the
    note stay). Each part that lost rows ends with ``note(left_out, total, noun)``. Returns the
    blocks and how many rows were left out. ValueError when even every section's head is too big."""
    secs = [s for s in secs if s.parts]
    kept = [[len(p.rows) for p in s.parts] for s in secs]

    def body(i: int) -> str:
        return "\n".join(
            p.text(k, note(len(p.rows) - k, len(p.rows), p.noun))
            for p, k in zip(secs[i].parts, kept[i], strict=True)
            if p.head or p.rows
        )

    sizes = [size(block(s, body(i))) for i, s in enumerate(secs)]
    total = sum(sizes)
    left_out = 0
    while total > room:
        while total > room:  # cheap: estimated sizes, one row at a time from the largest section
            candidates = [i for i in range(len(secs)) if any(kept[i])]
            if not candidates:
                raise ValueError(f"the details do not fit in {room} even with every row cut")
            i = max(candidates, key=lambda c: sizes[c])
            j = max(j for j, k in enumerate(kept[i]) if k)
            part = secs[i].parts[j]
            if kept[i][j] == len(part.rows):  # its first cut: the note comes in
                grow = size(note(len(part.rows), len(part.rows), part.noun)) + 2
                sizes[i] += grow
                total += grow
            kept[i][j] -= 1
            left_out += 1
            shrink = size(part.rows[kept[i][j]]) + 1
            sizes[i] -= shrink
            total -= shrink
        # exact sizes again (the estimate missed a newline here and a digit of a note there)
        sizes = [size(block(s, body(i))) for i, s in enumerate(secs)]
        total = sum(sizes)
    return [block(s, body(i)) for i, s in enumerate(secs)], left_out


PLAN_RECORD_PREFIX = "<!-- deployforge:plan "
PLAN_RECORD_MAX = 8000  # characters of per-resource digests kept in the comment (else the digest alone)


def plan_record(result: Any) -> str | None:
    """The hidden record of the reviewed plan (``apply-reviewed-plan`` compares against it): its
    digest and, when they fit, one short digest per changed resource. JSON inside an HTML comment,
    with ``-``, ``<``, ``>`` and ``&`` escaped so nothing in it can end the comment or read as a tag."""
    if result.plan is None:
        return None
    from deployforge.model.digest import plan_digest, resource_digests

    record: dict[str, Any] = {"digest": plan_digest(result.plan), "environment": result.environment}
    resources = resource_digests(result.plan)
    if len(json.dumps(resources)) <= PLAN_RECORD_MAX:
        record["resources"] = resources
    text = json.dumps(record, sort_keys=True)
    for char in "-<>&":  # nothing in it can end the comment or read as a tag
        text = text.replace(char, f"\\u{ord(char):04x}")
    return f"{PLAN_RECORD_PREFIX}{text} -->"


def read_plan_record(body: str) -> dict[str, Any] | None:
    """The plan record of a comment written by ``render_comment``; None when it has none."""
    for line in body.splitlines():
        if line.startswith(PLAN_RECORD_PREFIX) and line.endswith(" -->"):
            try:
                data = json.loads(line[len(PLAN_RECORD_PREFIX) : -4])
            except ValueError:
                return None
            if isinstance(data, dict) and isinstance(data.get("digest"), str):
                return data
    return None


def render_comment(
    result: Any, ctx: RenderContext, *, limit: int = GITHUB_COMMENT_LIMIT, secs: Sequence[Section] | None = None
) -> str:
    """The PR comment; never longer than ``limit`` characters (GitHub's limit counts characters).
    Rows are cut inside the details (largest section first); each cut says how many rows and where
    all of them are. ``secs``: the result's ``sections`` when already rendered (they are most of
    the cost)."""
    secs = sections(result) if secs is None else secs
    head = [
        marker(ctx.workflow, result.environment, ctx.label, ctx.kind),
        *header(result, secs, ctx.label),
        *attention(secs),
    ]
    foot = footer(result, ctx)
    if (record := plan_record(result)) is not None:
        foot = [*foot, record]
    where = where_the_rest_is(ctx)
    top_note = f"> {WARN} Some rows were left out to fit GitHub's comment size limit; every one is in {where}."
    fixed = len("\n".join(head + foot)) + len(top_note) + 8
    if fixed > limit:  # even the summary does not fit (only with an absurdly small limit)
        raise ValueError(f"the comment's summary alone is {fixed} characters, over the limit of {limit}")
    blocks, left_out = fit_details(
        secs,
        limit - fixed,
        size=len,
        block=lambda s, body: "\n".join(details_block(s, body)) + "\n",
        note=lambda n, total, noun: cut_note(n, total, noun, where),
    )
    parts = head + ([top_note, ""] if left_out else []) + ["".join(blocks).rstrip("\n"), ""] + foot
    text = masked("\n".join(parts).replace("\n\n\n", "\n\n"))  # masks can only shorten
    assert len(text) <= limit, len(text)
    return text + "\n" if len(text) < limit else text


@dataclass(frozen=True)
class Annotation:
    level: str  # error | warning | notice
    message: str
    title: str = ""
    file: str | None = None
    line: int | None = None
    column: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    rank: int = 5  # 1 most important (config errors, critical findings, security drift) .. 5 least


_SEVERITY_RANK = {"critical": 1, "high": 2, "medium": 3, "low": 4, "info": 5}
_DRIFT_RANK = {"security-critical": 1, "performance-impacting": 3, "informational": 5}


def annotations_for(result: Any, locate: Callable[[str], tuple[str, int] | None] | None = None) -> list[Annotation]:
    """Annotations on the right lines: config issues, policy findings, drift (pure), each with a
    rank (most important first). ``locate(resource)`` gives a resource's (file, line) in the config
    where known: drift annotations point there."""
    out: list[Annotation] = []
    for i in result.issues:
        loc = i.location
        out.append(
            Annotation(
                "error",
                i.message + (f" (hint: {i.hint})" if i.hint else ""),
                "DeployForge config",
                loc.file if loc else None,
                (loc.line or None) if loc else None,
                (loc.column or None) if loc else None,
                rank=1,
            )
        )
    if result.policy is not None:
        level = {"failure": "error", "error": "error", "warning": "warning", "exception": "notice"}
        for f in result.policy.to_json().get("findings", []):
            out.append(
                Annotation(
                    level.get(f.get("outcome", ""), "warning"),
                    f"{f.get('message', '')}" + (f" (fix: {f['remediation']})" if f.get("remediation") else ""),
                    f"policy {f.get('rule_id', '')} ({f.get('severity', '')})",
                    f.get("file"),
                    f.get("line") or None,
                    rank=_SEVERITY_RANK.get(str(f.get("severity", "")), 5),
                )
            )
    if result.drift is not None:
        for r in result.drift.to_json().get("records", []):
            if "ignored" in r or r.get("status") == "NOT_CHECKED":
                continue
            paths = ", ".join(c.get("path", "") for c in r.get("changes", []))
            where = locate(str(r.get("resource"))) if locate is not None else None
            out.append(
                Annotation(
                    "error" if r.get("severity") == "security-critical" else "warning",
                    f"{r.get('resource')} drifted ({paths or r.get('status')})",
                    f"drift {r.get('id')} ({r.get('severity')})",
                    where[0] if where else None,
                    where[1] if where else None,
                    rank=_DRIFT_RANK.get(str(r.get("severity") or ""), 5),
                )
            )
    return out
