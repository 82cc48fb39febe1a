"""CI systems: which one a command runs under, and how a step reports to it.

``platform.py`` is the seam: ``detect(environ)`` returns the CI platform (GitHub Actions, Jenkins,
GitLab CI, another CI, or the local machine), and every read of a CI system's variables happens in
that platform's module: ``github.py`` (also the runner's sink, the sticky PR comment and the check
run, through actions-toolkit and the GitHub REST API), ``jenkins.py`` (also where a Jenkins build's
PR comment goes), ``gitlab.py``, ``local.py`` (the generic CI, the local machine, the plain-text
sink). The Action's entrypoint (``deployforge.action``) talks to a sink, never to a library.
"""
