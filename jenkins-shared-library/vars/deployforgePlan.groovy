// deployforgePlan(...): runs `deployforge plan`. See deployforgePlan.txt.
def call(Map options = [:]) {
    return new org.deployforge.jenkins.DeployForge(this).run('deployforgePlan', 'plan', options)
}
