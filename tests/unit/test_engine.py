"""Pure diff and planning, DAG ordering, and the apply engine over the in-memory provider."""

from __future__ import annotations

import threading
import time

import pytest

from deployforge.config.refs import UNKNOWN
from deployforge.engine.apply import Applier
from deployforge.engine.dag import dependents_closure, find_cycle, topological_order
from deployforge.engine.diff import diff_attributes
from deployforge.engine.planner import make_plan, refresh
from deployforge.model.config import Resource
from deployforge.model.plan import Action, Outcome
from deployforge.providers.base import TypeInfo
from deployforge.providers.memory import MemoryProvider
from deployforge.state.base import StateDocument
from deployforge.state.local import LocalBackend


def res(name, rtype="memory_object", deps=(), **props):
    return Resource(
        name=name,
        type=rtype,
        target="mem",
        properties={"name": name, **props},
        tags={"owner": "team"},
        depends_on=tuple(deps),
    )


def plan_for(resources, state, provider):
    resources = {r.name: r for r in resources}
    observed = refresh(resources, state, {"mem": provider})
    return make_plan(resources, state, observed, provider.type_info, environment="test", config_hash="h")


def run_apply(resources, state, provider, backend, **kwargs):
    the_plan = plan_for(resources, state, provider)
    applier = Applier(
        plan=the_plan,
        resources={r.name: r for r in resources},
        providers={"mem": provider},
        backend=backend,
        state=state,
        run_id="run-1",
        **kwargs,
    )
    return the_plan, applier.run()


# -- diff --------------------------------------------------------------------


def test_diff_only_compares_declared_keys_and_all_tags():
    info = TypeInfo(type="t", force_new=frozenset({"zone"}), defaults={"encrypted": False})
    live = {"size": 10, "zone": "a", "extra": "cloud-default", "tags": {"owner": "x", "stray": "1"}}
    changes = diff_attributes({"size": 10, "zone": "b", "encrypted": False}, {"owner": "x"}, live, info)
    assert [(c.key, c.before, c.after, c.forces_replacement) for c in changes] == [
        ("zone", "a", "b", True),
        ("tags", {"owner": "x", "stray": "1"}, {"owner": "x"}, False),
    ]


def test_diff_nested_mappings_compare_declared_keys_only():
    info = TypeInfo(type="t")
    live = {"encryption": {"sse_algorithm": "AES256", "kms_key_id": None}, "tags": {}}
    assert diff_attributes({"encryption": {"sse_algorithm": "AES256"}}, {}, live, info) == ()
    [change] = diff_attributes({"encryption": {"sse_algorithm": "aws:kms"}}, {}, live, info)
    assert change.key == "encryption"


def test_diff_booleans_are_not_numbers():
    info = TypeInfo(type="t")
    [change] = diff_attributes({"flag": True}, {}, {"flag": 1, "tags": {}}, info)
    assert change.before == 1 and change.after is True


# -- dag ---------------------------------------------------------------------


def test_topological_order_respects_dependencies_and_input_order():
    deps = {"c": ("a",), "a": (), "b": (), "d": ("c", "b")}
    # c comes first in the input, so it goes as soon as a is done
    assert topological_order(deps) == ["a", "c", "b", "d"]


def test_find_cycle_returns_the_path():
    assert find_cycle({"a": ("b",), "b": ("c",), "c": ("a",), "d": ()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": ("b",), "b": ()}) is None


def test_dependents_closure():
    deps = {"a": (), "b": ("a",), "c": ("b",), "d": ()}
    assert dependents_closure(deps, {"a"}) == {"b", "c"}


# -- planning ----------------------------------------------------------------


def test_plan_create_then_noop_after_apply(tmp_path):
    provider = MemoryProvider()
    backend = LocalBackend(tmp_path)
    state = StateDocument(environment="test")
    resources = [res("a", size=1), res("b", deps=["a"], parent="${resources.a.id}")]
    first = plan_for(resources, state, provider)
    assert [(r.name, r.action) for r in first.resources] == [("a", Action.CREATE), ("b", Action.CREATE)]
    parent = next(c for c in first.resources[1].changes if c.key == "parent")
    assert parent.after is UNKNOWN
    _, outcome = run_apply(resources, state, provider, backend)
    assert outcome.ok
    saved = backend.read("test")
    assert saved.resources["b"]["attributes"]["parent"] == saved.resources["a"]["id"]
    again = plan_for(resources, saved, provider)
    assert not again.has_changes


def test_plan_update_replace_and_delete(tmp_path):
    provider = MemoryProvider()
    backend = LocalBackend(tmp_path)
    state = StateDocument(environment="test")
    run_apply(
        [res("v", "memory_volume", size=1, zone="a"), res("gone", size=1), res("same")],
        state,
        provider,
        backend,
    )
    state = backend.read("test")
    the_plan = plan_for([res("v", "memory_volume", size=2, zone="b"), res("same")], state, provider)
    actions = {r.name: r.action for r in the_plan.resources}
    assert actions == {"v": Action.REPLACE, "same": Action.NOOP, "gone": Action.DELETE}
    v = next(r for r in the_plan.resources if r.name == "v")
    assert {c.key: c.forces_replacement for c in v.changes} == {"size": False, "zone": True}
    old_id = state.resources["v"]["id"]
    the_plan, outcome = run_apply([res("v", "memory_volume", size=2, zone="b"), res("same")], state, provider, backend)
    assert outcome.ok
    state = backend.read("test")
    assert "gone" not in state.resources and state.resources["v"]["id"] != old_id
    assert provider.read("memory_volume", old_id) is None


def test_out_of_band_deletion_plans_a_create(tmp_path):
    provider = MemoryProvider()
    backend = LocalBackend(tmp_path)
    run_apply([res("a")], StateDocument(environment="test"), provider, backend)
    state = backend.read("test")
    provider.delete("memory_object", state.resources["a"]["id"])
    [rp] = plan_for([res("a")], state, provider).resources
    assert rp.action is Action.CREATE and "deleted outside DeployForge" in rp.note
    # gone because DeployForge's own replace was interrupted (journalled): the note says so
    state.pending.append({"resource": "a", "action": "replace", "run_id": "DF-TRC-KILLED"})
    [rp] = plan_for([res("a")], state, provider).resources
    assert rp.action is Action.CREATE
    assert rp.note == "an interrupted replace (run DF-TRC-KILLED) left it deleted; it will be created again"


def test_plan_of_ten_thousand_resources_is_correct():
    provider = MemoryProvider()
    resources = [res(f"r{i}", deps=[f"r{i - 1}"] if i % 10 else []) for i in range(10_000)]
    the_plan = plan_for(resources, StateDocument(environment="test"), provider)
    assert the_plan.counts()["create"] == 10_000
    names = [r.name for r in the_plan.resources]
    assert names.index("r9") > names.index("r8")


# -- apply -------------------------------------------------------------------


def test_failure_skips_dependents_and_independent_branches_finish(tmp_path):
    provider = MemoryProvider(fail_on={"b"})
    backend = LocalBackend(tmp_path)
    resources = [res("a"), res("b", deps=["a"]), res("c", deps=["b"]), res("d", deps=["c"]), res("x")]
    _, outcome = run_apply(resources, StateDocument(environment="test"), provider, backend)
    by_name = {r.name: r for r in outcome.results}
    assert by_name["a"].outcome is Outcome.SUCCEEDED and by_name["x"].outcome is Outcome.SUCCEEDED
    assert by_name["b"].outcome is Outcome.FAILED and "simulated failure" in by_name["b"].error
    assert by_name["c"].outcome is Outcome.SKIPPED and "aws" not in by_name["c"].reason
    assert by_name["c"].reason == "depends on memory_object.b, which failed"
    assert by_name["d"].outcome is Outcome.SKIPPED
    state = backend.read("test")
    assert set(state.resources) == {"a", "x"} and state.pending == []
    assert not outcome.ok


def test_deletes_are_skipped_when_something_failed(tmp_path):
    provider = MemoryProvider()
    backend = LocalBackend(tmp_path)
    run_apply([res("a"), res("old")], StateDocument(environment="test"), provider, backend)
    provider.fail_on = {"a"}
    state = backend.read("test")
    _, outcome = run_apply([res("a", size=9)], state, provider, backend)
    old = next(r for r in outcome.results if r.name == "old")
    assert old.outcome is Outcome.SKIPPED and "earlier changes failed" in old.reason
    assert "old" in backend.read("test").resources


class SlowProvider(MemoryProvider):
    def __init__(self, delay):
        super().__init__()
        self.delay = delay
        self.active = 0
        self.peak = 0
        self._count_lock = threading.Lock()

    def create(self, spec):
        with self._count_lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        time.sleep(self.delay)
        try:
            return super().create(spec)
        finally:
            with self._count_lock:
                self.active -= 1


def test_parallelism_is_bounded(tmp_path):
    provider = SlowProvider(0.05)
    resources = [res(f"r{i}") for i in range(12)]
    _, outcome = run_apply(
        resources, StateDocument(environment="test"), provider, LocalBackend(tmp_path), parallelism=3
    )
    assert outcome.ok and provider.peak == 3


def test_dependencies_finish_before_dependents_start(tmp_path):
    provider = SlowProvider(0.02)
    order = []
    resources = [res("a"), res("b", deps=["a"]), res("c", deps=["a"]), res("d", deps=["b", "c"])]

    def on_event(kind, rp, result):
        order.append((kind, rp.name))

    run_apply(resources, StateDocument(environment="test"), provider, LocalBackend(tmp_path), on_event=on_event)
    assert order.index(("done", "a")) < order.index(("start", "b"))
    assert order.index(("done", "b")) < order.index(("start", "d"))
    assert order.index(("done", "c")) < order.index(("start", "d"))


def test_cancel_stops_new_work_and_records_what_finished(tmp_path):
    provider = SlowProvider(0.05)
    backend = LocalBackend(tmp_path)
    cancel = threading.Event()
    resources = [res(f"r{i}", deps=[f"r{i - 1}"] if i else []) for i in range(6)]

    def on_event(kind, rp, result):
        if kind == "done" and rp.name == "r1":
            cancel.set()

    _, outcome = run_apply(
        resources, StateDocument(environment="test"), provider, backend, cancel=cancel, on_event=on_event
    )
    assert outcome.interrupted and not outcome.ok
    state = backend.read("test")
    assert set(state.resources) == {"r0", "r1"}
    skipped = [r.name for r in outcome.results if r.outcome is Outcome.SKIPPED]
    assert skipped == ["r2", "r3", "r4", "r5"]


def test_interrupted_create_is_adopted_not_duplicated(tmp_path):
    provider = MemoryProvider()
    backend = LocalBackend(tmp_path)
    # simulate a run killed after the cloud call but before the state write
    provider.create(spec=__import__("deployforge.engine.planner", fromlist=["spec_for"]).spec_for(res("a"), {}))
    state = StateDocument(environment="test", pending=[{"resource": "a", "action": "create", "run_id": "dead"}])
    backend.write(state)
    the_plan = plan_for([res("a")], backend.read("test"), provider)
    [rp] = the_plan.resources
    assert rp.action is Action.NOOP and "adopted" in rp.note
    _, outcome = run_apply([res("a")], backend.read("test"), provider, backend)
    assert outcome.ok
    after = backend.read("test")
    assert after.pending == [] and "a" in after.resources
    assert len(list(provider.list("memory_object"))) == 1


@pytest.mark.parametrize("count", [1, 3])
def test_state_serial_grows_with_every_write(tmp_path, count):
    provider = MemoryProvider()
    backend = LocalBackend(tmp_path)
    run_apply([res(f"r{i}") for i in range(count)], StateDocument(environment="test"), provider, backend)
    # journal + finish per resource
    assert backend.read("test").serial == 2 * count


def test_a_failure_line_names_the_resource_once() -> None:
    from deployforge.model.plan import Action, ApplyResult, Outcome, ResourceResult
    from deployforge.render.console import render_apply

    failed = ResourceResult(
        "web",
        "aws_autoscaling_group",
        Action.CREATE,
        Outcome.FAILED,
        error="aws_autoscaling_group.web: ValidationError: max_size < min_size",
    )
    text = render_apply(ApplyResult("dev", (failed,)))
    assert "  failed:  aws_autoscaling_group.web: ValidationError: max_size < min_size" in text.splitlines()
    assert text.count("aws_autoscaling_group.web") == 1
