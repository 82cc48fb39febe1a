// deployforgeDrift(...): runs `deployforge drift`. See deployforgeDrift.txt.
def call(Map options = [:]) {
    return new org.deployforge.jenkins.DeployForge(this).run('deployforgeDrift', 'drift', options)
}
