"""The policy front door through the real CLI: the product page's command verbatim, reports, the plan gate."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.e2e.conftest import SRC, Project

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = ROOT / "examples" / "policies" / "production.rego"

TF_OK = """\
provider "aws" {
  region = "us-west-2"
}

resource "aws_s3_bucket" "logs" {
  bucket = "logs"
  tags = {
    owner = "platform"
  }
}
"""

TF_BAD = """\
provider "aws" {
  region = "us-east-1"
}

resource "aws_s3_bucket" "old" {
  bucket = "old"
  tags = {
    owner = "platform"
  }
}
"""


def cli(cwd: Path, *args: str, shell: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    base = {"PYTHONPATH": SRC, "NO_COLOR": "1", "PATH": "/usr/bin:/bin", "HOME": str(cwd)}
    base.update(env)
    if shell is not None:  # let a real shell expand the glob, as a user's would
        cmd = f"{sys.executable} -m deployforge {shell}"
        return subprocess.run(cmd, shell=True, cwd=cwd, env=base, capture_output=True, text=True, timeout=120)
    return subprocess.run(
        [sys.executable, "-m", "deployforge", *args], cwd=cwd, env=base, capture_output=True, text=True, timeout=120
    )


def setup_tf(tmp_path: Path) -> None:
    shutil.copy(PRODUCTION, tmp_path / "production.rego")
    (tmp_path / "main.tf").write_text(TF_OK)
    (tmp_path / "legacy.tf").write_text(TF_BAD)


def test_product_page_command_verbatim_shell_glob_no_config_needed(tmp_path):
    setup_tf(tmp_path)
    result = cli(tmp_path, shell="validate --policy=production.rego *.tf")
    assert result.returncode == 1, result.stderr
    assert "legacy.tf:5" in result.stdout
    assert "aws_s3_bucket.old is not allowed by policy deployforge.policies" in result.stdout
    assert "main.tf:" not in result.stdout  # the compliant file has no finding
    assert "Traceback" not in result.stderr
    quoted = cli(tmp_path, "validate", "--policy", "production.rego", "*.tf")
    assert quoted.returncode == 1 and "legacy.tf:5" in quoted.stdout


def test_passing_inputs_exit_0(tmp_path):
    setup_tf(tmp_path)
    result = cli(tmp_path, "validate", "--policy=production.rego", "main.tf")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "policy check passed" in result.stdout


def test_json_junit_sarif_and_github_annotations(tmp_path):
    setup_tf(tmp_path)
    result = cli(
        tmp_path,
        "validate",
        "--policy=production.rego",
        "--format=json",
        "--junit=reports/policy.xml",
        "--sarif=reports/policy.sarif",
        "main.tf",
        "legacy.tf",
        GITHUB_ACTIONS="true",
    )
    assert result.returncode == 1, result.stderr
    doc = json.loads(result.stdout)
    (finding,) = doc["policy"]["findings"]
    assert (finding["file"], finding["line"], finding["resource"]) == ("legacy.tf", 5, "aws_s3_bucket.old")
    root = ET.parse(tmp_path / "reports" / "policy.xml").getroot()
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert set(cases) == {
        "deployforge.policies.allow :: aws_s3_bucket.logs (main.tf)",
        "deployforge.policies.allow :: aws_s3_bucket.old (legacy.tf)",
    }
    assert cases["deployforge.policies.allow :: aws_s3_bucket.old (legacy.tf)"].find("failure") is not None
    sarif = json.loads((tmp_path / "reports" / "policy.sarif").read_text())
    (res,) = sarif["runs"][0]["results"]
    assert res["locations"][0]["physicalLocation"]["region"]["startLine"] == 5
    text = cli(tmp_path, "validate", "--policy=production.rego", "legacy.tf", GITHUB_ACTIONS="true")
    assert "::error file=legacy.tf,line=5,title=deployforge.policies.allow (high)::aws_s3_bucket.old" in text.stdout


def test_policy_syntax_error_exit_2_located_nothing_leaked_to_stdout(tmp_path):
    setup_tf(tmp_path)
    (tmp_path / "broken.rego").write_text("package main\nimport rego.v1\ndeny contains 1 if {\n  input.x ==\n}\n")
    result = cli(tmp_path, "validate", "--policy=broken.rego", "--policy=production.rego", "--format=json", "main.tf")
    assert result.returncode == 2
    doc = json.loads(result.stdout)  # stdout is pure JSON: the native library's text was captured
    errors = [f for f in doc["policy"]["findings"] if f["outcome"] == "error"]
    assert [(e["file"], e["line"]) for e in errors] == [("broken.rego", 4)]
    assert doc["policy"]["counts"]["checks"] == 1  # production.rego still evaluated main.tf


def test_missing_input_and_empty_glob_exit_2(tmp_path):
    setup_tf(tmp_path)
    result = cli(tmp_path, "validate", "--policy=production.rego", "main.tf", "nope.tf", "'*.tfx'")
    assert result.returncode == 2
    assert "'nope.tf' not found" in result.stdout
    assert "no files match" in result.stdout


def test_plan_gates_on_config_policies(project: Project):
    (project.dir / "policies").mkdir()
    (project.dir / "policies" / "tags.rego").write_text(
        textwrap.dedent("""\
        package deployforge.tags
        import rego.v1

        deny contains msg if {
          input.type == "aws_security_group"
          not input.resource.tags.owner
          msg := sprintf("%s has no owner tag", [input.address])
        }
        """)
    )
    config = textwrap.dedent("""\
        targets:
          main: {provider: aws, region: us-east-1, endpoint_url: $AWS_ENDPOINT}
        policies:
          - policies/tags.rego
        resources:
          web:
            type: aws_security_group
            properties: {name: web, description: web}
        """)
    project.write(config)
    denied = project.run("plan", "--out", "plan.json")
    assert denied.returncode == 1, denied.stdout + denied.stderr
    assert "deployforge.yaml:6" in denied.stdout and "aws_security_group.web has no owner tag" in denied.stdout
    assert not (project.dir / "plan.json").exists()
    project.write(config.replace("description: web}", "description: web}\n    tags: {owner: platform}"))
    allowed = project.run("plan", "--out", "plan.json", "--format", "json")
    assert allowed.returncode == 2, allowed.stdout + allowed.stderr  # changes, policy passed
    assert json.loads(allowed.stdout)["policy"]["passed"] is True
    assert (project.dir / "plan.json").exists()


def test_policy_test_command_reports_pass_fail_and_engine_crash_per_test(tmp_path):
    (tmp_path / "p.rego").write_text(
        textwrap.dedent("""\
        package main
        import rego.v1

        missing_owner(r) := {m | not r.tags.owner; m := sprintf("%s has no owner", [r.name])}
        deny contains msg if { some msg in missing_owner(input.resource) }

        test_flags_missing_owner if { missing_owner({"name": "a", "tags": {}}) == {"a has no owner"} }
        test_wrong_expectation if { count(missing_owner({"name": "a", "tags": {"owner": "x"}})) == 1 }
        test_with_crashes_the_engine if { count(deny) == 1 with input as {"resource": {"name": "a"}} }
        """)
    )
    result = cli(tmp_path, "policy", "test", ".", "-v", "--format", "json")
    assert result.returncode == 1, result.stderr
    outcomes = {r["name"]: r["outcome"] for r in json.loads(result.stdout)["results"]}
    assert outcomes == {
        "main.test_flags_missing_owner": "pass",
        "main.test_wrong_expectation": "fail",
        # rego-cpp crashes on this 'with'; the test is evaluated again with the input lifted (OPA: pass)
        "main.test_with_crashes_the_engine": "pass",
    }
    text = cli(tmp_path, "policy", "test", ".", "--run", "flags")
    assert text.returncode == 0 and "1 tests: 1 passed" in text.stdout


def test_a_report_path_that_is_a_folder_is_refused_before_anything_runs(tmp_path):
    import subprocess
    import sys

    (tmp_path / "reports").mkdir()
    for flag in ("--junit", "--sarif"):
        out = subprocess.run(
            [sys.executable, "-m", "deployforge", "validate", "--policy=p.rego", flag, "reports", "main.tf"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )
        assert out.returncode == 2, out.stderr
        assert f"Invalid value for '{flag}': 'reports' is a folder" in out.stderr and "Traceback" not in out.stderr
        assert not list((tmp_path / "reports").iterdir())


def test_validate_without_policy_flags_uses_the_configs_policies(tmp_path):
    import subprocess
    import sys

    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "owner.rego").write_text(
        "package deployforge.policies\nimport rego.v1\ndefault allow := false\nallow if { input.resource.tags.owner }\n"
    )
    (tmp_path / "deployforge.yaml").write_text(
        "targets: {main: {provider: aws, region: us-east-1}}\npolicies: [policies/]\n"
        "resources:\n  b: {type: aws_s3_bucket, properties: {bucket: x-bucket-1}}\n"
    )
    out = subprocess.run(
        [sys.executable, "-m", "deployforge", "validate"], cwd=tmp_path, capture_output=True, text=True
    )
    assert out.returncode == 1, out.stdout + out.stderr
    assert "aws_s3_bucket.b is not allowed by policy deployforge.policies" in out.stdout


def test_the_pages_rego_block_pasted_with_its_shell_line_says_that_line_is_not_rego(tmp_path: Path) -> None:
    """The product page's policy block ends with `$ deployforge validate ...`: copied whole, that
    line is named as a shell command, not reported as an arithmetic operator with an `opa fmt` hint."""
    policy = textwrap.dedent(
        """\
        package deployforge.policies

        default allow = false

        allowed_regions = ["us-west-2", "eu-central-1"]

        allow {
          input.resource.region == allowed_regions[_]
          input.resource.tags.owner != ""
        }

        # Usage in CI:
        $ deployforge validate --policy=production.rego *.tf
        """
    )
    (tmp_path / "production.rego").write_text(policy)
    (tmp_path / "main.tf").write_text('resource "aws_instance" "web" {\n  ami = "ami-123"\n}\n')
    done = cli(tmp_path, "validate", "--policy=production.rego", "main.tf")
    assert done.returncode == 2, done.stdout + done.stderr
    out = done.stdout + done.stderr
    assert "production.rego:13" in out and "line 13 is not Rego: it is a shell command" in out
    assert "start it with #" in out and "arithmetic" not in out and "opa fmt" not in out
