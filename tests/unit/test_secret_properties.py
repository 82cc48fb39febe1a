"""``vault://`` references in resource properties: the engine over the in-memory provider.

The secret value reaches the provider on create/update and nothing else: not the plan (JSON or
console), not the state document, not a fingerprint; a plan after apply is clean. The resolver is
the real ``SecretResolver`` over a small in-process Vault client (the OpenBao server is used by
tests/e2e/test_secret_properties_e2e.py).
"""

from __future__ import annotations

import json
import uuid

import pytest

from deployforge.config.refs import parse_secret
from deployforge.engine.apply import Applier
from deployforge.engine.planner import make_plan, refresh
from deployforge.errors import ReferenceResolutionError
from deployforge.model.config import Resource
from deployforge.model.plan import Action, Outcome
from deployforge.providers.memory import MemoryProvider
from deployforge.render.console import render_plan
from deployforge.secrets import SecretResolver, masking
from deployforge.secrets.properties import (
    RedactingProvider,
    SecretIndex,
    display,
    resolve_properties,
    secret_keys,
    signature,
)
from deployforge.secrets.vault_client import VaultSecret
from deployforge.state.base import StateDocument
from deployforge.state.local import LocalBackend


class DictVault:
    """A Vault client holding secrets in a dict (the seam ``SecretResolver`` reads through)."""

    def __init__(self, secrets: dict[str, dict[str, str]]):
        self.secrets = secrets
        self.reads: list[str] = []

    def read(self, path: str, what: str) -> VaultSecret:
        self.reads.append(path)
        if path not in self.secrets:
            raise ReferenceResolutionError(f"{what}: no secret at '{path}'")
        return VaultSecret(path, dict(self.secrets[path]))


@pytest.fixture
def secret() -> str:
    return f"S3cr3t-{uuid.uuid4().hex}"


@pytest.fixture
def vault(secret):
    return DictVault({"secret/app": {"color": secret, "other": f"Other-{uuid.uuid4().hex}"}})


def res(name="app", **props):
    return Resource(name=name, type="memory_object", target="mem", properties={"name": name, **props}, tags={})


def plan_for(resources, state, provider):
    resources = {r.name: r for r in resources}
    observed = refresh(resources, state, {"mem": provider})
    return make_plan(resources, state, observed, provider.type_info, environment="test", config_hash="h")


def resolver_for(vault):
    resolver = SecretResolver({}, client=vault)

    def resolve(spec):
        from dataclasses import replace

        return replace(
            spec, properties=resolve_properties(spec.properties, resolver.resolve, f"resources.{spec.name}.properties")
        )

    return resolve


def apply(resources, state, provider, backend, vault):
    the_plan = plan_for(resources, state, provider)
    applier = Applier(
        plan=the_plan,
        resources={r.name: r for r in resources},
        providers={"mem": provider},
        backend=backend,
        state=state,
        run_id="run-1",
        resolve_secrets=resolver_for(vault) if vault is not None else None,
    )
    return the_plan, applier.run()


def stored(provider, name):
    return next(obj for (_, _), obj in provider._objects.items() if obj["name"] == name)


def test_display_and_signature_show_references_only():
    ref = parse_secret("vault://secret/app#color")
    assert display(ref) == "(secret: vault://secret/app#color)"
    assert display({"a": [ref, 1]}) == {"a": ["(secret: vault://secret/app#color)", 1]}
    assert signature(ref) == "vault://secret/app#color"
    assert secret_keys({"name": "x", "labels": {"db": ref}, "size": 1}) == {
        "labels": '{"db":"(secret: vault://secret/app#color)"}'
    }


def test_plan_shows_the_reference_and_never_contacts_vault(secret, vault):
    provider = MemoryProvider()
    ref = parse_secret("vault://secret/app#color")
    the_plan = plan_for([res(color=ref, labels={"db": ref})], StateDocument("test"), provider)
    [rp] = the_plan.resources
    assert rp.action is Action.CREATE
    changes = {c.key: c.after for c in rp.changes}
    assert changes["color"] == "(secret: vault://secret/app#color)"
    assert changes["labels"] == {"db": "(secret: vault://secret/app#color)"}
    text = json.dumps(the_plan.to_json())
    assert "vault://secret/app#color" in text and secret not in text
    rendered = render_plan(the_plan)
    assert "color  = (secret: vault://secret/app#color)" in rendered
    assert vault.reads == []  # planning needs no value


def test_apply_sends_the_value_and_stores_only_the_reference(tmp_path, secret, vault):
    provider = MemoryProvider()
    backend = LocalBackend(tmp_path)
    state = StateDocument("test")
    ref = parse_secret("vault://secret/app#color")
    _, outcome = apply([res(color=ref, size=3)], state, provider, backend, vault)
    assert outcome.ok
    assert stored(provider, "app")["color"] == secret  # the cloud got the real value
    assert secret in masking.values()  # and it is masked everywhere output is written
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files
    for path in files:
        assert secret not in path.read_text(encoding="utf-8"), path
    entry = backend.read("test").resources["app"]
    assert entry["secrets"] == {"color": "vault://secret/app#color"}
    assert entry["attributes"]["color"] == "(secret: vault://secret/app#color)"
    assert entry["attributes"]["size"] == 3

    # the next plan is clean, and its fingerprint does not depend on the value
    again = plan_for([res(color=ref, size=3)], backend.read("test"), provider)
    assert not again.has_changes
    assert secret not in json.dumps(again.to_json())
    stored(provider, "app")["color"] = "Rotated-value-in-the-cloud"
    rotated = plan_for([res(color=ref, size=3)], backend.read("test"), provider)
    assert not rotated.has_changes  # write-only: the value is not compared, only the reference
    assert rotated.resources[0].live_fingerprint == again.resources[0].live_fingerprint


def test_a_new_reference_is_an_update_that_writes_the_new_value(tmp_path, secret, vault):
    provider = MemoryProvider()
    backend = LocalBackend(tmp_path)
    apply([res(color=parse_secret("vault://secret/app#color"))], StateDocument("test"), provider, backend, vault)
    new_ref = parse_secret("vault://secret/app#other")
    the_plan, outcome = apply([res(color=new_ref)], backend.read("test"), provider, backend, vault)
    [rp] = the_plan.resources
    assert rp.action is Action.UPDATE
    [change] = rp.changes
    assert (change.key, change.before, change.after) == ("color", "(sensitive)", "(secret: vault://secret/app#other)")
    assert "(sensitive) -> (secret: vault://secret/app#other)" in render_plan(the_plan)
    assert outcome.ok
    assert stored(provider, "app")["color"] == vault.secrets["secret/app"]["other"]
    assert backend.read("test").resources["app"]["secrets"] == {"color": "vault://secret/app#other"}
    assert not plan_for([res(color=new_ref)], backend.read("test"), provider).has_changes


def test_a_literal_value_moved_to_vault_is_rewritten_once(tmp_path, secret, vault):
    provider = MemoryProvider()
    backend = LocalBackend(tmp_path)
    apply([res(color="blue")], StateDocument("test"), provider, backend, vault)
    ref = parse_secret("vault://secret/app#color")
    the_plan, outcome = apply([res(color=ref)], backend.read("test"), provider, backend, vault)
    assert [c.key for c in the_plan.resources[0].changes] == ["color"]
    assert outcome.ok and stored(provider, "app")["color"] == secret
    assert not plan_for([res(color=ref)], backend.read("test"), provider).has_changes
    assert all(secret not in p.read_text(encoding="utf-8") for p in tmp_path.rglob("*") if p.is_file())


def test_unchanged_secret_is_not_read_when_another_property_changes(tmp_path, vault):
    provider = MemoryProvider()
    backend = LocalBackend(tmp_path)
    ref = parse_secret("vault://secret/app#color")
    apply([res(color=ref, size=1)], StateDocument("test"), provider, backend, vault)
    reads = len(vault.reads)
    the_plan, outcome = apply([res(color=ref, size=2)], backend.read("test"), provider, backend, vault)
    assert [c.key for c in the_plan.resources[0].changes] == ["size"]
    assert outcome.ok and stored(provider, "app")["size"] == 2
    assert len(vault.reads) == reads  # the secret was not needed
    assert backend.read("test").resources["app"]["secrets"] == {"color": "vault://secret/app#color"}


def test_a_missing_key_fails_the_resource_before_anything_is_created(tmp_path, vault):
    provider = MemoryProvider()
    backend = LocalBackend(tmp_path)
    ref = parse_secret("vault://secret/app#colour")
    _, outcome = apply([res(color=ref)], StateDocument("test"), provider, backend, vault)
    [result] = outcome.results
    assert result.outcome is Outcome.FAILED
    assert "resources.app.properties.color: vault://secret/app#colour" in result.error
    assert "has no key 'colour'" in result.error and "color, other" in (result.hint or "")
    assert not [c for c in provider.calls if c[0] == "create"]
    assert "app" not in backend.read("test").resources and not backend.read("test").pending


def test_without_a_resolver_secret_properties_are_refused(tmp_path):
    provider = MemoryProvider()
    _, outcome = apply(
        [res(color=parse_secret("vault://secret/app#color"))],
        StateDocument("test"),
        provider,
        LocalBackend(tmp_path),
        None,
    )
    [result] = outcome.results
    assert result.outcome is Outcome.FAILED and "no secrets resolver" in result.error
    assert not [c for c in provider.calls if c[0] == "create"]


def test_redacting_provider_hides_recorded_secrets_in_every_read(tmp_path, secret, vault):
    provider = MemoryProvider()
    backend = LocalBackend(tmp_path)
    apply(
        [res(color=parse_secret("vault://secret/app#color"), size=4)], StateDocument("test"), provider, backend, vault
    )
    state = backend.read("test")
    index = SecretIndex()
    index.load(state)
    wrapped = RedactingProvider(provider, index)
    entry = state.resources["app"]
    assert provider.read("memory_object", entry["id"]).attributes["color"] == secret  # the raw provider
    live = wrapped.read("memory_object", entry["id"])
    assert live.attributes["color"] == "(secret: vault://secret/app#color)" and live.attributes["size"] == 4
    [listed] = list(wrapped.list("memory_object"))
    assert listed.attributes["color"] == "(secret: vault://secret/app#color)"
    assert wrapped.resource_types() == provider.resource_types()  # everything else passes through
