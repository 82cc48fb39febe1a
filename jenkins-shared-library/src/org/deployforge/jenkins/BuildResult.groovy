package org.deployforge.jenkins

import com.cloudbees.groovy.cps.NonCPS

/**
 * Maps a CLI run to a Jenkins build result, with the reason to print in the log. Pure (@NonCPS).
 *
 * The CLI decides what a run amounted to once (deployforge's model/outcome.py) and writes it into
 * its JSON document as `outcome`; this class only maps that status to a build result:
 *
 *   ok                  SUCCESS
 *   changes             onChanges (default SUCCESS)          plan found changes
 *   drift               onDrift (default UNSTABLE)           drift found
 *   policy-failed       onPolicyFailure (default FAILURE)    policies denied
 *   needs-confirmation  FAILURE, bad input (run/deploy ask for approval first, see DeployForge.needsApproval)
 *   interrupted         ABORTED
 *   failed              FAILURE (bad input when `outcome.input_error`)
 *
 * Without an `outcome` of this run (no document: the CLI crashed or is not installed; a CLI older
 * than `outcome`; or a process that ended with another status than its document says, e.g. killed
 * after writing it), the exit status and the document decide as before: 0 SUCCESS, 130 ABORTED,
 * plan/drift 2 changes/drift, validate 1 with `policy` onPolicyFailure, 2 or `input_error` bad input,
 * anything else FAILURE.
 */
class BuildResult implements Serializable {

    @NonCPS
    static Map decide(String command, Map settings, int status, Map doc) {
        String step = "deployforge ${command == 'drift' ? 'drift ' + (settings.action ?: 'detect') : command}"
        String error = doc?.error ? doc.error.toString() : null
        String detail = error ? ": ${error}" : ''
        Map decided = doc?.outcome instanceof Map ? doc.outcome as Map : null
        // the outcome of this run: one the process ended with (a kill or crash after the document was
        // written ends with another status, and then the status says what happened)
        String kind = decided?.status && (decided.exit_code as Integer) == status ? decided.status.toString() : null
        if (kind == null) {
            return byExitStatus(step, command, settings, status, doc)
        }
        if (kind == 'ok') {
            String what = command == 'plan' ? 'no changes' : command == 'drift' ? 'no drift' : 'succeeded'
            return outcome('SUCCESS', 'success', "${step}: ${what} (exit ${status})")
        }
        if (kind == 'interrupted') {
            return outcome('ABORTED', 'interrupted', "${step} was interrupted (exit ${status}); finished operations are recorded")
        }
        if (kind == 'changes') {
            return changes(step, settings, status, doc)
        }
        if (kind == 'drift') {
            return outcome(settings.onDrift, 'drift', "${step} found drift (exit ${status}); onDrift maps this to ${settings.onDrift}")
        }
        if (kind == 'policy-failed') {
            return policy(step, settings, status)
        }
        if (decided.input_error == true) {
            return outcome('FAILURE', 'input', "${step}: bad input (exit ${status}): ${error ?: 'see the log above'}")
        }
        String why = decided.failure_reason && decided.failure_reason != 'error' && !error ? " (${decided.failure_reason})" : ''
        return outcome('FAILURE', 'failure', "${step} failed (exit ${status})${why}${detail}")
    }

    /** Without an outcome of this run (no document, a damaged one, a CLI older than `outcome`, or a
     *  process that ended otherwise than its document says): the exit status and the document. */
    @NonCPS
    private static Map byExitStatus(String step, String command, Map settings, int status, Map doc) {
        String error = doc?.error ? doc.error.toString() : null
        String detail = error ? ": ${error}" : ''
        if (status == 0) {
            String what = command == 'plan' ? 'no changes' : command == 'drift' ? 'no drift' : 'succeeded'
            return outcome('SUCCESS', 'success', "${step}: ${what} (exit 0)")
        }
        if (status == 130) {
            return outcome('ABORTED', 'interrupted', "${step} was interrupted (exit 130); finished operations are recorded")
        }
        if (status == 2 && doc != null && !error) {
            if (command == 'plan') {
                return changes(step, settings, status, doc)
            }
            if (command == 'drift' && (settings.action ?: 'detect') in ['detect', 'list', 'show']) {
                return outcome(settings.onDrift, 'drift', "${step} found drift (exit 2); onDrift maps this to ${settings.onDrift}")
            }
        }
        if (status == 2 || (status == 1 && doc?.input_error == true)) {
            String why = error ?: (doc == null ? 'no result document was written' : 'see the log above')
            return outcome('FAILURE', 'input', "${step}: bad input (exit ${status}): ${why}")
        }
        if (status == 1 && doc != null && !error && command == 'validate' && settings.policy != null) {
            return policy(step, settings, status)
        }
        if (status == 1) {
            return outcome('FAILURE', 'failure', "${step} failed (exit 1)${detail}")
        }
        if (status == 127) {
            return outcome('FAILURE', 'failure', "${step}: the deployforge command was not found (exit 127)")
        }
        return outcome('FAILURE', 'failure', "${step} ended with exit status ${status}${detail}")
    }

    @NonCPS
    private static Map changes(String step, Map settings, int status, Map doc) {
        Map summary = (doc?.plan instanceof Map ? doc.plan.summary : null) ?: [:]
        String counts = summary.findAll { k, v -> v && k != 'no-op' }.collect { k, v -> "${v} to ${k}" }.join(', ')
        return outcome(settings.onChanges, 'changes',
            "${step} found changes${counts ? ' (' + counts + ')' : ''} (exit ${status}); onChanges maps this to ${settings.onChanges}")
    }

    @NonCPS
    private static Map policy(String step, Map settings, int status) {
        return outcome(settings.onPolicyFailure, 'policy',
            "${step}: policy failures (exit ${status}); onPolicyFailure maps this to ${settings.onPolicyFailure}")
    }

    @NonCPS
    private static Map outcome(Object result, String kind, Object reason) {
        return [result: result.toString(), outcome: kind, reason: reason.toString()]
    }

    /** Parse the result document; null when it is missing or not JSON (the CLI crashed early). */
    @NonCPS
    static Map parse(String text) {
        if (!text?.trim()) {
            return null
        }
        try {
            // JsonSlurper (on script-security's generic whitelist; the Classic slurper is not) returns
            // lazy maps that are not Serializable: copy them into plain ones before CPS sees them
            def parsed = plain(new groovy.json.JsonSlurper().parseText(text))
            return parsed instanceof Map ? parsed : null
        } catch (Exception ignored) {
            return null
        }
    }

    @NonCPS
    static Object plain(Object value) {
        if (value instanceof Map) {
            return value.collectEntries { k, v -> [(k.toString()): plain(v)] }
        }
        if (value instanceof List) {
            return value.collect { plain(it) }
        }
        return value
    }
}
