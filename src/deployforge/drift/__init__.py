"""Drift detection and self-healing.

The flow (each step leaves an audit record)::

    detect.py     read live state through the providers (one batched listing per type and target,
                  every page) and compare it with the latest baseline
    diff.py       pure: attribute-level differences between a baseline and live attributes
    ids.py        pure: stable drift ids (DF-XXX-XXX) from environment, resource and paths
    classify.py   pure: built-in severity rules; rego.py lets users extend or override them
    ignore.py     the ignore file in the repo (reason and expiry per entry)
    remediate.py  remediation plans (revert / adopt / ignore), pure, and their execution
    healing.py    self-healing rules: impact analysis (pure) and actions
    report.py     pure renderings: console table, Markdown, JUnit
    issues.py     one GitHub issue per environment (opened, updated, closed)

Nothing here is imported by ``deployforge --help``; the cloud adapters are imported lazily.
"""
