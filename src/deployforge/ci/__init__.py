"""CI adapters: GitHub Actions (workflow commands, outputs, PR comments) and a local stand-in.

``github.py`` is the only module that imports actions-toolkit and PyGithub; the entrypoint
(``deployforge.action``) talks to a ``Sink`` and never to either library directly.
"""
