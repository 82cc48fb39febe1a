"""Drift's pure core: ids, attribute diff, classification, ignore file, impact analysis, JUnit, and
NOT_CHECKED (a resource that could not be read is never in sync)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from deployforge.config.load import load_config
from deployforge.drift.classify import builtin
from deployforge.drift.detect import LiveView, Unreadable, build_report, read_live
from deployforge.drift.diff import diff_attributes
from deployforge.drift.healing import analyze, deviation, rules_from_config
from deployforge.drift.ids import assign_ids, drift_id, is_drift_id
from deployforge.drift.ignore import load_ignore_file
from deployforge.drift.model import DriftRecord, Severity, Status
from deployforge.drift.report import render_markdown, to_junit_suite
from deployforge.errors import ConfigError, ProviderError
from deployforge.providers.base import LiveResource
from deployforge.render.junit import check_junit, render_junit
from deployforge.state.baseline import Baseline, BaselineResource

NOW = dt.datetime(2026, 11, 26, 3, 0, tzinfo=dt.UTC)


def baseline(**resources: dict) -> Baseline:
    return Baseline(
        environment="dev",
        id="20261126T010000Z-aaaaaa",
        taken_at="2026-11-26T01:00:00Z",
        config_hash="c" * 64,
        resources={
            name: BaselineResource(name, attrs.pop("_type", "aws_autoscaling_group"), "main", name, attrs)
            for name, attrs in resources.items()
        },
    )


def live(name: str, rtype: str = "aws_autoscaling_group", **attrs: object) -> LiveResource:
    return LiveResource(rtype, name, attrs)


def test_ids_have_the_product_form_and_are_stable():
    first = drift_id("prod", "web_asg", ["desired_capacity"])
    assert is_drift_id(first) and first == drift_id("prod", "web_asg", ["desired_capacity"])
    assert first != drift_id("dev", "web_asg", ["desired_capacity"])
    assert first != drift_id("prod", "web_asg", ["desired_capacity", "tags.owner"])
    assert drift_id("p", "r", ["b", "a"]) == drift_id("p", "r", ["a", "b"])
    assert is_drift_id("DF-5XJ-88B") and not is_drift_id("DF-TRC-0001") and not is_drift_id("DF-5XJ-88I")
    # a collision within one environment is resolved deterministically
    keys = [("r", ("a",)), ("r", ("a",))]
    ids = assign_ids("p", keys)
    assert len(set(ids)) == 2 and ids == assign_ids("p", keys)


def test_attribute_diff():
    changes = diff_attributes(
        {"desired_capacity": 2, "tags": {"owner": "a", "gone": "x"}, "zones": ["a", "b"], "flag": True},
        {"desired_capacity": 3, "tags": {"owner": "a", "new": "y"}, "zones": ("a", "b"), "flag": 1},
    )
    assert [(c.path, c.expected, c.actual) for c in changes] == [
        ("desired_capacity", 2, 3),
        ("flag", True, 1),
        ("tags.gone", "x", None),
        ("tags.new", None, "y"),
    ]
    assert diff_attributes({"a": [1, {"b": 2}]}, {"a": ([1, {"b": 2}])}) == ()


@pytest.mark.parametrize(
    ("path", "severity"),
    [
        ("ingress", Severity.SECURITY),
        ("public_access_block.block_public_acls", Severity.SECURITY),
        ("encryption.sse_algorithm", Severity.SECURITY),
        ("iam_instance_profile", Severity.SECURITY),
        ("desired_capacity", Severity.PERFORMANCE),
        ("instance_type", Severity.PERFORMANCE),
        ("memory_size", Severity.PERFORMANCE),
        ("tags.security_group", Severity.INFORMATIONAL),
        ("description", Severity.INFORMATIONAL),
        ("health_check_type", Severity.PERFORMANCE),
    ],
)
def test_builtin_classification(path, severity):
    from deployforge.drift.model import AttributeDrift

    result = builtin(Status.MODIFIED, "aws_x", (AttributeDrift(path, 1, 2),), production=False)
    assert result is not None and result.severity is severity and path in result.reason


def test_deletion_and_production_raise_the_level():
    assert builtin(Status.DELETED, "aws_s3_bucket", (), production=False).severity is Severity.PERFORMANCE
    assert builtin(Status.DELETED, "aws_security_group", (), production=False).severity is Severity.SECURITY
    assert builtin(Status.UNMANAGED, "aws_s3_bucket", (), production=True).severity is Severity.PERFORMANCE
    assert builtin(Status.NOT_CHECKED, "aws_s3_bucket", (), production=True) is None


def test_rego_rules_override_the_builtin(tmp_path):
    from deployforge.drift.rego import RegoClassifier

    rules = tmp_path / "drift-rules.rego"
    rules.write_text(
        "package deployforge.drift\nimport rego.v1\n"
        'classify := {"severity": "security-critical", "reason": "owner tag is access control here"} if {\n'
        '  some c in input.drift.changes\n  c.path == "tags.owner"\n}\n'
    )
    report = build_report(
        environment="dev",
        baseline=baseline(a={"tags": {"owner": "x"}}, b={"tags": {"team": "x"}}),
        view=LiveView({"a": live("a", tags={"owner": "y"}), "b": live("b", tags={"team": "y"})}),
        production=False,
        override=RegoClassifier([rules]),
        now=NOW,
    )
    by = {r.resource: r for r in report.records}
    assert by["a"].severity is Severity.SECURITY and by["a"].reason == "owner tag is access control here"
    assert by["b"].severity is Severity.INFORMATIONAL
    bad = tmp_path / "bad.rego"
    bad.write_text('package deployforge.drift\nclassify := {"severity": "catastrophic"}\n')
    with pytest.raises(ConfigError) as info:
        build_report(
            environment="dev",
            baseline=baseline(a={"tags": {"owner": "x"}}),
            view=LiveView({"a": live("a", tags={"owner": "y"})}),
            production=False,
            override=RegoClassifier([bad]),
            now=NOW,
        )
    assert "unknown severity 'catastrophic'" in info.value.render()


def test_a_drift_rules_file_that_does_not_parse_is_located_and_prints_nothing(tmp_path, capfd):
    from deployforge.drift.rego import RegoClassifier

    broken = tmp_path / "drift-rules.rego"
    broken.write_text('package deployforge.drift\nimport rego.v1\nclassify := {"severity": "bogus"} if {\n  true\n')
    with pytest.raises(ConfigError) as info:
        RegoClassifier([broken])
    [issue] = info.value.issues
    assert issue.location.file.endswith("drift-rules.rego") and issue.location.line == 3
    assert issue.message.startswith("drift rules: Rego syntax error: ") and "errorseq" not in issue.message
    assert issue.hint
    assert capfd.readouterr().out == ""  # rego-cpp's own printout does not reach stdout (JSON stays clean)


def test_not_checked_is_never_in_sync_and_exits_1():
    report = build_report(
        environment="dev",
        baseline=baseline(a={"desired_capacity": 2}, b={"desired_capacity": 2}),
        view=LiveView({"a": Unreadable("AccessDenied"), "b": live("b", desired_capacity=2)}),
        production=False,
        now=NOW,
    )
    (record,) = report.records
    assert record.status is Status.NOT_CHECKED and report.in_sync == 1 and report.exit_code == 1
    assert report.counts()["not_checked"] == 1


class DeniedProvider:
    """A provider whose listing is refused and whose reads are refused for one object."""

    name = "test"

    def list(self, rtype: str) -> Iterator[LiveResource]:
        raise ProviderError("ListGroups denied", code="AccessDenied")
        yield  # pragma: no cover

    def read(self, rtype: str, rid: str) -> LiveResource | None:
        if rid == "a":
            raise ProviderError("DescribeGroup denied", code="UnauthorizedOperation")
        return live(rid, desired_capacity=2)


def test_a_refused_listing_falls_back_to_reads_and_reports_not_checked():
    base = baseline(a={"desired_capacity": 2}, b={"desired_capacity": 2})
    view = read_live(base, {"main": DeniedProvider()})  # type: ignore[dict-item]
    assert isinstance(view.observed["a"], Unreadable) and view.observed["b"] is not None
    assert "AccessDenied" in view.warnings[0]


def test_ignore_file(tmp_path):
    path = tmp_path / "drift-ignore.yaml"
    path.write_text(
        "ignore:\n"
        "  - resource: web_*\n    attributes: [tags.*]\n    reason: the scheduler tags it\n"
        "  - resource: old\n    reason: expired\n    expires: 2026-01-01\n"
    )
    ignore = load_ignore_file(path)
    report = build_report(
        environment="dev",
        baseline=baseline(web_a={"tags": {"x": "1"}}, web_b={"tags": {"x": "1"}, "size": 1}, old={"size": 1}),
        view=LiveView(
            {
                "web_a": live("web_a", tags={"x": "2"}),
                "web_b": live("web_b", tags={"x": "2"}, size=2),
                "old": live("old", size=2),
            }
        ),
        production=False,
        ignore=ignore,
        now=NOW,
    )
    by = {r.resource: r for r in report.records}
    assert by["web_a"].ignored == "the scheduler tags it" and not by["web_a"].active
    assert by["web_b"].paths == ("size",) and [c.path for c in by["web_b"].ignored_changes] == ["tags.x"]
    assert by["old"].active and any("expired" in w for w in report.warnings)


def test_bad_ignore_file_is_located(tmp_path):
    path = tmp_path / "drift-ignore.yaml"
    path.write_text("ignore:\n  - resource: a\n    expires: someday\n    reson: x\n")
    with pytest.raises(ConfigError) as info:
        load_ignore_file(path)
    rendered = info.value.render()
    assert f"{path}:2:5" in rendered and "needs a reason" in rendered
    assert f"{path}:3:14" in rendered and "not a date" in rendered
    assert "did you mean 'reason'" in rendered


RULES = [
    {
        "resource_type": "aws_auto_scaling_group",
        "max_deviation": "15%",
        "actions": [{"type": "rolling_restart"}, {"type": "notify_slack", "channel": "#infra-alerts"}],
    }
]


def record(expected: int, actual: int, severity: Severity = Severity.PERFORMANCE) -> DriftRecord:
    from deployforge.drift.model import AttributeDrift

    return DriftRecord(
        id="DF-000-001",
        environment="dev",
        resource="web",
        type="aws_autoscaling_group",
        target="main",
        resource_id="web",
        status=Status.MODIFIED,
        changes=(AttributeDrift("desired_capacity", expected, actual),),
        severity=severity,
    )


def test_impact_analysis():
    rules = rules_from_config(RULES)
    assert deviation(record(20, 23)) == 15.0
    assert analyze(record(20, 23), rules, production=False, confirmed=False).outcome == "within-tolerance"
    assert analyze(record(20, 24), rules, production=False, confirmed=False).outcome == "heal"
    assert analyze(record(20, 24), rules, production=True, confirmed=False).outcome == "blocked"
    assert analyze(record(20, 24), rules, production=True, confirmed=True).outcome == "heal"
    assert analyze(record(2, 9, Severity.SECURITY), rules, production=False, confirmed=False).outcome == "blocked"
    other = rules_from_config([{"resource_type": "aws_s3_bucket", "actions": [{"type": "reapply"}]}])
    assert analyze(record(2, 9), other, production=False, confirmed=False).outcome == "no-rule"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-5%", "max_deviation: '-5%' is not in the expected form"),
        ("150%", "max_deviation: '150%' is not in the expected form"),
        (101, "must be at most 100"),
    ],
)
def test_invalid_self_healing_rules_are_located(tmp_path, value, message):
    cfg = tmp_path / "deployforge.yaml"
    cfg.write_text(
        "targets: {main: {provider: aws, region: us-east-1}}\nresources: {}\n"
        "self_healing_rules:\n  - resource_type: aws_auto_scaling_group\n"
        f"    max_deviation: {value}\n    actions: [{{type: rolling_restart}}]\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(str(cfg))
    assert f"{cfg}:5:20" in info.value.render() and message in info.value.render()


def test_unknown_action_is_located(tmp_path):
    cfg = tmp_path / "deployforge.yaml"
    cfg.write_text(
        "targets: {main: {provider: aws, region: us-east-1}}\nresources: {}\n"
        "self_healing_rules:\n  - resource_type: aws_auto_scaling_group\n"
        "    actions:\n      - type: rolling_restrat\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(str(cfg))
    text = info.value.render()
    assert f"{cfg}:6:15" in text and "did you mean 'rolling_restart'" in text


def test_junit_and_markdown():
    report = build_report(
        environment="dev",
        baseline=baseline(a={"desired_capacity": 2}, b={"tags": {"x": "1"}}, c={"size": 1}, d={"size": 1}),
        view=LiveView(
            {
                "a": live("a", desired_capacity=3),
                "b": live("b", tags={"x": "2"}),
                "c": Unreadable("throttled"),
                "d": live("d", size=1),
            }
        ),
        production=False,
        now=NOW,
    )
    suite = to_junit_suite(report, Severity.PERFORMANCE)
    status = {case.name: case.status for case in suite.cases}
    assert status == {"a": "failure", "b": "skipped", "c": "error", "d": "passed"}
    assert check_junit(render_junit([suite])) == []
    text = render_markdown(report)
    assert "### Drift in `dev`" in text and "| 0 | 1 | 1 | 1 | 0 | 1 |" in text


def test_a_filter_that_hides_every_drift_does_not_claim_the_cloud_is_in_sync():
    from deployforge.drift.report import render_table
    from deployforge.usecases.drift import filtered

    report = build_report(
        environment="dev",
        baseline=baseline(a={"desired_capacity": 2}, b={"desired_capacity": 2}),
        view=LiveView({"a": live("a", desired_capacity=5), "b": live("b", desired_capacity=2)}),
        production=False,
        now=NOW,
    )
    assert report.in_sync == 1 and len(report.active) == 1
    only_security = filtered(report, severities=(Severity.SECURITY,))
    text = render_table(only_security)
    assert "No drift: live state matches the baseline" not in text
    assert "No drift matches the filter (1 record(s) left out" in text and "1 in sync" in text


def test_a_runtime_error_in_the_drift_rules_says_what_to_look_for(tmp_path):
    from deployforge.drift.rego import RegoClassifier

    rules = tmp_path / "drift-rules.rego"
    rules.write_text(
        "package deployforge.drift\nimport rego.v1\n"
        'classify := {"severity": "informational", "reason": "a"} if { true }\n'
        'classify := {"severity": "security-critical", "reason": "b"} if { true }\n'
    )
    with pytest.raises(ConfigError) as info:
        build_report(
            environment="dev",
            baseline=baseline(a={"tags": {"owner": "x"}}),
            view=LiveView({"a": live("a", tags={"owner": "y"})}),
            production=False,
            override=RegoClassifier([rules]),
            now=NOW,
        )
    [issue] = info.value.issues
    assert "could not be evaluated for DF-" in issue.message and "<error>" not in issue.message
    assert issue.location.file.endswith("drift-rules.rego") and "two definitions of classify" in issue.hint
