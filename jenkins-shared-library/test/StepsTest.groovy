// Command lines, runtime (image or agent), credentials, publishing and bad input of every step.
import groovy.json.JsonOutput

// A stand-in CLI: the probe answers `installed`, the run writes `doc` as its result document and
// exits `status`, the report step exits `reportStatus`.
def fakeCli = { Harness h, int status, Map doc = [command: 'x'], Map opts = [:] ->
    h.files['deployforge.yaml'] = 'resources: {}'
    h.onSh = { Map call ->
        String script = call.script
        if (script.startsWith('command -v deployforge')) {
            return opts.missing ? 1 : 0
        }
        if (script.contains(' --format json')) {
            if (opts.crash) {
                throw new RuntimeException('agent lost')
            }
            def m = script =~ />\s*'([^']+)'/
            h.files[m[0][1]] = JsonOutput.toJson(doc)
            return status
        }
        if (script.startsWith('deployforge jenkins report')) {
            return opts.reportStatus ?: 0
        }
        return 0
    }
}

def runLine = { Harness h -> h.scripts().find { it.contains(' --format json') } }

test('deployforgeRun: the product page stage as a one-liner') { Harness h ->
    fakeCli(h, 0)
    h.files['canary.yaml'] = 'x'
    h.step('deployforgeRun', [pipeline: 'canary.yaml', evolveStrategy: '5percent-step', timeout: 1800, docker: false])
    assert runLine(h) == "mkdir -p 'deployforge-reports'\n" +
        "deployforge run --pipeline 'canary.yaml' --evolve-strategy '5percent-step' --timeout '1800' " +
        "--junit 'deployforge-reports/run-junit.xml' --format json --no-color > 'deployforge-reports/run-result.json'\n"
}

test('deployforgeRun: confirm, dry run and a duration') { Harness h ->
    fakeCli(h, 0)
    h.step('deployforgeRun', [environment: 'prod', timeout: '30m', confirm: false, dryRun: true, docker: false])
    assert runLine(h).contains("deployforge run --config 'deployforge.yaml' --environment 'prod' --timeout '30m' " +
        "--no-confirm --dry-run --junit 'deployforge-reports/run-junit.xml' --format json")
}

test('deployforgeValidate: the product page policy check needs no config file') { Harness h ->
    fakeCli(h, 0)
    h.files.remove('deployforge.yaml')
    h.step('deployforgeValidate', [policy: 'production.rego', paths: '*.tf', sarif: true, docker: false])
    assert runLine(h).contains("deployforge validate --policy 'production.rego' " +
        "--sarif 'deployforge-reports/validate-policy.sarif' --junit 'deployforge-reports/validate-junit.xml' " +
        "'*.tf' --format json --no-color > 'deployforge-reports/validate-result.json'")
    assert !h.calls('fileExists').any { it.path == 'deployforge.yaml' }
}

test('deployforgeValidate: the config alone, no JUnit without policies') { Harness h ->
    fakeCli(h, 0)
    h.step('deployforgeValidate', [environment: 'dev', docker: false])
    assert runLine(h).contains("deployforge validate --config 'deployforge.yaml' --environment 'dev' --format json")
    assert !runLine(h).contains('--junit')
}

test('deployforgePlan: saves the plan in the report folder') { Harness h ->
    fakeCli(h, 0)
    h.files['infra/df.yaml'] = 'x'
    h.step('deployforgePlan', [config: 'infra/df.yaml', environment: 'dev', sandbox: true, parallelism: 4, docker: false])
    assert runLine(h).contains("deployforge plan --config 'infra/df.yaml' --environment 'dev' --sandbox " +
        "--out 'deployforge-reports/plan.json' --parallelism '4' --format json --no-color")
}

test('deployforgeDrift: detect by default, the product page remediate and auto-resolve') { Harness h ->
    fakeCli(h, 0)
    h.step('deployforgeDrift', [environment: 'prod', docker: false])
    h.step('deployforgeDrift', [action: 'remediate', driftId: 'DF-5XJ-88B', dryRun: true, docker: false])
    h.step('deployforgeDrift', [action: 'auto-resolve', driftId: 'DF-5XJ-88B', docker: false])
    h.step('deployforgeDrift', [action: 'list', environment: 'prod', severity: 'security-critical', docker: false])
    def lines = h.scripts().findAll { it.contains(' --format json') }
    String junit = "--junit 'deployforge-reports/drift-junit.xml'"
    assert lines[0].contains("deployforge drift detect --config 'deployforge.yaml' --environment 'prod' " +
        "${junit} --format json")
    assert lines[1].contains("deployforge drift remediate --config 'deployforge.yaml' --drift-id 'DF-5XJ-88B' --dry-run " +
        "${junit} --format json")
    assert lines[2].contains("deployforge drift auto-resolve --config 'deployforge.yaml' --drift-id 'DF-5XJ-88B' " +
        "${junit} --format json")
    assert lines[3].contains("deployforge drift list --config 'deployforge.yaml' --environment 'prod' " +
        "--severity 'security-critical' ${junit} --format json")
}

test('deployforge: the generic step, map and string forms') { Harness h ->
    fakeCli(h, 0)
    h.files['plan.json'] = '{}'
    h.step('deployforge', [command: 'apply', environment: 'dev', docker: false])
    h.step('deployforge', 'apply', [planFile: 'plan.json', docker: false])
    h.step('deployforge', 'deploy', [planFile: 'plan.json', evolveStrategy: 'canary-10pct-5m', docker: false])
    def lines = h.scripts().findAll { it.contains(' --format json') }
    assert lines[0].contains("deployforge apply --config 'deployforge.yaml' --environment 'dev' --auto-approve --format json")
    assert lines[1].contains("deployforge apply --config 'deployforge.yaml' 'plan.json' --format json")
    assert lines[2].contains("deployforge deploy --config 'deployforge.yaml' --evolve-strategy 'canary-10pct-5m' " +
        "--junit 'deployforge-reports/deploy-junit.xml' 'plan.json' --format json")
    assert !lines[0].contains('--junit') && !lines[1].contains('--junit')   // apply has no JUnit
}

test('JUnit: run, deploy and drift get --junit in the report folder; junit: false asks for none') { Harness h ->
    fakeCli(h, 0)
    h.step('deployforgeRun', [reportDir: 'out/df', docker: false])
    h.step('deployforgePlan', [docker: false])
    h.step('deployforgeRun', [junit: false, docker: false])
    h.step('deployforgeDrift', [junit: false, docker: false])
    def lines = h.scripts().findAll { it.contains(' --format json') }
    assert lines[0].contains("--junit 'out/df/run-junit.xml' --format json --no-color > 'out/df/run-result.json'")
    assert !lines[1].contains('--junit')                                     // plan has no JUnit
    assert !lines[2].contains('--junit') && !lines[3].contains('--junit')
    // the junit step reads what the CLI wrote; with junit: false it is not called at all
    // each step publishes its own report only (an earlier step's report is not published twice)
    assert h.calls('junit')*.testResults == ['out/df/run-junit.xml', 'deployforge-reports/plan-junit.xml']
}

test('values are single-quoted: nothing a user passes is expanded by the shell') { Harness h ->
    fakeCli(h, 0)
    h.step('deployforgePlan', [environment: "it's \$(touch pwned) `id` \$HOME", args: ['--x; rm -rf /'], docker: false])
    assert runLine(h).contains("--environment 'it'\"'\"'s \$(touch pwned) `id` \$HOME'")
    assert runLine(h).contains("'--x; rm -rf /'")
}

test('runs inside the action image by default, entrypoint reset') { Harness h ->
    fakeCli(h, 0)
    h.step('deployforgePlan', [:])
    def inside = h.calls('docker.inside')
    assert inside.size() == 1
    assert inside[0].image == 'ghcr.io/deployforge/action:v3'
    assert inside[0].args == '--entrypoint='
    // every sh of the step ran inside the container
    assert h.calls.indexOf(inside[0]) < h.calls.indexOf(h.calls('sh')[0])
    h.step('deployforgePlan', [image: 'registry.local/df:1.2', dockerArgs: '--entrypoint= --network host'])
    assert h.calls('docker.inside')[1].image == 'registry.local/df:1.2'
    assert h.calls('docker.inside')[1].args == '--entrypoint= --network host'
}

test('docker: false uses the agent deployforge, no container') { Harness h ->
    fakeCli(h, 0)
    h.step('deployforgePlan', [docker: false])
    assert h.calls('docker.inside').isEmpty()
    assert h.scripts()[0] == 'command -v deployforge >/dev/null 2>&1'
}

test('credentials: bound with withCredentials, never inside an sh script') { Harness h ->
    fakeCli(h, 0)
    h.env.CHANGE_ID = '42'
    h.secrets['aws-jenkins'] = 'eyJhbGciOiJSUzI1NiJ9.aws-token'
    h.secrets['gh-token'] = 'ghp_s3cr3tTOKENvalue'
    h.files['canary.yaml'] = 'x'
    h.env.AWS_ROLE_ARN = 'arn:aws:iam::123456789012:role/deployer'
    h.step('deployforgeRun', [pipeline: 'canary.yaml', credentials: [h.binding.getVariable('awsWebIdentityTokenFile').call(credentialsId: 'aws-jenkins')],
                              githubCredentialsId: 'gh-token', env: [DEPLOYFORGE_ENVIRONMENT: 'staging']])
    def bound = h.calls('withCredentials')
    assert bound.size() == 1
    assert bound[0].bindings*.credentialsId == ['aws-jenkins', 'gh-token']
    assert bound[0].bindings[1] == [type: 'string', credentialsId: 'gh-token', variable: 'GITHUB_TOKEN']
    def shCalls = h.calls('sh')
    assert shCalls.size() == 4   // probe, run, report, audit checkpoint
    shCalls.each { call ->
        assert !call.script.contains('ghp_s3cr3tTOKENvalue')
        assert !call.script.contains('aws-token')
        assert !call.script.contains('secretFiles')          // not even the token file's path
        assert call.env.GITHUB_TOKEN == 'ghp_s3cr3tTOKENvalue' // the CLI gets it from its environment
        assert call.env.AWS_WEB_IDENTITY_TOKEN_FILE.endsWith('/aws-jenkins/token')
        assert call.env.DEPLOYFORGE_ENVIRONMENT == 'staging'
    }
    assert h.scripts()[2].contains("--comment --token-env 'GITHUB_TOKEN'")
    // credentials are released after the step
    assert !h.env.containsKey('GITHUB_TOKEN')
    assert !(h.log.join('\n').contains('ghp_s3cr3tTOKENvalue'))
}

test('PR detection: the comment is asked for on a change request with a token') { Harness h ->
    fakeCli(h, 2, [command: 'plan', plan: [summary: [create: 1]], outcome: [status: 'changes', exit_code: 2]])
    h.step('deployforgePlan', [docker: false, githubCredentialsId: 'gh'])
    assert !h.scripts()[2].contains('--comment')          // a branch build: no PR to comment on
    h.env.CHANGE_ID = '7'
    h.step('deployforgePlan', [docker: false, githubCredentialsId: 'gh'])
    assert h.scripts()[6].contains('--comment')      // each step: probe, run, report, audit checkpoint
    h.step('deployforgePlan', [docker: false, githubCredentialsId: 'gh', comment: false])
    assert !h.scripts()[10].contains('--comment')
    h.step('deployforgePlan', [docker: false])               // a PR but no token credential
    assert !h.scripts()[14].contains('--comment')
}

test('report step: `deployforge jenkins report`, the exit status goes in as a literal') { Harness h ->
    fakeCli(h, 2, [command: 'plan', plan: [summary: [update: 2]], outcome: [status: 'changes', exit_code: 2]])
    h.step('deployforgePlan', [docker: false])
    assert h.scripts()[2] == "deployforge jenkins report --command 'plan' " +
        "--result 'deployforge-reports/plan-result.json' --exit-code 2 --out-dir 'deployforge-reports' " +
        "--html 'plan-report.html'\n"
}

test('JUnit, artifacts and the HTML report are published') { Harness h ->
    fakeCli(h, 0)
    h.step('deployforgeRun', [docker: false])
    assert h.calls('junit') == [[step: 'junit', testResults: 'deployforge-reports/run-junit.xml', allowEmptyResults: true,
                                 skipMarkingBuildUnstable: true]]
    assert h.calls('archiveArtifacts')[0].artifacts == 'deployforge-reports/**'
    Map html = h.calls('publishHTML')[0].target
    assert html.reportDir == 'deployforge-reports' && html.reportFiles == 'run-report.html' && html.reportName == 'DeployForge'
}

test('JUnit is published when the CLI fails, and when the agent dies mid-run') { Harness h ->
    fakeCli(h, 1, [error: 'canary gate http failed'])
    def e = h.failure { h.step('deployforgeRun', [docker: false]) }
    assert e.message == 'deployforge run failed (exit 1): canary gate http failed'
    assert h.calls('junit').size() == 1 && h.calls('archiveArtifacts').size() == 1
    def last = h.calls.findLastIndexOf { it.step == 'junit' }
    assert last < h.calls.findIndexOf { it.step == 'error' }

    def h2 = new Harness(h.root)
    fakeCli(h2, 0, [:], [crash: true])
    try {
        h2.step('deployforgeRun', [docker: false])
        assert false: 'the agent failure should propagate'
    } catch (RuntimeException expected) {
        assert expected.message == 'agent lost'
    }
    assert h2.calls('junit').size() == 1
}

test('without the HTML Publisher plugin the step says so and goes on') { Harness h ->
    fakeCli(h, 0)
    h.htmlPlugin = false
    def result = h.step('deployforgePlan', [docker: false])
    assert result.result == 'SUCCESS'
    assert h.log.any { it.contains('HTML Publisher plugin is not installed') && it.contains('deployforge-reports/plan-report.html') }
}

test('a failing report step is a warning, the result follows the CLI') { Harness h ->
    fakeCli(h, 0, [command: 'plan'], [reportStatus: 1])
    def result = h.step('deployforgePlan', [docker: false])
    assert result.result == 'SUCCESS'
    assert h.log.any { it.contains('the report step ended with status 1') }
}

// -- bad input --------------------------------------------------------------------------------

test('unknown option: named, with a suggestion and the valid ones') { Harness h ->
    fakeCli(h, 0)
    def e = h.failure { h.step('deployforgeRun', [pipline: 'canary.yaml']) }
    assert e.message.startsWith("deployforgeRun: unknown option 'pipline' (did you mean 'pipeline'?). Valid options: ")
    assert e.message.contains('evolveStrategy') && e.message.contains('timeout') && !e.message.contains('driftId')
    assert h.calls('sh').isEmpty()
    def far = h.failure { h.step('deployforgePlan', [wibble: 1]) }
    assert far.message.startsWith("deployforgePlan: unknown option 'wibble'. Valid options: archive, args, checks, comment,")
}

test('options of the wrong type or value are refused before anything runs') { Harness h ->
    fakeCli(h, 0)
    def e = h.failure { h.step('deployforgeRun', [timeout: 'soon', confirm: 'yes', onDrift: 'MAYBE']) }
    assert e.message.contains("deployforgeRun: option 'timeout' must be seconds (1800) or a duration such as '30m' or '1h', not 'soon'")
    assert e.message.contains("deployforgeRun: option 'confirm' must be true or false, not 'yes'")
    assert e.message.contains("deployforgeRun: option 'onDrift' must be one of SUCCESS, UNSTABLE, FAILURE, not 'MAYBE'")
    def d = h.failure { h.step('deployforgeDrift', [action: 'remediate']) }
    assert d.message == "deployforgeDrift: action 'remediate' needs driftId (e.g. driftId: 'DF-5XJ-88B')"
    def a = h.failure { h.step('deployforgeDrift', [action: 'fix']) }
    assert a.message.contains("option 'action' must be one of detect, list, show, remediate, auto-resolve")
    def both = h.failure { h.step('deployforgePlan', [config: 'a.yaml', pipeline: 'b.yaml']) }
    assert both.message.contains("give either 'config' or 'pipeline'")
    assert h.calls('sh').isEmpty()
}

test('generic step: a missing or unknown command') { Harness h ->
    def e = h.failure { h.step('deployforge', [environment: 'dev']) }
    assert e.message == "deployforge: option 'command' is required; one of validate, plan, apply, run, deploy, drift"
    def u = h.failure { h.step('deployforge', 'destroy', [:]) }
    assert u.message == "deployforge: unknown command 'destroy'. Valid commands: validate, plan, apply, run, deploy, drift"
}

test('a missing pipeline file is a clear error, nothing runs') { Harness h ->
    fakeCli(h, 0)
    def e = h.failure { h.step('deployforgeRun', [pipeline: 'canary.yaml']) }
    assert e.message == "deployforgeRun: pipeline file 'canary.yaml' not found in the workspace " +
        "(/var/jenkins/workspace/app). Check the path, or pass pipeline: 'path/to/deployforge.yaml'"
    assert h.calls('sh').isEmpty() && h.calls('docker.inside').isEmpty()
    def p = h.failure { h.step('deployforge', 'apply', [planFile: 'old-plan.json']) }
    assert p.message.startsWith("deployforge: plan file 'old-plan.json' not found in the workspace")
}

test('the CLI missing on the agent: a clear error, JUnit step still runs') { Harness h ->
    fakeCli(h, 0, [:], [missing: true])
    def e = h.failure { h.step('deployforgePlan', [docker: false]) }
    assert e.message.startsWith('deployforgePlan: deployforge is not installed on this agent (not found on PATH).')
    assert h.calls('sh').size() == 1     // only the probe ran
    assert h.calls('junit').size() == 1
    def inImage = h.failure { h.step('deployforgePlan', [image: 'alpine:3']) }
    assert inImage.message.startsWith("deployforgePlan: the image 'alpine:3' has no deployforge on PATH.")
}

test('every step has a help page naming each of its options') { Harness h ->
    ['deployforge': null, 'deployforgeValidate': 'validate', 'deployforgePlan': 'plan',
     'deployforgeRun': 'run', 'deployforgeDrift': 'drift'].each { step, command ->
        File help = new File(h.root, "vars/${step}.txt")
        assert help.exists(): "vars/${step}.txt is missing"
        String text = help.text
        List<String> names = command ? org.deployforge.jenkins.StepSpec.validOptions(command, false)
                                     : (org.deployforge.jenkins.StepSpec.COMMON.keySet() as List) + ['command']
        names.each { name -> assert text.contains("${name}:") || text.contains("<code>${name}</code>"): "${step}.txt does not document '${name}'" }
    }
}

test('examples/jenkins/Jenkinsfile: its Infra Deployment stage runs the product page command') { Harness h ->
    String jenkinsfile = new File(h.root, '../examples/jenkins/Jenkinsfile').text
    def block = jenkinsfile =~ /(?s)stage\('Infra Deployment'\).*?steps \{\s*(withCredentials.*?\n        \})/
    assert block.find(): 'the Infra Deployment stage with withCredentials is missing'
    fakeCli(h, 0)
    h.files['canary.yaml'] = 'x'
    def role = jenkinsfile =~ /AWS_ROLE_ARN = '([^']+)'/
    assert role.find(): 'the Jenkinsfile sets no AWS_ROLE_ARN for awsWebIdentityTokenFile'
    h.env.AWS_ROLE_ARN = role.group(1)
    new GroovyShell(h.binding).evaluate(block.group(1))
    assert h.calls('withCredentials')[0].bindings ==
        [[type: 'file', credentialsId: 'aws-jenkins', variable: 'AWS_WEB_IDENTITY_TOKEN_FILE']]
    assert runLine(h).contains("deployforge run --pipeline 'canary.yaml' --evolve-strategy '5percent-step' --timeout '1800' ")
    assert h.calls('sh').every { it.env.AWS_WEB_IDENTITY_TOKEN_FILE }
}

test('the audit log\'s signed checkpoint goes into the build description (and nothing else does)') { Harness h ->
    String line = 'deployforge audit checkpoint log=' + 'a' * 64 + ' seq=42 hash=' + 'b' * 64 + ' key=' + 'c' * 64 +
        ' sig=MEUCIQ+/abc=='
    fakeCli(h, 0)
    Closure base = h.onSh
    h.onSh = { Map call ->
        if (call.script.startsWith('deployforge audit checkpoint')) {
            h.files['deployforge-reports/audit-checkpoint.txt'] = line + '\n'
            return 0
        }
        return base.call(call)
    }
    h.currentBuild.description = 'release 1.2'
    h.step('deployforgePlan', [environment: 'prod', docker: false])
    String script = h.scripts().find { it.startsWith('deployforge audit checkpoint') }
    assert script == "deployforge audit checkpoint --config 'deployforge.yaml' --environment 'prod' > " +
        "'deployforge-reports/audit-checkpoint.txt' 2>/dev/null || rm -f 'deployforge-reports/audit-checkpoint.txt'\n"
    assert h.currentBuild.description == 'release 1.2\n' + line
    // an unsigned log writes no line; anything that is not exactly a checkpoint line is never shown
    Harness other = new Harness(h.root)
    fakeCli(other, 0)
    Closure otherBase = other.onSh
    other.onSh = { Map call ->
        if (call.script.startsWith('deployforge audit checkpoint')) {
            other.files['deployforge-reports/audit-checkpoint.txt'] = '<img src=x onerror=alert(1)> seq=1'
            return 0
        }
        return otherBase.call(call)
    }
    other.step('deployforgePlan', [docker: false])
    assert other.currentBuild.description == null
}
