package org.deployforge.jenkins

import com.cloudbees.groovy.cps.NonCPS

/**
 * Turns checked step options into the `deployforge` command line and the `sh` scripts that run it.
 * Pure (@NonCPS). Every value is single-quoted for the shell, so nothing a user passes is expanded
 * or interpolated; secrets never pass through here at all: they reach the CLI as environment
 * variables bound by `withCredentials`.
 */
class CommandLine implements Serializable {

    /** Every run ends so: the result document as JSON on stdout (to a file), plain text on stderr. */
    static final List<String> TAIL = ['--format', 'json', '--no-color']

    /** Single-quote `value` for POSIX sh: 'it'"'"'s' is how a quote inside is written. */
    @NonCPS
    static String quote(Object value) {
        return "'" + value.toString().replace("'", "'\"'\"'") + "'"
    }

    @NonCPS
    static String kebab(String name) {
        return name.replaceAll(/([A-Z])/) { all, letter -> '-' + letter.toLowerCase() }
    }

    @NonCPS
    static List<String> asList(Object value) {
        if (value == null) {
            return []
        }
        return (value instanceof List) ? value.collect { it.toString() } : [value.toString()]
    }

    /** Where the result document, JUnit, SARIF and the HTML report of `command` go. */
    @NonCPS
    static Map<String, String> reportPaths(String command, Map settings) {
        String dir = settings.reportDir
        return [
            dir   : dir,
            result: "${dir}/${command}-result.json".toString(),
            junit : "${dir}/${command}-junit.xml".toString(),
            sarif : "${dir}/${command}-policy.sarif".toString(),
            plan  : "${dir}/plan.json".toString(),
            html  : "${command}-report.html".toString(),
        ]
    }

    /**
     * Whether the command reads the DeployForge config. `validate` given only paths (the product
     * page's `validate --policy=production.rego *.tf`) checks those files and needs no config.
     */
    @NonCPS
    static boolean usesConfig(String command, Map settings) {
        return !(command == 'validate' && settings.paths && !settings.configGiven)
    }

    /**
     * Whether the CLI is asked for JUnit (`--junit <reportDir>/<command>-junit.xml`): `run` and
     * `deploy` (the policy gate, then a test case per canary gate evaluation; written when the
     * canary rolls back too), `drift` (a test case per resource) and `validate --policy`. `plan`
     * and `apply` have no JUnit. The `junit` step runs in every case (allowEmptyResults).
     */
    @NonCPS
    static boolean wantsJunit(String command, Map settings) {
        if (!settings.junit) {
            return false
        }
        return command in ['run', 'deploy', 'drift'] || (command == 'validate' && settings.policy != null)
    }

    /** The argument vector, tokens unquoted: ['deployforge', 'run', '--pipeline', 'canary.yaml', ...]. */
    @NonCPS
    static List<String> argv(String command, Map settings) {
        Map paths = reportPaths(command, settings)
        List<String> out = ['deployforge', command]
        if (command == 'drift') {
            out << (settings.action ?: 'detect').toString()
            if (settings.action == 'show') {
                out << settings.driftId.toString()
            }
        }
        if (settings.pipeline != null) {
            out += ['--pipeline', settings.pipeline.toString()]
        } else if (usesConfig(command, settings)) {
            out += ['--config', settings.config.toString()]
        }
        if (settings.environment) {
            out += ['--environment', settings.environment.toString()]
        }
        if (settings.sandbox) {
            out << '--sandbox'
        }
        switch (command) {
            case 'validate':
                asList(settings.policy).each { out += ['--policy', it] }
                asList(settings.namespace).each { out += ['--namespace', it] }
                if (settings.allNamespaces) {
                    out << '--all-namespaces'
                }
                asList(settings.data).each { out += ['--data', it] }
                if (settings.failOnWarn) {
                    out << '--fail-on-warn'
                }
                if (settings.sarif && settings.policy != null) {
                    out += ['--sarif', paths.sarif]
                }
                break
            case 'plan':
                out += ['--out', (settings.out ?: paths.plan).toString()]
                if (settings.parallelism) {
                    out += ['--parallelism', settings.parallelism.toString()]
                }
                break
            case 'apply':
                if (settings.autoApprove != false && !settings.planFile) {
                    out << '--auto-approve'
                }
                if (settings.parallelism) {
                    out += ['--parallelism', settings.parallelism.toString()]
                }
                break
            case 'run':
            case 'deploy':
                if (settings.evolveStrategy) {
                    out += ['--evolve-strategy', settings.evolveStrategy.toString()]
                }
                if (settings.timeout != null) {
                    out += ['--timeout', settings.timeout.toString()]
                }
                if (settings.confirm != null) {
                    out << (settings.confirm ? '--confirm' : '--no-confirm')
                }
                if (settings.dryRun) {
                    out << '--dry-run'
                }
                if (command == 'deploy' && settings.rollback) {
                    out << '--rollback'
                }
                break
            case 'drift':
                if (settings.driftId && settings.action != 'show') {
                    out += ['--drift-id', settings.driftId.toString()]
                }
                if (settings.dryRun) {
                    out << '--dry-run'
                }
                ['severity', 'status', 'failOn'].each { name ->
                    if (settings[name]) {
                        out += ['--' + kebab(name), settings[name].toString()]
                    }
                }
                break
        }
        if (wantsJunit(command, settings)) {
            out += ['--junit', paths.junit]
        }
        asList(settings.args).each { out << it }
        if (command in ['apply', 'deploy'] && settings.planFile) {
            out << settings.planFile.toString()
        }
        if (command == 'validate') {
            asList(settings.paths).each { out << it }
        }
        out += TAIL
        return out
    }

    /** The `sh` script running the CLI: the result document goes to a file, the log keeps stderr. */
    @NonCPS
    static String runScript(String command, Map settings) {
        Map paths = reportPaths(command, settings)
        List<String> tokens = argv(command, settings)
        List<String> shown = []
        tokens.eachWithIndex { String token, int i ->
            boolean fixed = i < (command == 'drift' ? 3 : 2) || i >= tokens.size() - TAIL.size()   // 'deployforge', the command, the tail
            shown << (fixed || token ==~ /--[a-z][a-z0-9-]*/ ? token : quote(token))
        }
        String line = shown.join(' ')
        return "mkdir -p ${quote(paths.dir)}\n${line} > ${quote(paths.result)}\n".toString()
    }

    /** The `sh` script telling whether the CLI is on PATH (status 0) or not. */
    @NonCPS
    static String probeScript() {
        return 'command -v deployforge >/dev/null 2>&1'
    }

    /**
     * The `sh` script rendering the result into Markdown + HTML (and the PR comment when asked):
     * `deployforge jenkins report`, the same CLI on the same PATH as the command itself.
     * The exit status is passed in as a literal number; the GitHub token is read by the CLI from
     * the environment, never written here.
     */
    @NonCPS
    static String reportScript(String command, Map settings, int status, boolean comment) {
        Map paths = reportPaths(command, settings)
        List<String> parts = [
            'deployforge jenkins report',
            '--command', quote(command),
            '--result', quote(paths.result),
            '--exit-code', status.toString(),
            '--out-dir', quote(paths.dir),
            '--html', quote(paths.html),
        ]
        if (comment) {
            parts += ['--comment', '--token-env', quote(settings.githubTokenVariable)]
        }
        return parts.join(' ') + '\n'
    }

    /**
     * The `sh` script writing the audit log's signed checkpoint line to `<reportDir>/audit-checkpoint.txt`
     * (nothing when the log is not signed); the build description then carries it as a witness.
     */
    @NonCPS
    static String checkpointScript(String command, Map settings) {
        Map paths = reportPaths(command, settings)
        List<String> parts = ['deployforge audit checkpoint']
        if (settings.pipeline != null) {
            parts += ['--pipeline', quote(settings.pipeline)]
        } else if (usesConfig(command, settings)) {
            parts += ['--config', quote(settings.config)]
        }
        if (settings.environment) {
            parts += ['--environment', quote(settings.environment)]
        }
        String out = quote("${paths.dir}/audit-checkpoint.txt".toString())
        return "${parts.join(' ')} > ${out} 2>/dev/null || rm -f ${out}\n".toString()
    }

    /** The checkpoint line if `text` is exactly one (hex, digits, base64): safe to show in a description. */
    @NonCPS
    static String checkpointLine(String text) {
        String line = text?.trim()
        if (line ==~ /deployforge audit checkpoint log=[0-9a-f]{64} seq=[0-9]+ hash=[0-9a-f]{64} key=[0-9a-f]{64} sig=[A-Za-z0-9+\/=]+/) {
            return line
        }
        return null
    }
}
