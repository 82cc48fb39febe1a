// What the real Jenkins plugins provide and expect: the product page's credentials binding, stage
// results through `unstable`/`catchError`, optional plugins (Checks API, Warnings NG) detected,
// `input` approval for environments that require confirmation.
import groovy.json.JsonOutput

def cli = { Harness h, List<List> runs ->
    // each run of the CLI answers with the next [status, doc]; the report step succeeds
    h.files['deployforge.yaml'] = 'x'
    int n = 0
    h.onSh = { Map call ->
        if (call.script.contains(' --format json')) {
            def (status, doc) = runs[Math.min(n, runs.size() - 1)]
            n++
            def m = call.script =~ />\s*'([^']+)'/
            if (doc != null) {
                h.files[m[0][1]] = JsonOutput.toJson(doc)
            }
            return status
        }
        return 0
    }
}

test('awsWebIdentityTokenFile: a Secret file binding to AWS_WEB_IDENTITY_TOKEN_FILE, role from roleArn') { Harness h ->
    def binding = h.step('awsWebIdentityTokenFile', [credentialsId: 'aws-jenkins',
                                                     roleArn: 'arn:aws:iam::123456789012:role/deployer'])
    assert binding == [type: 'file', credentialsId: 'aws-jenkins', variable: 'AWS_WEB_IDENTITY_TOKEN_FILE']
    assert h.env.AWS_ROLE_ARN == 'arn:aws:iam::123456789012:role/deployer'
    h.secrets['aws-jenkins'] = 'eyJ.token'
    h.binding.getVariable('withCredentials').call([binding]) {
        assert h.env.AWS_WEB_IDENTITY_TOKEN_FILE.endsWith('@tmp/secretFiles/aws-jenkins/token')
    }
}

test('awsWebIdentityTokenFile: the role from the environment; none or a malformed one is a clear error') { Harness h ->
    h.env.AWS_ROLE_ARN = 'arn:aws-us-gov:iam::123456789012:role/path/ci'
    assert h.step('awsWebIdentityTokenFile', [credentialsId: 'x']).variable == 'AWS_WEB_IDENTITY_TOKEN_FILE'
    h.env.remove('AWS_ROLE_ARN')
    def e = h.failure { h.step('awsWebIdentityTokenFile', [credentialsId: 'x']) }
    assert e.message.contains("no role to assume: pass roleArn: 'arn:aws:iam::123456789012:role/NAME'")
    def bad = h.failure { h.step('awsWebIdentityTokenFile', [credentialsId: 'x', roleArn: 'deployer']) }
    assert bad.message.contains("'deployer' is not an IAM role ARN")
    def none = h.failure { h.step('awsWebIdentityTokenFile', [roleArn: 'arn:aws:iam::123456789012:role/r', credential: 'x']) }
    assert none.message.contains("unknown option 'credential'") && none.message.contains("'credentialsId' is required")
}

test('the product page stage verbatim: withCredentials([awsWebIdentityTokenFile(...)]) { sh ... }') { Harness h ->
    h.env.AWS_ROLE_ARN = 'arn:aws:iam::123456789012:role/deployer'
    new GroovyShell(h.binding).evaluate('''
        withCredentials([awsWebIdentityTokenFile(credentialsId: 'aws-jenkins')]) {
          sh \'\'\'deployforge run \\
                --pipeline canary.yaml \\
                --evolve-strategy 5percent-step \\
                --timeout 1800\'\'\'
        }
    ''')
    def run = h.calls('sh')[0]
    assert run.script.contains('--evolve-strategy 5percent-step')
    assert run.env.AWS_WEB_IDENTITY_TOKEN_FILE && run.env.AWS_ROLE_ARN == 'arn:aws:iam::123456789012:role/deployer'
}

test('drift found: the unstable step marks the stage, not only currentBuild.result') { Harness h ->
    cli(h, [[2, [command: 'drift', exit_code: 2, drift: [records: []], outcome: [status: 'drift', exit_code: 2]]]])
    h.step('deployforgeDrift', [environment: 'prod', docker: false])
    assert h.calls('unstable')*.message == ['deployforge drift detect found drift (exit 2); onDrift maps this to UNSTABLE']
    assert h.stageResult == 'UNSTABLE' && h.currentBuild.result == 'UNSTABLE'
}

test('propagate: false marks the stage through catchError and goes on') { Harness h ->
    cli(h, [[1, [error: 'boom']]])
    def r = h.step('deployforgeRun', [docker: false, propagate: false])
    assert r.result == 'FAILURE'
    assert h.calls('catchError') == [[step: 'catchError', buildResult: 'FAILURE', stageResult: 'FAILURE']]
    assert h.stageResult == 'FAILURE' && h.currentBuild.result == 'FAILURE'
}

test('Checks API: one check per step with the verdict and the Markdown report; absent plugin is a log line') { Harness h ->
    cli(h, [[2, [command: 'plan', exit_code: 2, plan: [summary: [create: 2]], outcome: [status: 'changes', exit_code: 2]]]])
    h.files['deployforge-reports/plan-report.md'] = '## DeployForge plan\n' + ('x' * 70000)
    h.step('deployforgePlan', [environment: 'dev', docker: false])
    def check = h.calls('publishChecks')[0]
    assert check.name == 'DeployForge plan (dev)' && check.conclusion == 'SUCCESS'
    assert check.title == 'deployforge plan found changes (2 to create) (exit 2); onChanges maps this to SUCCESS'
    assert check.text.startsWith('## DeployForge plan') && check.text.length() <= 65000
    assert check.text.endsWith('(cut: the full report is archived with the build)')

    def h2 = new Harness(h.root)
    h2.checksPlugin = false
    cli(h2, [[1, [error: 'boom']]])
    h2.step('deployforgeRun', [docker: false, propagate: false])
    assert h2.log.contains('DeployForge: the Checks API plugin is not installed; no check was published')
    def h3 = new Harness(h.root)
    cli(h3, [[0, [command: 'plan']]])
    h3.step('deployforgePlan', [docker: false, checks: false])
    assert h3.calls('publishChecks').isEmpty()
}

test('check conclusions follow the build result') { Harness h ->
    def c = org.deployforge.jenkins.DeployForge.&checkConclusion
    assert ['SUCCESS', 'UNSTABLE', 'FAILURE', 'ABORTED'].collect { c(it) } == ['SUCCESS', 'NEUTRAL', 'FAILURE', 'CANCELED']
}

test('Warnings NG: SARIF of validate --policy goes to recordIssues; absent plugin is a log line') { Harness h ->
    cli(h, [[0, [command: 'validate', policy: [findings: []]]]])
    h.step('deployforgeValidate', [policy: 'production.rego', paths: '*.tf', sarif: true, docker: false])
    def rec = h.calls('recordIssues')[0]
    assert rec.tool == [tool: 'sarif', pattern: 'deployforge-reports/validate-policy.sarif',
                        id: 'deployforge-policy', name: 'DeployForge policy']
    assert rec.enabledForFailure == true

    def h2 = new Harness(h.root)
    cli(h2, [[0, [command: 'validate']]])
    h2.step('deployforgeValidate', [policy: 'p.rego', docker: false])   // no sarif: nothing to record
    assert h2.calls('recordIssues').isEmpty()
    def h3 = new Harness(h.root)
    h3.warningsPlugin = false
    cli(h3, [[0, [command: 'validate']]])
    h3.step('deployforgeValidate', [policy: 'p.rego', sarif: true, docker: false])
    assert h3.log.any { it.startsWith('DeployForge: the Warnings Next Generation plugin is not installed') }
}

test('require_confirmation: the step pauses on input, then runs again with --confirm') { Harness h ->
    Map needs = [error: "environment 'prod' requires confirmation, and there is no terminal to ask",
                 exit_code: 2, input_error: true, reason: 'needs-confirmation',
                 outcome: [status: 'needs-confirmation', exit_code: 2, input_error: true]]
    cli(h, [[2, needs], [0, [command: 'run', exit_code: 0]]])
    def r = h.step('deployforgeRun', [environment: 'prod', approvers: 'ops', docker: false])
    assert r.result == 'SUCCESS' && r.status == 0
    def input = h.calls('input')[0]
    assert input.message == "DeployForge: 'prod' requires confirmation. Deploy now?" && input.submitter == 'ops'
    def runs = h.scripts().findAll { it.contains(' --format json') }
    assert runs.size() == 2 && !runs[0].contains('--confirm') && runs[1].contains(" --confirm ")
    // the paused first run published nothing: one junit step, for the approved run
    assert h.calls('junit').size() == 1
}

test('require_confirmation: a rejected input aborts; approval: false or confirm: false never asks') { Harness h ->
    Map needs = [error: 'requires confirmation', exit_code: 2, input_error: true, reason: 'needs-confirmation',
                 outcome: [status: 'needs-confirmation', exit_code: 2, input_error: true]]
    h.approve = false
    cli(h, [[2, needs]])
    def e = h.failure { h.step('deployforgeRun', [environment: 'prod', docker: false]) }
    assert e.message == 'Rejected by approver' && h.currentBuild.result == 'ABORTED'
    assert h.scripts().findAll { it.contains(' --format json') }.size() == 1

    [[approval: false], [confirm: false]].each { Map opt ->
        def h2 = new Harness(h.root)
        cli(h2, [[2, needs]])
        def f = h2.failure { h2.step('deployforgeRun', [environment: 'prod', docker: false] + opt) }
        assert f.message.startsWith('deployforge run: bad input (exit 2): requires confirmation')
        assert h2.calls('input').isEmpty()
    }
}
