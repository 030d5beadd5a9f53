"""The original's other ways in, after an import: its OAuth accounts (users.provider/uid) sign in through the
same provider here and land on the imported user, found by the provider's id and not by an e-mail address;
its LDAP users (users.ldap_name) sign in through the directory, again onto the imported user."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from allauth.socialaccount.models import SocialAccount
from django.test import Client

from portus.accounts.credentials import verify
from portus.accounts.models import User
from portus.importer.models import LegacyIdentity
from portus.importer.run import Importer
from portus.importer.source import open_source
from tests.conftest import require
from tests.support import original_portus as op
from tests.support.ldap_server import ROOT_DN, ROOT_PASSWORD, password_of, person
from tests.support.oauth_providers import Person, ProviderDouble
from tests.test_accounts_ldap import configure_ldap, slapd  # noqa: F401  (fixtures)
from tests.test_sign_in_providers import double, enable, signed_in_as, through  # noqa: F401  (fixtures)

# Addresses no imported user has: a sign-in that lands on the imported user was matched by the provider's id.
ELSEWHERE = "someone.else@example.net"


@pytest.fixture(scope="module")
def original_url() -> Iterator[str]:
    require(op.server_reachable("mysql"), "no MariaDB server at 127.0.0.1 for the original's database")
    name = op.source_name("identities")
    with op.original_database("mysql", name) as url:
        op.fill("mysql", name, "registry.example.org:5000")
        yield url


@pytest.fixture
def imported(db: None, original_url: str) -> None:
    source = open_source(original_url)
    try:
        Importer(source).run()
    finally:
        source.close()


def test_imported_oauth_identities_become_provider_accounts_and_openid_2_is_reported(imported: None) -> None:
    links = set(SocialAccount.objects.values_list("user__username", "provider", "uid"))
    assert links == {
        ("frank", "github", "424242"),
        ("ivan", "bitbucket_oauth2", op.BITBUCKET_UUID),
        ("kate", "google", "108234567890123456789"),
        ("lena", "oidc", op.OIDC_SUB),  # the OpenID Connect app, matched by the ID token's sub
    }
    assert LegacyIdentity.objects.get(user__username="frank").linked_at is not None
    judy = LegacyIdentity.objects.get(user__username="judy")
    assert judy.provider == "open_id" and judy.linked_at is None
    assert not SocialAccount.objects.filter(user__username="judy").exists()


@pytest.mark.parametrize(
    ("section", "slug", "username", "uid"),
    [
        ("github", "github", "frank", 424242),
        ("google_oauth2", "google", "kate", 108234567890123456789),
    ],
)
def test_an_imported_oauth_user_signs_in_through_the_provider_onto_the_imported_account(
    imported: None,
    double: ProviderDouble,  # noqa: F811
    enable: Any,  # noqa: F811
    section: str,
    slug: str,
    username: str,
    uid: int,
) -> None:
    enable(section)
    client = Client()
    response = through(client, double, slug, Person(login=f"{username}-there", uid=uid, email=ELSEWHERE))
    assert response.status_code == 302 and response["Location"] == "/", response.content[:300]
    assert signed_in_as(client) == username
    assert User.objects.count() == 13  # nobody new


def test_an_imported_bitbucket_user_is_found_by_the_originals_uuid_and_linked_by_account_id_from_then_on(
    imported: None,
    double: ProviderDouble,  # noqa: F811
    enable: Any,  # noqa: F811
) -> None:
    enable("bitbucket")
    bitbucket_person = Person(login="ivan-bb", uid=4243, email=ELSEWHERE)  # its uuid is op.BITBUCKET_UUID
    client = Client()
    response = through(client, double, "bitbucket_oauth2", bitbucket_person)
    assert response.status_code == 302 and response["Location"] == "/", response.content[:300]
    assert signed_in_as(client) == "ivan"
    account = SocialAccount.objects.get(user__username="ivan")
    assert account.uid == "5b10a2844c20165700ede4243"  # allauth's account_id, from the same answer
    again = Client()
    assert through(again, double, "bitbucket_oauth2", bitbucket_person).status_code == 302
    assert signed_in_as(again) == "ivan"


def test_an_imported_ldap_user_signs_in_through_the_directory_onto_the_imported_account(
    imported: None,
    configure_ldap: Any,  # noqa: F811
    slapd: Any,  # noqa: F811
) -> None:
    import ldap

    erin = User.objects.get(username="erin")
    assert erin.ldap and not erin.has_usable_password()  # the original's stored hash is never used
    connection = ldap.initialize(f"ldap://127.0.0.1:{slapd.port}")
    connection.simple_bind_s(ROOT_DN, ROOT_PASSWORD)
    entry = [
        ("objectClass", [b"inetOrgPerson"]),
        ("uid", [b"erin"]),
        ("cn", [b"erin"]),
        ("sn", [b"erin"]),
        ("userPassword", [password_of("erin").encode()]),
    ]
    connection.add_s(person("erin"), entry)
    try:
        assert verify("erin", "wrong-password").user is None
        found = verify("erin", password_of("erin")).user
        assert found is not None and found.pk == erin.pk
        assert User.objects.filter(username="erin").count() == 1
    finally:
        connection.delete_s(person("erin"))
        connection.unbind_s()
