"""Issue 16, point 2: exact structural diffs by identity, one model for every output, never cut."""

from __future__ import annotations

import json

from deployforge.drift.healing import summary_lines
from deployforge.drift.model import AttributeDrift, DriftRecord, DriftReport, Severity, Status
from deployforge.drift.remediate import plan_revert
from deployforge.drift.report import render_markdown, render_record, render_remediation, render_table
from deployforge.drift.structural import change_lines
from deployforge.notify import slack

HTTPS = {"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["0.0.0.0/0"], "description": "HTTPS"}
SSH = {"protocol": "tcp", "from_port": 22, "to_port": 22, "cidr_blocks": ["0.0.0.0/0"]}
# a long rule list: the old renderings cut the values at ~120 characters, before the new rule
MANY = [
    {"protocol": "tcp", "from_port": p, "to_port": p, "cidr_blocks": [f"10.{p % 250}.0.0/16"], "description": "x" * 40}
    for p in range(8000, 8030)
]


def texts(path, a, b):
    return [line.text for line in change_lines(path, a, b)]


def test_rules_are_diffed_by_identity_not_position():
    assert texts("ingress", [*MANY, HTTPS], [SSH, *MANY, HTTPS]) == ["+ ingress tcp/22 from 0.0.0.0/0"]
    assert texts("ingress", [HTTPS, SSH], [HTTPS]) == ["- ingress tcp/22 from 0.0.0.0/0"]
    changed = dict(HTTPS, description="web")
    assert texts("ingress", [HTTPS], [changed]) == ["~ ingress tcp/443 from 0.0.0.0/0: description: HTTPS -> web"]
    # one permission per source, as AWS counts them: adding a CIDR to a rule is one added permission
    wider = dict(HTTPS, cidr_blocks=["0.0.0.0/0", "10.0.0.0/8"])
    assert texts("ingress", [HTTPS], [wider]) == ["+ ingress tcp/443 from 10.0.0.0/8 (description: HTTPS)"]
    everything = {"protocol": "-1", "from_port": 0, "to_port": 0, "cidr_blocks": ["0.0.0.0/0"]}
    assert texts("egress", [], [everything]) == ["+ egress all from 0.0.0.0/0"]
    ranged = {"protocol": "udp", "from_port": 1000, "to_port": 2000, "security_groups": ["sg-1"]}
    assert texts("ingress", [ranged], []) == ["- ingress udp/1000-2000 from sg-1"]


def test_scalars_maps_named_items_and_plain_lists():
    assert texts("desired_capacity", 4, 6) == ["~ desired_capacity: 4 -> 6"]
    assert texts("tags.team", None, "pay ments") == ['+ tags.team: "pay ments"']
    assert texts("tags.owner", "a", None) == ["- tags.owner: a"]
    assert texts("zones", ["a", "b"], ["b", "c"]) == ["- zones a", "+ zones c"]
    assert texts("zones", ["a", "b"], ["b", "a"]) == ['~ zones (order): ["a", "b"] -> ["b", "a"]']
    stmts = [{"Sid": "Read", "Effect": "Allow", "Action": "s3:GetObject"}]
    wider = [{"Sid": "Read", "Effect": "Allow", "Action": "s3:*"}]
    assert texts("policy.Statement", stmts, wider) == ["~ policy.Statement Read: Action: s3:GetObject -> s3:*"]
    assert texts("versioning", True, False) == ["~ versioning: true -> false"]  # not Python's True


def _sg_record() -> DriftRecord:
    return DriftRecord(
        id="DF-7QK-2MA",
        environment="prod",
        resource="web_sg",
        type="aws_security_group",
        target="main",
        resource_id="sg-1",
        status=Status.MODIFIED,
        changes=(AttributeDrift("ingress", [*MANY, HTTPS], [*MANY, HTTPS, SSH]),),
        severity=Severity.SECURITY,
        reason="ingress",
    )


def test_one_diff_model_feeds_every_output_uncut():
    record = _sg_record()
    line = "+ ingress tcp/22 from 0.0.0.0/0"
    report = DriftReport("prod", "b1", "t", "t", (record,), resources_checked=1)
    assert record.diff == (line,)
    assert line in render_record(record)  # drift show
    assert line in render_table(report)  # drift list / detect console
    assert line in render_markdown(report)  # --markdown (PR comment, job summary)
    assert json.loads(json.dumps(report.to_json()))["records"][0]["changes"][0]["diff"] == [line]  # --format json
    payload = slack.message("t", summary_lines(record, "blocked", "x"))
    assert line in payload["text"] and line in payload["blocks"][-1]["text"]["text"]  # Slack
    for text in (render_record(record), render_markdown(report)):
        assert "…" not in text


def test_remediation_plans_speak_the_same_language_without_python_reprs():
    plan = plan_revert(_sg_record(), None)
    out = render_remediation(plan)
    assert "- ingress tcp/22 from 0.0.0.0/0" in out  # the revert removes the rule the drift added
    assert "{'" not in out and "['" not in out and "True" not in out
    assert plan.to_json()["steps"][0]["diff"] == ["- ingress tcp/22 from 0.0.0.0/0"]


def test_slack_folds_whole_lines_and_closes_its_code_block():
    lines = ["head", "```", *[f"+ ingress tcp/{p} from 0.0.0.0/0 (description: {'y' * 60})" for p in range(200)], "```"]
    payload = slack.message("t", lines)
    body = payload["blocks"][-1]["text"]["text"]
    assert len(body) <= slack.SECTION_LIMIT and len(payload["text"]) <= slack.TEXT_LIMIT
    kept = body.splitlines()
    assert kept[-1].startswith("… ") and "more line(s)" in kept[-1] and kept[-2] == "```"
    assert all(k in lines for k in kept[:-2])  # every kept line is whole
