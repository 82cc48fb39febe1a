"""Strategy compilation (pure): names and explicit steps -> one list of steps."""

from __future__ import annotations

import pytest

from deployforge.deploy.strategy import compile_strategy, parse_duration, render_steps
from deployforge.errors import ConfigError


def weights(name: str, **deploy: object) -> list[int]:
    return compile_strategy(deploy, strategy=name, gate_names=["g"]).weights()


def test_percent_step_goes_n_2n_to_100() -> None:
    assert weights("5percent-step") == [*range(5, 100, 5), 100]
    assert weights("30percent-step") == [30, 60, 90, 100]


def test_canary_and_linear_names_carry_their_bake() -> None:
    c = compile_strategy({}, strategy="canary-10pct-5m", gate_names=["g"])
    assert [(s.kind, s.weight, s.duration) for s in c.steps] == [
        ("set_weight", 10, 0.0),
        ("bake", None, 300.0),
        ("promote", 100, 0.0),
    ]
    assert weights("linear-25pct-every-1m") == [25, 50, 75, 100]


def test_codedeploy_names() -> None:
    c = compile_strategy({}, strategy="Canary10Percent5Minutes", gate_names=["g"])
    assert c.weights() == [10, 100] and c.steps[1].duration == 300
    assert weights("CodeDeployDefault.LambdaLinear10PercentEvery1Minute") == [*range(10, 100, 10), 100]
    assert weights("AllAtOnce") == [100] and weights("all-at-once") == [100]


def test_explicit_steps() -> None:
    deploy = {
        "steps": [
            {"set_weight": 10},
            {"pause": {"duration": "30s"}},
            {"analysis": {"gates": ["g"], "interval": "10s", "count": 3}},
            {"set_weight": 50},
        ]
    }
    c = compile_strategy(deploy, gate_names=["g"])
    assert c.name == "steps"
    assert [s.kind for s in c.steps] == ["set_weight", "pause", "bake", "set_weight", "promote"]
    assert c.steps[2].count == 3 and c.steps[2].check_interval == 10
    assert "analysis: 3 checks of g every 10s" in render_steps(c)


def test_settings_interval_threshold_timeout() -> None:
    c = compile_strategy(
        {"interval": "2m", "check_interval": "15s", "failure_threshold": 4, "timeout": "30m"},
        strategy="50percent-step",
        gate_names=["g"],
    )
    assert c.failure_threshold == 4 and c.timeout == 1800
    assert c.steps[1].duration == 120 and c.steps[1].check_interval == 15
    assert compile_strategy({"timeout": "30m"}, strategy="all-at-once", timeout=60).timeout == 60


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("fast", "unknown strategy 'fast'; valid strategies: all-at-once"),
        ("0percent-step", "percentage 0 is outside 1-100"),
        ("101percent-step", "percentage 101 is outside 1-100"),
        ("canary-150pct-5m", "percentage 150 is outside 1-100"),
    ],
)
def test_bad_names_list_valid_forms(name: str, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        compile_strategy({}, strategy=name)
    assert message in exc.value.render()
    assert exc.value.exit_code == 2


def test_bad_explicit_steps_are_all_reported() -> None:
    deploy = {"steps": [{"set_weight": 120}, {"jump": 1}, {"analysis": {"gates": ["nope"]}}]}
    with pytest.raises(ConfigError) as exc:
        compile_strategy(deploy, gate_names=["g"])
    text = exc.value.render()
    assert "set_weight 120 is outside 0-100" in text
    assert "unknown step 'jump'" in text
    assert "analysis names unknown gate 'nope'" in text


def test_parse_duration() -> None:
    assert parse_duration("1h30m") == 5400
    assert parse_duration("250ms") == 0.25
    assert parse_duration(1800) == 1800 and parse_duration("1800") == 1800
    with pytest.raises(ValueError):
        parse_duration("soon")


def test_steps_that_outlast_the_timeout_are_flagged() -> None:
    """The documented 5percent-step with a 2m interval bakes 38 minutes: a 30m timeout can never promote."""
    long = compile_strategy({"interval": "2m", "timeout": "30m"}, strategy="5percent-step", gate_names=["g"])
    assert long.waiting() == 19 * 120
    assert long.too_long() is not None and "longer than the timeout of 30m" in long.too_long()
    assert "warning: the steps wait 38m" in render_steps(long)
    fits = compile_strategy({"interval": "1m", "timeout": "30m"}, strategy="5percent-step", gate_names=["g"])
    assert fits.too_long() is None and "warning" not in render_steps(fits)


def test_a_long_canary_summary_folds_its_uneventful_steps() -> None:
    from deployforge.deploy.model import CanaryReport, GateResult, StepRecord
    from deployforge.deploy.render import render_canary

    def gate(ok: bool, step: int) -> GateResult:
        return GateResult("errors", "alarm", ok, "OK" if ok else "ALARM", "not ALARM", step=step)

    steps = []
    for i in range(1, 40):
        weight = min(100, (i + 1) // 2 * 5)
        failed = i == 30  # one eventful step in the middle stays visible
        gates = (gate(True, i), gate(not failed, i)) if i % 2 == 0 else ()
        steps.append(StepRecord(i, "bake" if i % 2 == 0 else "shift", f"step {i}", weight, 0, 1, "done", gates))
    report = CanaryReport("5percent-step", "ALB listener web:80", "promoted", "every step passed", tuple(steps))
    text = render_canary(report)
    lines = text.splitlines()
    assert len(lines) < 15, text
    assert "    1. step 1: done (weight 5%)" in lines
    assert "   30. step 30: done (weight 75%; 2 gate checks, 1 failed)" in lines
    assert "   39. step 39: done (weight 100%)" in lines
    # the folded runs say how many steps, which, the weights they covered and the checks made
    assert "       … 25 more steps done (steps 3-27; weight 10% to 70%; 24 gate checks, none failed)" in lines
    assert "       … 5 more steps done (steps 33-37; weight 85% to 95%; 4 gate checks, none failed)" in lines
    # a short canary is listed in full, one gate check in the singular
    short = CanaryReport("s", "x", "promoted", "ok", tuple(steps[:5]))
    assert len(render_canary(short).splitlines()) == 2 + 5
    one = StepRecord(1, "bake", "bake", 5, 0, 1, "done", (gate(True, 1),))
    assert "(weight 5%; 1 gate check)" in render_canary(CanaryReport("s", "x", "promoted", "ok", (one,)))


def test_plural() -> None:
    from deployforge.text import plural

    assert [plural(n, "failure") for n in (0, 1, 2)] == ["0 failures", "1 failure", "2 failures"]
    assert plural(1, "resource") == "1 resource" and plural(3, "match") == "3 matches"


def test_columns_align_every_cell_under_its_header() -> None:
    from deployforge.text import columns

    rows = [("aws_security_group.web", "sg-1", "main"), ("aws_s3_bucket.a", "b", "x")]
    lines = columns(("ADDRESS", "ID", "TARGET"), rows)
    assert lines == [
        "  ADDRESS                 ID    TARGET",
        "  aws_security_group.web  sg-1  main",
        "  aws_s3_bucket.a         b     x",
    ]


def test_clip_cuts_at_a_word_with_an_ellipsis() -> None:
    from deployforge.text import clip

    text = "invalid_grant: Invalid JWT Signature. " * 20 + "Failed to refresh the access token"
    short = clip(text, 120)
    assert len(short) <= 120 and short.endswith("…")
    assert short[:-1].rstrip().endswith(("Signature.", "JWT", "Invalid", "invalid_grant:".rstrip(":")))
    assert clip("one\n  two", 50) == "one two"
    assert clip("x" * 500, 100) == "x" * 99 + "…"  # no space to cut at: cut where the limit is
