// The CLI's exit status -> the build result, with the reason in the log.
import groovy.json.JsonOutput

def cliExits = { Harness h, int status, Object doc ->
    h.files['deployforge.yaml'] = 'x'
    h.onSh = { Map call ->
        if (call.script.contains(' --format json')) {
            def m = call.script =~ />\s*'([^']+)'/
            if (doc != null) {
                h.files[m[0][1]] = doc instanceof String ? doc : JsonOutput.toJson(doc)
            }
            return status
        }
        return 0
    }
}

test('exit 0: SUCCESS, and the log says why') { Harness h ->
    cliExits(h, 0, [command: 'plan', plan: [summary: [create: 0]]])
    def r = h.step('deployforgePlan', [docker: false])
    assert r.result == 'SUCCESS' && r.outcome == 'success' && r.status == 0
    assert h.currentBuild.result == null
    assert h.log.contains('DeployForge: deployforge plan: no changes (exit 0) -> build result SUCCESS')
}

test('plan exit 2 with a plan: changes, SUCCESS by default, onChanges configurable') { Harness h ->
    cliExits(h, 2, [command: 'plan', exit_code: 2, plan: [summary: [create: 3, update: 1, delete: 0, 'no-op': 4]],
                    outcome: [status: 'changes', exit_code: 2, changes: 4]])
    def r = h.step('deployforgePlan', [docker: false])
    assert r.result == 'SUCCESS' && r.outcome == 'changes'
    assert h.log.contains('DeployForge: deployforge plan found changes (3 to create, 1 to update) (exit 2); ' +
        'onChanges maps this to SUCCESS -> build result SUCCESS')
    assert h.currentBuild.result == null
    def u = h.step('deployforgePlan', [docker: false, onChanges: 'UNSTABLE'])
    assert u.result == 'UNSTABLE' && h.currentBuild.result == 'UNSTABLE'
}

test('drift exit 2: UNSTABLE by default, no error; onDrift FAILURE stops the build') { Harness h ->
    cliExits(h, 2, [command: 'drift', exit_code: 2, drift: [records: []], outcome: [status: 'drift', exit_code: 2]])
    def r = h.step('deployforgeDrift', [environment: 'prod', docker: false])
    assert r.result == 'UNSTABLE' && r.outcome == 'drift'
    assert h.currentBuild.result == 'UNSTABLE'
    assert h.log.contains('DeployForge: deployforge drift detect found drift (exit 2); onDrift maps this to UNSTABLE -> build result UNSTABLE')
    def e = h.failure { h.step('deployforgeDrift', [environment: 'prod', docker: false, onDrift: 'FAILURE']) }
    assert e.message == 'deployforge drift detect found drift (exit 2); onDrift maps this to FAILURE'
    assert h.currentBuild.result == 'FAILURE'
}

test('a build result is never improved: UNSTABLE after FAILURE stays FAILURE') { Harness h ->
    cliExits(h, 2, [command: 'drift', drift: [:], outcome: [status: 'drift', exit_code: 2]])
    h.currentBuild.result = 'FAILURE'
    h.step('deployforgeDrift', [docker: false])
    assert h.currentBuild.result == 'FAILURE'
}

test('exit 2 with an error document: bad input, FAILURE with the CLI message') { Harness h ->
    cliExits(h, 2, [error: '2 problems in the configuration', exit_code: 2])
    def e = h.failure { h.step('deployforgePlan', [docker: false]) }
    assert e.message == 'deployforge plan: bad input (exit 2): 2 problems in the configuration'
    assert h.currentBuild.result == 'FAILURE'
    def d = h.failure { h.step('deployforgeDrift', [docker: false]) }  // drift's 2 is also input when it is an error
    assert d.message.startsWith('deployforge drift detect: bad input (exit 2)')
}

test('plan and drift exit 1 on bad input (2 is their finding): the error document says input_error') { Harness h ->
    cliExits(h, 1, [error: '1 problem in the configuration', exit_code: 1, input_error: true,
                    outcome: [status: 'failed', exit_code: 1, failure_reason: 'validation-failed', input_error: true]])
    def e = h.failure { h.step('deployforgePlan', [docker: false]) }
    assert e.message == 'deployforge plan: bad input (exit 1): 1 problem in the configuration'
    def h2 = new Harness(h.root)
    cliExits(h2, 1, [error: 'the lock is held', exit_code: 1, input_error: false,
                      outcome: [status: 'failed', exit_code: 1, failure_reason: 'state-locked', input_error: false]])
    def f = h2.failure { h2.step('deployforgePlan', [docker: false]) }
    assert f.message == 'deployforge plan failed (exit 1): the lock is held'
}

test('drift show of an active drift (exit 2) follows onDrift, not bad input') { Harness h ->
    cliExits(h, 2, [command: 'drift', exit_code: 2, drift: [records: [[id: 'DF-5XJ-88B']]], outcome: [status: 'drift', exit_code: 2]])
    h.step('deployforgeDrift', [docker: false, action: 'show', driftId: 'DF-5XJ-88B'])
    assert h.log.contains('DeployForge: deployforge drift show found drift (exit 2); onDrift maps this to UNSTABLE -> build result UNSTABLE')
    assert h.currentBuild.result == 'UNSTABLE'
}

test('exit 2 without any result document (click usage error): bad input') { Harness h ->
    cliExits(h, 2, null)
    def e = h.failure { h.step('deployforgeRun', [docker: false]) }
    assert e.message == 'deployforge run: bad input (exit 2): no result document was written'
}

test('exit 1: FAILURE; policy failures follow onPolicyFailure') { Harness h ->
    cliExits(h, 1, [error: 'another run holds the lock'])
    def e = h.failure { h.step('deployforge', 'apply', [docker: false]) }
    assert e.message == 'deployforge apply failed (exit 1): another run holds the lock'
    def h2 = new Harness(h.root)
    cliExits(h2, 1, [command: 'validate', exit_code: 1, policy: [findings: []],
                      outcome: [status: 'policy-failed', exit_code: 1, failure_reason: 'policy-failed', policy_failures: 1]])
    def p = h2.step('deployforgeValidate', [policy: 'p.rego', docker: false, onPolicyFailure: 'UNSTABLE'])
    assert p.result == 'UNSTABLE' && p.outcome == 'policy'
    def f = h2.failure { h2.step('deployforgeValidate', [policy: 'p.rego', docker: false]) }
    assert f.message == 'deployforge validate: policy failures (exit 1); onPolicyFailure maps this to FAILURE'
}

test('exit 130: ABORTED') { Harness h ->
    cliExits(h, 130, null)
    def e = h.failure { h.step('deployforgeRun', [docker: false]) }
    assert e.message.contains('interrupted (exit 130)')
    assert h.currentBuild.result == 'ABORTED'
}

test('propagate: false returns the outcome instead of stopping the pipeline') { Harness h ->
    cliExits(h, 1, [error: 'boom'])
    def r = h.step('deployforgeRun', [docker: false, propagate: false])
    assert r.result == 'FAILURE' && r.status == 1 && r.reason == 'deployforge run failed (exit 1): boom'
    assert r.document == [error: 'boom']
    assert h.currentBuild.result == 'FAILURE'
    // the error is raised inside catchError only: it marks the stage, the pipeline goes on
    assert h.calls('catchError').size() == 1 && h.calls('error').size() == 1
}

test('a damaged result document counts as none') { Harness h ->
    cliExits(h, 2, '{"plan": ')
    def e = h.failure { h.step('deployforgePlan', [docker: false]) }
    assert e.message.contains('bad input (exit 2)')
}

test('the outcome the CLI decided is read, not decided again from the exit status') { Harness h ->
    // a validate with policy failures whose step has no `policy` option (a policies: section in the
    // config): the exit status alone cannot tell it from an error; the outcome does
    cliExits(h, 1, [command: 'validate', exit_code: 1,
                    outcome: [status: 'policy-failed', exit_code: 1, failure_reason: 'policy-failed', policy_failures: 2]])
    def r = h.step('deployforgeValidate', [docker: false, onPolicyFailure: 'UNSTABLE'])
    assert r.result == 'UNSTABLE' && r.outcome == 'policy'
    // a failed canary: the reason the CLI gave is in the log line
    def h2 = new Harness(h.root)
    cliExits(h2, 1, [command: 'run', exit_code: 1, outcome: [status: 'failed', exit_code: 1, failure_reason: 'canary-failed']])
    def f = h2.failure { h2.step('deployforgeRun', [docker: false]) }
    assert f.message == 'deployforge run failed (exit 1) (canary-failed)'
    // an outcome of bad input with exit 1 (plan's 2 is a finding) is bad input
    def h3 = new Harness(h.root)
    cliExits(h3, 1, [command: 'plan', error: 'no such target', exit_code: 1,
                     outcome: [status: 'failed', exit_code: 1, failure_reason: 'validation-failed', input_error: true]])
    def i = h3.failure { h3.step('deployforgePlan', [docker: false]) }
    assert i.message == 'deployforge plan: bad input (exit 1): no such target'
    // a document without an outcome (a CLI older than `outcome`): the exit status and the document decide
    def h4 = new Harness(h.root)
    cliExits(h4, 2, [command: 'plan', exit_code: 2, plan: [summary: [create: 1]]])
    assert h4.step('deployforgePlan', [docker: false]).outcome == 'changes'
    // an outcome of another exit status (the CLI wrote `ok`, then was killed): the status decides
    def h5 = new Harness(h.root)
    cliExits(h5, 130, [command: 'run', exit_code: 0, outcome: [status: 'ok', exit_code: 0]])
    def k = h5.failure { h5.step('deployforgeRun', [docker: false]) }
    assert k.message.contains('interrupted (exit 130)') && h5.currentBuild.result == 'ABORTED'
}
