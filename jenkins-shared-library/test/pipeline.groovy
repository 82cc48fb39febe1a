// Runs a pipeline snippet against the real shell (used by tests/e2e/test_jenkins_e2e.py).
// Usage: groovy -cp src:test/stubs:test test/pipeline.groovy WORKSPACE SNIPPET_FILE OUT_JSON
// The snippet calls the library's steps (deployforgePlan(...) etc.); every `sh` really runs in
// WORKSPACE with bash. OUT_JSON receives the recorded calls, the log, the build result, the
// step's return value and the `error` message if one was raised.
import groovy.json.JsonOutput

File root = new File('.').canonicalFile
File workspace = new File(args[0]).canonicalFile
String snippet = new File(args[1]).getText('UTF-8')
def h = new Harness(root)
h.realShell = true
h.workspace = workspace
h.env.WORKSPACE = workspace.path
(System.getenv().findAll { k, v -> k.startsWith('CHANGE_') || k in ['JENKINS_URL', 'BUILD_URL', 'GIT_COMMIT'] }).each { k, v -> h.env[k] = v }
h.secrets.putAll(System.getenv().findAll { k, v -> k.startsWith('SECRET_') }.collectEntries { k, v -> [k - 'SECRET_', v] })
Map out = [error: null, returned: null]
try {
    out.returned = new GroovyShell(this.class.classLoader, h.binding).evaluate(snippet)
} catch (PipelineError e) {
    out.error = e.message
}
out.calls = h.calls.collect { c -> c.findAll { k, v -> k != 'env' } + (c.env != null ? [envKeys: c.env.keySet().sort()] : [:]) }
out.log = h.log
out.buildResult = h.currentBuild.result
out.stageResult = h.stageResult
new File(args[2]).setText(JsonOutput.toJson(out), 'UTF-8')
