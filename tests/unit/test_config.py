"""Config loading: every error located exactly, all errors at once, references, environments."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from deployforge.config.load import load_config
from deployforge.errors import ConfigError, Location, UsageError
from deployforge.model.config import SecretRef

BASE = """\
targets:
  main:
    provider: aws
    region: us-east-1
resources:
  logs:
    type: aws_s3_bucket
    properties:
      bucket: my-logs
"""


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "deployforge.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def issues_of(path: str, **kwargs) -> list[tuple[int, int, str, str | None]]:
    with pytest.raises(ConfigError) as info:
        load_config(path, environ=kwargs.pop("environ", {}), **kwargs)
    return [(i.location.line, i.location.column, i.message, i.hint) for i in info.value.issues]


def test_valid_config_loads(tmp_path):
    config = load_config(write(tmp_path, BASE), environ={})
    assert config.environment == "default"
    assert config.resources["logs"].properties["bucket"] == "my-logs"
    assert config.resources["logs"].target == "main"  # the only target is the default
    assert len(config.config_hash) == 64


def test_unknown_keys_reported_all_at_once_with_locations_and_did_you_mean(tmp_path):
    path = write(
        tmp_path,
        """\
        targets:
          main:
            provider: aws
            regoin: us-east-1
        resources:
          logs:
            type: aws_s3_bucket
            propertis:
              bucket: x
        """,
    )
    found = issues_of(path)
    assert (4, 5, "unknown key 'regoin' in targets.main", "did you mean 'region'?") in found
    assert (8, 5, "unknown key 'propertis' in resources.logs", "did you mean 'properties'?") in found
    assert len(found) == 2


def test_wrong_type_points_at_the_value(tmp_path):
    path = write(
        tmp_path,
        """\
        targets:
          main:
            provider: aws
        hooks:
          - phase: pre_deploy
            command: migrate.sh
            shell: sometimes
        """,
    )
    found = issues_of(path)
    assert found == [(7, 12, "hooks[0].shell must be true or false, not the string 'sometimes'", None)]


def test_enum_error_suggests(tmp_path):
    path = write(
        tmp_path,
        """\
        targets:
          main:
            provider: awz
        """,
    )
    [(line, col, message, hint)] = issues_of(path)
    assert (line, col) == (3, 15)
    assert "not one of: aws, google" in message
    assert hint == "did you mean 'aws'?"


def test_required_properties_and_one_of_keys(tmp_path):
    path = write(
        tmp_path,
        """\
        targets:
          main: {provider: aws}
        resources:
          web:
            type: aws_autoscaling_group
            properties: {min_size: 1, max_size: -1}
        """,
    )
    messages = [f[2] for f in issues_of(path)]
    assert "resources.web.properties needs 'availability_zones' or 'vpc_zone_identifier'" in messages
    assert "resources.web.properties is missing required key 'launch_template'" in messages
    assert "resources.web.properties.max_size must be at least 0, not -1" in messages


def test_unknown_resource_type_and_target(tmp_path):
    path = write(
        tmp_path,
        """\
        targets:
          main:
            provider: aws
          other:
            provider: aws
        resources:
          a:
            type: aws_s3_bukcet
            target: main
          b:
            type: aws_s3_bucket
            target: mian
        """,
    )
    found = issues_of(path)
    assert found[0][:2] == (8, 11) and found[0][3] == "did you mean 'aws_s3_bucket'?"
    # the type error stops the file before semantic checks; fix it and the target error shows
    path = write(tmp_path, Path(path).read_text().replace("bukcet", "bucket"))
    found = issues_of(path)
    assert found == [(12, 13, "resource 'b': unknown target 'mian'", "did you mean 'main'?")]


def test_malformed_yaml_located(tmp_path):
    path = write(tmp_path, "targets:\n  main:\n    provider: aws\n   region: x\n")
    [(line, col, message, _hint)] = issues_of(path)
    assert col >= 1
    assert line == 4 and message.startswith("invalid YAML")


def test_duplicate_keys_rejected(tmp_path):
    path = write(tmp_path, BASE + "  logs:\n    type: aws_s3_bucket\n")
    found = issues_of(path)
    assert found[0][:3] == (10, 3, "duplicate key 'logs' (first defined on line 6)")


def test_environment_variables_and_missing_ones(tmp_path):
    path = write(
        tmp_path,
        """\
        targets:
          main:
            provider: aws
            auth: $DEPLOYFORGE_AWS_PROFILE
            region: ${REGION:-eu-central-1}
        resources:
          logs:
            type: aws_s3_bucket
            properties:
              bucket: ${BUCKET}
        """,
    )
    config = load_config(path, environ={"DEPLOYFORGE_AWS_PROFILE": "prod-admin", "BUCKET": "bucket-one"})
    assert config.targets["main"].auth == "prod-admin"
    assert config.targets["main"].region == "eu-central-1"
    found = issues_of(path, environ={})
    assert [(f[0], f[1]) for f in found] == [(4, 11), (10, 15)]
    assert "DEPLOYFORGE_AWS_PROFILE is not set" in found[0][2]
    assert "${DEPLOYFORGE_AWS_PROFILE:-value}" in found[0][3]


def test_whole_value_reference_is_typed(tmp_path):
    path = write(
        tmp_path,
        """\
        targets:
          main: {provider: aws}
        resources:
          asg:
            type: aws_autoscaling_group
            properties:
              min_size: $MIN
              max_size: 3
              desired_capacity: ${var.desired}
              availability_zones: [us-east-1a]
              launch_template: {name: lt, version: $$Latest}
        variables:
          desired: 2
        """,
    )
    config = load_config(path, environ={"MIN": "1"})
    props = config.resources["asg"].properties
    assert props["min_size"] == 1 and props["desired_capacity"] == 2
    assert props["launch_template"]["version"] == "$Latest"


def test_resource_references_imply_dependencies_and_are_checked(tmp_path):
    path = write(
        tmp_path,
        """\
        targets:
          main: {provider: aws}
        resources:
          sg:
            type: aws_security_group
            properties: {name: web, description: web}
          lt:
            type: aws_launch_template
            properties:
              name: web-lt
              security_group_ids: ["${resources.sg.id}"]
        """,
    )
    config = load_config(path, environ={})
    assert config.resources["lt"].depends_on == ("sg",)
    original = Path(path).read_text()
    bad = original.replace("resources.sg.id", "resources.sgg.id")
    found = issues_of(write(tmp_path, bad))
    assert found[0][:2] == (11, 28)
    assert "unknown resource 'sgg'" in found[0][2] and found[0][3] == "did you mean 'sg'?"
    bad = original.replace("resources.sg.id", "resources.sg.idd")
    found = issues_of(write(tmp_path, bad))
    assert "has no output 'idd'" in found[0][2] and found[0][3] == "did you mean 'id'?"


def test_dependency_cycle_named(tmp_path):
    path = write(
        tmp_path,
        """\
        targets:
          main: {provider: aws}
        resources:
          a:
            type: aws_s3_bucket
            depends_on: [c]
          b:
            type: aws_s3_bucket
            depends_on: [a]
          c:
            type: aws_s3_bucket
            depends_on: [b]
        """,
    )
    found = issues_of(path)
    assert found == [
        (
            4,
            3,
            "dependency cycle: a -> c -> b -> a",
            "break the cycle: remove a depends_on or a ${resources...} reference",
        )
    ]


def test_environments_override_targets_and_variables(tmp_path):
    path = write(
        tmp_path,
        """\
        variables: {size: 1}
        targets:
          main: {provider: aws, region: us-east-1}
        environments:
          dev: {}
          prod:
            require_confirmation: true
            variables: {size: 3}
            targets:
              main: {region: eu-central-1}
        resources:
          logs:
            type: aws_s3_bucket
            properties: {bucket: "logs-${var.size}"}
        """,
    )
    with pytest.raises(UsageError, match="several environments"):
        load_config(path, environ={})
    prod = load_config(path, environment="prod", environ={})
    dev = load_config(path, environment="dev", environ={})
    assert prod.targets["main"].region == "eu-central-1" and dev.targets["main"].region == "us-east-1"
    assert prod.resources["logs"].properties["bucket"] == "logs-3"
    assert prod.require_confirmation and not dev.require_confirmation
    assert prod.config_hash != dev.config_hash
    found = issues_of(path, environment="prdo")
    assert found[0][2] == "environment 'prdo' is not defined" and found[0][3] == "did you mean 'prod'?"


def test_vault_references_parsed_not_resolved(tmp_path):
    path = write(
        tmp_path,
        """\
        targets:
          gcp_analytics:
            provider: google
            project: galaxy-1234
            credentials: vault://cloud-secrets/gcp-prod-key
        """,
    )
    config = load_config(path, environ={})
    cred = config.targets["gcp_analytics"].credentials
    assert isinstance(cred, SecretRef) and cred.path == "cloud-secrets/gcp-prod-key" and cred.key is None


def test_missing_config_file_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="not found") as info:
        load_config(str(tmp_path / "nope.yaml"), environ={})
    assert info.value.exit_code == 2


def test_empty_and_non_mapping_files(tmp_path):
    assert issues_of(write(tmp_path, ""))[0][2] == "the config file is empty"
    assert "mapping of sections" in issues_of(write(tmp_path, "- a\n- b\n"))[0][2]


def test_product_page_spelling_of_the_autoscaling_type_is_accepted(tmp_path):
    path = write(
        tmp_path,
        """\
        targets:
          main: {provider: aws}
        resources:
          web:
            type: aws_auto_scaling_group
            properties:
              {min_size: 1, max_size: 2, availability_zones: [us-east-1a], launch_template: {name: lt, version: 1}}
        """,
    )
    assert load_config(path, environ={}).resources["web"].type == "aws_autoscaling_group"


def test_every_environment_is_checked_when_none_is_chosen(tmp_path):
    from deployforge.config.load import load_every_environment

    path = write(
        tmp_path,
        """\
        targets:
          main: {provider: aws}
        environments:
          dev: {variables: {size: 1}}
          prod: {variables: {size: many}}
        resources:
          web:
            type: aws_autoscaling_group
            properties:
              min_size: "${var.size}"
              max_size: 9
              availability_zones: [us-east-1a]
              launch_template: {name: web-lt, version: 1}
        """,
    )
    found = issues_of_every(path)
    assert found == [
        (10, 17, "resources.web.properties.min_size must be an integer, not the string 'many' (environment 'prod')")
    ]
    good = write(tmp_path, Path(path).read_text().replace("many", "3"))
    assert [c.environment for c in load_every_environment(good, environ={})] == ["dev", "prod"]


def issues_of_every(path: str) -> list[tuple[int, int, str]]:
    from deployforge.config.load import load_every_environment

    with pytest.raises(ConfigError) as info:
        load_every_environment(path, environ={})
    return [(i.location.line, i.location.column, i.message) for i in info.value.issues]


def test_environment_names_cannot_escape_the_state_folder(tmp_path):
    path = write(tmp_path, BASE)
    with pytest.raises(UsageError, match="not a valid environment name"):
        load_config(path, environment="../../etc", environ={})
    bad = write(tmp_path, BASE + "environments:\n  ../prod: {}\n")
    [(line, col, message, _hint)] = issues_of(bad)
    assert (line, col) == (11, 3) and "not a valid name" in message


def test_an_environment_is_refused_when_the_config_defines_none(tmp_path):
    path = write(tmp_path, "targets: {main: {provider: aws, region: us-east-1}}\nresources: {}\n")
    assert load_config(path, environ={}).environment == "default"
    assert load_config(path, environment="default", environ={}).environment == "default"
    with pytest.raises(UsageError) as caught:
        load_config(path, environment="prod", environ={})  # would start an empty 'prod' state
    assert "environment 'prod' is not defined" in caught.value.message
    assert "environments: {prod: {}}" in (caught.value.hint or "") and caught.value.exit_code == 2


def test_validate_finds_what_run_and_self_healing_would_refuse(tmp_path):
    """`validate` compiles deploy: and hooks: as `run` does, and checks self-healing rule types."""
    from deployforge.usecases.validate import validate
    from deployforge.usecases.workspace import Options, Workspace

    path = write(
        tmp_path,
        """
        targets: {main: {provider: aws, region: us-east-1}}
        resources: {}
        deploy:
          strategy: 10percent-step
          shifter: {type: aws_alb_listener, target: main, load_balancer: web, port: 80,
                    stable_target_group: blue, canary_target_group: green}
          gates:
            - {name: errors, type: cloudwatch_alarm, target: main, alarm_nme: web-5xx}
        self_healing_rules:
          - resource_type: aws_auto_scaling_grup
            actions: [{type: rolling_restart}]
        """,
    )
    ws = Workspace(Options(config=path, environ={}))
    with pytest.raises(ConfigError) as caught:
        validate(ws)
    text = caught.value.render()
    assert "a cloudwatch_alarm gate needs alarm_name" in text
    assert "unknown resource type 'aws_auto_scaling_grup': this rule can never apply" in text
    assert "did you mean 'aws_auto_scaling_group'?" in text
    lines = {i.message.split(":")[0]: i.location.line for i in caught.value.issues}
    assert lines["unknown resource type 'aws_auto_scaling_grup'"] == 11  # the file starts with a blank line


SECTIONS = """\
targets: {main: {provider: aws, region: us-east-1}}
resources: {}
environments: {dev: {}, prod: {}}
deploy:
  strategy: all-at-once
  shifter:
    type: aws_alb_listener
    target: mian
    load_balancer: web
    port: 80
    stable_target_group: blue
    canary_target_group: green
hooks:
  - {phase: pre_deploy, command: ./migrate.sh}
self_healing_rules:
  - resource_type: aws_auto_scaling_grup
    actions: [{type: rolling_restart}]
"""


@pytest.mark.parametrize("environment", [None, "prod"])
def test_validate_parses_the_config_file_once(tmp_path, monkeypatch, environment):
    """The config keeps its source positions: the deploy section, the hooks and the self-healing rules
    are located through them, not by reading and parsing the file again."""
    import yaml

    from deployforge.usecases.validate import validate
    from deployforge.usecases.workspace import Options, Workspace

    path = write(tmp_path, SECTIONS)
    parses: list[str] = []
    compose_all = yaml.compose_all

    def counting(stream, *args, **kwargs):
        parses.append(str(stream)[:20])
        return compose_all(stream, *args, **kwargs)

    monkeypatch.setattr(yaml, "compose_all", counting)
    ws = Workspace(Options(config=path, environment=environment, environ={}))
    with pytest.raises(ConfigError) as caught:
        validate(ws)
    messages = [i.message for i in caught.value.issues]
    assert any("unknown target 'mian'" in m for m in messages)
    assert any("aws_auto_scaling_grup" in m for m in messages)
    assert len(parses) == 1


@pytest.mark.parametrize("args", [[], ["-e", "prod"]])
def test_the_validate_command_parses_the_config_file_once(tmp_path, monkeypatch, args):
    """Through the CLI too: the command's policy check, the config of the chosen environment and every
    environment's config (no environment chosen) are built from one parse."""
    import yaml
    from click.testing import CliRunner

    from deployforge.cli.main import cli

    path = write(tmp_path, SECTIONS.split("deploy:")[0])
    parses: list[str] = []
    compose_all = yaml.compose_all
    monkeypatch.setattr(yaml, "compose_all", lambda *a, **k: parses.append("parse") or compose_all(*a, **k))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["validate", "-c", path, *args])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output and len(parses) == 1


def test_a_deploy_section_issue_carries_its_line_and_column(tmp_path):
    from deployforge.usecases.validate import validate
    from deployforge.usecases.workspace import Options, Workspace

    path = write(tmp_path, SECTIONS)
    ws = Workspace(Options(config=path, environment="dev", environ={}))
    with pytest.raises(ConfigError) as caught:
        validate(ws)
    where = {i.message.split(":")[0]: i.location for i in caught.value.issues}
    target = where["deploy.shifter names unknown target 'mian'"]
    assert (target.file, target.line, target.column) == (path, 8, 13)  # the value `mian`
    rule = where["unknown resource type 'aws_auto_scaling_grup'"]
    assert (rule.line, rule.column) == (16, 20)


def test_the_positions_are_no_part_of_the_config_value(tmp_path):
    from dataclasses import replace

    config = load_config(write(tmp_path, SECTIONS), environment="dev", environ={})
    assert config.positions is not None and config.locate(("hooks", 0, "command")).line == 14
    bare = replace(config, positions=None)
    assert bare == config and repr(bare) == repr(config)
    assert bare.locate(("hooks", 0, "command")) == Location(config.path)  # a Config built in code: the file alone


def test_a_vault_value_in_a_number_field_is_refused_at_validate(tmp_path):
    """A secret is text: in a numeric field it would fail at apply, after other changes were made."""
    path = write(
        tmp_path,
        """
        targets: {main: {provider: aws, region: us-east-1}}
        resources:
          cpu:
            type: aws_cloudwatch_metric_alarm
            properties:
              alarm_name: cpu
              metric_name: CPUUtilization
              namespace: AWS/EC2
              statistic: Average
              period: 60
              evaluation_periods: 2
              threshold: vault://secret/x#n
              comparison_operator: GreaterThanThreshold
              alarm_description: vault://secret/x#d
        """,
    )
    [(line, _col, message, hint)] = issues_of(path)
    assert line == 13 and message.endswith("threshold: a vault:// value is text, and this field needs a number")
    assert hint and "$VAR" in hint  # alarm_description (text) takes the secret: no issue for it


def test_a_mistyped_aws_region_is_caught_and_an_unknown_new_one_is_not(tmp_path):
    path = write(tmp_path, "targets: {a: {provider: aws, region: us-eest-1}}\nresources: {}\n")
    [(line, column, message, hint)] = issues_of(path)
    assert (line, column, message) == (1, 38, "'us-eest-1' is not an AWS region")
    assert "'us-east-1'" in hint and "'us-west-1'" in hint
    path = write(tmp_path, "targets: {a: {provider: aws, region: zz-newregion-7}}\nresources: {}\n")
    assert load_config(path, environ={}).targets["a"].region == "zz-newregion-7"  # nothing close: left alone


def test_a_tab_and_a_version_typo_get_useful_hints(tmp_path):
    [(line, column, message, hint)] = issues_of(write(tmp_path, "targets:\n\tmain: {}\nresources: {}\n"))
    assert (
        (line, column) == (2, 1)
        and "(a tab)" in message
        and hint == "YAML does not allow tabs for indentation; use spaces"
    )
    [(_, _, message, hint)] = issues_of(write(tmp_path, "version: 2\ntargets: {}\nresources: {}\n"))
    assert message.endswith("is not one of: 1") and hint == "use one of: 1"


def test_schema_reference_and_semantic_errors_come_in_one_report(tmp_path):
    """Not one round per run: the schema error, the unresolved references and the unknown names."""
    path = write(
        tmp_path,
        """\
        targets:
          aws_main: {provider: aws, region: us-east-1}
        resources:
          lt:
            target: aws_mian
            type: aws_launch_template
            properties: {name: lt, image_id: ami-12c6146b, instance_type: $UNSET_VAR_XYZ}
          sg:
            type: aws_security_group
            depends_on: [nope]
            properties: {name: web, description: "${var.ap}"}
        """,
    )
    found = issues_of(path)
    assert [(line, message.split(":")[0]) for line, _, message, _ in found] == [
        (7, "resources.lt.properties.name"),
        (7, "environment variable UNSET_VAR_XYZ is not set (used in '$UNSET_VAR_XYZ')"),
        (11, "unknown variable 'ap' in '${var.ap}'"),
        (5, "resource 'lt'"),
        (10, "resource 'sg' depends on unknown resource 'nope'"),
    ]


def test_default_environment_is_used_when_none_is_chosen(tmp_path: Path) -> None:
    from deployforge.config.load import load_config, load_every_environment
    from deployforge.errors import ConfigError, UsageError

    base = "resources: {}\nenvironments:\n  dev: {}\n  prod: {}\n"
    path = tmp_path / "deployforge.yaml"
    path.write_text(base)
    with pytest.raises(UsageError) as exc:
        load_config(str(path), environ={})
    assert "default_environment: dev" in (exc.value.hint or "")
    path.write_text("default_environment: dev\n" + base)
    assert load_config(str(path), environ={}).environment == "dev"
    assert load_config(str(path), environment="prod", environ={}).environment == "prod"
    path.write_text("default_environment: prd\n" + base)
    with pytest.raises(ConfigError) as bad:
        load_config(str(path), environ={})
    [issue] = bad.value.issues
    assert "default_environment 'prd' is not one of the environments" in issue.message
    assert issue.location is not None and (issue.location.line, issue.location.column) == (1, 22)
    assert "prod" in (issue.hint or "")
    with pytest.raises(ConfigError):  # validate (every environment) reports it too
        load_every_environment(str(path), environ={})


def test_one_validate_round_reports_every_problem_with_hints_that_help(tmp_path: Path) -> None:
    """A property typo, a depends_on typo, a bad name and AWS's own `$Latest` in one file."""
    from deployforge.config.load import load_every_environment
    from deployforge.errors import ConfigError

    path = tmp_path / "deployforge.yaml"
    path.write_text(
        "targets:\n  main: {provider: aws, region: us-east-1}\n"
        "resources:\n"
        "  logs:\n    type: aws_s3_bucket\n    properties: {bucket: my-logs, versoning: true}\n"
        "  web_sg:\n    type: aws_security_group\n    depends_on: [lgs]\n"
        "    properties: {name: web, description: Web}\n"
        "  web_lt:\n    type: aws_launch_template\n"
        "    properties: {name: lt, image_id: ami-0abcdef1234567890, instance_type: t3.micro}\n"
        "  web_asg:\n    type: aws_autoscaling_group\n"
        "    properties: {name: asg, min_size: 1, max_size: 2, launch_template: {name: web-lt, version: $Latest}}\n"
    )
    with pytest.raises(ConfigError) as exc:
        load_every_environment(str(path), environ={})
    by_message = {i.message: i for i in exc.value.issues}
    text = "\n".join(i.render() for i in exc.value.issues)
    assert "unknown key 'versoning'" in text and "did you mean 'versioning'?" in text
    assert "depends on unknown resource 'lgs'" in text and "did you mean 'logs'?" in text
    assert "'lt' is not in the expected form (3 to 128 characters" in text
    needs = next(i for m, i in by_message.items() if "needs 'availability_zones' or 'vpc_zone_identifier'" in m)
    assert needs.hint and "availability_zones: Availability zones to launch in" in needs.hint
    assert "$Latest" not in text  # AWS's word for the version, not an unset environment variable
    assert len(exc.value.issues) == 4


def test_every_patterned_field_says_its_form_in_words() -> None:
    from deployforge.config.schema import config_schema

    missing: list[str] = []

    def walk(node: object, where: str) -> None:
        if isinstance(node, dict):
            pattern = node.get("pattern")
            described = "x-form" in node or not pattern or "vault://" in pattern
            if node.get("type") == "string" and not described:
                missing.append(f"{where}: {pattern}")
            for key, value in node.items():
                walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}[{i}]")

    walk(config_schema()["properties"]["resources"], "resources")
    assert missing == [] or all("cidr" in m or "sg-" in m or "subnet-" in m or "[0-9]{1,3}" in m for m in missing)


def test_tags_on_a_google_resource_are_refused_where_they_are_written(tmp_path):
    """Google has labels: tags written nowhere would show as a change in every plan (the provider also
    refuses them at apply; validate says so first, with the place)."""
    path = write(
        tmp_path,
        """\
        targets:
          gcp:
            provider: google
            project: galaxy-1234
        resources:
          data:
            type: google_storage_bucket
            properties:
              name: galaxy-data
            tags:
              team: data
        """,
    )
    assert issues_of(path) == [
        (
            10,
            5,
            "resource 'data': google_storage_bucket takes no tags",
            "Google Cloud resources have labels: move them under properties: as labels: {...}",
        )
    ]
    text = Path(path).read_text().replace("    tags:\n      team: data\n", "      labels: {team: data}\n")
    labelled = write(tmp_path, text)
    assert load_config(labelled, environ={}).resources["data"].properties["labels"] == {"team": "data"}
