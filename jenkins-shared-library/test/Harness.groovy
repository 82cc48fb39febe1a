import org.codehaus.groovy.runtime.InvokerHelper

/**
 * A plain-Groovy stand-in for a Jenkins pipeline: a Binding whose closures play the steps the
 * library calls (sh, withCredentials, withEnv, junit, archiveArtifacts, publishHTML, error, echo,
 * docker, fileExists, readFile, libraryResource, env, currentBuild) and record every call.
 *
 * Two modes:
 *   - recorded (unit tests): `sh` answers through `onSh`, files live in `files`;
 *   - real (`realShell = true`, the e2e tests): `sh` runs bash in `workspace` with the build's
 *     environment, and fileExists/readFile read the real workspace.
 */
class Harness {
    static GroovyClassLoader sharedLoader
    static Map<String, Class> stepClasses = [:]

    File root
    List<Map> calls = []
    List<String> log = []
    Map<String, String> env = [:]
    Map<String, String> secrets = [:]
    Map<String, String> files = [:]
    Map currentBuild = [result: null]
    boolean htmlPlugin = true
    boolean checksPlugin = true
    boolean warningsPlugin = true
    boolean approve = true
    String stageResult = null
    boolean realShell = false
    File workspace
    Closure onSh = { Map call -> 0 }
    Binding binding

    Harness(File root) {
        this.root = root
        env.WORKSPACE = '/var/jenkins/workspace/app'
        binding = new Binding()
        install()
    }

    // -- what tests look at ----------------------------------------------------------------

    List<Map> calls(String step) {
        return calls.findAll { it.step == step }
    }

    List<String> scripts() {
        return calls('sh').collect { it.script as String }
    }

    /** Run a vars/ step as a pipeline would: `h.step('deployforgeRun', [pipeline: 'canary.yaml'])`. */
    def step(String name, Object... args) {
        Script script = InvokerHelper.createScript(stepClass(name), binding)
        return script.invokeMethod('call', args)
    }

    /** The PipelineError a step raised through `error`, or null; anything else propagates. */
    PipelineError failure(Closure body) {
        try {
            body()
            return null
        } catch (PipelineError e) {
            return e
        }
    }

    /** Jenkins never improves a result: the worse of the two (null counts as SUCCESS). */
    static String worse(String current, String next) {
        List<String> order = ['SUCCESS', 'UNSTABLE', 'FAILURE', 'NOT_BUILT', 'ABORTED']
        return order.indexOf(next) > order.indexOf(current ?: 'SUCCESS') ? next : current
    }

    // -- loading vars/ -----------------------------------------------------------------------

    Class stepClass(String name) {
        synchronized (Harness) {
            if (sharedLoader == null) {
                sharedLoader = new GroovyClassLoader(Harness.classLoader)
                sharedLoader.addClasspath(new File(root, 'src').path)
            }
            if (!stepClasses.containsKey(name)) {
                File file = new File(root, "vars/${name}.groovy")
                stepClasses[name] = sharedLoader.parseClass(file)
            }
            return stepClasses[name]
        }
    }

    // -- the steps ----------------------------------------------------------------------------

    private void record(Map call) {
        calls << call
    }

    private void install() {
        Harness h = this
        binding.setVariable('env', env)
        binding.setVariable('currentBuild', currentBuild)
        binding.setVariable('echo', { Object message -> h.record(step: 'echo', message: message.toString()); h.log << message.toString() })
        binding.setVariable('error', { Object message ->
            h.record(step: 'error', message: message.toString())
            throw new PipelineError(message.toString())
        })
        binding.setVariable('sh', { Object arg ->
            Map args = arg instanceof Map ? new LinkedHashMap(arg) : [script: arg.toString()]
            Map call = [step: 'sh', script: args.script.toString(), returnStatus: args.returnStatus ?: false,
                        label: args.label, env: new LinkedHashMap(h.env)]
            h.record(call)
            int status = h.realShell ? h.bash(call) : (h.onSh.call(call) as int)
            call.status = status
            if (args.returnStatus) {
                return status
            }
            if (status != 0) {
                throw new PipelineError("script returned exit code ${status}")
            }
            return null
        })
        binding.setVariable('fileExists', { Object arg ->
            String path = arg instanceof Map ? arg.file : arg.toString()
            h.record(step: 'fileExists', path: path)
            return h.realShell ? new File(h.workspace, path).exists() : h.files.containsKey(path)
        })
        binding.setVariable('readFile', { Object arg ->
            String path = arg instanceof Map ? arg.file : arg.toString()
            h.record(step: 'readFile', path: path)
            if (h.realShell) {
                return new File(h.workspace, path).getText('UTF-8')
            }
            if (!h.files.containsKey(path)) {
                throw new FileNotFoundException(path)
            }
            return h.files[path]
        })
        binding.setVariable('libraryResource', { String path -> new File(h.root, "resources/${path}").getText('UTF-8') })
        binding.setVariable('withEnv', { List entries, Closure body ->
            h.record(step: 'withEnv', entries: entries)
            Map saved = new LinkedHashMap(h.env)
            entries.each { String entry ->
                int eq = entry.indexOf('=')
                h.env[entry.substring(0, eq)] = entry.substring(eq + 1)
            }
            try {
                return body()
            } finally {
                h.env.clear()
                h.env.putAll(saved)
            }
        })
        binding.setVariable('withCredentials', { List bindings, Closure body ->
            h.record(step: 'withCredentials', bindings: bindings)
            Map saved = new LinkedHashMap(h.env)
            bindings.each { Map b -> h.bindCredential(b) }
            try {
                return body()
            } finally {
                h.env.clear()
                h.env.putAll(saved)
            }
        })
        binding.setVariable('string', { Map args -> [type: 'string'] + args })
        binding.setVariable('usernamePassword', { Map args -> [type: 'usernamePassword'] + args })
        binding.setVariable('file', { Map args -> [type: 'file'] + args })   // Credentials Binding's Secret file
        binding.setVariable('junit', { Map args -> h.record([step: 'junit'] + args) })
        binding.setVariable('archiveArtifacts', { Map args -> h.record([step: 'archiveArtifacts'] + args) })
        binding.setVariable('publishHTML', { Map args ->
            if (!h.htmlPlugin) {
                throw new NoSuchMethodError("No such DSL method 'publishHTML' found among steps")
            }
            h.record([step: 'publishHTML'] + args)
        })
        // Pipeline: Basic Steps
        binding.setVariable('unstable', { Object message ->
            h.record(step: 'unstable', message: message.toString())
            h.log << "WARNING: ${message}".toString()
            h.stageResult = h.worse(h.stageResult, 'UNSTABLE')
            h.currentBuild.result = h.worse(h.currentBuild.result, 'UNSTABLE')
        })
        binding.setVariable('catchError', { Map args, Closure body ->
            h.record([step: 'catchError'] + args)
            try {
                return body()
            } catch (PipelineError e) {
                h.log << "ERROR: ${e.message}".toString()
                h.stageResult = h.worse(h.stageResult, args.stageResult ?: 'FAILURE')
                h.currentBuild.result = h.worse(h.currentBuild.result, args.buildResult ?: 'FAILURE')
                return null
            }
        })
        // Pipeline: Input Step; `approve` answers it (false: the approver clicked Abort)
        binding.setVariable('input', { Map args ->
            h.record([step: 'input'] + args)
            if (!h.approve) {
                h.currentBuild.result = 'ABORTED'
                throw new PipelineError('Rejected by approver')
            }
            return null
        })
        // optional plugins: Checks API, Warnings Next Generation
        binding.setVariable('publishChecks', { Map args ->
            if (!h.checksPlugin) {
                throw new NoSuchMethodError("No such DSL method 'publishChecks' found among steps")
            }
            h.record([step: 'publishChecks'] + args)
        })
        binding.setVariable('sarif', { Map args ->
            if (!h.warningsPlugin) {
                throw new NoSuchMethodError("No such DSL method 'sarif' found among steps")
            }
            return [tool: 'sarif'] + args
        })
        binding.setVariable('recordIssues', { Map args ->
            if (!h.warningsPlugin) {
                throw new NoSuchMethodError("No such DSL method 'recordIssues' found among steps")
            }
            h.record([step: 'recordIssues'] + args)
        })
        binding.setVariable('docker', new DockerStub(h))
        // the vars/ steps themselves, callable from a pipeline snippet (the e2e runner uses these)
        new File(root, 'vars').listFiles().findAll { it.name.endsWith('.groovy') }.each { File f ->
            String name = f.name - '.groovy'
            binding.setVariable(name, { Object... args -> h.step(name, args) })
        }
    }

    private void bindCredential(Map b) {
        String secret = secrets[b.credentialsId] ?: "secret-of-${b.credentialsId}"
        switch (b.type) {
            case 'string':
                env[b.variable] = secret
                break
            case 'usernamePassword':
                env[b.usernameVariable] = "user-of-${b.credentialsId}"
                env[b.passwordVariable] = secret
                break
            case 'file':
                // as the plugin does: the secret is written to a file under WORKSPACE@tmp, its path bound
                String file = "${env.WORKSPACE}@tmp/secretFiles/${b.credentialsId}/token"
                if (realShell) {
                    File token = new File(workspace, ".jenkins-tmp/${b.credentialsId}/token")
                    token.parentFile.mkdirs()
                    token.text = secret
                    file = token.path
                }
                env[b.variable] = file
                break
            default:
                throw new IllegalArgumentException("harness: unknown credential binding ${b}")
        }
    }

    /** Real mode: run the script with bash in the workspace, the build's environment added. */
    int bash(Map call) {
        ProcessBuilder pb = new ProcessBuilder('bash', '-e', '-c', call.script as String)
        pb.directory(workspace)
        Map<String, String> penv = pb.environment()
        env.each { k, v -> penv.put(k.toString(), v.toString()) }
        pb.redirectErrorStream(true)
        Process p = pb.start()
        String out = p.inputStream.getText('UTF-8')
        int status = p.waitFor()
        call.output = out
        log << out
        return status
    }
}

class DockerStub {
    Harness h

    DockerStub(Harness h) {
        this.h = h
    }

    def image(String name) {
        return new DockerImage(h: h, name: name)
    }
}

class DockerImage {
    Harness h
    String name

    def inside(String args, Closure body) {
        h.calls << [step: 'docker.inside', image: name, args: args]
        return body()
    }

    def inside(Closure body) {
        return inside('', body)
    }
}
