package org.deployforge.jenkins

import com.cloudbees.groovy.cps.NonCPS

/**
 * The options each step accepts, and their checks. Pure: no pipeline steps are called here,
 * so everything is @NonCPS and testable without Jenkins.
 *
 * Types: string, bool, int, duration (seconds as a number, or '90s' / '30m' / '1h'),
 * strings (one String or a List of them), list (e.g. credential bindings), map, result
 * (a build result name), choice (see CHOICES).
 */
class StepSpec implements Serializable {

    static final List<String> COMMANDS = ['validate', 'plan', 'apply', 'run', 'deploy', 'drift']

    static final Map<String, String> COMMON = [
        config: 'string', pipeline: 'string', environment: 'string', sandbox: 'bool',
        credentials: 'list', githubCredentialsId: 'string', comment: 'bool',
        docker: 'bool', image: 'string', dockerArgs: 'string',
        reportDir: 'string', junit: 'bool', archive: 'bool', publishHtml: 'bool', propagate: 'bool',
        checks: 'bool', recordIssues: 'bool',
        onChanges: 'result', onDrift: 'result', onPolicyFailure: 'result',
        args: 'strings', env: 'map',
    ]

    static final Map<String, Map<String, String>> BY_COMMAND = [
        validate: [policy: 'strings', paths: 'strings', namespace: 'strings', allNamespaces: 'bool',
                   data: 'strings', failOnWarn: 'bool', sarif: 'bool'],
        plan    : [out: 'string', parallelism: 'int'],
        apply   : [planFile: 'string', autoApprove: 'bool', parallelism: 'int'],
        run     : [evolveStrategy: 'string', timeout: 'duration', confirm: 'bool', dryRun: 'bool',
                   approval: 'bool', approvers: 'string'],
        deploy  : [planFile: 'string', evolveStrategy: 'string', timeout: 'duration', confirm: 'bool',
                   dryRun: 'bool', rollback: 'bool', approval: 'bool', approvers: 'string'],
        drift   : [action: 'choice', driftId: 'string', dryRun: 'bool', severity: 'string', status: 'string',
                   failOn: 'string'],
    ]

    static final Map<String, List<String>> CHOICES = [
        action : ['detect', 'list', 'show', 'remediate', 'auto-resolve'],
        command: COMMANDS,
    ]

    static final List<String> RESULTS = ['SUCCESS', 'UNSTABLE', 'FAILURE']

    /** Every option name the step accepts, sorted (the generic step also takes `command`). */
    @NonCPS
    static List<String> validOptions(String command, boolean generic) {
        // no constructors here: a folder (sandboxed) library may only call script-security's whitelist
        List<String> names = []
        names.addAll(COMMON.keySet())
        names.addAll(BY_COMMAND[command]?.keySet() ?: [])
        if (generic) {
            names.add('command')
        }
        return names.unique().sort()
    }

    @NonCPS
    static String typeOf(String command, String name) {
        if (name == 'command') {
            return 'choice'
        }
        return BY_COMMAND[command]?.get(name) ?: COMMON[name]
    }

    /**
     * Every problem with the options given to `step`, as messages ready for `error`.
     * An empty list means the options are usable.
     */
    @NonCPS
    static List<String> problems(String step, String command, Map options, boolean generic) {
        List<String> out = []
        if (!(command in COMMANDS)) {
            out << "${step}: unknown command '${command}'. Valid commands: ${COMMANDS.join(', ')}".toString()
            return out
        }
        def valid = validOptions(command, generic)
        options.each { key, value ->
            String name = key.toString()
            if (!(name in valid)) {
                String close = closest(name, valid)
                String hint = close ? " (did you mean '${close}'?)" : ''
                out << "${step}: unknown option '${name}'${hint}. Valid options: ${valid.join(', ')}".toString()
                return
            }
            String problem = checkType(name, typeOf(command, name), value)
            if (problem) {
                out << "${step}: option '${name}' ${problem}".toString()
            }
        }
        if (options.containsKey('config') && options.containsKey('pipeline')) {
            out << "${step}: give either 'config' or 'pipeline' (they name the same file), not both".toString()
        }
        if (command == 'drift' && (options.action in ['show', 'remediate', 'auto-resolve']) && !options.driftId) {
            out << "${step}: action '${options.action}' needs driftId (e.g. driftId: 'DF-5XJ-88B')".toString()
        }
        return out
    }

    @NonCPS
    static String checkType(String name, String type, Object value) {
        if (value == null) {
            return null
        }
        switch (type) {
            case 'string':
                return (value instanceof CharSequence) ? null : "must be a string, not ${describe(value)}"
            case 'bool':
                return (value instanceof Boolean) ? null : "must be true or false, not ${describe(value)}"
            case 'int':
                return (value instanceof Integer && value > 0) ? null : "must be a positive whole number, not ${describe(value)}"
            case 'duration':
                if (value instanceof Integer && value > 0) {
                    return null
                }
                if (value instanceof CharSequence && value.toString() ==~ /[1-9][0-9]*[smh]?/) {
                    return null
                }
                return "must be seconds (1800) or a duration such as '30m' or '1h', not ${describe(value)}"
            case 'strings':
                if (value instanceof CharSequence) {
                    return null
                }
                if (value instanceof List && value.every { it instanceof CharSequence }) {
                    return null
                }
                return "must be a string or a list of strings, not ${describe(value)}"
            case 'list':
                return (value instanceof List) ? null : "must be a list, not ${describe(value)}"
            case 'map':
                return (value instanceof Map) ? null : "must be a map such as [NAME: 'value'], not ${describe(value)}"
            case 'result':
                return (value.toString() in RESULTS) ? null : "must be one of ${RESULTS.join(', ')}, not ${describe(value)}"
            case 'choice':
                def choices = CHOICES[name]
                return (value.toString() in choices) ? null : "must be one of ${choices.join(', ')}, not ${describe(value)}"
        }
        return null
    }

    @NonCPS
    static String describe(Object value) {
        if (value instanceof CharSequence) {
            return "'${value}'"
        }
        return "${value} (${value.getClass().simpleName})"
    }

    /** The valid name closest to `name` (edit distance at most a third of its length), or null. */
    @NonCPS
    static String closest(String name, List<String> valid) {
        String best = null
        int bestDistance = Integer.MAX_VALUE
        for (String candidate : valid) {
            int d = distance(name.toLowerCase(), candidate.toLowerCase())
            if (d < bestDistance) {
                best = candidate
                bestDistance = d
            }
        }
        return bestDistance <= Math.max(2, (int) (name.length() / 3)) ? best : null
    }

    @NonCPS
    static int distance(String a, String b) {
        int[] previous = new int[b.length() + 1]
        for (int j = 0; j <= b.length(); j++) {
            previous[j] = j
        }
        for (int i = 1; i <= a.length(); i++) {
            int[] current = new int[b.length() + 1]
            current[0] = i
            for (int j = 1; j <= b.length(); j++) {
                int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1
                current[j] = Math.min(Math.min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost)
            }
            previous = current
        }
        return previous[b.length()]
    }
}
