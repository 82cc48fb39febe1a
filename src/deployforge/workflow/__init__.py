"""Cross-cloud workflows: named DAGs of provider actions (``aws.rds.create -> gcp.dataflow.start``).

* ``model``: frozen dataclasses (``Workflow``, ``Step``, ``WorkflowResult``: the RunResult section).
* ``catalog``: the actions each provider offers (metadata only; handlers load when a step runs).
* ``parse``: the ``workflows:`` section -> ``Workflow``, with located problems (targets, actions,
  parameters, ``needs``, ``${steps...}`` references, cycles).
* ``engine``: the parallel scheduler (retries, timeouts, skipped dependents).
* ``graph``: Mermaid and text renderings.
* ``service``: the use cases (``run``, ``list_workflows``, ``load_workflow``).
"""
