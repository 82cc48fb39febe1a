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
 * Without an `outcome` (no document: the CLI crashed, was killed, or is not installed), the exit
 * status decides: 0 SUCCESS, 130 ABORTED, 2 bad input, anything else FAILURE.
 */
class BuildResult implements Serializable {

    @NonCPS
    static Map decide(String command, Map settings, int status, Map doc) {
        String step = "deployforge ${command == 'drift' ? 'drift ' + (settings.action ?: 'detect') : command}"
        String error = doc?.error ? doc.error.toString() : null
        String detail = error ? ": ${error}" : ''
        Map decided = doc?.outcome instanceof Map ? doc.outcome as Map : null
        String kind = decided?.status ? decided.status.toString() : null
        if (kind == 'ok' || (kind == null && status == 0)) {
            String what = command == 'plan' ? 'no changes' : command == 'drift' ? 'no drift' : 'succeeded'
            return outcome('SUCCESS', 'success', "${step}: ${what} (exit ${status})")
        }
        if (kind == 'interrupted' || (kind == null && status == 130)) {
            return outcome('ABORTED', 'interrupted', "${step} was interrupted (exit ${status}); finished operations are recorded")
        }
        if (kind == 'changes') {
            Map summary = (doc.plan instanceof Map ? doc.plan.summary : null) ?: [:]
            String counts = summary.findAll { k, v -> v && k != 'no-op' }.collect { k, v -> "${v} to ${k}" }.join(', ')
            return outcome(settings.onChanges, 'changes',
                "${step} found changes${counts ? ' (' + counts + ')' : ''} (exit ${status}); onChanges maps this to ${settings.onChanges}")
        }
        if (kind == 'drift') {
            return outcome(settings.onDrift, 'drift',
                "${step} found drift (exit ${status}); onDrift maps this to ${settings.onDrift}")
        }
        if (kind == 'policy-failed') {
            return outcome(settings.onPolicyFailure, 'policy',
                "${step}: policy failures (exit ${status}); onPolicyFailure maps this to ${settings.onPolicyFailure}")
        }
        if (decided?.input_error == true || (kind == null && status == 2)) {
            String why = error ?: (doc == null ? 'no result document was written' : 'see the log above')
            return outcome('FAILURE', 'input', "${step}: bad input (exit ${status}): ${why}")
        }
        if (kind == null && status == 127) {
            return outcome('FAILURE', 'failure', "${step}: the deployforge command was not found (exit 127)")
        }
        if (status == 1 || kind != null) {
            String why = decided?.failure_reason && decided.failure_reason != 'error' && !error ? " (${decided.failure_reason})" : ''
            return outcome('FAILURE', 'failure', "${step} failed (exit ${status})${why}${detail}")
        }
        return outcome('FAILURE', 'failure', "${step} ended with exit status ${status}${detail}")
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
