"""Policy enforcement: Rego policies (through regopy) on Terraform, YAML, JSON, the config and plans.

- ``model``: ``Finding`` and ``PolicyReport`` (pure, frozen; the ``policy`` section of RunResult)
- ``inputs``: files -> the documents policies see (conftest's per-file shape, and per-resource)
- ``engine``: the regopy adapter (the only module importing regopy)
- ``evaluate``: the use case (``evaluate_paths``, ``evaluate``)
- ``gate``: ``check_plan(config, plan)``, the gate of ``plan`` and ``run``
- ``report``: console table, JUnit suite, SARIF, GitHub annotations
- ``testing``: ``deployforge policy test`` (``test_*`` rules, like ``opa test``)
"""
