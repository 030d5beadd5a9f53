"""GET /v2/token: the answer, the JWT's header and claims, refusals, RS256 with a real registry."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from django.apps import apps
from django.conf import settings
from django.test import Client
from django.utils import timezone

from portus.accounts.actions import set_enabled
from portus.accounts.models import User
from portus.registry.signing import signing_key
from portus.registry_endpoints import token_service
from tests.conftest import PASSWORD, World
from tests.support.images import make_image
from tests.support.registry import skopeo

SERVICE = "registry.test"  # the world fixture's registry


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def ask(
    client: Client,
    *scopes: str,
    user: str | None = None,
    password: str = PASSWORD,
    service: str | None = SERVICE,
    account: str | None = None,
    authorization: str | None = None,
) -> Any:
    query: dict[str, Any] = {"scope": list(scopes)}
    if service is not None:
        query["service"] = service
    if account is not None:
        query["account"] = account
    headers = {}
    if authorization is not None:
        headers["HTTP_AUTHORIZATION"] = authorization
    elif user is not None:
        headers["HTTP_AUTHORIZATION"] = basic(user, password)
    return client.get("/v2/token", query, **headers)


def certificate() -> x509.Certificate:
    return x509.load_pem_x509_certificate(Path(settings.TOKEN_CERT_PATH).read_bytes())


def claims_of(response: Any, audience: str = SERVICE) -> dict[str, Any]:
    assert response.status_code == 200, response.content
    return jwt.decode(
        response.json()["token"],
        certificate().public_key(),
        algorithms=["ES256", "RS256"],
        audience=audience,
        issuer=settings.MACHINE_FQDN,
    )


def access_of(response: Any) -> dict[str, list[str]]:
    return {f"{a['type']}:{a['name']}": a["actions"] for a in claims_of(response)["access"]}


def libtrust_kid(public_key: Any) -> str:
    """Written here from REGISTRY.md's description, not taken from portus.registry.signing."""
    spki = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = hashlib.sha256(spki).digest()[:30]
    b32 = base64.b32encode(digest).decode()
    assert len(b32) == 48 and "=" not in b32
    return ":".join(b32[i : i + 4] for i in range(0, 48, 4))


@pytest.fixture
def client() -> Client:
    return Client()


# -- the answer ------------------------------------------------------------------------------------


def test_answer_holds_token_access_token_expires_in_and_issued_at(world: World, client: Client, portus_config) -> None:
    portus_config("registry.jwt_expiration_time.value", 7)
    response = ask(client, "repository:acme/app:pull", user="owner")
    body = response.json()
    assert set(body) == {"token", "access_token", "expires_in", "issued_at"}
    assert body["access_token"] == body["token"]
    assert body["expires_in"] == 7 * 60
    assert response["Cache-Control"] == "no-store"
    claims = claims_of(response)
    issued = dt.datetime.strptime(body["issued_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    assert int(issued.timestamp()) == claims["iat"]
    assert claims["exp"] - claims["iat"] == 7 * 60


def test_jwt_header_is_es256_with_libtrust_kid_and_the_certificate_in_x5c(world: World, client: Client) -> None:
    response = ask(client, "repository:acme/app:pull", user="owner")
    header = jwt.get_unverified_header(response.json()["token"])
    assert header["alg"] == "ES256"
    assert header["typ"] == "JWT"
    cert = certificate()
    assert header["kid"] == libtrust_kid(cert.public_key())
    assert header["x5c"] == [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()]
    # The certificate in x5c is the registry's rootcertbundle, and it verifies the token.
    in_header = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
    jwt.decode(response.json()["token"], in_header.public_key(), algorithms=["ES256"], audience=SERVICE)


def test_claims_name_issuer_subject_audience_and_lifetime(world: World, client: Client) -> None:
    first = claims_of(ask(client, "repository:acme/app:pull", user="owner", account="owner"))
    second = claims_of(ask(client, "repository:acme/app:pull", user="owner", account="owner"))
    assert set(first) == {"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "access"}
    assert first["iss"] == settings.MACHINE_FQDN
    assert first["sub"] == "owner"
    assert first["aud"] == SERVICE and isinstance(first["aud"], str)  # registry 2.8 refuses a list
    assert first["nbf"] <= first["iat"] < first["exp"]
    assert first["exp"] - first["iat"] >= 60  # token.md: at least 60 s left when issued
    assert first["jti"] != second["jti"]


def test_several_scope_parameters_are_answered_each(world: World, client: Client) -> None:
    response = ask(
        client,
        "repository:acme/app:pull,push",
        "repository:outsider/tool:pull",
        "repository:contributor/own:push,pull",
        user="contributor",
    )
    assert access_of(response) == {
        "repository:acme/app": ["pull", "push"],
        "repository:contributor/own": ["pull", "push"],
    }
    # OAuth style: several scopes in one parameter, separated by spaces.
    spaced = ask(client, "repository:acme/app:pull repository:contributor/own:pull", user="contributor")
    assert access_of(spaced) == {
        "repository:acme/app": ["pull"],
        "repository:contributor/own": ["pull"],
    }


def test_denied_actions_are_left_out_and_the_token_is_still_issued(world: World, client: Client) -> None:
    response = ask(client, "repository:acme/app:pull,push,delete", user="viewer")
    assert access_of(response) == {"repository:acme/app": ["pull"]}
    nothing = ask(client, "repository:acme/app:pull", user="outsider")
    assert claims_of(nothing)["access"] == []


def test_catalog_is_granted_to_admins_only(world: World, client: Client) -> None:
    assert access_of(ask(client, "registry:catalog:*", user="admin")) == {"registry:catalog": ["*"]}
    for persona in ("owner", "contributor", "viewer", "outsider"):
        assert access_of(ask(client, "registry:catalog:*", user=persona)) == {}, persona
    assert access_of(ask(client, "registry:catalog:*")) == {}


def test_subject_is_the_authenticated_user_and_a_different_account_is_refused(world: World, client: Client) -> None:
    assert claims_of(ask(client, "repository:acme/app:pull", user="viewer"))["sub"] == "viewer"
    refused = ask(client, "repository:acme/app:pull", user="viewer", account="owner")
    assert refused.status_code == 401
    assert "account" in refused.json()["message"]
    assert "token" not in refused.json()


def test_an_application_token_authenticates_its_owner(world: World, client: Client) -> None:
    from portus.accounts.actions import create_token

    _, plain = create_token(user=world.contributor, name="ci", actor=world.contributor)
    response = ask(client, "repository:acme/app:push", user="contributor", password=plain)
    assert claims_of(response)["sub"] == "contributor"
    assert access_of(response) == {"repository:acme/app": ["push"]}
    # The token proves only its owner: under another name it is a wrong password.
    assert ask(client, "repository:acme/app:pull", user="viewer", password=plain).status_code == 401


def test_anonymous_gets_a_token_for_public_pulls_only(world: World, client: Client) -> None:
    from portus.registry.actions import change_visibility

    assert claims_of(ask(client, "repository:acme/app:pull"))["access"] == []
    change_visibility(namespace=world.namespace, visibility="public", actor=world.owner)
    response = ask(client, "repository:acme/app:pull,push,delete", "registry:catalog:*")
    claims = claims_of(response)
    assert claims["sub"] == ""
    assert access_of(response) == {"repository:acme/app": ["pull"]}


def test_an_external_hostname_is_accepted_as_the_service(world: World, client: Client) -> None:
    world.registry.external_hostname = "registry.example.com"
    world.registry.save()
    response = ask(client, "repository:acme/app:pull", user="owner", service="registry.example.com")
    assert claims_of(response, audience="registry.example.com")["access"] == [
        {"type": "repository", "name": "acme/app", "actions": ["pull"]}
    ]


# -- refusals: a clear 4xx JSON error, never a 500, nothing changed --------------------------------


def database_rows() -> dict[str, list[dict[str, Any]]]:
    """Every row of every Portus table, to prove a refused request changed nothing."""
    rows = {}
    for model in apps.get_models():
        if model._meta.app_label in {
            "accounts",
            "registry",
            "security",
            "background",
            "api",
            "web",
        }:
            rows[model._meta.label] = list(model.objects.order_by("pk").values())
    return rows


def non_utf8_credentials() -> str:
    return "Basic " + base64.b64encode(b"owner:\xff\xfe\xfd").decode()


BAD_REQUESTS: dict[str, tuple[dict[str, Any], int]] = {
    "malformed scope": ({"scopes": ["repository:acme"]}, 400),
    "scope without actions": ({"scopes": ["repository:acme/app:"]}, 400),
    "unknown scope type": ({"scopes": ["widget:acme/app:pull"]}, 400),
    "unknown action": ({"scopes": ["repository:acme/app:steal"]}, 400),
    "upper-case repository name": ({"scopes": ["repository:Acme/App:pull"]}, 400),
    "repository name with a host": ({"scopes": ["repository:evil.com:5000/acme/app:pull"]}, 400),
    "registry scope other than the catalog": ({"scopes": ["registry:catalog:pull"]}, 400),
    "too many scopes": ({"scopes": [f"repository:acme/app{i}:pull" for i in range(40)]}, 400),
    "unknown service": ({"service": "elsewhere.example.com"}, 400),
    "missing service": ({"service": None}, 400),
    "very long service": ({"service": "s" * 300}, 400),
    "non-UTF-8 scope": ({"raw_query": "service=registry.test&scope=%ff%fe:acme/app:pull"}, 400),
    "huge query string": ({"raw_query": "service=registry.test&scope=" + "a" * 20000}, 400),
    "thousands of parameters": (
        {"raw_query": "service=registry.test&" + "&".join(["scope="] * 3000)},
        400,
    ),
    "non-UTF-8 credentials": ({"authorization": non_utf8_credentials()}, 400),
    "credentials that are not base64": ({"authorization": "Basic %%%not-base64%%%"}, 400),
    "credentials without a colon": (
        {"authorization": "Basic " + base64.b64encode(b"owner").decode()},
        400,
    ),
    "credentials with an empty user": ({"authorization": basic("", PASSWORD)}, 400),
    "huge credentials": ({"authorization": basic("owner", "x" * 10000)}, 400),
    "bearer instead of basic": ({"authorization": "Bearer abc.def.ghi"}, 401),
    "unknown user": ({"user": "nobody"}, 401),
    "disabled user": ({"user": "viewer", "disable": True}, 401),
    "locked user": ({"user": "contributor", "lock": True}, 401),
}


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_bad_requests_get_a_clear_json_error_and_change_nothing(world: World, client: Client, case: str) -> None:
    request, status = BAD_REQUESTS[case]
    if request.get("disable"):
        set_enabled(user=world.viewer, enabled=False, actor=world.admin)
    if request.get("lock"):
        User.objects.filter(pk=world.contributor.pk).update(locked_until=timezone.now() + dt.timedelta(minutes=5))
    before = database_rows()
    if "raw_query" in request:
        response = client.get("/v2/token?" + request["raw_query"], HTTP_AUTHORIZATION=basic("owner", PASSWORD))
    else:
        response = ask(
            client,
            *request.get("scopes", ["repository:acme/app:pull"]),
            user=request.get("user", "owner"),
            service=request.get("service", SERVICE),
            authorization=request.get("authorization"),
        )
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert "token" not in body
    assert body["errors"][0]["code"] in {"BAD_REQUEST", "UNAUTHORIZED"}
    assert len(body["message"]) > 10 and body["errors"][0]["message"] == body["message"]
    if status == 401:
        assert response["WWW-Authenticate"].startswith("Basic ")
    assert database_rows() == before


def test_disabled_and_locked_users_are_told_why(world: World, client: Client) -> None:
    set_enabled(user=world.viewer, enabled=False, actor=world.admin)
    assert "disabled" in ask(client, "repository:acme/app:pull", user="viewer").json()["message"]
    User.objects.filter(pk=world.owner.pk).update(locked_until=timezone.now() + dt.timedelta(minutes=5))
    assert "locked" in ask(client, "repository:acme/app:pull", user="owner").json()["message"]


def test_wrong_password_is_refused_and_only_counts_a_failed_sign_in(world: World, client: Client) -> None:
    def rows_but_failure_counts() -> dict[str, list[dict[str, Any]]]:
        rows = database_rows()
        for row in rows["accounts.User"]:
            row.pop("failed_sign_ins")
        return rows

    before = rows_but_failure_counts()
    response = ask(client, "repository:acme/app:pull", user="owner", password="not-the-password")
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert "token" not in response.json()
    assert rows_but_failure_counts() == before
    assert User.objects.get(pk=world.owner.pk).failed_sign_ins == 1


def test_other_methods_are_refused_with_json(world: World, client: Client) -> None:
    response = client.post("/v2/token?service=registry.test&scope=repository:acme/app:pull")
    assert response.status_code == 405
    assert response["Allow"] == "GET"
    assert response.json()["errors"][0]["message"]


# -- RS256 against a real registry -----------------------------------------------------------------


def write_rsa_key_pair(directory: Path) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "portus-rs256.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = directory / "rs256.key", directory / "rs256.crt"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


@pytest.fixture
def rs256_key(settings: Any, tmp_path: Path, portus_config) -> Iterator[Path]:
    key_dir = tmp_path / "keys"
    key_dir.mkdir()
    settings.TOKEN_KEY_PATH, settings.TOKEN_CERT_PATH = write_rsa_key_pair(key_dir)
    portus_config("registry.jwt_algorithm.value", "RS256")
    signing_key.cache_clear()
    yield settings.TOKEN_CERT_PATH
    signing_key.cache_clear()  # the next test signs with the default key again


@pytest.mark.e2e
def test_rs256_tokens_are_accepted_by_a_real_registry(
    rs256_key: Path, live_server: Any, transactional_db: None, tmp_path: Path
) -> None:
    from tests.e2e import start_stack

    stack_iter = start_stack(live_server, tmp_path)
    stack = next(stack_iter)
    try:
        assert Path(stack.registry.config_path).read_text().count(str(rs256_key.resolve())) == 1
        image = make_image(tmp_path / "image", tag="v1")
        pushed = skopeo(
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            f"owner:{PASSWORD}",
            image.reference,
            stack.ref("acme/rsa-app"),
        )
        assert pushed.returncode == 0, pushed.stderr + stack.registry.log()[-2000:]
        pulled = skopeo(
            "inspect",
            "--raw",
            "--tls-verify=false",
            "--creds",
            f"viewer:{PASSWORD}",
            stack.ref("acme/rsa-app"),
        )
        assert pulled.returncode == 0, pulled.stderr
        denied = skopeo(
            "inspect",
            "--raw",
            "--tls-verify=false",
            "--creds",
            f"outsider:{PASSWORD}",
            stack.ref("acme/rsa-app"),
        )
        assert denied.returncode != 0
        # And the tokens it accepted were RS256, with the key id of the RSA key.
        response = Client().get(
            "/v2/token",
            {"service": stack.registry.hostname, "scope": "repository:acme/rsa-app:pull"},
            HTTP_AUTHORIZATION=basic("owner", PASSWORD),
        )
        header = jwt.get_unverified_header(response.json()["token"])
        assert header["alg"] == "RS256"
        rsa_cert = x509.load_pem_x509_certificate(rs256_key.read_bytes())
        assert header["kid"] == libtrust_kid(rsa_cert.public_key())
    finally:
        stack_iter.close()


@pytest.mark.parametrize("debug", [False, True])
def test_an_unexpected_failure_answers_in_distributions_error_envelope(
    client: Client, world: World, monkeypatch: pytest.MonkeyPatch, settings: Any, caplog: Any, debug: bool
) -> None:
    settings.DEBUG = debug

    def unreadable_key(*args: Any, **kwargs: Any) -> None:
        raise OSError("cannot read the signing key")

    monkeypatch.setattr(token_service, "registry_token", unreadable_key)
    with caplog.at_level(logging.ERROR, logger="portus.registry_endpoints"):
        response = ask(client, "repository:acme/app:pull", user="owner")
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    (error,) = response.json()["errors"]
    assert error["code"] == "UNKNOWN"
    incident = error["detail"]["incident"]
    assert incident in error["message"]
    assert "signing key" not in response.content.decode()  # the details stay in the log
    (record,) = [r for r in caplog.records if r.name.startswith("portus.registry_endpoints")]
    assert incident in record.getMessage() and "/v2/token" in record.getMessage()
    assert record.exc_info is not None and "signing key" in str(record.exc_info[1])
