"""`portusctl import portus`: an original Portus database (MariaDB and PostgreSQL, built from its
published schema) imported read-only, in one transaction, with nothing doubled."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest
from allauth.socialaccount.models import SocialAccount
from django.db.models import Model
from django.test import Client

from portus.accounts.credentials import verify
from portus.accounts.models import ApplicationToken, User
from portus.cli import main as portusctl
from portus.importer.models import ImportedRow, LegacyIdentity
from portus.importer.run import Importer, ImportRefused
from portus.importer.source import SourceError, open_source
from portus.registry.models import (
    Activity,
    Comment,
    Namespace,
    NamespaceKind,
    Registry,
    Repository,
    Role,
    Star,
    Tag,
    Team,
    TeamMembership,
)
from portus.webhooks.delivery import claim
from portus.webhooks.models import DeliveryState, Webhook, WebhookDelivery, WebhookHeader
from tests.conftest import require
from tests.support import original_portus as op

REGISTRY_HOST = "registry.example.org:5000"
DIALECTS = ["mysql", "postgresql"]


@pytest.fixture(scope="module", params=DIALECTS)
def original(request: pytest.FixtureRequest) -> Iterator[tuple[str, op.Original]]:
    dialect = request.param
    require(op.server_reachable(dialect), f"no {dialect} server at 127.0.0.1 for the original's database")
    name = op.source_name(f"{dialect}_main")
    with op.original_database(dialect, name) as url:
        yield url, op.fill(dialect, name, REGISTRY_HOST, use_ssl=True)


def run_import(url: str, **options: Any) -> Any:
    source = open_source(url)
    try:
        return Importer(source, **options).run()
    finally:
        source.close()


def counts() -> dict[str, int]:
    models: tuple[type[Model], ...] = (User, Team, TeamMembership, Namespace, Repository, Tag, Star, Comment)
    models += (ApplicationToken, Activity, Webhook, WebhookHeader, WebhookDelivery, SocialAccount)
    return {model.__name__: model.objects.count() for model in models} | {"Registry": Registry.objects.count()}


def test_dry_run_lists_what_it_would_import_and_what_it_cannot_and_changes_nothing(
    db: None, original: tuple[str, op.Original]
) -> None:
    url, _ = original
    before = counts()
    report = run_import(url, dry_run=True)
    text = "\n".join(report.lines())
    assert counts() == before
    assert not ImportedRow.objects.exists()
    assert "Dry run: Would import" in text and "original Portus 2.5" in text
    assert "users: 13" in text  # alice..lena and the bot; the internal portus user is ours
    assert "webhooks: 2" in text and "webhook_headers: 1" in text and "webhook_deliveries: 2" in text
    assert "identities: 4" in text  # GitHub, Bitbucket, Google, OpenID Connect; OpenID 2 cannot be
    assert "not imported yet" not in text
    assert "webhook 'bad' of qa: 'ftp://files.example.com/' is not an http:// or https:// address" in text
    assert "judy: OpenID 2 (open_id) cannot be linked" in text
    assert not Webhook.objects.exists() and not SocialAccount.objects.exists()
    assert "unknown role 7" in text
    assert "tag qa/app:broken has no digest" in text


def test_import_maps_users_teams_roles_namespaces_repositories_tags_stars_and_comments(
    db: None, original: tuple[str, op.Original]
) -> None:
    url, _ = original
    run_import(url)
    registry = Registry.objects.get(hostname=REGISTRY_HOST)
    assert registry.legacy_unsigned_notifications
    assert (registry.name, registry.use_ssl, registry.external_hostname) == ("registry", True, op.EXTERNAL_HOSTNAME)
    alice = User.objects.get(username="alice")
    assert alice.admin and alice.email == "alice@example.com" and alice.display_name == "Alice A."
    assert not User.objects.get(username="dave").is_active
    assert User.objects.get(username="robot").bot
    gina = User.objects.get(username="gina")
    assert gina.failed_sign_ins == 10 and gina.is_locked()
    assert not User.objects.filter(username="portus").exists()
    assert LegacyIdentity.objects.get(user__username="erin").ldap_name == "erin"
    frank = LegacyIdentity.objects.get(user__username="frank")
    assert (frank.provider, frank.uid) == ("github", "424242")
    # Hidden per-user teams are personal namespaces, not teams.
    assert set(Team.objects.values_list("name", flat=True)) == {"qa"}
    personal = Namespace.objects.get(name="alice")
    assert personal.kind == NamespaceKind.PERSONAL and personal.owner == alice and personal.visibility == "private"
    assert Namespace.objects.get(name="henry").owner == User.objects.get(username="henry")
    roles = dict(TeamMembership.objects.filter(team__name="qa").values_list("user__username", "role"))
    assert roles == {"alice": Role.OWNER, "bob": Role.CONTRIBUTOR, "carol": Role.VIEWER}
    qa = Namespace.objects.get(name="qa")
    assert (qa.kind, qa.visibility, qa.description) == (NamespaceKind.TEAM, "protected", "QA images")
    glob = Namespace.objects.get(registry=registry, kind=NamespaceKind.GLOBAL)
    assert glob.visibility == "public" and glob.description == "Everything pushed without a namespace"
    tag = Tag.objects.get(repository__name="app", name="v1")
    assert tag.digest == "sha256:" + "ab" * 32 and tag.config_digest == "sha256:" + "cd" * 32
    assert tag.author == alice and tag.size == 1234
    assert tag.pushed_at == op.T0.replace(tzinfo=dt.UTC)  # the original's times, read as UTC as Rails wrote them
    assert Repository.objects.get(name="app").description == "The app"
    assert Star.objects.get().user.username == "bob"
    assert Comment.objects.get().body == "Works for me"


def test_activities_are_readable_and_unknown_keys_are_kept_as_text(db: None, original: tuple[str, op.Original]) -> None:
    url, _ = original
    run_import(url)
    by_action = {line.action: line for line in Activity.objects.filter(data__imported=True)}
    member = by_action["team.add_member"]
    assert member.actor.username == "alice" and member.target == "qa" and member.team.name == "qa"
    assert member.data["team_user"] == "bob" and member.data["role"] == "contributor"
    assert member.data["member"] == "bob"  # under the name the pages read, too
    assert by_action["repository.push"].target == "qa/app:v1"
    assert by_action["repository.push"].namespace.name == "qa"
    role = by_action["team.change_role"]  # Ruby-tagged parameters, a symbol value
    assert role.data["new_role"] == "contributor" and role.data["original_key"] == "team.change_member_role"
    assert (role.data["old"], role.data["role"], role.data["member"]) == ("viewer", "contributor", "bob")
    created = by_action["webhook.create"]
    assert created.target == "qa: ci-hook" and created.namespace.name == "qa"
    assert created.data["webhook"] == "ci-hook" and created.data["webhook_host"] == "127.0.0.1"
    disabled = by_action["webhook.disable"]
    assert disabled.target == "qa: form-hook" and disabled.data["original_key"] == "webhook.disabled"
    deleted = by_action["webhook.delete"]  # the webhook is gone; the original kept its names in the line
    assert deleted.target == "qa: old-hook" and deleted.namespace.name == "qa"
    assert deleted.data["webhook_host"] == "old.example.com" and deleted.data["original_key"] == "webhook.destroy"
    assert by_action["namespace.change_visibility"].reported_actor == "portus"
    unknown = by_action["namespace.sync_ldap_group"]  # no line of ours: kept under its own key
    assert unknown.target == "qa" and unknown.data["group"] == "cn=qa"
    unreadable = by_action["repository.retag"]
    assert unreadable.data["original_parameters"] == "--- [unclosed\n"
    assert unreadable.data["import_note"].startswith("parameters are not YAML")


def test_webhooks_are_imported_with_the_password_sealed_a_new_secret_and_their_header(
    db: None, original: tuple[str, op.Original]
) -> None:
    url, _ = original
    run_import(url)
    qa = Namespace.objects.get(name="qa")
    hook = Webhook.objects.get(namespace=qa, name="ci-hook")
    assert (hook.request_method, hook.content_type, hook.enabled) == ("POST", "application/json", True)
    assert hook.username == "hook-user" and hook.password == "hook-password"
    assert "hook-password" not in hook.password_sealed  # the original's plain text, sealed here
    assert len(hook.secret) >= 32  # the original signed nothing: a new secret, different per webhook
    form = Webhook.objects.get(namespace=qa, name="form-hook")
    assert (form.request_method, form.content_type, form.enabled) == ("GET", "application/x-www-form-urlencoded", False)
    assert form.secret != hook.secret and not form.has_password
    assert form.original_form_body  # sends the JSON text under the form content type, as the original did
    assert not Webhook.objects.filter(name="bad").exists()
    header = WebhookHeader.objects.get(webhook=hook)
    assert header.name == "X-Token" and header.value == "abc" and "abc" not in header.value_sealed


def test_webhook_deliveries_are_imported_as_history_the_worker_never_sends_again(
    db: None, original: tuple[str, op.Original]
) -> None:
    url, _ = original
    run_import(url)
    hook = Webhook.objects.get(name="ci-hook")
    delivered = WebhookDelivery.objects.get(webhook=hook, uuid=op.HOOK_DELIVERY_UUID)
    assert (delivered.state, delivered.status, delivered.event) == (DeliveryState.DELIVERED, 200, "push")
    assert delivered.request_body.startswith('{"id":"e-1"') and delivered.response_body == "ok"
    assert delivered.delivered_at == delivered.created_at and delivered.created_at.year == 2019
    # The original logged custom header values; here they are never in a log.
    assert delivered.request_header == "Content-Type: application/json\nX-Token: (custom header value, not logged)"
    unanswered = WebhookDelivery.objects.exclude(pk=delivered.pk).get(webhook=hook)
    assert (unanswered.state, unanswered.status, unanswered.error) == (DeliveryState.FAILED, None, "no answer")
    assert not WebhookDelivery.objects.filter(state=DeliveryState.PENDING).exists()
    assert claim("test-worker") is None  # nothing for the worker to send


def test_the_webhooks_page_lists_the_imported_webhook_and_its_deliveries_to_the_namespace_owner(
    db: None, original: tuple[str, op.Original]
) -> None:
    url, _ = original
    run_import(url)
    hook = Webhook.objects.get(name="ci-hook")
    client = Client()
    client.force_login(User.objects.get(username="alice"))  # owner of team qa in the original
    listed = client.get(f"/namespaces/{hook.namespace_id}/webhooks/").content.decode()
    assert "ci-hook" in listed and "form-hook" in listed
    deliveries = f"/namespaces/{hook.namespace_id}/webhooks/{hook.pk}/deliveries/"
    page = client.get(deliveries)
    assert page.status_code == 200 and op.HOOK_DELIVERY_UUID in page.content.decode()
    viewer = Client()
    viewer.force_login(User.objects.get(username="carol"))  # a viewer of qa
    assert viewer.get(deliveries).status_code in (403, 404)


def test_imported_password_signs_in_and_is_rehashed_with_the_default_hasher(
    db: None, original: tuple[str, op.Original], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, data = original
    run_import(url)
    alice = User.objects.get(username="alice")
    assert alice.password.startswith("portus_bcrypt$$2a$10$")
    assert verify("alice", "wrong-password").user is None
    assert verify("alice", data.passwords["alice"]).user == alice
    alice.refresh_from_db()
    assert not alice.password.startswith("portus_bcrypt$")
    assert alice.check_password(data.passwords["alice"])
    assert Client().post("/login/", {"username": "bob", "password": data.passwords["bob"]}).status_code == 302
    # Then remembered by the credential cache like any password: no hash is checked again.
    monkeypatch.setattr(User, "check_password", lambda *_: pytest.fail("checked the hash again"))
    assert verify("alice", data.passwords["alice"]).user == alice


def test_imported_token_works_for_docker_login_and_the_api_and_is_marked_imported(
    db: None, original: tuple[str, op.Original]
) -> None:
    url, data = original
    run_import(url)
    plain = data.tokens["bob/ci"]
    token = ApplicationToken.objects.get(user__username="bob", name="ci")
    assert token.imported and token.imported_hash.startswith("$2a$10$")
    assert verify("bob", "not-the-token").user is None
    found = verify("bob", plain)
    assert found.user is not None and found.user.username == "bob" and found.token == token
    token.refresh_from_db()
    assert token.imported_hash == "" and token.last_used_at is not None  # from now on a digest lookup
    assert verify("bob", plain).token == token
    assert verify("carol", plain).user is None  # another user's name with it
    api = Client().get("/api/v1/users/bob", HTTP_PORTUS_AUTH=f"bob:{plain}")
    assert api.status_code == 200, api.content
    assert verify("robot", data.tokens["robot/deploy"]).user.username == "robot"  # a bot's token
    client = Client()
    client.force_login(User.objects.get(username="bob"))
    page = client.get("/profile/").content.decode()
    assert "imported: rotate it" in page


def test_revoking_an_imported_token_ends_it_at_once(db: None, original: tuple[str, op.Original]) -> None:
    url, data = original
    run_import(url)
    plain = data.tokens["bob/ci"]
    assert verify("bob", plain).user is not None  # remembered
    token = ApplicationToken.objects.get(user__username="bob", name="ci")
    ApplicationToken.objects.filter(pk=token.pk).update(revoked_at=token.created_at)
    assert verify("bob", plain).user is None


def test_second_run_refuses_and_merge_doubles_nothing(db: None, original: tuple[str, op.Original]) -> None:
    url, _ = original
    run_import(url)
    after_first = counts()
    with pytest.raises(ImportRefused, match="--merge"):
        run_import(url)
    report = run_import(url, merge=True)
    assert counts() == after_first
    assert sum(report.imported.values()) == 0 and report.existing["users"] == 13
    assert report.existing["webhooks"] == 2 and report.existing["webhook_deliveries"] == 2
    assert SocialAccount.objects.count() == 4 and WebhookHeader.objects.count() == 1


def test_rows_that_clash_with_this_portus_refuse_the_import_without_merge(
    db: None, original: tuple[str, op.Original]
) -> None:
    url, _ = original
    User.objects.create(username="alice", email="someone@example.com")
    with pytest.raises(ImportRefused, match="clash"):
        run_import(url)
    assert not Registry.objects.exists()  # one transaction: nothing half done
    run_import(url, merge=True)
    assert User.objects.get(username="alice").email == "someone@example.com"  # kept as it was here
    assert TeamMembership.objects.get(team__name="qa", user__username="alice").role == Role.OWNER


def test_pages_show_imported_repositories_stars_comments_and_activities(
    db: None, original: tuple[str, op.Original]
) -> None:
    url, _ = original
    run_import(url)
    client = Client()
    client.force_login(User.objects.get(username="carol"))
    repository = Repository.objects.get(name="app")
    page = client.get(f"/repositories/{repository.pk}/").content.decode()
    assert "qa/app" in page and "v1" in page and "Works for me" in page and "The app" in page
    namespace = client.get(f"/namespaces/{Namespace.objects.get(name='qa').pk}/").content.decode()
    assert "app" in namespace
    dashboard = " ".join(re.sub(r"<[^>]+>", " ", client.get("/").content.decode()).split())  # its text
    assert "bob pushed qa/app:v1" in dashboard  # repository.push, its tag_name parameter
    assert "alice added bob to team qa as contributor" in dashboard  # team.add_member's YAML
    assert "alice created namespace qa" in dashboard
    assert "alice changed the role of bob in team qa" in dashboard  # team.change_member_role
    assert "alice namespace.sync_ldap_group qa" in dashboard  # an unknown key, shown as it is
    starrer = Client()
    starrer.force_login(User.objects.get(username="bob"))
    starred = starrer.get(f"/repositories/{repository.pk}/").content.decode()
    assert "★ Unstar" in starred and 'aria-label="1 stars"' in starred  # bob's imported star
    admin = Client()
    admin.force_login(User.objects.get(username="alice"))
    registries = admin.get("/admin/registries/").content.decode()
    assert "accepts notifications without a secret" in registries


def test_source_is_opened_read_only(db: None, original: tuple[str, op.Original]) -> None:
    url, _ = original
    source = open_source(url)
    try:
        cursor = source.connection.cursor()
        with pytest.raises(Exception, match="(?i)read.only"):
            cursor.execute("UPDATE users SET admin = %s WHERE username = %s", [False, "alice"])
    finally:
        source.close()


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_source_older_than_2_3_stops_with_a_message(db: None, dialect: str) -> None:
    require(op.server_reachable(dialect), f"no {dialect} server")
    with op.original_database(dialect, op.source_name(f"{dialect}_old"), release="2.2") as url:
        with pytest.raises(SourceError, match="older than 2.3.*rake db:migrate"):
            open_source(url)


@pytest.mark.parametrize("release", ["2.3", "2.4"])
@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_2_3_or_2_4_source_imports_without_the_later_columns(db: None, dialect: str, release: str) -> None:
    require(op.server_reachable(dialect), f"no {dialect} server")
    name = op.source_name(f"{dialect}_{release.replace('.', '')}")
    with op.original_database(dialect, name, release=release) as url:
        data = op.fill(dialect, name, REGISTRY_HOST, release=release)
        report = run_import(url)
    text = "\n".join(report.lines())
    assert f"original Portus {release}, schema version {op.VERSIONS[release]}" in text
    assert verify("alice", data.passwords["alice"]).user is not None
    assert Tag.objects.get(name="v1").size == 0  # tags.size came with 2.5
    assert User.objects.filter(username="robot", bot=True).exists() == (release == "2.4")  # users.bot with 2.4
    assert Repository.objects.get(name="app").description == ""  # repositories.description with 2.5


def test_an_unreadable_source_stops_with_a_message(db: None, capsys: pytest.CaptureFixture[str]) -> None:
    require(op.server_reachable("mysql"), "no mysql server")
    missing = op.source_name("missing")
    status = portusctl(["import", "portus", "--from", f"mysql://root:secret@127.0.0.1:3306/{missing}"])
    err = capsys.readouterr().err
    assert status == 1 and f"cannot read mysql://root:***@127.0.0.1:3306/{missing}" in err
    assert portusctl(["import", "portus", "--from", "sqlite:///tmp/x.db"]) == 1
    assert "mysql://USER:PASSWORD@HOST/NAME" in capsys.readouterr().err
