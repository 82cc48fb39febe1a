"""vault:// resolution and dynamic_secret against a real OpenBao dev server on loopback."""

from __future__ import annotations

import time
import uuid

import pytest
from tests.fakes.vault import openbao_server  # noqa: F401

from deployforge.errors import ReferenceResolutionError
from deployforge.model.config import SecretRef
from deployforge.secrets import SecretResolver, masking, parse_reference
from deployforge.vault import dynamic_secret, revoke_all


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_kv2_reads_a_key_and_registers_it_for_masking(openbao):
    path = _name("app")
    openbao.put(path, password="pa55-" + path, user="deployer")
    resolver = SecretResolver(openbao.env())
    value = resolver.resolve(parse_reference(f"vault://secret/{path}#password"), "targets.x.credentials")
    assert value == "pa55-" + path
    assert "pa55-" + path in masking.values()
    assert masking.mask(f"password is pa55-{path}!") == "password is ***!"
    # the non-secret neighbour was not picked, so it is not masked
    assert masking.mask("deployer") == "deployer"


def test_a_secret_with_one_field_yields_the_field_and_several_fields_a_mapping(openbao):
    one, many = _name("one"), _name("many")
    openbao.put(one, value="only-" + one)
    openbao.put(many, client_email="ci@example.iam", private_key="-----BEGIN KEY-----\nAAAA" + many)
    resolver = SecretResolver(openbao.env())
    assert resolver.resolve(parse_reference(f"vault://secret/{one}")) == "only-" + one
    got = resolver.resolve(parse_reference(f"vault://secret/{many}"))
    assert got == {"client_email": "ci@example.iam", "private_key": "-----BEGIN KEY-----\nAAAA" + many}
    assert masking.mask("AAAA" + many) == "***"  # a line of the key
    assert masking.mask("ci@example.iam") == "ci@example.iam"  # an identifier, not a secret


def test_each_path_is_read_once_per_resolver(openbao):
    path = _name("cached")
    openbao.put(path, a="first-value", b="second-value")
    resolver = SecretResolver(openbao.env())
    assert resolver.resolve(parse_reference(f"vault://secret/{path}#a")) == "first-value"
    openbao.put(path, a="changed-value", b="second-value")
    assert resolver.resolve(parse_reference(f"vault://secret/{path}#b")) == "second-value"
    assert resolver.resolve(parse_reference(f"vault://secret/{path}#a")) == "first-value"


def test_a_missing_key_names_the_reference_and_the_keys(openbao):
    path = _name("keys")
    openbao.put(path, alpha="x1234", beta="y1234")
    with pytest.raises(ReferenceResolutionError) as info:
        SecretResolver(openbao.env()).resolve(parse_reference(f"vault://secret/{path}#gamma"), "workflows.etl.db")
    message = info.value.message
    assert f"workflows.etl.db: vault://secret/{path}#gamma" in message and "no key 'gamma'" in message
    assert info.value.hint == "keys of that secret: alpha, beta"
    assert info.value.exit_code == 2
    assert "x1234" not in message + info.value.hint


def test_a_missing_path_is_reported(openbao):
    with pytest.raises(ReferenceResolutionError, match="no secret at 'secret/does-not-exist'"):
        SecretResolver(openbao.env()).resolve(parse_reference("vault://secret/does-not-exist#k"))


def test_unreachable_vault_is_a_clear_input_error(dead_port):
    env = {"VAULT_ADDR": f"http://127.0.0.1:{dead_port}", "VAULT_TOKEN": "t"}
    with pytest.raises(ReferenceResolutionError) as info:
        SecretResolver(env).resolve(SecretRef("secret/x", "k", "vault://secret/x#k"), "targets.gcp.credentials")
    assert "targets.gcp.credentials: vault://secret/x#k: cannot reach Vault at http://127.0.0.1:" in info.value.message
    assert info.value.exit_code == 2


def test_no_vault_configured_says_what_to_set():
    with pytest.raises(ReferenceResolutionError) as info:
        SecretResolver({}).resolve(SecretRef("secret/x", None, "vault://secret/x"), "targets.gcp.credentials")
    assert "no Vault is configured" in info.value.message
    assert "VAULT_ADDR" in (info.value.hint or "")


def test_an_expired_token_is_reported_as_such(openbao):
    path = _name("exp")
    openbao.put(path, k="v-expired")
    token = openbao.token_with_policy(
        "read-secret",
        'path "secret/data/*" { capabilities = ["read"] }\npath "sys/internal/ui/mounts/*" { capabilities = ["read"] }',
        ttl="1s",
    )
    time.sleep(1.6)
    with pytest.raises(ReferenceResolutionError) as info:
        SecretResolver(openbao.env(VAULT_TOKEN=token)).resolve(parse_reference(f"vault://secret/{path}#k"))
    assert "permission denied" in info.value.message and "expired" in info.value.message


def test_a_policy_that_denies_the_path_is_reported(openbao):
    path = _name("denied")
    openbao.put(path, k="v-denied")
    token = openbao.token_with_policy("nothing", 'path "secret/data/other" { capabilities = ["read"] }')
    with pytest.raises(ReferenceResolutionError, match="permission denied"):
        SecretResolver(openbao.env(VAULT_TOKEN=token)).resolve(parse_reference(f"vault://secret/{path}#k"))


def test_approle_login(openbao):
    client = openbao.client
    if "approle/" not in client.sys.list_auth_methods()["data"]:
        client.sys.enable_auth_method("approle")
    client.sys.create_or_update_policy(name="ci-read", policy='path "secret/data/*" { capabilities = ["read"] }')
    client.auth.approle.create_or_update_approle("ci", token_policies=["ci-read"], token_ttl="5m")
    role_id = client.auth.approle.read_role_id("ci")["data"]["role_id"]
    secret_id = client.auth.approle.generate_secret_id("ci")["data"]["secret_id"]
    path = _name("approle")
    openbao.put(path, token="approle-secret-value")
    env = {"VAULT_ADDR": openbao.addr, "VAULT_ROLE_ID": role_id, "VAULT_SECRET_ID": secret_id}
    resolver = SecretResolver(env)
    assert resolver.resolve(parse_reference(f"vault://secret/{path}#token")) == "approle-secret-value"
    assert resolver.client.login_token in masking.values()  # the login's token is masked too


def test_jwt_login_with_a_ci_identity_token(openbao, tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from google.auth import crypt, jwt

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    client = openbao.client
    if "jwt/" not in client.sys.list_auth_methods()["data"]:
        client.sys.enable_auth_method("jwt")
    client.write("auth/jwt/config", jwt_validation_pubkeys=[public], bound_issuer="https://ci.example")
    client.sys.create_or_update_policy(name="ci-jwt", policy='path "secret/data/*" { capabilities = ["read"] }')
    client.write(
        "auth/jwt/role/deploy",
        role_type="jwt",
        user_claim="sub",
        bound_audiences=["vault"],
        token_policies=["ci-jwt"],
        token_ttl="5m",
    )
    now = int(time.time())
    token = jwt.encode(
        crypt.RSASigner.from_string(pem),
        {"iss": "https://ci.example", "sub": "repo:acme/infra", "aud": "vault", "iat": now, "exp": now + 300},
    ).decode()
    token_file = tmp_path / "id-token"
    token_file.write_text(token)
    path = _name("jwt")
    openbao.put(path, password="jwt-secret-value")
    env = {"VAULT_ADDR": openbao.addr, "VAULT_JWT_ROLE": "deploy", "VAULT_JWT_FILE": str(token_file)}
    assert SecretResolver(env).resolve(parse_reference(f"vault://secret/{path}#password")) == "jwt-secret-value"
    # a token for another audience is refused with a clear error
    bad = jwt.encode(
        crypt.RSASigner.from_string(pem),
        {"iss": "https://ci.example", "sub": "x", "aud": "other", "iat": now, "exp": now + 300},
    ).decode()
    with pytest.raises(ReferenceResolutionError, match="Vault login \\(jwt\\)"):
        SecretResolver({**env, "VAULT_JWT_FILE": "", "VAULT_JWT": bad}).resolve(
            parse_reference(f"vault://secret/{path}#password")
        )


def test_dynamic_secret_product_page_form_reads_on_first_use(openbao):
    openbao.ensure_kv2("prod")
    openbao.put("db_pass", mount="prod", value="prod-db-password-1")
    secret = dynamic_secret("vault.prod.db_pass", renew_interval=3600, environ=openbao.env())
    assert "not fetched" in repr(secret)
    openbao.put("db_pass", mount="prod", value="prod-db-password-2")  # changed before first use
    assert secret.value == "prod-db-password-2"
    assert "prod-db-password-2" not in repr(secret) and "prod-db-password-2" not in str(secret)
    assert masking.mask("pw=prod-db-password-2") == "pw=***"
    assert secret.lease_id is None  # a KV secret has no lease: nothing to renew or revoke
    secret.close()


def test_dynamic_secret_lease_is_renewed_in_the_background_and_revoked_at_the_end(openbao):
    before = set(openbao.rabbit_users)
    secret = dynamic_secret("vault://rabbitmq/creds/app", renew_interval=0.3, environ=openbao.env())
    assert set(openbao.rabbit_users) == before  # nothing is read until the value is used
    creds = secret.value
    assert set(creds) == {"username", "password"}
    assert creds["username"] in openbao.rabbit_users
    assert secret.renewable and secret.lease_id.startswith("rabbitmq/creds/app/")
    deadline = time.monotonic() + 10
    while secret.renewals < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert secret.renewals >= 2
    lease = openbao.client.sys.read_lease(secret.lease_id)["data"]
    assert lease["renewable"] and lease["last_renewal"]
    assert masking.mask(creds["password"]) == "***"
    secret.revoke()
    assert secret.revoked
    assert creds["username"] in openbao.deleted_users and creds["username"] not in openbao.rabbit_users
    with pytest.raises(Exception, match="invalid lease"):
        openbao.client.sys.read_lease(secret.lease_id)
    with pytest.raises(Exception, match="revoked"):
        _ = secret.value


def test_revoke_all_ends_every_lease_still_held(openbao):
    with dynamic_secret("vault://rabbitmq/creds/app#username", environ=openbao.env()) as scoped:
        scoped_user = scoped.value
    assert scoped_user in openbao.deleted_users  # leaving the block revoked it
    held = dynamic_secret("vault://rabbitmq/creds/app#username", environ=openbao.env())
    user = held.value
    assert user in openbao.rabbit_users
    assert revoke_all() == []
    assert user in openbao.deleted_users and held.revoked


def test_an_aws_targets_credentials_from_vault_are_the_identity_it_acts_as(openbao, moto_endpoint, tmp_path):
    """targets.X.credentials: vault://PATH (a key pair) is used, not dropped for the machine's identity."""
    import boto3

    from deployforge.usecases.workspace import Options, Workspace

    iam = boto3.client("iam", endpoint_url=moto_endpoint, region_name="us-east-1")
    user = _name("deployer")
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    path = _name("aws")
    openbao.put(path, access_key_id=key["AccessKeyId"], secret_access_key=key["SecretAccessKey"])
    (tmp_path / "deployforge.yaml").write_text(
        "targets:\n  aws_prod:\n    provider: aws\n    region: us-east-1\n"
        f"    endpoint_url: {moto_endpoint}\n    credentials: vault://secret/{path}\nresources: {{}}\n"
    )
    ws = Workspace(Options(config=str(tmp_path / "deployforge.yaml"), environ=openbao.env()))
    sts = ws.provider("aws_prod").client("sts")
    assert sts.get_caller_identity()["Arn"].endswith(f":user/{user}")
    assert masking.mask(key["SecretAccessKey"]) == "***"

    openbao.put(path, token="not-a-key-pair-value")  # one field: not a key pair
    ws = Workspace(Options(config=str(tmp_path / "deployforge.yaml"), environ=openbao.env()))
    with pytest.raises(Exception, match="credentials must be a secret holding an AWS key pair") as caught:
        ws.provider("aws_prod")
    assert caught.value.exit_code == 2  # type: ignore[attr-defined]
