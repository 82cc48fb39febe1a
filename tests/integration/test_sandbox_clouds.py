"""The sandbox's Vault seeding against a real OpenBao dev server, and reference discovery."""

from __future__ import annotations

from tests.fakes.vault import openbao_server  # noqa: F401

from deployforge.model.config import SecretRef
from deployforge.providers.sandbox.clouds import references, seed


def test_references_are_found_in_every_corner_of_a_config() -> None:
    config = {
        "targets": {"g": {"credentials": SecretRef("cloud-secrets/gcp-key", None, "vault://cloud-secrets/gcp-key")}},
        "resources": {"db": {"properties": {"password": "vault://secret/db#password"}}},
        "hooks": [{"env": {"TOKEN": "vault://secret/db#password"}}],  # the same one twice: once
        "workflows": {"etl": {"steps": [{"with": {"key": "vault://secret/etl#api_key", "n": 3}}]}},
        "notifications": {"slack": {"webhook_url": "https://hooks.example/x"}},
    }
    assert sorted(references(config), key=str) == [
        ("cloud-secrets/gcp-key", None),
        ("secret/db", "password"),
        ("secret/etl", "api_key"),
    ]


def test_seed_writes_what_is_missing_once_and_never_overwrites(openbao) -> None:
    refs = [("sandbox-seed/app", "password"), ("sandbox-seed/app", "user"), ("secret/seed-other", None)]
    openbao.put("seed-other", value="kept-as-it-was")
    first = seed(openbao.addr, openbao.token, refs)
    assert sorted(first) == ["vault://sandbox-seed/app#password", "vault://sandbox-seed/app#user"]
    app = openbao.client.secrets.kv.v2.read_secret_version(path="app", mount_point="sandbox-seed")["data"]["data"]
    assert set(app) == {"password", "user"} and app["user"].startswith("sandbox-") and len(app["password"]) >= 20
    assert seed(openbao.addr, openbao.token, refs) == []  # stable across commands
    again = openbao.client.secrets.kv.v2.read_secret_version(path="app", mount_point="sandbox-seed")["data"]["data"]
    assert again == app
    other = openbao.client.secrets.kv.v2.read_secret_version(path="seed-other", mount_point="secret")["data"]["data"]
    assert other == {"value": "kept-as-it-was"}
