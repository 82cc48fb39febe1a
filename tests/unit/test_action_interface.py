"""action.yml, the entrypoint's settings and the README's tables describe the same interface."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from deployforge.action import COMMANDS, INPUTS, OUTPUTS, ActionInputError, get_input, read_settings

ROOT = Path(__file__).resolve().parents[2]


def action_yml() -> dict:
    return yaml.safe_load((ROOT / "action.yml").read_text())


def readme_table(header: str) -> dict[str, str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## GitHub Action") :]
    rows: dict[str, str] = {}
    for line in section[section.index(header) :].splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0].strip("`")] = cells[1].strip("`")
    return rows


def test_action_yml_inputs_match_the_settings() -> None:
    spec = action_yml()
    assert spec["runs"] == {"using": "docker", "image": "Dockerfile"}
    assert {"name", "description", "branding"} <= set(spec)
    assert list(spec["inputs"]) == [i.name for i in INPUTS]
    for i in INPUTS:
        assert str(spec["inputs"][i.name]["default"]) == i.default, i.name
        assert spec["inputs"][i.name]["description"] == i.description
    assert list(spec["outputs"]) == [o.name for o in OUTPUTS]
    assert spec["inputs"]["github-token"]["default"] == "${{ github.token }}"
    for name in ("command", "config", "pipeline", "environment", "confirm", "policy", "evolve-strategy", "timeout",
                 "github-token", "comment-mode", "junit-path", "sarif-path", "fail-on", "working-directory",
                 "sandbox"):  # fmt: skip
        assert name in spec["inputs"], name
    for name in ("result", "changes", "drift-detected", "policy-failures", "plan-path", "junit-path", "sarif-path",
                 "comment-url"):  # fmt: skip
        assert name in spec["outputs"], name


def test_readme_tables_match_action_yml() -> None:
    spec = action_yml()
    inputs = readme_table("| input | default | meaning |")
    assert list(inputs) == list(spec["inputs"])
    for name, default in inputs.items():
        assert default == str(spec["inputs"][name]["default"]), name
    assert list(readme_table("| output | meaning |")) == list(spec["outputs"])


def test_every_input_is_read_by_the_settings_with_hyphens_kept() -> None:
    env = {f"INPUT_{i.name.upper()}": i.default for i in INPUTS if not i.default.startswith("${{")}
    env["INPUT_GITHUB-TOKEN"] = "t0ken-value"
    env["INPUT_EVOLVE-STRATEGY"] = "5percent-step"
    settings = read_settings(env)
    assert settings.token == "t0ken-value" and settings.evolve_strategy == "5percent-step"
    assert get_input({"INPUT_WORKING-DIRECTORY": " infra "}, "working-directory") == "infra"
    assert settings.command in COMMANDS and settings.comment_mode == "update"
    assert re.fullmatch(r"[a-z-]+", "".join(i.name for i in INPUTS))


def test_pipeline_is_an_alias_of_config_and_booleans_are_strict() -> None:
    assert read_settings({"INPUT_PIPELINE": "canary.yaml"}).config == "canary.yaml"
    assert read_settings({"INPUT_CONFIRM": "True"}).confirm is True
    for bad in ("yes", "1", "on"):
        try:
            read_settings({"INPUT_SANDBOX": bad})
        except ActionInputError as exc:
            assert "'sandbox' must be true or false" in str(exc)
        else:
            raise AssertionError(bad)


def test_timeout_input_takes_durations_and_defaults_to_the_config():
    import pytest

    assert read_settings({}).timeout is None  # the config's deploy.timeout decides
    assert read_settings({"INPUT_TIMEOUT": "1800"}).timeout == 1800
    assert read_settings({"INPUT_TIMEOUT": "30m"}).timeout == 1800
    for bad in ("0", "soon", "-5"):
        with pytest.raises(ActionInputError, match="input 'timeout' must be seconds above 0 or a duration"):
            read_settings({"INPUT_TIMEOUT": bad})


def test_fail_on_must_say_something_and_never_stands_alone():
    import pytest

    assert read_settings({"INPUT_FAIL-ON": "never"}).fail_on == frozenset({"never"})
    with pytest.raises(ActionInputError, match="never cannot be combined"):
        read_settings({"INPUT_FAIL-ON": "never,error"})


def test_label_defaults_to_working_directory_and_config_and_bad_labels_are_refused() -> None:
    import pytest

    assert read_settings({}).label == ""  # the defaults: the marker of earlier versions
    assert read_settings({"INPUT_WORKING-DIRECTORY": "infra/app/"}).label == "infra/app"
    assert read_settings({"INPUT_WORKING-DIRECTORY": "./infra", "INPUT_CONFIG": "prod.yaml"}).label == "infra/prod.yaml"
    assert read_settings({"INPUT_CONFIG": "stacks/db.yaml"}).label == "stacks/db.yaml"
    assert read_settings({"INPUT_LABEL": "payments api"}).label == "payments api"
    assert read_settings({"INPUT_WORKING-DIRECTORY": "a--b>c"}).label == "a-b-c"  # derived: made safe
    for bad, why in (
        ("a--b", "'--'"),
        ("x>y", "'>'"),
        ("two\nlines", "'\\n'"),
        ("x" * 65, "65 characters long (at most 64)"),
    ):
        with pytest.raises(ActionInputError) as info:
            read_settings({"INPUT_LABEL": bad})
        assert str(info.value).startswith("input 'label' is ") and why in str(info.value), str(info.value)


def test_the_marker_carries_label_and_kind_and_stays_the_same_without_them() -> None:
    from deployforge.render.markdown import marker

    assert marker("pr", "staging") == '<!-- deployforge:comment workflow="pr" environment="staging" -->'
    assert marker("pr", "staging", "infra/app") == (
        '<!-- deployforge:comment workflow="pr" label="infra/app" environment="staging" -->'
    )
    assert marker("pr", "staging", "", "drift") != marker("pr", "staging")
