package org.deployforge.jenkins

import com.cloudbees.groovy.cps.NonCPS

/**
 * Runs one DeployForge command from a pipeline. `script` is the pipeline script (the `this` of a
 * vars/ step); every pipeline step is called through it, so the same code runs in Jenkins and in
 * the plain-Groovy test harness.
 *
 * The flow: check the options -> check the config file -> bind credentials (environment variables
 * only) -> run in the action's image or on the agent -> the CLI writes its JSON result document ->
 * `deployforge jenkins report` renders Markdown/HTML (and the PR comment) -> JUnit, artifacts and the HTML
 * report are published in a `finally` -> the exit status becomes a build result, with the reason
 * in the log.
 */
class DeployForge implements Serializable {

    static final String DEFAULTS = 'org/deployforge/jenkins/defaults.json'

    final def script

    DeployForge(def script) {
        this.script = script
    }

    /** The generic `deployforge(command: 'plan', ...)` step. */
    Map generic(Map options) {
        Map rest = [:]
        rest.putAll(options ?: [:])
        Object command = rest.remove('command')
        if (command == null) {
            script.error("deployforge: option 'command' is required; one of ${StepSpec.COMMANDS.join(', ')}")
        }
        return run('deployforge', command.toString(), rest)
    }

    Map run(String step, String command, Map options) {
        List<String> problems = StepSpec.problems(step, command, options ?: [:], step == 'deployforge')
        if (problems) {
            script.error(problems.join('\n'))
        }
        Map settings = settingsFor(step, options ?: [:])
        checkFiles(step, command, settings)
        Map outcome = execute(command, settings)
        if (needsApproval(command, settings, outcome)) {
            approve(step, settings, outcome)
            settings.confirm = true
            outcome = execute(command, settings)
        }
        return conclude(command, settings, outcome)
    }

    /**
     * `run`/`deploy` to an environment with require_confirmation, with `confirm` not given: the CLI
     * stops before changing anything and its error document's `outcome.status` (and `reason`) is `needs-confirmation`.
     */
    @NonCPS
    static boolean needsApproval(String command, Map settings, Map outcome) {
        return command in ['run', 'deploy'] && settings.confirm == null && settings.approval != false &&
               outcome.status == 2 && (outcome.document?.outcome?.status == 'needs-confirmation' ||
                                       outcome.document?.reason == 'needs-confirmation')  // a CLI older than `outcome`
    }

    /** Pauses on the `input` step; a rejection (or a timeout) aborts the build as `input` does. */
    private void approve(String step, Map settings, Map outcome) {
        String env = settings.environment ? "'${settings.environment}'" : 'this environment'
        Map args = [message: "DeployForge: ${env} requires confirmation. Deploy now?".toString(), ok: 'Deploy',
                    id: 'DeployForgeApproval']
        if (settings.approvers) {
            args.submitter = settings.approvers.toString()
        }
        script.echo("DeployForge: ${step}: ${outcome.document?.error ?: 'confirmation required'}; waiting for approval " +
                    "(input step${settings.approvers ? ', submitters: ' + settings.approvers : ''})")
        script.input(args)
        script.echo("DeployForge: ${step}: approved; running again with --confirm")
    }

    private Map execute(String command, Map settings) {
        Map paths = CommandLine.reportPaths(command, settings)
        paths.sarifWritten = command == 'validate' && settings.sarif && settings.policy != null

        List bindings = []
        if (settings.credentials) {
            bindings.addAll(settings.credentials)
        }
        if (settings.githubCredentialsId) {
            bindings << script.string(credentialsId: settings.githubCredentialsId,
                                      variable: settings.githubTokenVariable)
        }
        boolean comment = settings.comment != null ? settings.comment
                                                   : (script.env.CHANGE_ID && settings.githubCredentialsId)
        List<String> envList = envEntries(settings.env)

        String runScript = CommandLine.runScript(command, settings)
        Integer status = null
        Map doc = null
        String checkpoint = null
        boolean missing = false
        def body = {
            if (script.sh(script: CommandLine.probeScript(), returnStatus: true, label: 'deployforge on PATH?') != 0) {
                missing = true
                return
            }
            status = script.sh(script: runScript, returnStatus: true, label: "deployforge ${command}")
            doc = script.fileExists(paths.result) ? BuildResult.parse(script.readFile(paths.result)) : null
            int reported = script.sh(script: CommandLine.reportScript(command, settings, status, comment),
                                     returnStatus: true, label: 'deployforge report')
            if (reported != 0) {
                script.echo("DeployForge: warning: the report step ended with status ${reported}; " +
                            'the build result still follows the deployforge exit status')
            }
            checkpoint = auditCheckpoint(command, settings, paths)
        }
        try {
            withBindings(bindings) {
                withEnvironment(envList) {
                    inRuntime(settings, body)
                }
            }
        } finally {
            // a run stopped only to ask for approval changed nothing and reports nothing: the
            // approved run publishes
            if (!needsApproval(command, settings, [status: status, document: doc])) {
                publish(settings, paths)
            }
        }
        if (missing) {
            script.error(missingCliMessage(settings.step, settings))
        }
        if (checkpoint) {
            // a witness outside the log: the audit log's signed checkpoint after this step (docs/audit.md)
            String before = script.currentBuild.description ?: ''
            script.currentBuild.description = (before ? before + '\n' : '') + checkpoint
        }
        return [status: status, resultFile: paths.result, document: doc, paths: paths]
    }

    private Map conclude(String command, Map settings, Map ran) {
        Map decision = BuildResult.decide(command, settings, ran.status as Integer, ran.document as Map)
        script.echo("DeployForge: ${decision.reason} -> build result ${decision.result}")
        Map outcome = [:]
        outcome.putAll(decision)
        outcome.status = ran.status
        outcome.resultFile = ran.resultFile
        outcome.document = ran.document
        publishChecks(command, settings, ran.paths as Map, decision)
        if (decision.result == 'UNSTABLE') {
            // the `unstable` step marks the stage as well as the build (setting currentBuild.result
            // left the stage green)
            script.unstable(decision.reason)
        } else if (decision.result in ['FAILURE', 'ABORTED']) {
            if (settings.propagate) {
                setBuildResult(decision.result)
                script.error(decision.reason)
            }
            // not propagated: mark the stage and the build, and go on with the pipeline
            script.catchError(buildResult: decision.result, stageResult: decision.result) {
                script.error(decision.reason)
            }
        }
        return outcome
    }

    /** The audit log's signed checkpoint line after the command (null when the log is not signed). */
    private String auditCheckpoint(String command, Map settings, Map paths) {
        String file = "${paths.dir}/audit-checkpoint.txt".toString()
        script.sh(script: CommandLine.checkpointScript(command, settings), returnStatus: true,
                  label: 'deployforge audit checkpoint')
        return script.fileExists(file) ? CommandLine.checkpointLine(script.readFile(file)) : null
    }

    private Map settingsFor(String step, Map options) {
        Map settings = loadDefaults(script.libraryResource(DEFAULTS))
        settings.putAll(options)
        settings.step = step
        if (options.containsKey('pipeline')) {
            settings.remove('config')
        }
        settings.configGiven = options.containsKey('config') || options.containsKey('pipeline')
        return settings
    }

    @NonCPS
    private static Map loadDefaults(String text) {
        return BuildResult.parse(text) ?: [:]
    }

    @NonCPS
    private static List<String> envEntries(Object env) {
        if (!(env instanceof Map)) {
            return []
        }
        return env.collect { k, v -> "${k}=${v}".toString() }
    }

    private void checkFiles(String step, String command, Map settings) {
        if (!CommandLine.usesConfig(command, settings)) {
            return
        }
        String configFile = (settings.pipeline ?: settings.config).toString()
        String option = settings.pipeline != null ? 'pipeline' : 'config'
        String where = script.env.WORKSPACE ? " (${script.env.WORKSPACE})" : ''
        if (!script.fileExists(configFile)) {
            script.error("${step}: ${option} file '${configFile}' not found in the workspace${where}. " +
                         "Check the path, or pass ${option}: 'path/to/deployforge.yaml'")
        }
        if (settings.planFile && !script.fileExists(settings.planFile.toString())) {
            script.error("${step}: plan file '${settings.planFile}' not found in the workspace${where}; " +
                         'make one with deployforgePlan (it saves deployforge-reports/plan.json)')
        }
    }

    private void withBindings(List bindings, Closure body) {
        if (bindings) {
            script.withCredentials(bindings) { body() }
        } else {
            body()
        }
    }

    private void withEnvironment(List<String> entries, Closure body) {
        if (entries) {
            script.withEnv(entries) { body() }
        } else {
            body()
        }
    }

    private void inRuntime(Map settings, Closure body) {
        if (settings.docker) {
            script.docker.image(settings.image.toString()).inside(settings.dockerArgs.toString()) { body() }
        } else {
            body()
        }
    }

    private void publish(Map settings, Map paths) {
        if (settings.junit) {
            // the build result follows our mapping (onDrift/onChanges), not the junit step's own rule
            // this step's own report only: a glob would publish every earlier step's report again
            script.junit(testResults: paths.junit, allowEmptyResults: true,
                         skipMarkingBuildUnstable: true)
        }
        if (settings.archive) {
            script.archiveArtifacts(artifacts: "${paths.dir}/**".toString(), allowEmptyArchive: true)
        }
        if (settings.recordIssues && paths.sarifWritten) {
            recordSarif(paths)
        }
        if (settings.publishHtml) {
            try {
                script.publishHTML(target: [reportDir: paths.dir, reportFiles: paths.html, reportName: 'DeployForge',
                                            keepAll: true, alwaysLinkToLastBuild: true, allowMissing: true])
            } catch (NoSuchMethodError ignored) {
                script.echo('DeployForge: the HTML Publisher plugin is not installed; the report is archived as ' +
                            "${paths.dir}/${paths.html}")
            }
        }
    }

    /** SARIF findings into the Warnings NG plugin, when it is installed (else a log line). */
    private void recordSarif(Map paths) {
        try {
            script.recordIssues(tool: script.sarif(pattern: paths.sarif, id: 'deployforge-policy',
                                                   name: 'DeployForge policy'),
                                enabledForFailure: true, skipPublishingChecks: true)
        } catch (NoSuchMethodError ignored) {
            script.echo('DeployForge: the Warnings Next Generation plugin is not installed; the SARIF report is ' +
                        "archived as ${paths.sarif}")
        }
    }

    /**
     * A GitHub/GitLab check for this step through the Checks API plugin, when it is installed (else a
     * log line): the verdict as the conclusion, the step's Markdown report as the text.
     */
    private void publishChecks(String command, Map settings, Map paths, Map decision) {
        if (!settings.checks || paths == null) {
            return
        }
        String markdown = ''
        String report = "${paths.dir}/${command}-report.md".toString()
        if (script.fileExists(report)) {
            markdown = script.readFile(report)
        }
        try {
            script.publishChecks(name: checkName(command, settings), title: decision.reason,
                                 summary: decision.reason, text: clip(markdown, CHECK_TEXT_LIMIT),
                                 conclusion: checkConclusion(decision.result as String))
        } catch (NoSuchMethodError ignored) {
            script.echo('DeployForge: the Checks API plugin is not installed; no check was published')
        }
    }

    /** GitHub's check run output text holds at most 65,535 characters. */
    static final int CHECK_TEXT_LIMIT = 65000

    @NonCPS
    static String checkName(String command, Map settings) {
        String env = settings.environment ? " (${settings.environment})" : ''
        return "DeployForge ${command}${env}".toString()
    }

    @NonCPS
    static String checkConclusion(String result) {
        switch (result) {
            case 'SUCCESS': return 'SUCCESS'
            case 'UNSTABLE': return 'NEUTRAL'
            case 'ABORTED': return 'CANCELED'
            default: return 'FAILURE'
        }
    }

    @NonCPS
    static String clip(String text, int limit) {
        if (text == null || text.length() <= limit) {
            return text ?: ''
        }
        String note = '\n\n(cut: the full report is archived with the build)'
        return text.substring(0, limit - note.length()) + note
    }

    private void setBuildResult(String result) {
        def order = ['SUCCESS', 'UNSTABLE', 'FAILURE', 'ABORTED']
        String current = script.currentBuild.result ?: 'SUCCESS'
        if (order.indexOf(result) > order.indexOf(current)) {
            script.currentBuild.result = result
        }
    }

    @NonCPS
    private static String missingCliMessage(String step, Map settings) {
        if (settings.docker) {
            return "${step}: the image '${settings.image}' has no deployforge on PATH. Use the DeployForge action's " +
                   "image (image: 'ghcr.io/deployforge/action:v3'), or docker: false to use the agent's deployforge"
        }
        return "${step}: deployforge is not installed on this agent (not found on PATH). Install it on the agent " +
               "from a pinned git reference (pip install 'deployforge @ git+https://github.com/deployforge/action@<release commit>'; " +
               "never 'pip install deployforge', an unrelated PyPI project), or run in the action's image with docker: true"
    }
}
