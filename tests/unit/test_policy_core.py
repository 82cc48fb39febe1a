"""Policy core: inputs, conventions, guards, findings (regopy runs for real, in-process)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from deployforge.policy.evaluate import PolicyOptions, evaluate_paths
from deployforge.policy.model import Outcome

PRODUCTION = Path(__file__).resolve().parents[2] / "examples" / "policies" / "production.rego"

TF = """\
provider "aws" {
  region = "us-west-2"
}

provider "aws" {
  alias  = "tokyo"
  region = "ap-northeast-1"
}

resource "aws_s3_bucket" "logs" {
  bucket = "logs"
  tags = {
    owner = "team-a"
  }
}

resource "aws_s3_bucket" "untagged" {
  bucket = "untagged"
}

resource "aws_s3_bucket" "far" {
  provider = aws.tokyo
  bucket   = "far"
  tags = {
    owner = "team-b"
  }
}
"""


def write(folder: Path, name: str, text: str) -> str:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def run(tmp_path: Path, inputs: list[str], policies: list[str], **kw) -> object:
    return evaluate_paths(inputs, PolicyOptions(policies=tuple(policies), **kw))


def test_product_policy_sees_one_resource_with_region_from_provider_and_reports_file_and_line(tmp_path):
    tf = write(tmp_path, "main.tf", TF)
    report = run(tmp_path, [tf], [str(PRODUCTION)])
    failed = {(f.resource, f.file, f.line) for f in report.failures}
    assert failed == {("aws_s3_bucket.untagged", tf, 17), ("aws_s3_bucket.far", tf, 21)}
    assert report.failed and report.exit_code == 1
    assert {c.target for c in report.checks} == {f"aws_s3_bucket.{n} ({tf})" for n in ("logs", "untagged", "far")}
    assert all(f.severity == "high" and f.rule_id == "deployforge.policies.allow" for f in report.failures)


def test_conftest_style_policy_on_terraform_shape_with_metadata_and_warnings(tmp_path):
    tf = write(
        tmp_path,
        "infra/net.tf",
        """\
        resource "aws_security_group" "web" {
          ingress {
            from_port   = 22
            to_port     = 22
            cidr_blocks = ["0.0.0.0/0"]
          }
        }

        resource "aws_alb_listener" "front" {
          protocol = "HTTP"
        }
        """,
    )
    pol = write(
        tmp_path,
        "policy/net.rego",
        """\
        package main
        import rego.v1

        deny contains msg if {
          some name
          rule := input.resource.aws_security_group[name][_].ingress[_]
          rule.from_port <= 22
          rule.to_port >= 22
          "0.0.0.0/0" in rule.cidr_blocks
          msg := sprintf("aws_security_group.%s allows SSH from anywhere", [name])
        }

        warn_http contains {"msg": msg, "severity": "low", "rule_id": "NET-002", "remediation": "use HTTPS"} if {
          some lb
          input.resource.aws_alb_listener[lb][_].protocol == "HTTP"
          msg := sprintf("ALB %v uses HTTP", [lb])
        }
        """,
    )
    report = run(tmp_path, [str(tmp_path / "infra")], [str(tmp_path / "policy")])
    (deny,) = report.failures
    assert (deny.rule_id, deny.line, deny.resource, deny.file) == ("main.deny", 1, "aws_security_group.web", tf)
    (warn,) = report.warnings
    assert (warn.rule_id, warn.severity, warn.remediation, warn.line) == ("NET-002", "low", "use HTTPS", 9)
    assert report.exit_code == 1
    report2 = run(tmp_path, [tf], [pol], fail_on_warn=True)
    assert report2.failed


def test_yaml_multi_document_and_json_each_document_on_its_own(tmp_path):
    y = write(
        tmp_path,
        "k8s.yaml",
        """\
        kind: Deployment
        metadata:
          name: ok
        ---
        kind: Deployment
        metadata:
          name: root-runner
        spec:
          runAsRoot: true
        """,
    )
    j = write(tmp_path, "svc.json", json.dumps({"kind": "Service", "public": True}))
    pol = write(
        tmp_path,
        "p.rego",
        """\
        package main
        import rego.v1
        deny contains msg if { input.spec.runAsRoot; msg := sprintf("%s runs as root", [input.metadata.name]) }
        deny contains "public service" if { input.public }
        """,
    )
    report = run(tmp_path, [y, j], [pol])
    got = sorted((f.file, f.line, f.message) for f in report.failures)
    assert got == [(y, 7, "root-runner runs as root"), (j, 1, "public service")]
    assert {c.target for c in report.checks} == {f"{y}#0", f"{y}#1", j}


def test_namespaces_default_glob_and_all(tmp_path):
    j = write(tmp_path, "in.json", "{}")
    pol = write(
        tmp_path,
        "p.rego",
        """\
        package main
        import rego.v1
        deny contains "from main" if { true }
        """,
    )
    other = write(
        tmp_path,
        "q.rego",
        """\
        package team.storage
        import rego.v1
        deny contains "from team.storage" if { true }
        """,
    )
    msgs = lambda r: sorted(f.message for f in r.failures)  # noqa: E731
    assert msgs(run(tmp_path, [j], [pol, other])) == ["from main"]
    assert msgs(run(tmp_path, [j], [pol, other], namespaces=("team.*",))) == ["from team.storage"]
    assert msgs(run(tmp_path, [j], [pol, other], all_namespaces=True)) == ["from main", "from team.storage"]
    # nothing selected (a package outside the defaults, a --namespace typo) is an error, never a pass
    for report in (run(tmp_path, [j], [other]), run(tmp_path, [j], [pol, other], namespaces=("team.storag",))):
        [error] = [f for f in report.findings if f.outcome is Outcome.ERROR]
        assert error.rule_id == "policy.select" and "nothing was checked" in error.message
        assert "packages loaded: " in error.message and "--namespace" in error.remediation
        assert report.failed and report.exit_code == 2


def test_violation_suffix_exception_and_data(tmp_path):
    j = write(tmp_path, "in.json", json.dumps({"name": "legacy", "size": 9}))
    data = write(tmp_path, "data.yaml", "limits:\n  size: 5\n")
    pol = write(
        tmp_path,
        "p.rego",
        """\
        package main
        import rego.v1
        violation_size contains {"msg": "too big"} if { input.size > data.limits.size }
        deny_name contains "legacy name" if { input.name == "legacy" }
        exception contains rules if { input.name == "legacy"; rules := ["name"] }
        """,
    )
    report = run(tmp_path, [j], [pol], data=(data,))
    assert [(f.rule_id, f.outcome) for f in sorted(report.findings, key=lambda f: f.rule_id)] == [
        ("main.deny_name", Outcome.EXCEPTION),
        ("main.violation_size", Outcome.FAILURE),
    ]


def test_old_partial_set_syntax_is_refused_with_hint(tmp_path):
    j = write(tmp_path, "in.json", json.dumps({"x": True}))
    pol = write(
        tmp_path,
        "old.rego",
        """\
        package main

        deny[msg] {
          input.x
          msg := "x is set"
        }
        """,
    )
    report = run(tmp_path, [j], [pol])
    (err,) = report.errors
    assert (err.file, err.line) == (pol, 3)
    assert "deny contains msg if" in (err.remediation or "")
    assert report.exit_code == 2


def test_unsupported_builtin_is_an_error_not_a_pass(tmp_path):
    j = write(tmp_path, "in.json", json.dumps({"ip": "10.1.2.3"}))
    pol = write(
        tmp_path,
        "net.rego",
        """\
        package main
        import rego.v1
        deny contains "private ip" if {
          net.cidr_intersects("10.0.0.0/8", input.ip)
        }
        """,
    )
    report = run(tmp_path, [j], [pol])
    (err,) = report.errors
    assert (err.file, err.line, err.outcome) == (pol, 4, Outcome.ERROR)
    assert "net.cidr_intersects" in err.message
    assert report.exit_code == 2


def test_runtime_builtin_error_is_reported_per_rule(tmp_path):
    j = write(tmp_path, "in.json", json.dumps({"n": "not-a-number"}))
    pol = write(
        tmp_path,
        "p.rego",
        """\
        package main
        import rego.v1
        deny contains "big" if { to_number(input.n) > 3 }
        deny_other contains "other" if { true }
        """,
    )
    report = run(tmp_path, [j], [pol])
    assert [f.rule_id for f in report.errors] == ["main.deny"]
    assert [f.message for f in report.failures] == ["other"]
    assert len(report.checks) == 2 and report.passed_checks == 0  # the errored check did not pass either


def test_syntax_error_located_not_printed_and_other_policies_still_run(tmp_path, capfd):
    j = write(tmp_path, "in.json", "{}")
    bad = write(
        tmp_path,
        "bad.rego",
        """\
        package main
        import rego.v1
        deny contains "x" if {
          input.x ==
        }
        """,
    )
    good = write(
        tmp_path,
        "good.rego",
        """\
        package main
        import rego.v1
        deny contains "always" if { true }
        """,
    )
    report = run(tmp_path, [j], [bad, good])
    out, _err = capfd.readouterr()
    assert out == ""
    (err,) = report.errors
    assert (err.file, err.line) == (bad, 4) and "syntax error" in err.message
    assert [f.message for f in report.failures] == ["always"]


def test_bad_inputs_are_located_and_the_rest_still_evaluated(tmp_path):
    good = write(tmp_path, "good.json", "{}")
    badj = write(tmp_path, "bad.json", '{\n  "a": 1,\n}\n')
    bady = write(tmp_path, "bad.yaml", "a: 1\nb: [\n")
    badtf = write(tmp_path, "bad.tf", 'resource "a" "b" {\n  x =\n}\n')
    pol = write(tmp_path, "p.rego", 'package main\nimport rego.v1\ndeny contains "seen" if { true }\n')
    report = run(tmp_path, [good, badj, bady, badtf, str(tmp_path / "missing.tf"), str(tmp_path / "*.nothing")], [pol])
    errs = {(Path(f.file).name, f.line) for f in report.errors}
    assert errs == {("bad.json", 3), ("bad.yaml", 3), ("bad.tf", 2), ("missing.tf", 0), ("*.nothing", 0)}
    assert [f.file for f in report.failures] == [good]
    assert report.exit_code == 2


def test_plain_string_and_boolean_results_and_message_objects_without_msg(tmp_path):
    j = write(tmp_path, "in.json", "{}")
    pol = write(
        tmp_path,
        "p.rego",
        """\
        package main
        import rego.v1
        warn contains {"severity": "critical", "msg": "meta"} if { true }
        """,
    )
    report = run(tmp_path, [j], [pol])
    (w,) = report.warnings
    assert (w.severity, w.message, w.metadata) == ("critical", "meta", {"severity": "critical"})


def test_a_vault_property_reaches_policies_as_its_reference_never_read(tmp_path):
    """The policy gate (config policies:) sees `(secret: vault://...)`: no Vault read, no crash."""
    from deployforge.config.load import load_config
    from deployforge.policy.inputs import config_docs

    (tmp_path / "deployforge.yaml").write_text(
        textwrap.dedent(
            """
            targets: {main: {provider: aws, region: us-east-1}}
            resources:
              lt:
                type: aws_launch_template
                properties:
                  name: web-lt
                  image_id: ami-12c6146b
                  user_data: vault://secret/apps/web#user_data
            """
        )
    )
    config = load_config(str(tmp_path / "deployforge.yaml"), environ={})
    [doc] = config_docs(config)
    [resource] = doc.resources
    seen = resource.document["resource"]["user_data"]
    assert seen == "(secret: vault://secret/apps/web#user_data)"
    json.dumps(resource.document)  # plain data: what regopy is given


def test_a_policy_or_input_that_is_not_utf8_is_reported_and_the_rest_still_runs(tmp_path):
    j = write(tmp_path, "in.json", "{}")
    good = write(tmp_path, "p.rego", 'package main\nimport rego.v1\ndeny contains "from good" if { true }\n')
    bad = tmp_path / "bad.rego"
    bad.write_bytes(b'package main\n\xff\xfe deny contains "x" if { true }\n')
    tf = tmp_path / "latin1.tf"
    tf.write_bytes(b'resource "aws_s3_bucket" "b" { bucket = "caf\xe9" }\n')
    report = run(tmp_path, [j, str(tf)], [good, str(bad)])
    errors = {(Path(f.file).name, f.line, f.message) for f in report.findings if f.outcome is Outcome.ERROR}
    assert ("bad.rego", 2, "the policy is not UTF-8 text") in errors
    assert ("latin1.tf", 0, "not a UTF-8 text file") in errors
    assert [f.message for f in report.failures] == ["from good"]


# -- issue 12 point 6: hostile policies become located errors, never a crash, a silent pass or a hang --

ALWAYS = 'package main\nimport rego.v1\ndeny contains "always" if true\n'


def _engine_error(report: object, name: str) -> object:
    errors = [f for f in report.errors if f.file and f.file.endswith(name)]  # type: ignore[attr-defined]
    assert errors, report.findings  # type: ignore[attr-defined]
    return errors[0]


def test_segfaulting_policy_is_an_error_naming_its_file_and_other_policies_still_run(tmp_path):
    # json.unmarshal of a deeply nested string segfaults rego-cpp (exit -11, no message, on main)
    bad = write(
        tmp_path,
        "p/unmarshal.rego",
        'package main\nimport rego.v1\ndeny contains "u" if { v := json.unmarshal(concat("", [input.o, input.c])); v }\n',  # noqa: E501
    )
    write(tmp_path, "p/always.rego", ALWAYS)
    doc = write(tmp_path, "in.json", json.dumps({"o": "[" * 100000, "c": "]" * 100000}))
    report = run(tmp_path, [doc], [str(tmp_path / "p")], timeout_s=30)
    err = _engine_error(report, "unmarshal.rego")
    assert "crashed (SIGSEGV)" in err.message and err.file == bad
    assert [f.message for f in report.failures] == ["always"]  # the other policy was still evaluated
    assert report.exit_code == 2


def test_runaway_rule_stops_at_the_time_limit(tmp_path):
    write(
        tmp_path,
        "p/slow.rego",
        'package main\nimport rego.v1\ndeny contains "s" if { count([1 | some i in numbers.range(1, 3000); some j in numbers.range(1, 3000)]) > 1 }\n',  # noqa: E501
    )
    doc = write(tmp_path, "in.json", "{}")
    report = run(tmp_path, [doc], [str(tmp_path / "p")], timeout_s=1.5, memory_mb=4096)
    err = _engine_error(report, "slow.rego")
    assert "time limit (1.5 s)" in err.message and "--policy-timeout" in (err.remediation or "")
    assert report.exit_code == 2


def test_huge_comprehension_stops_at_the_memory_limit(tmp_path):
    write(
        tmp_path,
        "p/big.rego",
        'package main\nimport rego.v1\ndeny contains "c" if { xs := [[a, b] | some a in numbers.range(1, 20000); some b in numbers.range(1, 20000)]; count(xs) > 1 }\n',  # noqa: E501
    )
    doc = write(tmp_path, "in.json", "{}")
    report = run(tmp_path, [doc], [str(tmp_path / "p")], timeout_s=60, memory_mb=300)
    err = _engine_error(report, "big.rego")
    assert "memory limit (300 MB)" in err.message
    assert report.exit_code == 2


def test_numbers_range_too_large_is_an_error_not_a_pass(tmp_path):
    write(
        tmp_path,
        "p/range.rego",
        'package main\nimport rego.v1\ndeny contains "r" if { count(numbers.range(1, 2e8)) > 1 }\n',
    )
    doc = write(tmp_path, "in.json", "{}")
    report = run(tmp_path, [doc], [str(tmp_path / "p")], timeout_s=30)
    (err,) = report.errors
    assert err.rule_id == "main.deny" and err.line == 3 and "rego-cpp reported an error" in err.message
    assert report.exit_code == 2 and not report.failures


def test_address_space_limit_is_explained_not_an_abort(tmp_path):
    import resource
    import subprocess
    import sys

    pol = write(tmp_path, "always.rego", ALWAYS)
    doc = write(tmp_path, "in.json", "{}")
    limit = 3 * 1024**3

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    code = (
        "import sys; from deployforge.policy.evaluate import PolicyOptions, evaluate_paths; "
        f"r = evaluate_paths([{doc!r}], PolicyOptions(policies=({pol!r},))); "
        "print(r.errors[0].message if r.errors else 'no error'); sys.exit(r.exit_code)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], preexec_fn=limited, capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 2, out.stdout + out.stderr
    assert "address-space limit (ulimit -v)" in out.stdout and "snmalloc" in out.stdout


def test_rego_cpp_is_loaded_once_before_the_workers_fork(tmp_path):
    """The parent loads rego-cpp before forking (the workers share it; each loading its own cost a
    fifth of a 500-document run), but never under ulimit -v, where loading it aborts the process."""
    import resource
    import subprocess
    import sys

    pol = write(tmp_path, "always.rego", ALWAYS)
    doc = write(tmp_path, "in.json", "{}")
    code = (
        "import sys; from deployforge.policy.evaluate import PolicyOptions, evaluate_paths; "
        f"r = evaluate_paths([{doc!r}], PolicyOptions(policies=({pol!r},))); "
        "print('regopy' in sys.modules, r.exit_code)"
    )

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (3 * 1024**3, 3 * 1024**3))

    free = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert free.stdout.split() == ["True", "1"], free.stdout + free.stderr
    capped = subprocess.run(
        [sys.executable, "-c", code], preexec_fn=limited, capture_output=True, text=True, timeout=60, check=False
    )
    assert capped.stdout.split() == ["False", "2"], capped.stdout + capped.stderr


def test_engine_workers_never_run_the_parents_signal_handlers():
    import signal

    from deployforge.policy.isolate import run_isolated

    def handler(signum: int, frame: object) -> None:  # the CLI's SIGTERM handler raises in the parent
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        seen = run_isolated(lambda: (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)))
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert seen == (signal.SIG_DFL, signal.SIG_DFL)


def test_parallel_path_never_hangs_over_many_runs(tmp_path):
    import signal
    import time

    yaml_text = "".join(f"---\nkind: Service\nmetadata:\n  name: s{i}\n" for i in range(450))  # > PARALLEL_THRESHOLD
    doc = write(tmp_path, "many.yaml", yaml_text)
    pol = write(
        tmp_path,
        "p.rego",
        'package main\nimport rego.v1\nwarn contains input.metadata.name if endswith(input.metadata.name, "7")\n',
    )
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        for _ in range(12):
            started = time.monotonic()
            report = run(tmp_path, [doc], [pol], timeout_s=30)
            assert time.monotonic() - started < 30
            assert len(report.warnings) == 45 and not report.errors
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def test_one_bad_module_does_not_poison_another_package_and_keeps_regocpp_location(tmp_path):
    # On main, a module regopy refuses at build time failed every package loaded with it, blamed on
    # "the policies of main, other do not compile together", without a position.
    write(
        tmp_path,
        "p/bad.rego",
        'package other\nimport rego.v1\nx := [upper(input.b[_]) | true]\ndeny contains "o" if count(x) > 0\n',
    )
    write(tmp_path, "p/always.rego", ALWAYS)
    doc = write(tmp_path, "in.json", '{"b": ["q"]}')
    report = run(tmp_path, [doc], [str(tmp_path / "p")], all_namespaces=True)
    assert [f.message for f in report.failures] == ["always"]
    (err,) = report.errors
    assert err.file.endswith("bad.rego") and err.line == 3
    assert "Invalid bracket argument" in err.message and "bad.rego:3:21)" in err.message


def test_crafted_strings_cannot_bend_the_engine_answer(tmp_path):
    # rego-cpp writes strings unescaped: a trailing backslash would swallow the next message, a quote
    # could close the list early. Every such answer is re-read through the base64 bundle.
    pol = write(
        tmp_path,
        "p.rego",
        """\
        package main
        import rego.v1
        deny contains sprintf("a: %s", [input.a]) if input.a
        deny contains sprintf("b: %s", [input.b]) if input.b
        deny_other contains "real denial" if input.c
        """,
    )
    tricks = [
        {"a": "x\\", "b": "y", "c": True},
        {"a": 'x"], "r1": [0, []], "zz": [1, ["', "b": "y", "c": True},
        {"a": "tab\there", "b": 'q"', "c": True},
    ]
    doc = write(tmp_path, "in.json", json.dumps(tricks))
    report = run(tmp_path, [doc], [pol])
    got = sorted(f.message for f in report.failures)
    want = sorted([f"a: {t['a']}" for t in tricks] + [f"b: {t['b']}" for t in tricks] + ["real denial"] * len(tricks))
    assert got == want and not report.errors


# -- issue 18 point 6: the fast .tf reader gives python-hcl2's document, with lines, in one pass --

HCL_CORPUS = """\
# a comment
provider "aws" {
  region = "us-west-2" // trailing comment: this block goes through the token reader
  alias  = "x"
}

resource "aws_s3_bucket" "plain" {
  bucket = "b-${var.env}"
  count  = 3
  f      = 1.5
  neg    = -2
  on     = true
  none   = null
  list   = ["a", 1, true]
  ref    = var.region
  esc    = "a\\"b\\\\c\\n"
  tags = {
    owner        = "o"
    "quoted key" = 2
    k2: 3
  }
  nested {
    a = 1
  }
  nested {
    a = 2
  }
  empty  = {}
  emptyl = []
}

resource "aws_s3_bucket" "exprs" {
  call  = lookup(var.m, "k", "d")
  cond  = var.x ? "a" : "b"
  idx   = aws_s3_bucket.x[0].id
  splat = aws_s3_bucket.x[*].id
  forx  = [for s in var.l : upper(s)]
  math  = 1 + 2
  heredoc = <<EOT
line1
line2
EOT
  tmpl = "${lookup(var.m, "k")}-x"
  multi = [
    "a",
    "b",
  ]
  provisioner "local-exec" {
    command = "echo hi"
  }
}

variable "v" {
  default = "d"
}

locals {
  a = 1
}

data "aws_ami" "u" {
  most_recent = true
}

module "m" {
  source = "./m"
}
"""


def test_fast_hcl_reader_gives_python_hcl2_document_and_block_lines():
    import hcl2

    from deployforge.policy.hcl import parse

    options = hcl2.SerializationOptions(
        with_comments=False, explicit_blocks=False, strip_string_quotes=True, preserve_heredocs=False
    )
    expected = dict(hcl2.loads(HCL_CORPUS, serialization_options=options))
    # a heredoc's value ends with the newline before its closing marker, as HCL (and conftest's
    # hcl2json) read it; python-hcl2's own reading drops it (tests/conformance: hcl2-heredoc-...)
    block = expected["resource"][1]["aws_s3_bucket"]["exprs"]
    assert block["heredoc"] == "line1\nline2"
    block["heredoc"] += "\n"
    parsed = parse(HCL_CORPUS)
    assert json.dumps(parsed.data, sort_keys=True) == json.dumps(expected, sort_keys=True)
    assert parsed.lines["aws_s3_bucket.plain"] == 7 and parsed.lines["aws_s3_bucket.exprs"] == 32
    assert parsed.lines["data.aws_ami.u"] == 61 and parsed.lines["module.m"] == 65
    # only the block holding expressions went to python-hcl2 (the commented provider: the token reader)
    assert parsed.fallback_blocks == 1


def test_fast_hcl_reader_reports_syntax_errors_with_their_line(tmp_path):
    tf = write(tmp_path, "bad.tf", 'resource "a" "b" {\n  x = 1\n\n  y = [1, 2\n}\n')
    pol = write(tmp_path, "p.rego", ALWAYS)
    report = run(tmp_path, [tf], [pol])
    (err,) = [f for f in report.errors if f.file == tf]
    assert err.message.startswith("invalid HCL") and err.line in (4, 5)


def test_engine_error_column_is_mapped_back_through_the_rewrite(tmp_path):
    # the escaped string before the error is rewritten (base64.decode(...)), which moves columns;
    # the message still points at the `_` the author wrote (column 31), and nothing else is reported
    bad = write(
        tmp_path,
        "bad.rego",
        'package other\nimport rego.v1\nx := [concat("a\\"b", [input.b[_]]) | true]\ndeny contains "o" if count(x) > 0\n',  # noqa: E501
    )
    doc = write(tmp_path, "in.json", '{"b": ["q"]}')
    report = run(tmp_path, [doc], [bad], all_namespaces=True)
    (err,) = report.errors
    assert err.line == 3 and err.message.endswith(f"(at {bad}:3:31)")
    assert "Invalid bracket argument" in err.message


def test_deep_literal_is_refused_where_it_is_before_the_engine_sees_it(tmp_path):
    # a 20,000-deep array literal segfaults rego-cpp (on main: exit -11, no message)
    deep = "[" * 20000 + "]" * 20000
    bad = write(
        tmp_path, "p/deep.rego", f'package main\nimport rego.v1\nx := {deep}\ndeny contains "d" if count(x) > 5\n'
    )
    write(tmp_path, "p/always.rego", ALWAYS)
    doc = write(tmp_path, "in.json", "{}")
    report = run(tmp_path, [doc], [str(tmp_path / "p")], timeout_s=30)
    (err,) = report.errors
    assert (err.file, err.line) == (bad, 3) and "nest deeper than 256 levels" in err.message
    assert [f.message for f in report.failures] == ["always"] and report.exit_code == 2


def test_a_digit_hcl_does_not_have_is_invalid_hcl_at_its_line_never_a_crash_or_a_number(tmp_path):
    # str.isdigit() takes '²' (int() then raised: an internal error) and '٣' (read as 3); HCL's
    # digits are ASCII, so both are invalid HCL, as python-hcl2 and Terraform say
    policy = tmp_path / "p.rego"
    policy.write_text('package main\nimport rego.v1\ndeny contains "three" if input.resource.a.b[0].x == 3\n')
    for digit in ("\u00b2", "\u0663"):
        tf = tmp_path / "main.tf"
        tf.write_text(f'resource "a" "b" {{\n  x = {digit}\n}}\n', encoding="utf-8")
        report = evaluate_paths([str(tf)], PolicyOptions(policies=(str(policy),)))
        errors = [f for f in report.findings if f.outcome is Outcome.ERROR]
        assert [(f.rule_id, f.line) for f in errors] == [("input", 2)], report.findings
        assert "invalid HCL" in errors[0].message


def test_launch_template_versions_are_ascii_integers_or_kept_as_text():
    from deployforge.providers.aws.resources.autoscaling_group import canonical_version

    assert canonical_version("3") == 3
    assert canonical_version("\u00b2") == "\u00b2"  # int() raised on it
    assert canonical_version("$Latest") == "$Latest"


def test_an_attribute_named_like_a_block_kind_is_kept_as_written_never_a_crash(tmp_path):
    # `resource = [1]` is an attribute (valid HCL): conftest gives input.resource = [1]; reading
    # it as blocks raised AttributeError (an internal error)
    policy = tmp_path / "p.rego"
    policy.write_text('package main\nimport rego.v1\ndeny contains "attr" if input.resource == [1]\n')
    for text in (
        "resource = [1]\n",
        "provider = [1]\n",
        "variable = [1, 2]\n",
        "resource = {a = 1}\n",
        "module = [1]\n",
    ):
        tf = tmp_path / "main.tf"
        tf.write_text(text)
        report = evaluate_paths([str(tf)], PolicyOptions(policies=(str(policy),)))
        assert not [f for f in report.findings if f.outcome is Outcome.ERROR], (text, report.findings)
        assert [f.message for f in report.failures] == (["attr"] if text == "resource = [1]\n" else []), text


def test_an_attribute_and_blocks_of_one_name_are_an_input_error(tmp_path):
    # the parser merges them; read as an attribute the bucket's finding was lost without a word
    policy = tmp_path / "p.rego"
    policy.write_text(
        'package deployforge.x\nimport rego.v1\ndeny contains "public" if input.resource.acl == "public-read"\n'
    )
    tf = tmp_path / "main.tf"
    tf.write_text('resource = [1]\nresource "aws_s3_bucket" "b" {\n  acl = "public-read"\n}\n')
    report = evaluate_paths([str(tf)], PolicyOptions(policies=(str(policy),)))
    [error] = [f for f in report.findings if f.outcome is Outcome.ERROR]
    assert "both an attribute and blocks" in error.message
