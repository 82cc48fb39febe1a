package org.deployforge.jenkins

import com.cloudbees.groovy.cps.NonCPS

/**
 * Maps the CLI's exit status (and its JSON result document) to a Jenkins build result, with the
 * reason to print in the log. Pure (@NonCPS).
 *
 *   0    SUCCESS   (plan: no changes; drift: no drift)
 *   1    FAILURE   (validate with policies: policy failures -> onPolicyFailure, default FAILURE)
 *   2    plan: changes found -> onChanges (default SUCCESS)
 *        drift detect/list: drift found -> onDrift (default UNSTABLE)
 *        otherwise, or when the result document is an error: bad input -> FAILURE
 *   130  ABORTED   (interrupted; the CLI recorded every finished operation)
 *   any other status: FAILURE
 */
class BuildResult implements Serializable {

    @NonCPS
    static Map decide(String command, Map settings, int status, Map doc) {
        String step = "deployforge ${command == 'drift' ? 'drift ' + (settings.action ?: 'detect') : command}"
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
                Map summary = (doc.plan instanceof Map ? doc.plan.summary : null) ?: [:]
                String counts = summary.findAll { k, v -> v && k != 'no-op' }.collect { k, v -> "${v} to ${k}" }.join(', ')
                return outcome(settings.onChanges, 'changes',
                    "${step} found changes${counts ? ' (' + counts + ')' : ''} (exit 2); onChanges maps this to ${settings.onChanges}")
            }
            if (command == 'drift' && (settings.action ?: 'detect') in ['detect', 'list', 'show']) {
                return outcome(settings.onDrift, 'drift',
                    "${step} found drift (exit 2); onDrift maps this to ${settings.onDrift}")
            }
        }
        if (status == 2 || (status == 1 && doc?.input_error == true)) {
            // plan and drift exit 1 on bad input (2 is their finding); their error document says input_error
            String why = error ?: (doc == null ? 'no result document was written' : 'see the log above')
            return outcome('FAILURE', 'input', "${step}: bad input (exit ${status}): ${why}")
        }
        if (status == 1 && doc != null && !error && command == 'validate' && settings.policy != null) {
            return outcome(settings.onPolicyFailure, 'policy',
                "${step}: policy failures (exit 1); onPolicyFailure maps this to ${settings.onPolicyFailure}")
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
