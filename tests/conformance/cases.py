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
