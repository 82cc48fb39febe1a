"""The use cases: one module per command (or family of commands), each a function a front door calls.

Front doors (``cli/``, ``action/``; Jenkins runs the CLI) build a ``workspace.Workspace`` from their
``Options`` and call these functions; each returns a ``RunResult`` (or the value its command shows)
and never prints or exits. Below this layer, the domain packages (config, engine, deploy, drift,
policy, workflow, audit, ...) and the adapters never import it: they take plain values.

Nothing is imported here, so a command imports only the use cases it runs.
"""
