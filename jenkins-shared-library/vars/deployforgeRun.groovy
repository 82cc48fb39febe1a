// deployforgeRun(...): runs `deployforge run`. See deployforgeRun.txt.
def call(Map options = [:]) {
    return new org.deployforge.jenkins.DeployForge(this).run('deployforgeRun', 'run', options)
}
