// The Groovy test runner: one JVM for every test file (test/*Test.groovy).
// Usage (from jenkins-shared-library/): groovy -cp src:test/stubs:test test/run.groovy [name filter]
// Prints one line per test and `N passed, N failed`; exits 1 when any test failed.

File root = new File('.').canonicalFile
String filter = args ? args[0] : null
List<List> tests = []
def registry = new Binding()
registry.setVariable('test', { String name, Closure body -> tests << [name, body] })
new File(root, 'test').listFiles().findAll { it.name.endsWith('Test.groovy') }.sort { it.name }.each { File f ->
    def shell = new GroovyShell(this.class.classLoader, registry)
    shell.evaluate(f)
}
int passed = 0
int failed = 0
long started = System.currentTimeMillis()
tests.each { name, body ->
    if (filter && !name.contains(filter)) {
        return
    }
    def h = new Harness(root)
    try {
        body.call(h)
        passed++
        println "ok   ${name}"
    } catch (Throwable t) {
        failed++
        println "FAIL ${name}"
        println t.toString().readLines().take(40).collect { '     ' + it }.join('\n')
        if (!(t instanceof AssertionError)) {
            t.stackTrace.findAll { it.fileName?.endsWith('.groovy') }.take(8).each { println "       at ${it}" }
        }
    }
}
println "${passed} passed, ${failed} failed (${System.currentTimeMillis() - started} ms)"
System.exit(failed ? 1 : 0)
