"""The printed JSON Schema is a valid draft 2020-12 schema, agrees with our validator, and accepts the
product page's snippets (docs/product: targets, hooks, self_healing_rules, workflows)."""

from __future__ import annotations

import copy
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml

from deployforge.config.load import load_config
from deployforge.config.schema import config_schema
from deployforge.config.validate import SchemaValidator
from deployforge.config.yamlpos import load_yaml

ROOT = Path(__file__).resolve().parents[2]

PRODUCT_PAGE = """\
targets:
  aws_prod:
    provider: aws
    region: us-west-2
    auth: $DEPLOYFORGE_AWS_PROFILE

  gcp_analytics:
    provider: google
    project: galaxy-1234
    credentials: vault://cloud-secrets/gcp-prod-key

workflows:
  multi-cloud-etl: aws.rds.create → gcp.dataflow.start → aws.s3.export

self_healing_rules:
  - resource_type: aws_auto_scaling_group
    max_deviation: 15%   # Allowed instance count variance
    actions:
      - type: rolling_restart
      - type: notify_slack
        channel: "#infra-alerts"

hooks:
  - phase: pre_deploy
    command: "scripts/db/migrate.sh"
    timeout: 300s
    run_on: [aws_prod, gcp_analytics]
"""


def _reference_validator():
    schema = config_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_schema_is_valid_json_schema():
    _reference_validator()


def test_product_page_snippets_validate_with_both_validators(tmp_path):
    doc = yaml.safe_load(PRODUCT_PAGE)
    assert list(_reference_validator().iter_errors(doc)) == []
    path = tmp_path / "deployforge.yaml"
    # the page's notify_slack names only a channel: the webhook must come from somewhere (issue 16)
    path.write_text(PRODUCT_PAGE + "notifications:\n  slack: {webhook_url: $SLACK_WEBHOOK_URL}\n", encoding="utf-8")
    config = load_config(str(path), environ={"DEPLOYFORGE_AWS_PROFILE": "prod", "SLACK_WEBHOOK_URL": "https://x"})
    assert config.targets["aws_prod"].auth == "prod"
    assert config.hooks[0]["run_on"] == ["aws_prod", "gcp_analytics"]
    assert config.self_healing_rules[0]["max_deviation"] == "15%"


def test_quickstart_validates_with_the_reference_validator():
    doc = yaml.safe_load((ROOT / "examples/quickstart/deployforge.yaml").read_text())
    assert list(_reference_validator().iter_errors(doc)) == []


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d["targets"]["aws_prod"].update(regoin="x"),
        lambda d: d["hooks"][0].update(phase="pre_deplyo"),
        lambda d: d["self_healing_rules"][0]["actions"].append({"type": "reboot"}),
        lambda d: d["self_healing_rules"][0].update(max_deviation="lots"),
        lambda d: d.update(resources={"x": {"type": "aws_s3_bucket", "properties": {"bukcet": "b"}}}),
        lambda d: d.update(resources={"x": {"type": "aws_s3_bucket", "properties": {"versioning": "yes"}}}),
    ],
)
def test_both_validators_reject_the_same_mistakes(mutate):
    doc = yaml.safe_load(PRODUCT_PAGE)
    mutate(doc)
    reference_errors = list(_reference_validator().iter_errors(copy.deepcopy(doc)))
    text = yaml.safe_dump(doc, allow_unicode=True)
    data, positions = load_yaml(text, "x.yaml")
    ours = SchemaValidator(config_schema(), positions).validate(data)
    assert reference_errors, "the reference validator accepted a bad document"
    assert ours, "our validator accepted a bad document"
    assert all(i.location and i.location.line > 0 for i in ours)


def test_cli_schema_command_prints_the_schema():
    from click.testing import CliRunner

    from deployforge.cli.main import cli

    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0
    import json

    assert json.loads(result.output)["title"].startswith("DeployForge configuration")
    _ = textwrap
