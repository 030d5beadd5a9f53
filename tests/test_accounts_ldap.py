"""Signing in through LDAP against a real slapd: the page, /v2/token and skopeo pushes, escaped
filters, wrong passwords and lockout, StartTLS and LDAPS with a test CA, the service account,
disabled users, the e-mail guess, and the directory's groups mirrored into teams and the admin flag."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest
from allauth.socialaccount.models import SocialAccount
from django.conf import settings
from django.core.cache import cache
from django.test import Client

from portus.accounts import ldap as directory
from portus.accounts.actions import change_password, create_token, create_user, set_enabled
from portus.accounts.credentials import Failure, Verification, verify
from portus.accounts.models import User
from portus.config import LEAVES, attribute_path
from portus.errors import ActionError
from portus.registry.actions import add_member, create_namespace, create_team, remove_member
from portus.registry.models import Activity, Namespace, Role, Team, TeamMembership
from tests.conftest import PASSWORD, World, require
from tests.e2e import Stack, stack  # noqa: F401  (fixture)
from tests.support.images import make_image
from tests.support.ldap_server import (
    GROUPS,
    PEOPLE,
    READER_DN,
    READER_PASSWORD,
    ROOT_DN,
    ROOT_PASSWORD,
    RunningSlapd,
    group,
    password_of,
    person,
    running_slapd,
    slapd_binary,
)
from tests.support.oauth_providers import Person, ProviderDouble
from tests.support.registry import free_port, skopeo
from tests.test_sign_in_providers import choose_name, double, enable, signed_in_as, through  # noqa: F401  (fixtures)

Configure = Callable[[dict[str, Any]], None]


@pytest.fixture(scope="module")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSlapd]:
    require(slapd_binary() is not None, "slapd is not installed (apt-get install slapd ldap-utils)")
    require(directory.INSTALLED, "django-auth-ldap is not installed (pip install '.[ldap]')")
    with running_slapd(tmp_path_factory.mktemp("slapd")) as server:
        yield server


@pytest.fixture
def configure_ldap(slapd: RunningSlapd) -> Iterator[Configure]:
    """Turn LDAP on against the test slapd (plain, anonymous search, groups read); CHANGES are dotted keys."""
    saved = settings.PORTUS

    def configure(changes: dict[str, Any]) -> None:
        # The ldap section starts over from config.yml's; other sections keep what the test set.
        config = settings.PORTUS.replaced("ldap.enabled", False)
        for leaf in LEAVES:
            if leaf.yaml_path[0] == "ldap" and leaf.dotted != "ldap.enabled":
                config = config.replaced(leaf.dotted, read_setting(saved, leaf.dotted))
        values = {
            "ldap.hostname": "127.0.0.1",
            "ldap.port": slapd.port,
            "ldap.base": PEOPLE,
            "ldap.group_base": GROUPS,
            **changes,
        }
        for dotted, value in values.items():
            config = config.replaced(dotted, value)
        settings.PORTUS = config.replaced("ldap.enabled", True)

    configure({})
    yield configure
    settings.PORTUS = saved


@pytest.fixture
def directory_admin(slapd: RunningSlapd) -> Iterator[Any]:
    """A connection bound as slapd's root, to change the directory during a test; changes are undone."""
    import ldap

    connection = ldap.initialize(f"ldap://127.0.0.1:{slapd.port}")
    connection.simple_bind_s(ROOT_DN, ROOT_PASSWORD)
    undo: list[tuple[str, list[tuple[int, str, list[bytes]]]]] = []

    class Admin:
        def add_member(self, cn: str, uid: str) -> None:
            connection.modify_s(group(cn), [(ldap.MOD_ADD, "member", [person(uid).encode()])])
            undo.append((group(cn), [(ldap.MOD_DELETE, "member", [person(uid).encode()])]))

        def remove_member(self, cn: str, uid: str) -> None:
            connection.modify_s(group(cn), [(ldap.MOD_DELETE, "member", [person(uid).encode()])])
            undo.append((group(cn), [(ldap.MOD_ADD, "member", [person(uid).encode()])]))

    yield Admin()
    for dn, changes in reversed(undo):
        connection.modify_s(dn, changes)
    connection.unbind_s()


def read_setting(config: Any, dotted: str) -> Any:
    for name in attribute_path(dotted):
        config = getattr(config, name)
    return config


def sign_in_again(username: str) -> Verification:
    """A sign-in after the remembered verification ran out (credential_cache.seconds): the directory is asked."""
    cache.clear()
    return verify(username, password_of(username))


def sign_in(client: Client, username: str, password: str) -> str:
    response = client.post("/login/", {"username": username, "password": password})
    return "" if response.status_code == 302 else response.content.decode()


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def token_request(client: Client, username: str, password: str, scope: str = "repository:alice/app:push,pull") -> Any:
    return client.get(
        "/v2/token", {"service": "registry.test", "scope": scope}, HTTP_AUTHORIZATION=basic(username, password)
    )


# -- signing in --------------------------------------------------------------------------------------------------


def test_first_ldap_sign_in_on_the_page_creates_the_user_with_a_personal_namespace_and_no_password(
    client: Client, world: World, configure_ldap: Configure
) -> None:
    assert sign_in(client, "alice", password_of("alice")) == ""
    alice = User.objects.get(username="alice")
    assert int(client.session["_auth_user_id"]) == alice.pk
    assert alice.ldap and not alice.admin
    assert not alice.has_usable_password()
    assert Namespace.objects.filter(owner=alice, name="alice", registry=world.registry).exists()
    assert Activity.objects.filter(action="user.signup", target="alice", data__via="ldap").exists()
    # The second sign-in finds the same user.
    client.logout()
    assert sign_in(client, "alice", password_of("alice")) == ""
    assert User.objects.filter(username="alice").count() == 1


def test_wrong_or_unknown_ldap_credentials_are_refused_and_create_no_user(
    client: Client, world: World, configure_ldap: Configure
) -> None:
    assert "The user name or password is wrong" in sign_in(client, "alice", "not-her-password")
    assert "The user name or password is wrong" in sign_in(client, "nobody", "whatever")
    # An empty password would be an anonymous bind, which an LDAP server accepts: never a sign-in.
    assert verify("alice", "").failure is Failure.BAD_CREDENTIALS
    assert not User.objects.filter(username__in=["alice", "nobody"]).exists()


@pytest.mark.parametrize("name", ["al*", "*", "*)(uid=*", "alice)(uid=*", "alice)(|(uid=*", "alice\\00"])
def test_a_user_name_that_would_be_filter_syntax_matches_nothing(
    world: World, configure_ldap: Configure, name: str
) -> None:
    assert verify(name, password_of("alice")).user is None
    # Past Portus's name rules too, at the directory itself: the name is escaped into the filter, so
    # "al*" does not find alice's entry and her password opens nothing.
    backend = directory.DirectoryBackend(settings.PORTUS.ldap)
    assert backend.authenticate(None, username=name, password=password_of("alice")) is None
    assert not User.objects.filter(ldap=True).exists()


def test_the_configured_filter_must_match_too(world: World, configure_ldap: Configure) -> None:
    configure_ldap({"ldap.filter": "(mail=*)"})  # only alice has a mail attribute
    assert verify("bob", password_of("bob")).failure is Failure.BAD_CREDENTIALS
    assert verify("alice", password_of("alice")).user is not None


def test_a_directory_uid_that_no_portus_name_can_be_never_signs_in(world: World, configure_ldap: Configure) -> None:
    assert verify("Eve Smith", password_of("Eve Smith")).user is None
    assert not User.objects.filter(ldap=True).exists()


def test_wrong_ldap_passwords_lock_out_exactly_as_local_passwords_do(
    client: Client, world: World, configure_ldap: Configure, portus_config: Callable[[str, Any], None]
) -> None:
    portus_config("lockout.attempts", 3)
    assert verify("bob", password_of("bob"), address="10.0.0.1").user is not None  # bob now exists
    for _ in range(3):
        assert verify("bob", "wrong", address="10.0.0.1").failure is Failure.BAD_CREDENTIALS
    assert User.objects.get(username="bob").failed_sign_ins == 3
    assert verify("bob", password_of("bob"), address="10.0.0.1").failure is Failure.LOCKED
    # Another address is not locked out (an attacker cannot lock the owner out).
    assert verify("bob", password_of("bob"), address="10.0.0.2").user is not None
    # On the page too, with its sentence.
    for _ in range(3):
        sign_in(client, "carol", "wrong")
    assert "locked for a while" in sign_in(client, "carol", password_of("carol"))


def test_a_user_disabled_in_portus_stays_disabled_although_the_directory_accepts_the_password(
    client: Client, world: World, configure_ldap: Configure
) -> None:
    bob = verify("bob", password_of("bob")).user
    assert bob is not None
    set_enabled(user=bob, enabled=False, actor=world.admin)
    assert verify("bob", password_of("bob")).failure is Failure.DISABLED
    assert "disabled" in sign_in(client, "bob", password_of("bob"))
    assert token_request(client, "bob", password_of("bob")).status_code == 401


def test_local_accounts_keep_their_passwords_and_never_open_with_the_directorys(
    world: World, configure_ldap: Configure
) -> None:
    assert verify("owner", PASSWORD).user == world.owner  # not in the directory: local password
    create_user(username="dave", password="local-dave-password")
    assert verify("dave", password_of("dave")).failure is Failure.BAD_CREDENTIALS
    assert verify("dave", "local-dave-password").user is not None


def test_an_ldap_user_never_gets_a_local_password(world: World, configure_ldap: Configure) -> None:
    alice = verify("alice", password_of("alice")).user
    assert alice is not None
    with pytest.raises(ActionError, match="directory"):
        change_password(user=alice, password="a-local-password", actor=alice)
    with pytest.raises(ActionError, match="directory"):
        create_user(username="frank", password="x-password", ldap=True)
    # With LDAP turned off, an LDAP user has no password that works.
    settings.PORTUS = settings.PORTUS.replaced("ldap.enabled", False)
    assert verify("alice", password_of("alice")).failure is Failure.BAD_CREDENTIALS


# -- the connection ----------------------------------------------------------------------------------------------


def test_start_tls_with_the_test_ca(world: World, slapd: RunningSlapd, configure_ldap: Configure) -> None:
    configure_ldap(
        {"ldap.encryption.method": "start_tls", "ldap.encryption.options.ca_file": str(slapd.certificates.ca_file)}
    )
    assert verify("alice", password_of("alice")).user is not None


def test_ldaps_with_the_test_ca(world: World, slapd: RunningSlapd, configure_ldap: Configure) -> None:
    configure_ldap(
        {
            "ldap.port": slapd.tls_port,
            "ldap.encryption.method": "simple_tls",
            "ldap.encryption.options.ca_file": str(slapd.certificates.ca_file),
        }
    )
    assert directory.server_uri(settings.PORTUS.ldap).startswith("ldaps://")
    assert verify("alice", password_of("alice")).user is not None


@pytest.mark.parametrize("method", ["start_tls", "simple_tls"])
def test_a_certificate_the_configured_ca_did_not_sign_is_refused_and_counts_against_nobody(
    client: Client, world: World, slapd: RunningSlapd, configure_ldap: Configure, method: str
) -> None:
    configure_ldap(
        {
            "ldap.port": slapd.tls_port if method == "simple_tls" else slapd.port,
            "ldap.encryption.method": method,
            "ldap.encryption.options.ca_file": str(slapd.certificates.other_ca_file),
        }
    )
    assert verify("alice", password_of("alice")).failure is Failure.UNREACHABLE
    assert "cannot be reached" in sign_in(client, "alice", password_of("alice"))
    assert not User.objects.filter(username="alice").exists()


def test_an_unreachable_directory_is_said_so_and_locks_nobody_out(
    world: World, configure_ldap: Configure, portus_config: Callable[[str, Any], None]
) -> None:
    portus_config("lockout.attempts", 2)
    configure_ldap({"ldap.port": free_port()})
    for _ in range(3):
        assert verify("alice", password_of("alice"), address="10.0.0.1").failure is Failure.UNREACHABLE
    configure_ldap({})
    assert verify("alice", password_of("alice"), address="10.0.0.1").user is not None


def test_the_search_runs_as_the_service_account(world: World, configure_ldap: Configure) -> None:
    configure_ldap(
        {
            "ldap.authentication.bind_dn": READER_DN,
            "ldap.authentication.password": READER_PASSWORD,
            "ldap.authentication.enabled": True,
        }
    )
    assert verify("alice", password_of("alice")).user is not None
    # A wrong service password is the administrator's mistake: nobody's password is counted wrong.
    configure_ldap(
        {
            "ldap.authentication.bind_dn": READER_DN,
            "ldap.authentication.password": "not-the-reader-password",
            "ldap.authentication.enabled": True,
        }
    )
    assert verify("bob", password_of("bob")).failure is Failure.UNREACHABLE
    # With authentication off, the bind DN and password are not used: the search is anonymous.
    configure_ldap(
        {
            "ldap.authentication.bind_dn": READER_DN,
            "ldap.authentication.password": "not-the-reader-password",
            "ldap.authentication.enabled": False,
        }
    )
    assert verify("bob", password_of("bob")).user is not None


# -- what a new user gets ----------------------------------------------------------------------------------------


def test_guess_email_builds_the_address_from_the_base_dns_dc_parts(world: World, configure_ldap: Configure) -> None:
    configure_ldap({"ldap.guess_email.enabled": True})
    assert User.objects.get(pk=verify("bob", password_of("bob")).user.pk).email == "bob@example.org"  # type: ignore[union-attr]


def test_guess_email_reads_the_configured_attribute(world: World, configure_ldap: Configure) -> None:
    configure_ldap({"ldap.guess_email.enabled": True, "ldap.guess_email.attr": "mail"})
    assert verify("alice", password_of("alice")).user.email == "alice.mail@corp.example"  # type: ignore[union-attr]
    # An entry without the attribute gets no address rather than a made-up one.
    assert verify("bob", password_of("bob")).user.email == ""  # type: ignore[union-attr]


def test_without_guess_email_a_new_user_has_no_address(world: World, configure_ldap: Configure) -> None:
    assert verify("alice", password_of("alice")).user.email == ""  # type: ignore[union-attr]


# -- groups ------------------------------------------------------------------------------------------------------


@pytest.fixture
def teams(world: World) -> dict[str, Team]:
    devs = create_team(name="devs", owner=world.owner, actor=world.owner)
    ops = create_team(name="ops", owner=world.owner, actor=world.owner)
    create_namespace(name="devs", team=devs, visibility="private", registry=world.registry, actor=world.owner)
    return {"devs": devs, "ops": ops}


def role_in(team: Team, username: str) -> str | None:
    membership = TeamMembership.objects.filter(team=team, user__username=username).first()
    return membership.role if membership else None


def test_group_membership_adds_the_user_to_the_mapped_team_on_sign_in_with_an_activity_row(
    client: Client, world: World, teams: dict[str, Team], configure_ldap: Configure
) -> None:
    configure_ldap({"ldap.team_sync": "developers=devs:contributor, operators=ops:owner"})
    assert sign_in(client, "alice", password_of("alice")) == ""
    assert role_in(teams["devs"], "alice") == Role.CONTRIBUTOR
    assert role_in(teams["ops"], "alice") is None
    row = Activity.objects.get(action="team.add_member", team=teams["devs"], data__member="alice")
    assert row.actor is None and row.data["role"] == "contributor"
    assert verify("carol", password_of("carol")).user is not None
    assert role_in(teams["ops"], "carol") == Role.OWNER


def test_leaving_the_group_removes_the_user_from_the_team_at_the_next_sign_in(
    world: World, teams: dict[str, Team], configure_ldap: Configure, directory_admin: Any
) -> None:
    configure_ldap({"ldap.team_sync": "developers=devs:contributor"})
    verify("bob", password_of("bob"))
    assert role_in(teams["devs"], "bob") == Role.CONTRIBUTOR
    directory_admin.remove_member("developers", "bob")
    sign_in_again("bob")
    assert role_in(teams["devs"], "bob") is None
    assert Activity.objects.filter(action="team.remove_member", team=teams["devs"], data__member="bob").exists()


def test_a_membership_added_by_hand_to_a_synced_team_follows_the_directory(
    world: World, teams: dict[str, Team], configure_ldap: Configure
) -> None:
    configure_ldap({"ldap.team_sync": "developers=devs:contributor"})
    dave = verify("dave", password_of("dave")).user  # in no group
    assert dave is not None
    add_member(team=teams["devs"], user=dave, role="viewer", actor=world.owner)
    add_member(team=teams["ops"], user=dave, role="viewer", actor=world.owner)  # ops is not synced
    sign_in_again("dave")
    assert role_in(teams["devs"], "dave") is None
    assert role_in(teams["ops"], "dave") == Role.VIEWER


def test_the_highest_role_of_several_groups_wins_and_a_role_change_follows(
    world: World, teams: dict[str, Team], configure_ldap: Configure, directory_admin: Any
) -> None:
    configure_ldap({"ldap.team_sync": "developers=devs:viewer, operators=devs:contributor"})
    directory_admin.add_member("operators", "bob")
    verify("bob", password_of("bob"))
    assert role_in(teams["devs"], "bob") == Role.CONTRIBUTOR
    directory_admin.remove_member("operators", "bob")
    sign_in_again("bob")
    assert role_in(teams["devs"], "bob") == Role.VIEWER
    assert Activity.objects.filter(action="team.change_role", team=teams["devs"], data__member="bob").exists()


def test_sync_never_removes_a_teams_last_owner(
    world: World, teams: dict[str, Team], configure_ldap: Configure, directory_admin: Any
) -> None:
    configure_ldap({"ldap.team_sync": "operators=ops:owner"})
    verify("carol", password_of("carol"))
    assert role_in(teams["ops"], "carol") == Role.OWNER
    remove_member(membership=TeamMembership.objects.get(team=teams["ops"], user=world.owner), actor=world.owner)
    directory_admin.remove_member("operators", "carol")
    assert sign_in_again("carol").user is not None  # the sign-in itself still works
    assert role_in(teams["ops"], "carol") == Role.OWNER  # the last owner stays


def test_the_group_filter_limits_which_groups_count(
    world: World, teams: dict[str, Team], configure_ldap: Configure
) -> None:
    # carol is in operators and registry-admins; the filter leaves only registry-admins to count.
    configure_ldap(
        {
            "ldap.group_filter": "(cn=registry-*)",
            "ldap.team_sync": "operators=ops:owner, registry-admins=devs:viewer",
            "ldap.admin_group": "registry-admins",
        }
    )
    carol = verify("carol", password_of("carol")).user
    assert carol is not None and carol.admin
    assert role_in(teams["ops"], "carol") is None
    assert role_in(teams["devs"], "carol") == Role.VIEWER


def test_a_team_sync_naming_a_missing_team_changes_nothing_else(
    world: World, teams: dict[str, Team], configure_ldap: Configure
) -> None:
    configure_ldap({"ldap.team_sync": "developers=no-such-team:owner, developers=devs:viewer"})
    assert verify("alice", password_of("alice")).user is not None
    assert role_in(teams["devs"], "alice") == Role.VIEWER
    assert not Team.objects.filter(name="no-such-team").exists()


def test_the_admin_group_makes_portus_administrators_and_leaving_it_ends_that(
    world: World, configure_ldap: Configure, directory_admin: Any
) -> None:
    configure_ldap({"ldap.admin_group": "registry-admins"})
    assert verify("carol", password_of("carol")).user.admin  # type: ignore[union-attr]
    assert not verify("alice", password_of("alice")).user.admin  # type: ignore[union-attr]
    directory_admin.remove_member("registry-admins", "carol")
    directory_admin.add_member("registry-admins", "alice")
    assert not sign_in_again("carol").user.admin  # type: ignore[union-attr]
    assert sign_in_again("alice").user.admin  # type: ignore[union-attr]
    assert Activity.objects.filter(action="user.make_admin", target="alice").exists()
    assert Activity.objects.filter(action="user.remove_admin", target="carol").exists()


def test_a_disabled_user_is_not_synced(world: World, teams: dict[str, Team], configure_ldap: Configure) -> None:
    configure_ldap({"ldap.team_sync": "developers=devs:contributor"})
    create_user(username="bob", ldap=True)
    set_enabled(user=User.objects.get(username="bob"), enabled=False, actor=world.admin)
    assert verify("bob", password_of("bob")).failure is Failure.DISABLED
    assert role_in(teams["devs"], "bob") is None


# -- the registry's token service --------------------------------------------------------------------------------


def test_docker_login_with_ldap_credentials_gets_a_token_and_is_remembered_until_disabled(
    client: Client, world: World, configure_ldap: Configure
) -> None:
    response = token_request(client, "alice", password_of("alice"))
    assert response.status_code == 200, response.content
    claims = jwt.decode(response.json()["token"], options={"verify_signature": False})
    assert claims["sub"] == "alice"
    assert claims["access"] == [{"type": "repository", "name": "alice/app", "actions": ["pull", "push"]}]
    # The verified credentials are remembered: the next request does not need the directory.
    configure_ldap({"ldap.port": free_port()})
    assert token_request(client, "alice", password_of("alice")).status_code == 200
    assert token_request(client, "alice", "a-wrong-password").status_code == 401
    # Disabling forgets the memory at once, in every process (credential_version).
    set_enabled(user=User.objects.get(username="alice"), enabled=False, actor=world.admin)
    configure_ldap({})
    refused = token_request(client, "alice", password_of("alice"))
    assert refused.status_code == 401 and "disabled" in refused.json()["errors"][0]["message"]


def test_with_token_passwords_off_the_directory_password_is_refused_at_the_token_service_only(
    client: Client, world: World, configure_ldap: Configure, portus_config: Callable[[str, Any], None]
) -> None:
    portus_config("registry.token_passwords.enabled", False)
    refused = token_request(client, "alice", password_of("alice"))
    assert refused.status_code == 401 and "passwords are not accepted here" in refused.content.decode()
    assert not User.objects.filter(username="alice").exists()  # the directory was not asked
    assert sign_in(client, "alice", password_of("alice")) == ""  # the pages still take it
    alice = User.objects.get(username="alice")
    _, secret = create_token(user=alice, name="laptop", actor=alice)
    assert token_request(client, "alice", secret).status_code == 200


@pytest.mark.e2e
def test_skopeo_pushes_with_ldap_credentials_to_the_personal_and_a_synced_team_namespace(
    stack: Stack, configure_ldap: Configure
) -> None:
    owner = stack.world.owner
    devs = create_team(name="devs", owner=owner, actor=owner)
    create_namespace(name="devs", team=devs, visibility="private", registry=stack.world.registry, actor=owner)
    configure_ldap({"ldap.team_sync": "developers=devs:contributor"})

    def push(repository: str, creds: str) -> Any:
        image = make_image(stack.tmp / f"img-{repository.replace('/', '_')}", tag="v1")
        return skopeo("copy", "--dest-tls-verify=false", "--dest-creds", creds, image.reference, stack.ref(repository))

    alice = f"alice:{password_of('alice')}"
    pushed = push("alice/app", alice)
    assert pushed.returncode == 0, pushed.stderr
    pushed = push("devs/api", alice)  # team sync made alice a contributor of devs at this login
    assert pushed.returncode == 0, pushed.stderr
    assert push("devs/web", f"alice:{'wrong-password'}").returncode != 0
    assert push("devs/web", f"dave:{password_of('dave')}").returncode != 0  # in no group: no push
    pulled = skopeo("inspect", "--raw", "--tls-verify=false", "--creds", alice, stack.ref("devs/api"))
    assert pulled.returncode == 0, pulled.stderr


def test_the_profile_page_sends_an_ldap_user_to_the_directory_for_their_password(
    client: Client, world: World, configure_ldap: Configure
) -> None:
    assert sign_in(client, "alice", password_of("alice")) == ""
    page = client.get("/profile/").content.decode()
    assert "change it in the directory" in page and "Change password" not in page
    client.post(
        "/profile/password/",
        {"old_password": password_of("alice"), "password1": "a-new-local-pass", "password2": "a-new-local-pass"},
    )
    assert not User.objects.get(username="alice").has_usable_password()


def test_an_ldap_user_may_unlink_a_provider_because_the_directory_password_remains(
    client: Client, world: World, configure_ldap: Configure, portus_config: Callable[[str, Any], None]
) -> None:
    assert sign_in(client, "alice", password_of("alice")) == ""
    alice = User.objects.get(username="alice")
    github = SocialAccount.objects.create(user=alice, provider="github", uid="1", extra_data={})
    client.post(f"/profile/providers/{github.pk}/unlink/")
    assert not SocialAccount.objects.filter(pk=github.pk).exists()
    # With the password form off the directory's password is no way in: the last provider stays.
    portus_config("oauth.local_login.enabled", False)
    gitlab = SocialAccount.objects.create(user=alice, provider="gitlab", uid="2", extra_data={})
    refused = client.post(f"/profile/providers/{gitlab.pk}/unlink/", follow=True)
    assert "This is your last way to sign in" in refused.content.decode()
    assert SocialAccount.objects.filter(pk=gitlab.pk).exists()


def test_with_ldap_on_nobody_signs_up_locally_to_take_a_directory_users_name(
    client: Client, world: World, configure_ldap: Configure
) -> None:
    assert "Sign up" not in client.get("/login/").content.decode()
    form = {"username": "bob", "email": "", "password1": "squatter-pass-1", "password2": "squatter-pass-1"}
    refused = client.post("/signup/", form)
    assert refused.status_code == 403 and "LDAP" in refused.content.decode()
    assert not User.objects.filter(username="bob").exists()


# -- sign-up through a provider while LDAP is on ------------------------------------------------------------------


def provider_sign_up(client: Client, double: ProviderDouble, enable: Any, username: str) -> Any:
    """Come back from GitHub as someone new and choose USERNAME on the sign-up form: its answer."""
    enable("github")
    newcomer = Person(login=username, uid=7007, email="newcomer@elsewhere.org")
    assert through(client, double, "github", newcomer)["Location"] == "/accounts/3rdparty/signup/"
    return choose_name(client, username, "newcomer@elsewhere.org")


def test_with_ldap_on_a_provider_sign_up_cannot_take_a_directory_users_name(
    client: Client, world: World, configure_ldap: Configure, double: ProviderDouble, enable: Any
) -> None:
    # bob is in the directory and has never signed in to Portus.
    refused = provider_sign_up(client, double, enable, "bob")
    assert refused.status_code == 200
    assert "belongs to a directory account" in refused.content.decode()
    assert not User.objects.filter(username="bob").exists() and not SocialAccount.objects.exists()
    assert signed_in_as(client) is None
    # So bob's directory password still opens his account.
    assert verify("bob", password_of("bob")).user is not None


def test_the_directory_is_asked_as_the_service_account_about_a_provider_sign_up_name(
    client: Client, world: World, configure_ldap: Configure, double: ProviderDouble, enable: Any
) -> None:
    # The same search as the sign-in: the configured filter limits which entries count.
    configure_ldap(
        {
            "ldap.authentication.bind_dn": READER_DN,
            "ldap.authentication.password": READER_PASSWORD,
            "ldap.authentication.enabled": True,
            "ldap.filter": "(mail=*)",  # only alice's entry has an address: only alice can sign in
        }
    )
    assert "belongs to a directory account" in provider_sign_up(client, double, enable, "alice").content.decode()
    assert provider_sign_up(client, double, enable, "carol")["Location"] == "/"
    assert signed_in_as(client) == "carol"


def test_with_ldap_on_a_name_the_directory_does_not_know_signs_up_through_a_provider(
    client: Client, world: World, configure_ldap: Configure, double: ProviderDouble, enable: Any
) -> None:
    done = provider_sign_up(client, double, enable, "newcomer")
    assert done.status_code == 302 and done["Location"] == "/"
    newcomer = User.objects.get(username="newcomer")
    assert not newcomer.ldap and SocialAccount.objects.get(user=newcomer).provider == "github"
    assert signed_in_as(client) == "newcomer"


@pytest.mark.parametrize(
    "changes",
    [
        {"ldap.port": "unused"},
        {
            "ldap.authentication.bind_dn": READER_DN,
            "ldap.authentication.password": "not-the-reader-password",
            "ldap.authentication.enabled": True,
        },
    ],
    ids=["directory-down", "service-account-refused"],
)
def test_a_provider_sign_up_is_refused_while_the_directory_cannot_be_asked(
    client: Client,
    world: World,
    configure_ldap: Configure,
    double: ProviderDouble,
    enable: Any,
    changes: dict[str, Any],
) -> None:
    configure_ldap({key: free_port() if value == "unused" else value for key, value in changes.items()})
    refused = provider_sign_up(client, double, enable, "newcomer")
    assert refused.status_code == 200
    assert "directory cannot be reached" in refused.content.decode()
    assert not User.objects.filter(username="newcomer").exists() and not SocialAccount.objects.exists()
    # Once the directory answers, the same choice goes through.
    configure_ldap({})
    assert choose_name(client, "newcomer", "newcomer@elsewhere.org")["Location"] == "/"
