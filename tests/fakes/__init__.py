"""Local fakes of services that have no emulator, each following the documented REST API and
checking what it is sent (GitHub REST, Slack webhooks, Cloud Run, Dataflow, Google's OAuth token
endpoint). Real emulators (moto, fake-gcs-server, OpenBao) are started by fixtures instead."""
