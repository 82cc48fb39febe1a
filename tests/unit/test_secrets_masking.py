"""The masking registry: what it replaces, in which forms, and what it leaves alone."""

from __future__ import annotations

import json
import threading

import pytest

from deployforge.secrets import masking, register_secret_value
from deployforge.vault import secret_ref


@pytest.fixture(autouse=True)
def _fresh_registry():
    masking.clear()
    yield
    masking.clear()


def test_registered_values_are_masked_in_every_common_form():
    masking.register("hunter2-secret")
    assert masking.mask("pw: hunter2-secret.") == "pw: ***."
    assert masking.mask(json.dumps({"p": "hunter2-secret"})) == '{"p": "***"}'
    masking.register('quo"te\\slash')
    assert masking.mask(json.dumps('quo"te\\slash')) == '"***"'  # the JSON-escaped form
    masking.register("a b/c?d")
    assert masking.mask("https://x/?v=a%20b%2Fc%3Fd") == "https://x/?v=***"  # the URL-encoded form


def test_multiline_values_are_masked_line_by_line():
    pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"
    masking.register(pem)
    assert masking.mask("key line MIIEvQIBADANBgkqhkiG9w0BAQEFAASC here") == "key line *** here"
    assert "MIIE" not in masking.mask(json.dumps({"private_key": pem}))


def test_longest_value_wins_and_short_values_are_ignored():
    masking.register("abcd")
    masking.register("abcdefgh")
    assert masking.mask("abcdefgh") == "***"
    masking.register("ab")
    assert masking.mask("ab") == "ab"
    assert "ab" not in masking.values()


def test_values_longest_first_and_listeners_see_each_value_once():
    seen: list[str] = []
    masking.register("first-1")
    masking.on_register(seen.append)
    masking.register("second-22")
    masking.register("second-22")
    assert seen == ["first-1", "second-22"]
    assert masking.values() == ["second-22", "first-1"]


def test_mask_data_masks_keys_and_nested_values():
    masking.register("s3cr3t-v")
    assert masking.mask_data({"s3cr3t-v": ["x s3cr3t-v", 3, None]}) == {"***": ["x ***", 3, None]}


def test_mapping_secrets_mask_every_field_but_a_service_account_keys_identifiers():
    register_secret_value(
        {
            "type": "service_account",
            "client_email": "ci@p.iam",
            "private_key": "PRIVATE-KEY-DATA",
            "token_uri": "http://127.0.0.1:9/token",
        }
    )
    assert masking.mask("PRIVATE-KEY-DATA") == "***"
    assert masking.mask("service_account ci@p.iam http://127.0.0.1:9/token") == (
        "service_account ci@p.iam http://127.0.0.1:9/token"
    )
    # fields of any other name are secret too: a DSN and a password under names no pattern knows
    register_secret_value({"dsn": "postgres://app:S3CRETdsnPW99@db/app", "pwd": "S3CRETpwdField77"})
    leaked = str({"dsn": "postgres://app:S3CRETdsnPW99@db/app", "pwd": "S3CRETpwdField77"})  # Python repr
    assert "S3CRET" not in masking.mask(leaked)
    assert all(len(v) > 3 and v not in "{}" for v in masking.values())  # no brace-only "secret" lines


def test_credentials_in_the_environment_are_masked_when_long_enough():
    masking.register_environment(
        {"VAULT_TOKEN": "hvs.CAESIJlongvaulttoken", "AWS_SECRET_ACCESS_KEY": "testing", "HOME": "/home/someone-long"}
    )
    assert masking.mask("t=hvs.CAESIJlongvaulttoken") == "t=***"
    assert masking.mask("key testing at /home/someone-long") == "key testing at /home/someone-long"


def test_a_json_text_secret_masks_its_fields_too():
    register_secret_value(json.dumps({"private_key_id": "kid-12345", "client_email": "e@x"}))
    assert masking.mask("kid-12345") == "***"


def test_registration_is_thread_safe():
    def worker(n: int) -> None:
        for i in range(200):
            masking.register(f"value-{n}-{i}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(masking.values()) == 800
    assert masking.mask("value-3-199") == "***"


@pytest.mark.parametrize(
    ("name", "path", "key"),
    [
        ("vault.prod.db_pass", "prod/db_pass", None),
        ("vault://cloud-secrets/gcp-prod-key", "cloud-secrets/gcp-prod-key", None),
        ("vault://kv/app#password", "kv/app", "password"),
        ("vault.kv.app#user", "kv/app", "user"),
        ("database/creds/ro", "database/creds/ro", None),
    ],
)
def test_dynamic_secret_names(name, path, key):
    ref = secret_ref(name)
    assert (ref.path, ref.key) == (path, key)
