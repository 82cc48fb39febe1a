// deployforgeValidate(...): runs `deployforge validate`. See deployforgeValidate.txt.
def call(Map options = [:]) {
    return new org.deployforge.jenkins.DeployForge(this).run('deployforgeValidate', 'validate', options)
}
