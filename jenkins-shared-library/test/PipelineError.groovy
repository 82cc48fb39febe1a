/** What the `error` step throws in the harness (Jenkins throws hudson.AbortException). */
class PipelineError extends RuntimeException {
    PipelineError(String message) {
        super(message)
    }
}
