"""Run a compiled workflow: independent steps in parallel, dependents after what they need.

The scheduler is independent of any cloud: it calls ``execute(step, params, ctx)`` for each step
(``deployforge.usecases.workflow`` passes one that dispatches to the provider's action). Semantics:

* a step starts when every step it needs has succeeded (or failed with ``continue_on_failure``);
* a failed step is retried ``retries`` times (backoff 0.5 s, 1 s, 2 s ... capped at 5 s);
* ``timeout`` bounds each attempt: the attempt is abandoned and its ``ctx.cancel`` set, so that the
  action's wait loops stop;
* a step that failed (without ``continue_on_failure``) stops every step that depends on it,
  directly or not: they are reported ``skipped`` with the failed step named, and the run fails;
  steps that do not depend on it still run;
* ``${steps.ID.outputs.NAME}`` in a step's ``with:`` is replaced by that output before it starts
  (a whole-value reference keeps the output's type).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from deployforge.errors import DeployForgeError, ProviderError
from deployforge.workflow.model import (
    FAILED,
    FAILED_ALLOWED,
    SKIPPED,
    SUCCEEDED,
    Step,
    StepResult,
    Workflow,
    WorkflowResult,
)
from deployforge.workflow.parse import STEP_REF

MAX_BACKOFF = 5.0
CLEANUP_GRACE = 30.0  # seconds an abandoned or interrupted step gets to cancel what it started


@dataclass
class ActionContext:
    """What an action handler gets besides its parameters."""

    workflow: str
    step: Step
    run_id: str
    provider: Any  # the step's target's provider (AwsProvider, GoogleProvider...)
    outputs: Mapping[str, Mapping[str, Any]]  # outputs of the steps that finished before this one
    deadline: float | None = None  # time.monotonic() value; None: no timeout
    cancel: threading.Event = field(default_factory=threading.Event)
    log: Callable[[str], None] = lambda _msg: None

    def check(self) -> None:
        """Raise when the attempt was cancelled or ran out of time (call it in wait loops)."""
        if self.cancel.is_set():
            raise ProviderError(f"step '{self.step.id}' was cancelled", code="Cancelled")
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise ProviderError(f"step '{self.step.id}' timed out", code="Timeout")

    def sleep(self, seconds: float) -> None:
        if self.deadline is not None:
            seconds = max(0.0, min(seconds, self.deadline - time.monotonic()))
        self.cancel.wait(seconds)
        self.check()


Executor = Callable[[Step, dict[str, Any], ActionContext], Mapping[str, Any]]
ContextFactory = Callable[[Step, Mapping[str, Mapping[str, Any]]], ActionContext]


class StepFailed(Exception):
    pass


def _lookup_output(outputs: Mapping[str, Mapping[str, Any]], step_id: str, name: str) -> Any:
    value: Any = outputs.get(step_id, {})
    for part in name.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        else:
            raise DeployForgeError(f"${{steps.{step_id}.outputs.{name}}}: step '{step_id}' has no output '{name}'")
    return value


def substitute(value: Any, outputs: Mapping[str, Mapping[str, Any]]) -> Any:
    """Replace ``${steps.ID.outputs.NAME}`` with the outputs of finished steps."""
    if isinstance(value, str):
        whole = STEP_REF.fullmatch(value.strip())
        if whole:
            return _lookup_output(outputs, whole.group(1), whole.group(2))

        def one(m: re.Match[str]) -> str:
            return str(_lookup_output(outputs, m.group(1), m.group(2)))

        return STEP_REF.sub(one, value)
    if isinstance(value, Mapping):
        return {k: substitute(v, outputs) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, outputs) for v in value]
    return value


def _attempt(step: Step, params: dict[str, Any], ctx: ActionContext, execute: Executor) -> Mapping[str, Any]:
    """One attempt, bounded by the step's timeout (the handler runs in its own thread)."""
    if step.timeout is None:
        return execute(step, params, ctx)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["outputs"] = execute(step, params, ctx)
        except BaseException as exc:  # handed to the scheduler's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"step {step.id}", daemon=True)
    thread.start()
    thread.join(step.timeout)
    if thread.is_alive():
        ctx.cancel.set()
        # give the action the time to clean up what it started (cancel a Dataflow job...) before a
        # retry starts the same work again under the same name
        thread.join(CLEANUP_GRACE)
        still = "; its cleanup is still running" if thread.is_alive() else ""
        raise ProviderError(f"timed out after {step.timeout:g}s{still}", code="Timeout")
    if "error" in box:
        raise box["error"]
    got: Mapping[str, Any] = box["outputs"]
    return got


def run_workflow(
    workflow: Workflow,
    execute: Executor,
    make_context: ContextFactory,
    *,
    parallelism: int = 10,
    on_event: Callable[[str, Step, StepResult | None], None] | None = None,
    backoff: float = 0.5,
) -> WorkflowResult:
    started = time.monotonic()
    results: dict[str, StepResult] = {}
    outputs: dict[str, Mapping[str, Any]] = {}
    lock = threading.Lock()
    emit = on_event or (lambda *_: None)

    active: dict[int, ActionContext] = {}  # the attempts running now, by id()
    stopping = threading.Event()

    def run_step(step: Step) -> StepResult:
        t0 = time.monotonic()
        attempts = 0
        error = ""
        while attempts <= step.retries and not stopping.is_set():
            attempts += 1
            with lock:
                known = dict(outputs)
            ctx = make_context(step, known)
            with lock:
                active[id(ctx)] = ctx
            if step.timeout is not None:
                ctx.deadline = time.monotonic() + step.timeout
            try:
                params = substitute(dict(step.params), known)
                emit("start" if attempts == 1 else "retry", step, None)
                got = dict(_attempt(step, params, ctx, execute) or {})
                return StepResult(step.id, step.uses, step.target, SUCCEEDED, attempts, time.monotonic() - t0, got)
            except DeployForgeError as exc:
                error = exc.message + (f" (hint: {exc.hint})" if exc.hint else "")
            except Exception as exc:  # a bug in an action: report it as this step's failure
                error = f"internal error: {type(exc).__name__}: {exc}"
            finally:
                with lock:
                    active.pop(id(ctx), None)
            if attempts <= step.retries and not stopping.is_set():
                time.sleep(min(MAX_BACKOFF, backoff * 2 ** (attempts - 1)))
        status = FAILED_ALLOWED if step.continue_on_failure else FAILED
        return StepResult(step.id, step.uses, step.target, status, attempts, time.monotonic() - t0, {}, error)

    pending = {s.id: s for s in workflow.steps}
    running: dict[Future[StepResult], Step] = {}
    with ThreadPoolExecutor(max_workers=max(1, parallelism), thread_name_prefix="workflow") as pool:
        try:
            _schedule(pool, pending, running, results, outputs, lock, run_step, emit, parallelism)
        except BaseException:
            # interrupted (Ctrl-C, SIGTERM): every running step is told to stop, and the pool's exit
            # waits while each cancels what it started (its wait loops see ctx.cancel)
            stopping.set()
            with lock:
                for ctx in active.values():
                    ctx.cancel.set()
            wait(list(running), timeout=CLEANUP_GRACE)
            raise
    ordered = tuple(results[s.id] for s in workflow.steps)
    status = SUCCEEDED if all(r.status in (SUCCEEDED, FAILED_ALLOWED) for r in ordered) else FAILED
    return WorkflowResult(workflow.name, status, ordered, time.monotonic() - started)


def _schedule(
    pool: ThreadPoolExecutor,
    pending: dict[str, Step],
    running: dict[Future[StepResult], Step],
    results: dict[str, StepResult],
    outputs: dict[str, Mapping[str, Any]],
    lock: threading.Lock,
    run_step: Callable[[Step], StepResult],
    emit: Callable[[str, Step, StepResult | None], None],
    parallelism: int,
) -> None:
    """Start steps as their needs finish, until none is pending or running."""
    while pending or running:
        for sid in list(pending):
            step = pending[sid]
            blockers = [n for n in step.needs if n in results and results[n].status in (FAILED, SKIPPED)]
            if blockers:
                failed_roots: list[str] = []
                for b in blockers:
                    failed_roots.extend(results[b].skipped_because or (b,))
                result = StepResult(
                    step.id, step.uses, step.target, SKIPPED, skipped_because=tuple(dict.fromkeys(failed_roots))
                )
                results[sid] = result
                del pending[sid]
                emit("skip", step, result)
                continue
            if all(n in results for n in step.needs) and len(running) < parallelism:
                del pending[sid]
                running[pool.submit(run_step, step)] = step
        if not running:
            if pending:  # cannot happen for a compiled (acyclic) workflow
                raise RuntimeError(f"workflow deadlock: {sorted(pending)}")
            break
        done, _ = wait(list(running), return_when=FIRST_COMPLETED)
        for future in done:
            step = running.pop(future)
            result = future.result()
            with lock:
                results[step.id] = result
                if result.status == SUCCEEDED:
                    outputs[step.id] = result.outputs
            emit("finish", step, result)
