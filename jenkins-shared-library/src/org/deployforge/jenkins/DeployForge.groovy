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
        Map rest = new LinkedHashMap(options ?: [:])
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
        Map settings = settingsFor(options ?: [:])
        Map paths = CommandLine.reportPaths(command, settings)
        checkFiles(step, command, settings)

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
            publish(settings, paths)
        }
        if (missing) {
            script.error(missingCliMessage(step, settings))
        }
        if (checkpoint) {
            // a witness outside the log: the audit log's signed checkpoint after this step (docs/audit.md)
            String before = script.currentBuild.description ?: ''
            script.currentBuild.description = (before ? before + '\n' : '') + checkpoint
        }
        Map decision = BuildResult.decide(command, settings, status, doc)
        script.echo("DeployForge: ${decision.reason} -> build result ${decision.result}")
        Map outcome = new LinkedHashMap(decision)
        outcome.status = status
        outcome.resultFile = paths.result
        outcome.document = doc
        if (decision.result != 'SUCCESS') {
            setBuildResult(decision.result)
        }
        if (decision.result in ['FAILURE', 'ABORTED'] && settings.propagate) {
            script.error(decision.reason)
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

    private Map settingsFor(Map options) {
        Map settings = loadDefaults(script.libraryResource(DEFAULTS))
        settings.putAll(options)
        if (options.containsKey('pipeline')) {
            settings.remove('config')
        }
        settings.configGiven = options.containsKey('config') || options.containsKey('pipeline')
        return settings
    }

    @NonCPS
    private static Map loadDefaults(String text) {
        return new LinkedHashMap(new groovy.json.JsonSlurperClassic().parseText(text) as Map)
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
               "(pip install deployforge), or run in the action's image with docker: true"
    }
}
