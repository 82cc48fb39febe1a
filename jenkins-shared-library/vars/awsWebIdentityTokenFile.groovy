// awsWebIdentityTokenFile(credentialsId: 'aws-jenkins'[, roleArn: 'arn:aws:iam::...:role/NAME']):
// a withCredentials binding for AWS web identity federation. See awsWebIdentityTokenFile.txt.
def call(Map options = [:]) {
    return new org.deployforge.jenkins.Credentials(this).awsWebIdentityTokenFile(options)
}
