"""Conformance cases: conftest's conventions and OPA's semantics, with the outcome OPA/conftest gives.

Learned from conftest's public examples and acceptance tests (compose, hcl2, data, exceptions,
kubernetes, awssam, namespaces, print, combine) and OPA's documentation; every input and policy
here is our own. ``expect`` is what ``conftest test`` reports for the same files: the exit code and
the sorted (outcome, message) list. OPA's answers were checked against OPA v1.20.2 (see
benchmarks/bench_policy.py for how to install it as a Python binding) on the same policy and input.
"""

# ruff: noqa: E501  (Rego sources and inputs are kept on one line, as written)
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Case:
    id: str
    files: dict[str, str]
    inputs: tuple[str, ...]
    expect_exit: int
    expect: tuple[tuple[str, str], ...] = ()  # (failure|warning|exception, message), sorted
    policies: tuple[str, ...] = ("policy",)
    namespaces: tuple[str, ...] = ()
    all_namespaces: bool = False
    data: tuple[str, ...] = ()
    fail_on_warn: bool = False
    rego_version: str = "v1"
    kind: str = "validate"  # validate | test
    expect_tests: dict[str, int] = field(default_factory=dict)  # policy test: {"pass": n, "fail": m, "error": k}
    source: str = ""  # where the convention comes from
    known_difference: str = ""  # why DeployForge still differs (counted as a mismatch, never a silent pass)


K8S_DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: billing
spec:
  template:
    spec:
      containers:
        - name: api
          image: registry.local/billing:2.1
          securityContext:
            runAsNonRoot: false
"""

K8S_SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: billing-lb
spec:
  type: LoadBalancer
  ports:
    - port: 443
    - port: 5432
"""

K8S_POLICY = """\
package main
import rego.v1

deny contains msg if {
  input.kind == "Deployment"
  some c in input.spec.template.spec.containers
  not c.securityContext.runAsNonRoot
  msg := sprintf("container %s in %s may run as root", [c.name, input.metadata.name])
}

warn contains msg if {
  input.kind == "Service"
  input.spec.type == "LoadBalancer"
  msg := sprintf("service %s is exposed through a load balancer", [input.metadata.name])
}

violation contains {"msg": msg, "details": {"kind": input.kind}} if {
  not input.metadata.labels.team
  msg := sprintf("%s has no team label", [input.metadata.name])
}
"""

COMPOSE = """\
version: "3.4"
services:
  cache:
    image: valkey:latest
  app:
    image: shop/app:1.4
"""

COMPOSE_OK = """\
version: "3.9"
services:
  app:
    image: shop/app:1.4
"""

COMPOSE_POLICY = """\
package main
import rego.v1

deny contains "no image may float on :latest" if {
  endswith(input.services[_].image, ":latest")
}

deny contains msg if {
  to_number(input.version) < 3.5
  msg := sprintf("compose format %v is older than 3.5", [input.version])
}
"""

TF = """\
resource "aws_lb_listener" "public" {
  port     = 80
  protocol = "HTTP"
}

resource "aws_lb_listener" "tls" {
  port     = 443
  protocol = "HTTPS"
  tags = {
    owner       = "edge"
    environment = "prod"
  }
}

resource "aws_security_group_rule" "ssh" {
  type        = "ingress"
  from_port   = 22
  to_port     = 22
  cidr_blocks = ["10.1.0.0/16", "0.0.0.0/0"]
}

resource "azurerm_managed_disk" "data" {
  name = "data"
  encryption_settings {
    enabled = false
  }
}
"""

TF_POLICY = """\
package main
import rego.v1

required := {"owner", "environment"}

deny contains msg if {
  some name
  some l in input.resource.aws_lb_listener[name]
  l.protocol == "HTTP"
  msg := sprintf("listener %s serves plain HTTP", [name])
}

deny contains msg if {
  some name
  some r in input.resource.aws_security_group_rule[name]
  r.type == "ingress"
  contains(r.cidr_blocks[_], "0.0.0.0/0")
  msg := sprintf("rule %s is open to the world", [name])
}

deny contains msg if {
  some name
  some d in input.resource.azurerm_managed_disk[name]
  some s in d.encryption_settings
  not s.enabled
  msg := sprintf("disk %s is not encrypted", [name])
}

warn contains msg if {
  some t, name
  some r in input.resource[t][name]
  startswith(t, "aws_")
  missing := {k | some k in required; not r.tags[k]}
  count(missing) > 0
  msg := sprintf("%s.%s lacks %d required tags", [t, name, count(missing)])
}
"""

PLAN = """\
{
  "format_version": "1.2",
  "resource_changes": [
    {"address": "aws_s3_bucket.logs", "type": "aws_s3_bucket", "name": "logs",
     "change": {"actions": ["create"], "after": {"bucket": "logs", "acl": "public-read"}}},
    {"address": "aws_s3_bucket.old", "type": "aws_s3_bucket", "name": "old",
     "change": {"actions": ["delete"], "before": {"bucket": "old"}, "after": null}}
  ]
}
"""

PLAN_POLICY = """\
package main
import rego.v1

deny contains msg if {
  some rc in input.resource_changes
  rc.change.after.acl == "public-read"
  msg := sprintf("%s would be public", [rc.address])
}

warn contains msg if {
  some rc in input.resource_changes
  "delete" in rc.change.actions
  msg := sprintf("%s would be deleted", [rc.address])
}
"""

DATA_POLICY = """\
package main
import rego.v1
import data.blocked

deny contains msg if {
  input.kind == "Service"
  some i
  input.spec.ports[i].port == blocked.ports[_]
  msg := sprintf("port %v may not be exposed", [input.spec.ports[i].port])
}
"""

EXCEPTION_V1 = """\
package main
import rego.v1

deny_root contains msg if {
  input.kind == "Deployment"
  msg := sprintf("%s runs as root", [input.metadata.name])
}

deny_latest contains msg if {
  input.kind == "Deployment"
  msg := sprintf("%s uses a floating tag", [input.metadata.name])
}

exception contains rules if {
  input.metadata.name == "billing"
  rules := ["root"]
}
"""

EXCEPTION_V0 = """\
package main

deny_root[msg] {
  input.kind == "Deployment"
  msg := sprintf("%s runs as root", [input.metadata.name])
}

deny_latest[msg] {
  input.kind == "Deployment"
  msg := sprintf("%s uses a floating tag", [input.metadata.name])
}

exception[rules] {
  input.metadata.name == "billing"
  rules := ["root"]
}
"""

IAM_JSON = """\
{"name": "admin-role", "document": "{\\"Action\\":\\"*\\",\\"Effect\\":\\"Allow\\"}"}
"""

IAM_POLICY = """\
package main
import rego.v1

deny contains msg if {
  contains(input.document, "\\"Action\\":\\"*\\"")
  msg := sprintf("%s allows every action", [input.name])
}

deny contains msg if {
  lines := split(input.banner, "\\n")
  count(lines) > 2
  msg := "banner longer than two lines"
}
"""

SAM = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  Api:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.7
      Role: !GetAtt ApiRole.Arn
      Environment:
        Variables:
          TABLE: !Ref Table
          URL: !Sub "https://${Host}/v1"
"""

SAM_POLICY = """\
package main
import rego.v1

deny contains msg if {
  some name, r in input.Resources
  r.Type == "AWS::Serverless::Function"
  r.Properties.Runtime in {"python2.7", "python3.6", "python3.7"}
  msg := sprintf("function %s uses the retired runtime %s", [name, r.Properties.Runtime])
}

warn contains msg if {
  some name, r in input.Resources
  some k, v in r.Properties.Environment.Variables
  startswith(v, "https://")
  msg := sprintf("%s.%s is a literal URL: %s", [name, k, v])
}
"""

CASES: list[Case] = [
    Case(
        "yaml-deployment-root",
        {"policy/k8s.rego": K8S_POLICY, "deploy.yaml": K8S_DEPLOY},
        ("deploy.yaml",),
        1,
        (("failure", "billing has no team label"), ("failure", "container api in billing may run as root")),
        source="conftest examples/kubernetes: deny + violation with metadata",
    ),
    Case(
        "yaml-service-warning-only",
        {"policy/k8s.rego": K8S_POLICY.replace("not input.metadata.labels.team", "false"), "svc.yaml": K8S_SERVICE},
        ("svc.yaml",),
        0,
        (("warning", "service billing-lb is exposed through a load balancer"),),
        source="acceptance: a warning alone does not fail",
    ),
    Case(
        "yaml-multi-document",
        {"policy/k8s.rego": K8S_POLICY, "both.yaml": K8S_DEPLOY + "---\n" + K8S_SERVICE},
        ("both.yaml",),
        1,
        (
            ("failure", "billing has no team label"),
            ("failure", "billing-lb has no team label"),
            ("failure", "container api in billing may run as root"),
            ("warning", "service billing-lb is exposed through a load balancer"),
        ),
        source="conftest: one document per YAML document",
    ),
    Case(
        "compose-latest-underscore-in-call",
        {"policy/compose.rego": COMPOSE_POLICY, "docker-compose.yml": COMPOSE},
        ("docker-compose.yml",),
        1,
        (("failure", "compose format 3.4 is older than 3.5"), ("failure", "no image may float on :latest")),
        source="conftest examples/compose (endswith(input.services[_].image, ...))",
    ),
    Case(
        "compose-valid",
        {"policy/compose.rego": COMPOSE_POLICY, "docker-compose.yml": COMPOSE_OK},
        ("docker-compose.yml",),
        0,
        (),
        source="acceptance: the conforming compose file passes",
    ),
    Case(
        "hcl2-list-of-blocks",
        {"policy/tf.rego": TF_POLICY, "main.tf": TF},
        ("main.tf",),
        1,
        (
            ("failure", "disk data is not encrypted"),
            ("failure", "listener public serves plain HTTP"),
            ("failure", "rule ssh is open to the world"),
            ("warning", "aws_lb_listener.public lacks 2 required tags"),
            ("warning", "aws_security_group_rule.ssh lacks 2 required tags"),
        ),
        source="conftest examples/hcl2: some x in input.resource.<type>[name], contains(r.cidr_blocks[_], ...)",
    ),
    Case(
        "plan-json",
        {"policy/plan.rego": PLAN_POLICY, "plan.json": PLAN},
        ("plan.json",),
        1,
        (("failure", "aws_s3_bucket.logs would be public"), ("warning", "aws_s3_bucket.old would be deleted")),
        source="terraform show -json, as conftest reads it",
    ),
    Case(
        "data-file-ports",
        {
            "policy/svc.rego": DATA_POLICY,
            "blocked.yaml": "blocked:\n  ports: [22, 5432]\n",
            "svc.yaml": K8S_SERVICE,
        },
        ("svc.yaml",),
        1,
        (("failure", "port 5432 may not be exposed"),),
        data=("blocked.yaml",),
        source="conftest examples/data (ref with a variable == ref with _)",
    ),
    Case(
        "exception-v1",
        {"policy/ex.rego": EXCEPTION_V1, "deploy.yaml": K8S_DEPLOY},
        ("deploy.yaml",),
        1,
        (("exception", "billing runs as root"), ("failure", "billing uses a floating tag")),
        source="conftest examples/exceptions: 1 failure, 1 exception",
    ),
    Case(
        "exception-v0-with-rego-version-flag",
        {"policy/ex.rego": EXCEPTION_V0, "deploy.yaml": K8S_DEPLOY},
        ("deploy.yaml",),
        1,
        (("exception", "billing runs as root"), ("failure", "billing uses a floating tag")),
        rego_version="v0",
        source="conftest --rego-version v0 with exception[rules] { ... }",
    ),
    Case(
        "v0-policy-refused-in-v1",
        {"policy/ex.rego": EXCEPTION_V0, "deploy.yaml": K8S_DEPLOY},
        ("deploy.yaml",),
        2,
        (),
        source="conftest (OPA 1.x) refuses v0 syntax without --rego-version v0",
    ),
    Case(
        "json-array-split",
        {
            "policy/users.rego": 'package main\nimport rego.v1\ndeny contains sprintf("%s is an admin", [input.name]) if input.admin\n',
            "users.json": '[{"name": "ana", "admin": true}, {"name": "bo", "admin": false}, {"name": "cy", "admin": true}]',
        },
        ("users.json",),
        1,
        (("failure", "ana is an admin"), ("failure", "cy is an admin")),
        source="conftest splits a top-level JSON array into documents",
    ),
    Case(
        "empty-yaml-is-null-input",
        {
            "policy/empty.rego": 'package main\nimport rego.v1\ndeny contains "the file is empty" if input == null\n',
            "empty.yaml": "# nothing here yet\n",
        },
        ("empty.yaml",),
        1,
        (("failure", "the file is empty"),),
        source="conftest evaluates an empty YAML file with input = null",
    ),
    Case(
        "conftest-file-data",
        {
            "policy/file.rego": 'package main\nimport rego.v1\nwarn contains sprintf("checked %s", [data.conftest.file.name]) if endswith(data.conftest.file.name, ".yaml")\n',
            "a.yaml": "x: 1\n",
            "b.json": '{"x": 1}',
        },
        ("a.yaml", "b.json"),
        0,
        (("warning", "checked a.yaml"),),
        source="conftest's data.conftest.file {name, dir}",
    ),
    Case(
        "iam-escapes",
        {"policy/iam.rego": IAM_POLICY, "role.json": IAM_JSON.replace("}\n", ', "banner": "a\\nb\\nc"}\n')},
        ("role.json",),
        1,
        (("failure", "admin-role allows every action"), ("failure", "banner longer than two lines")),
        source='OPA: string literals take JSON escapes (\\" and \\n)',
    ),
    Case(
        "cloudformation-sam-tags",
        {"policy/sam.rego": SAM_POLICY, "template.yaml": SAM},
        ("template.yaml",),
        1,
        (
            ("failure", "function Api uses the retired runtime python3.7"),
            ("warning", "Api.URL is a literal URL: https://${Host}/v1"),
        ),
        source="conftest examples/awssam: !Ref/!Sub/!GetAtt read as their values",
    ),
    Case(
        "namespace-literal",
        {
            "policy/a.rego": 'package team.a\nimport rego.v1\ndeny contains "from a" if true\n',
            "policy/b.rego": 'package team.b\nimport rego.v1\ndeny contains "from b" if true\n',
            "x.json": "{}",
        },
        ("x.json",),
        1,
        (("failure", "from a"),),
        namespaces=("team.a",),
        source="acceptance: --namespace matches a namespace literally",
    ),
    Case(
        "namespace-wildcard",
        {
            "policy/a.rego": 'package team.a\nimport rego.v1\ndeny contains "from a" if true\n',
            "policy/b.rego": 'package team.b\nimport rego.v1\ndeny contains "from b" if true\n',
            "x.json": "{}",
        },
        ("x.json",),
        1,
        (("failure", "from a"), ("failure", "from b")),
        namespaces=("team.*",),
        source="acceptance: namespaces with a wildcard",
    ),
    Case(
        "all-namespaces",
        {
            "policy/a.rego": 'package team.a\nimport rego.v1\nwarn contains "from a" if true\n',
            "policy/m.rego": 'package main\nimport rego.v1\nwarn contains "from main" if true\n',
            "x.json": "{}",
        },
        ("x.json",),
        0,
        (("warning", "from a"), ("warning", "from main")),
        all_namespaces=True,
        source="acceptance: --all-namespaces",
    ),
    Case(
        "violation-object-message",
        {
            "policy/v.rego": 'package main\nimport rego.v1\nviolation contains {"msg": "no owner", "owner": null} if not input.owner\n',
            "x.json": '{"name": "n"}',
        },
        ("x.json",),
        1,
        (("failure", "no owner"),),
        source="conftest: violation yields objects with msg",
    ),
    Case(
        "variable-index-bound-in-call",
        {
            "policy/c.rego": 'package main\nimport rego.v1\ndeny contains sprintf("%s floats", [name]) if { some name; endswith(input.services[name].image, ":latest") }\n',
            "docker-compose.yml": COMPOSE,
        },
        ("docker-compose.yml",),
        1,
        (("failure", "cache floats"),),
        source="OPA: some name; f(x[name]) binds name",
    ),
    Case(
        "join-through-call",
        {
            "policy/j.rego": 'package main\nimport rego.v1\ndeny contains sprintf("%s duplicated", [input.a[i]]) if { some i, j; input.a[i] == upper(input.b[j]) }\n',
            "x.json": '{"a": ["WEB", "DB"], "b": ["db", "cache"]}',
        },
        ("x.json",),
        1,
        (("failure", "DB duplicated"),),
        source="OPA: joins through a builtin call",
    ),
    Case(
        "print-does-not-fail",
        {
            "policy/p.rego": 'package main\nimport rego.v1\ndeny contains "big" if { print("size", input.size); input.size > 10 }\n',
            "x.json": '{"size": 3}',
        },
        ("x.json",),
        0,
        (),
        source="acceptance: print() output is supported",
    ),
    Case(
        "unsupported-builtin-is-an-error",
        {
            "policy/n.rego": 'package main\nimport rego.v1\ndeny contains "private" if net.cidr_is_valid(input.cidr) == false\n',
            "x.json": '{"cidr": "nope"}',
        },
        ("x.json",),
        1,
        (("failure", "private"),),
        source="OPA evaluates net.cidr_is_valid (regopy lacks it: supplied as Rego by the rewrite)",
    ),
    Case(
        "message-with-quotes",
        {
            "policy/q.rego": 'package main\nimport rego.v1\ndeny contains sprintf("bucket %s is public", [input.name]) if input.public\n',
            "x.json": '{"name": "logs\\"], \\"r0\\": [\\"", "public": true}',
        },
        ("x.json",),
        1,
        (("failure", 'bucket logs"], "r0": [" is public'),),
        source="OPA: a message is any string",
    ),
    Case(
        "policy-test-with-input",
        {
            "policy/k8s.rego": K8S_POLICY,
            "policy/k8s_test.rego": """\
package main
import rego.v1

test_root_denied if {
  deny["container api in d may run as root"] with input as {"kind": "Deployment", "metadata": {"name": "d"}, "spec": {"template": {"spec": {"containers": [{"name": "api"}]}}}}
}

test_nonroot_allowed if {
  count(deny) == 0 with input as {"kind": "Deployment", "metadata": {"name": "d"}, "spec": {"template": {"spec": {"containers": [{"name": "api", "securityContext": {"runAsNonRoot": true}}]}}}}
}

test_wrong_on_purpose if {
  count(warn) == 1 with input as {"kind": "Deployment", "metadata": {"name": "d"}}
}
""",
        },
        (),
        1,
        kind="test",
        expect_tests={"pass": 2, "fail": 1, "error": 0},
        source="acceptance: policy tests with 'with input as'",
    ),
    Case(
        "policy-test-all-pass",
        {
            "policy/compose.rego": COMPOSE_POLICY,
            "policy/compose_test.rego": """\
package main
import rego.v1

test_latest if {
  deny["no image may float on :latest"] with input as {"version": "3.9", "services": {"a": {"image": "x:latest"}}}
}

test_old_version if {
  count(deny) == 1 with input as {"version": "3.1", "services": {}}
}
""",
        },
        (),
        0,
        kind="test",
        expect_tests={"pass": 2, "fail": 0, "error": 0},
        source="acceptance: unit tests of the compose policy",
    ),
    Case(
        "sprintf-v-of-composite",
        {
            "policy/v.rego": 'package main\nimport rego.v1\ndeny contains sprintf("missing %v", [sort(input.missing)]) if count(input.missing) > 0\n',
            "x.json": '{"missing": ["owner", "env"]}',
        },
        ("x.json",),
        1,
        (("failure", 'missing ["env", "owner"]'),),
        source='OPA: %v formats a value as Rego/JSON (rego-cpp: [\\"env\\", ...]; sprintf is rewritten)',
    ),
    Case(
        "sprintf-s-of-a-rule-value",
        {
            "policy/s.rego": 'package main\nimport rego.v1\nrequired := {"owner", "env"}\n'
            'deny contains sprintf("needs %s", [concat(", ", sort(required))]) if true\n',
            "x.json": "{}",
        },
        ("x.json",),
        1,
        (("failure", "needs env, owner"),),
        source='OPA: %s formats a string as it is (rego-cpp: needs "env, owner"; sprintf is rewritten)',
    ),
    Case(
        "concat-over-a-set-is-sorted",
        {
            "policy/c.rego": "package main\nimport rego.v1\n"
            'deny contains concat(",", {k | some k in input.keys}) if true\n',
            "x.json": '{"keys": ["b", "a", "c"]}',
        },
        ("x.json",),
        1,
        (("failure", "a,b,c"),),
        source="OPA: a set iterates in sorted order (rego-cpp: insertion order; concat is rewritten)",
    ),
]

# -- issue 18 (B): more of conftest's conventions, for the formats we read and for `conftest verify` --

K8S_TEST_HELPERS = """\
package main
import rego.v1

no_violations if count(deny) == 0

test_root_container_denied if {
  d := {"kind": "Deployment", "metadata": {"name": "w"}, "spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}}
  deny["container c in w may run as root"] with input as d
}

test_nonroot_has_no_violations if {
  d := {"kind": "Deployment", "metadata": {"name": "w"}, "spec": {"template": {"spec": {"containers": [{"name": "c", "securityContext": {"runAsNonRoot": true}}]}}}}
  no_violations with input as d
}

test_service_has_no_violations if {
  no_violations with input as {"kind": "Service", "metadata": {"name": "s"}}
}

test_deployment_has_no_violations_wrongly if {
  no_violations with input as {"kind": "Deployment", "metadata": {"name": "w"}, "spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}}
}
"""

DATA_PORTS_TEST = """\
package main
import rego.v1

svc(port) := {"kind": "Service", "spec": {"ports": [{"port": port}]}}

test_blocked_port_from_data_file if {
  deny["port 5432 may not be exposed"] with input as svc(5432)
}

test_open_port_from_data_file if {
  count(deny) == 0 with input as svc(443)
}

test_blocked_ports_overridden if {
  deny["port 443 may not be exposed"] with input as svc(443) with data.blocked.ports as [443]
}
"""

TF_MORE = """\
terraform {
  required_version = ">= 1.5"
}

variable "region" {
  type    = string
  default = "eu-west-1"
}

locals {
  env    = "prod"
  owners = ["ops", "sec"]
}

provider "aws" {
  region = var.region
}

module "network" {
  source  = "git::https://example.invalid/network.git?ref=main"
  cidr    = "10.0.0.0/16"
}

data "aws_iam_policy_document" "admin" {
  statement {
    actions   = ["*"]
    resources = ["*"]
  }
}

resource "aws_s3_bucket" "logs" {
  bucket        = "${local.env}-logs"
  force_destroy = true
  tags = {
    owner = "ops"
  }
}

resource "aws_s3_bucket" "logs" {
  bucket = "second-block-same-name"
}

resource "aws_instance" "web" {
  count         = 2
  ami           = "ami-123"
  instance_type = "t3.micro"
  user_data     = <<EOT
#!/bin/sh
echo hello
EOT
  ebs_block_device {
    device_name = "/dev/sdb"
    encrypted   = false
  }
  ebs_block_device {
    device_name = "/dev/sdc"
    encrypted   = true
  }
}
"""

TF_MORE_POLICY = """\
package main
import rego.v1

deny contains msg if {
  some name
  some b in input.resource.aws_s3_bucket[name]
  b.force_destroy == true
  msg := sprintf("bucket %s (%s) may be destroyed with its objects", [name, b.bucket])
}

deny contains msg if {
  some name
  some i in input.resource.aws_instance[name]
  some d in i.ebs_block_device
  d.encrypted == false
  msg := sprintf("instance %s x%d: %s is not encrypted", [name, i.count, d.device_name])
}

deny contains msg if {
  some name
  some doc in input.data.aws_iam_policy_document[name]
  some s in doc.statement
  "*" in s.actions
  msg := sprintf("policy document %s allows every action", [name])
}

warn contains msg if {
  some name
  some m in input.module[name]
  contains(m.source, "ref=main")
  msg := sprintf("module %s follows a branch", [name])
}

warn contains msg if {
  some v in input.variable.region
  some p in input.provider.aws
  msg := sprintf("provider region %s, default %s", [p.region, v.default])
}

warn contains msg if {
  some l in input.locals
  some t in input.terraform
  msg := sprintf("env %s with %d owners, terraform %s", [l.env, count(l.owners), t.required_version])
}

warn contains msg if {
  some i in input.resource.aws_instance.web
  startswith(i.user_data, "#!/bin/sh\\n")
  msg := "web runs a shell script at boot"
}
"""

PLAN_MODULES = """\
{
  "format_version": "1.2",
  "planned_values": {
    "root_module": {
      "resources": [
        {"address": "aws_s3_bucket.a", "type": "aws_s3_bucket", "name": "a", "values": {"acl": "private"}}
      ],
      "child_modules": [
        {
          "address": "module.web",
          "resources": [
            {"address": "module.web.aws_s3_bucket.b", "type": "aws_s3_bucket", "name": "b", "values": {"acl": "public-read"}}
          ],
          "child_modules": [
            {
              "address": "module.web.module.cdn",
              "resources": [
                {"address": "module.web.module.cdn.aws_s3_bucket.c", "type": "aws_s3_bucket", "name": "c", "values": {"acl": "public-read-write"}}
              ]
            }
          ]
        }
      ]
    }
  },
  "resource_changes": [
    {"address": "aws_s3_bucket.a", "change": {"actions": ["update"], "after": {"acl": "private"}, "after_unknown": {"id": true}}}
  ]
}
"""

PLAN_MODULES_POLICY = """\
package main
import rego.v1

deny contains msg if {
  walk(input.planned_values.root_module, [path, value])
  value.type == "aws_s3_bucket"
  startswith(value.values.acl, "public")
  msg := sprintf("%s is %s (at depth %d)", [value.address, value.values.acl, count(path)])
}

warn contains msg if {
  some rc in input.resource_changes
  some k, v in rc.change.after_unknown
  v == true
  msg := sprintf("%s.%s is known only after apply", [rc.address, k])
}
"""

YAML_GO_SCALARS = """\
name: scalars
replicas: 1e3
created: 2024-01-02
enabled: yes
mode: 0755
ports:
  80: http
empty:
defaults: &defaults
  team: core
  tier: gold
service:
  <<: *defaults
  tier: silver
"""

YAML_GO_SCALARS_POLICY = """\
package main
import rego.v1

deny contains sprintf("replicas %v", [input.replicas]) if is_number(input.replicas)
deny contains sprintf("created %v is text", [input.created]) if is_string(input.created)
deny contains "enabled is a boolean" if input.enabled == true
deny contains sprintf("mode %v", [input.mode]) if is_number(input.mode)
deny contains sprintf("port 80 is %s", [input.ports["80"]]) if input.ports["80"]
deny contains "empty is null" if is_null(input.empty)
deny contains sprintf("service %s/%s", [input.service.team, input.service.tier]) if input.service.team
"""

CASES += [
    Case(
        "fail-on-warn",
        {"policy/k8s.rego": K8S_POLICY.replace("not input.metadata.labels.team", "false"), "svc.yaml": K8S_SERVICE},
        ("svc.yaml",),
        1,
        (("warning", "service billing-lb is exposed through a load balancer"),),
        fail_on_warn=True,
        source="acceptance: 'Fail when testing a service with warnings' (--fail-on-warn)",
    ),
    Case(
        "multi-file-last-file-fine",
        {
            "policy/k8s.rego": K8S_POLICY.replace("not input.metadata.labels.team", "false"),
            "deploy.yaml": K8S_DEPLOY,
            "svc.yaml": K8S_SERVICE,
        },
        ("deploy.yaml", "svc.yaml"),
        1,
        (
            ("failure", "container api in billing may run as root"),
            ("warning", "service billing-lb is exposed through a load balancer"),
        ),
        source="acceptance: 'Multi-file tests correctly fail when last file is fine'",
    ),
    Case(
        "namespace-not-present",
        {"policy/k8s.rego": K8S_POLICY, "deploy.yaml": K8S_DEPLOY},
        ("deploy.yaml",),
        0,
        (),
        namespaces=("notpresent",),
        source="acceptance: 'Pass when testing a blank namespace' (conftest runs 0 checks and passes)",
        known_difference="deliberate: a selection that checks nothing is an error in DeployForge (policy.select, "
        "exit 2, docs/policies.md), never a pass with 0 checks; stricter than conftest, not a pass",
    ),
    Case(
        "builtin-error-without-show-builtin-errors",
        {
            "policy/b.rego": 'package main\nimport rego.v1\ndeny contains "too many" if to_number(input.replicas) > 3\n',
            "x.json": '{"replicas": "three"}',
        },
        ("x.json",),
        0,
        (),
        source="conftest (without --show-builtin-errors) and OPA's default: a builtin error makes the expression undefined",
        known_difference="deliberate: DeployForge always raises builtin errors (conftest's --show-builtin-errors), "
        "so the rule's error is reported (exit 2) instead of passing over it",
    ),
    Case(
        "yaml-trailing-separator-is-a-null-document",
        {
            "policy/k.rego": 'package main\nimport rego.v1\ndeny contains "a document without kind" if not input.kind\n',
            "two.yaml": "kind: A\n---\nkind: B\n---\n",
        },
        ("two.yaml",),
        1,
        (("failure", "a document without kind"),),
        source="conftest splits a YAML file at each '\\n---\\n' and evaluates every part; the empty part after a "
        "trailing '---' is a document with input = null",
    ),
    Case(
        "yaml-scalars-as-go-yaml-reads-them",
        {"policy/s.rego": YAML_GO_SCALARS_POLICY, "s.yaml": YAML_GO_SCALARS},
        ("s.yaml",),
        1,
        (
            ("failure", "created 2024-01-02 is text"),
            ("failure", "empty is null"),
            ("failure", "enabled is a boolean"),
            ("failure", "mode 493"),
            ("failure", "port 80 is http"),
            ("failure", "replicas 1000"),
            ("failure", "service core/silver"),
        ),
        source="conftest reads YAML with sigs.k8s.io/yaml (go-yaml v2, YAML 1.1): 1e3 is a number, a date stays "
        "its text, yes is true, 0755 is octal, map keys become strings, merge keys merge",
    ),
    Case(
        "yaml-top-level-list-split",
        {
            "policy/l.rego": 'package main\nimport rego.v1\ndeny contains sprintf("%s is privileged", [input.name]) if input.privileged\n',
            "list.yaml": "- name: a\n  privileged: true\n- name: b\n  privileged: false\n- name: c\n  privileged: true\n",
        },
        ("list.yaml",),
        1,
        (("failure", "a is privileged"), ("failure", "c is privileged")),
        source="conftest evaluates each element of a file whose top is a list (YAML as JSON)",
    ),
    Case(
        "hcl2-blocks-variables-locals-modules-data",
        {"policy/tf.rego": TF_MORE_POLICY, "main.tf": TF_MORE},
        ("main.tf",),
        1,
        (
            ("failure", "bucket logs (${local.env}-logs) may be destroyed with its objects"),
            ("failure", "instance web x2: /dev/sdb is not encrypted"),
            ("failure", "policy document admin allows every action"),
            ("warning", "env prod with 2 owners, terraform >= 1.5"),
            ("warning", "module network follows a branch"),
            ("warning", "provider region ${var.region}, default eu-west-1"),
            ("warning", "web runs a shell script at boot"),
        ),
        source="conftest examples/hcl2 (hcl2json): every block a list of bodies (two blocks of one name: two "
        "entries), nested blocks lists, locals/terraform lists, expressions as ${...} strings, heredocs as text",
    ),
    Case(
        "hcl2-heredoc-keeps-its-last-newline",
        {
            "policy/h.rego": 'package main\nimport rego.v1\nwarn contains sprintf("%s ends with a newline", [name]) if { some name; some r in input.resource.aws_instance[name]; endswith(r.user_data, "\\n") }\n',
            "main.tf": 'resource "aws_instance" "web" {\n  user_data = <<EOT\n#!/bin/sh\necho hello\nEOT\n}\n',
        },
        ("main.tf",),
        0,
        (("warning", "web ends with a newline"),),
        source="HCL2 (hcl2json): a heredoc's value ends with the newline before its closing marker",
    ),
    Case(
        "plan-json-child-modules",
        {"policy/plan.rego": PLAN_MODULES_POLICY, "plan.json": PLAN_MODULES},
        ("plan.json",),
        1,
        (
            ("failure", "module.web.aws_s3_bucket.b is public-read (at depth 4)"),
            ("failure", "module.web.module.cdn.aws_s3_bucket.c is public-read-write (at depth 6)"),
            ("warning", "aws_s3_bucket.a.id is known only after apply"),
        ),
        source="terraform show -json: planned_values with nested child_modules (walk), after_unknown",
    ),
    Case(
        "deny-object-with-metadata",
        {
            "policy/o.rego": 'package main\nimport rego.v1\ndeny contains {"msg": sprintf("%s is public", [input.name]), "severity": "high", "details": {"acl": input.acl}} if input.acl != "private"\n',
            "x.json": '{"name": "logs", "acl": "public-read"}',
        },
        ("x.json",),
        1,
        (("failure", "logs is public"),),
        source="conftest: deny (not only violation) may yield an object whose msg is the message",
    ),
    Case(
        "max-of-numbers",
        {
            "policy/m.rego": 'package main\nimport rego.v1\ndeny contains sprintf("port %d is above 1024", [max(input.ports)]) if max(input.ports) > 1024\n',
            "x.json": '{"ports": [9, 8443, 443]}',
        },
        ("x.json",),
        1,
        (("failure", "port 8443 is above 1024"),),
        source="OPA: max orders numbers by value (rego-cpp 1.5.2 by text: max([9, 8443]) is 9, a silent pass "
        "before the rewrite)",
    ),
    Case(
        "json-marshal-contains",
        {
            "policy/j.rego": 'package main\nimport rego.v1\ndeny contains sprintf("%s allows every action", [input.name]) if contains(json.marshal(input.policy), "\\"Action\\":\\"*\\"")\n',
            "x.json": '{"name": "admin", "policy": {"Statement": [{"Effect": "Allow", "Action": "*"}]}}',
        },
        ("x.json",),
        1,
        (("failure", "admin allows every action"),),
        source="OPA: json.marshal gives plain JSON text (rego-cpp keeps its strings' escapes: never a match)",
    ),
    Case(
        "policy-test-with-input-as-a-variable-and-helper-rules",
        {"policy/k8s.rego": K8S_POLICY, "policy/k8s_test.rego": K8S_TEST_HELPERS},
        (),
        1,
        kind="test",
        expect_tests={"pass": 3, "fail": 1, "error": 0},
        source="conftest examples/kubernetes base_test: helper rules (no_violations) and 'with input as' a "
        "variable bound in the test; one test fails on purpose",
    ),
    Case(
        "policy-test-with-data-file-and-with-data",
        {
            "policy/svc.rego": DATA_POLICY,
            "policy/svc_test.rego": DATA_PORTS_TEST,
            "blocked.yaml": "blocked:\n  ports: [22, 5432]\n",
        },
        (),
        0,
        kind="test",
        data=("blocked.yaml",),
        expect_tests={"pass": 3, "fail": 0, "error": 0},
        source="acceptance: 'Can load data in unit tests' (verify -d), plus 'with data.x as' overriding it",
    ),
    Case(
        "policy-test-failing",
        {
            "policy/t.rego": 'package main\nimport rego.v1\ndeny contains "weak cipher" if "TLS_RSA" in input.ciphers\n',
            "policy/t_test.rego": 'package main\nimport rego.v1\n\ntest_weak_cipher_denied if {\n  deny["weak cipher"] with input as {"ciphers": ["TLS_RSA_WITH_AES_256_GCM_SHA384"]}\n}\n',
        },
        (),
        1,
        kind="test",
        expect_tests={"pass": 0, "fail": 1, "error": 0},
        source="acceptance: 'Fail when unit test rego' (a test whose expectation does not hold)",
    ),
    Case(
        "policy-test-builtin-error",
        {
            "policy/t.rego": "package main\nimport rego.v1\nreplicas := to_number(input.replicas)\n",
            "policy/t_test.rego": 'package main\nimport rego.v1\n\ntest_replicas if {\n  replicas == 3 with input as {"replicas": "three"}\n}\n\ntest_ok if {\n  replicas == 3 with input as {"replicas": "3"}\n}\n',
        },
        (),
        1,
        kind="test",
        expect_tests={"pass": 1, "fail": 1, "error": 0},
        source="tests/builtin-errors: without --show-builtin-errors a builtin error fails the test",
        known_difference="deliberate: DeployForge raises builtin errors, so the test is an error (still exit 1), "
        "as conftest's --show-builtin-errors reports it",
    ),
    Case(
        "policy-test-print",
        {
            "policy/t.rego": 'package main\nimport rego.v1\ndeny contains "x" if input.x\n',
            "policy/t_test.rego": 'package main\nimport rego.v1\n\ntest_print if {\n  print("checking", {"x": true})\n  deny["x"] with input as {"x": true}\n}\n',
        },
        (),
        0,
        kind="test",
        expect_tests={"pass": 1, "fail": 0, "error": 0},
        source="acceptance: 'Verify command has report flag - success with print output'",
    ),
]

CASES += [
    Case(
        "semver-compare-gate",
        {
            "policy/v.rego": 'package main\nimport rego.v1\ndeny contains sprintf("%s %s is older than 1.10.0", [input.name, input.version]) if semver.compare(input.version, "1.10.0") < 0\n',
            "x.json": '{"name": "ingress", "version": "1.9.3"}',
        },
        ("x.json",),
        1,
        (("failure", "ingress 1.9.3 is older than 1.10.0"),),
        source="OPA: semver.compare compares numbers as numbers (rego-cpp 1.5.2 as text: 1.9.3 > 1.10.0, a "
        "silent pass before the rewrite)",
    ),
    Case(
        "certificate-expiry-rfc3339-zulu",
        {
            "policy/c.rego": 'package main\nimport rego.v1\ndeny contains sprintf("certificate %s expires before 2025", [input.name]) if time.parse_rfc3339_ns(input.not_after) < time.parse_rfc3339_ns("2025-01-01T00:00:00Z")\n',
            "certs.yaml": "- name: api\n  not_after: '2024-06-30T00:00:00Z'\n- name: web\n  not_after: '2026-01-01T00:00:00Z'\n",
        },
        ("certs.yaml",),
        1,
        (("failure", "certificate api expires before 2025"),),
        source="OPA: time.parse_rfc3339_ns takes a Z offset (rego-cpp 1.5.2 refuses it: an error before the rewrite)",
    ),
]

CASES += [
    Case(
        "policy-test-todo-skipped",
        {
            "policy/t.rego": 'package main\nimport rego.v1\ndeny contains "x" if input.x\n',
            "policy/t_test.rego": 'package main\nimport rego.v1\n\ntest_x if {\n  deny["x"] with input as {"x": true}\n}\n\ntodo_test_later if {\n  deny["y"] with input as {"x": true}\n}\n',
        },
        (),
        0,
        kind="test",
        expect_tests={"pass": 1, "fail": 0, "error": 0, "skip": 1},
        source="OPA/conftest verify: a todo_test_ rule is reported as skipped, never run, never a failure",
    ),
]
