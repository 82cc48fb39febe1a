package org.deployforge.jenkins

import com.cloudbees.groovy.cps.NonCPS

/**
 * Credential bindings the product page uses that no Jenkins plugin provides under that name.
 *
 * `awsWebIdentityTokenFile(credentialsId: 'aws-jenkins')` is the product page's binding for AWS
 * web identity federation (OIDC): the Secret file credential holding the identity token is bound
 * with the Credentials Binding plugin's `file(...)`, to `AWS_WEB_IDENTITY_TOKEN_FILE`; the role
 * comes from `roleArn:` or from `AWS_ROLE_ARN` in the pipeline's environment. boto3 (and every AWS
 * SDK) reads those two variables and calls `sts:AssumeRoleWithWebIdentity` itself.
 */
class Credentials implements Serializable {

    static final String TOKEN_VARIABLE = 'AWS_WEB_IDENTITY_TOKEN_FILE'
    static final List<String> OPTIONS = ['credentialsId', 'roleArn', 'variable', 'sessionName']

    final def script

    Credentials(def script) {
        this.script = script
    }

    def awsWebIdentityTokenFile(Map options) {
        List<String> problems = webIdentityProblems(options ?: [:], script.env.AWS_ROLE_ARN as String)
        if (problems) {
            script.error(problems.join('\n'))
        }
        if (options.roleArn) {
            // scripted-pipeline env: visible to every later sh step of the build, as the SDKs need
            script.env.AWS_ROLE_ARN = options.roleArn.toString()
        }
        if (options.sessionName) {
            script.env.AWS_ROLE_SESSION_NAME = options.sessionName.toString()
        }
        return script.file(credentialsId: options.credentialsId.toString(),
                           variable: (options.variable ?: TOKEN_VARIABLE).toString())
    }

    @NonCPS
    static List<String> webIdentityProblems(Map options, String roleFromEnv) {
        String step = 'awsWebIdentityTokenFile'
        List<String> out = []
        options.keySet().each { key ->
            if (!(key.toString() in OPTIONS)) {
                out << "${step}: unknown option '${key}'. Valid options: ${OPTIONS.join(', ')}".toString()
            }
        }
        if (!options.credentialsId) {
            out << "${step}: option 'credentialsId' is required: the id of a Secret file credential holding the web identity (OIDC) token".toString()
        }
        String role = options.roleArn ? options.roleArn.toString() : roleFromEnv
        if (!role) {
            out << ("${step}: no role to assume: pass roleArn: 'arn:aws:iam::123456789012:role/NAME', " +
                    "or set AWS_ROLE_ARN in the pipeline's environment {} block").toString()
        } else if (!(role ==~ /arn:aws[a-z-]*:iam::[0-9]{12}:role\/[\w+=,.@\/-]+/)) {
            out << "${step}: '${role}' is not an IAM role ARN (arn:aws:iam::123456789012:role/NAME)".toString()
        }
        if (options.variable && !(options.variable.toString() ==~ /[A-Za-z_][A-Za-z0-9_]*/)) {
            out << "${step}: option 'variable' must be an environment variable name, not '${options.variable}'".toString()
        }
        return out
    }
}
