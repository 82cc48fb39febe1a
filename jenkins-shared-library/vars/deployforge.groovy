// Generic step: deployforge(command: 'plan', environment: 'dev'). See deployforge.txt.
def call(Map options = [:]) {
    return new org.deployforge.jenkins.DeployForge(this).generic(options)
}

def call(String command, Map options = [:]) {
    return new org.deployforge.jenkins.DeployForge(this).generic([command: command] + options)
}
