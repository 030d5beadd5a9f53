"""Activity lines name who really acted and what they acted on, and link to that object."""

from __future__ import annotations

import importlib
import re

import pytest
from django.apps import apps
from django.urls import reverse

from portus.accounts.actions import create_user
from portus.accounts.models import User
from portus.registry.actions import change_role
from portus.registry.activity import record
from portus.registry.models import Activity, TeamMembership
from tests.conftest import PASSWORD, World
from tests.support.web import add_repository, client_as

pytestmark = pytest.mark.django_db


def text_of(html: str) -> str:
    """The words of HTML, table cells and list items apart, inline elements joined to their words."""
    cells = re.sub(r"</?(td|th|tr|li)[^>]*>", " ", html)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", cells))


def test_an_account_an_admin_creates_records_the_admin_as_actor(world: World) -> None:
    client = client_as(world, "admin")
    form = {"username": "bob", "email": "bob@example.com", "password": PASSWORD, "display_name": ""}
    assert client.post("/admin/users/new/", form).status_code == 302
    created = Activity.objects.get(action="user.create", target="bob")
    assert created.actor == world.admin
    assert Activity.objects.get(action="namespace.create", target="bob").actor == world.admin
    log = text_of(client.get("/admin/activity/").content.decode())
    assert "admin created account bob" in log
    assert "bob created account bob" not in log


def test_an_account_made_by_portusctl_is_recorded_as_made_by_portus(world: World) -> None:
    create_user(username="dora", password=PASSWORD)
    assert Activity.objects.get(action="user.create", target="dora").actor is None
    log = text_of(client_as(world, "admin").get("/admin/activity/").content.decode())
    assert "Portus created account dora" in log


def test_signing_up_is_recorded_as_the_new_user_signing_up(world: World) -> None:
    form = {"username": "carol", "email": "carol@example.com", "password1": PASSWORD, "password2": PASSWORD}
    assert client_as(world, "anonymous").post("/signup/", form).status_code == 302
    line = Activity.objects.get(target="carol", action__startswith="user.")
    assert (line.action, line.actor.username if line.actor else None) == ("user.signup", "carol")


def test_a_role_change_names_the_member_and_both_roles(world: World) -> None:
    membership = TeamMembership.objects.get(team=world.team, user=world.viewer)
    change_role(membership=membership, role="contributor", actor=world.owner)
    page = text_of(client_as(world, "contributor").get("/").content.decode())
    assert "changed the role of viewer in team acme: viewer → contributor" in page
    assert "added contributor to team acme as contributor" in page


def test_activity_lines_link_to_their_team_namespace_repository_and_tag(world: World) -> None:
    repository = add_repository(world.namespace, "app", {"v1": "sha256:" + "2" * 64})
    record(None, "repository.push", "acme/app:v1", namespace=world.namespace, tag="v1", reported_actor="owner")
    record(world.owner, "repository.star", "acme/app", namespace=world.namespace)
    body = client_as(world, "viewer").get("/").content.decode()
    for url, text in (
        (reverse("web:team", args=[world.team.pk]), "acme"),
        (reverse("web:namespace", args=[world.namespace.pk]), "acme"),
        (reverse("web:tag", args=[repository.pk, "v1"]), "acme/app:v1"),
        (reverse("web:repository", args=[repository.pk]), "acme/app"),
    ):
        assert f'<a href="{url}"><code>{text}</code></a>' in body, url


def test_only_admins_get_links_to_account_pages(world: World) -> None:
    membership = TeamMembership.objects.get(team=world.team, user=world.viewer)
    change_role(membership=membership, role="contributor", actor=world.owner)
    account = reverse("web:admin-user", args=[world.viewer.pk])
    assert f'<a href="{account}"><code>viewer</code></a>' in client_as(world, "admin").get("/").content.decode()
    assert account not in client_as(world, "owner").get("/").content.decode()


def test_a_line_about_a_deleted_object_still_reads_without_a_link(world: World) -> None:
    record(world.owner, "repository.delete", "acme/gone", namespace=world.namespace)
    body = client_as(world, "owner").get("/").content.decode()
    assert "deleted repository <code>acme/gone</code>" in body


# Rows as the code before 2026-12-01 wrote them: the new account as the creator of its own account and of
# its personal namespace, whoever really created it (sign-up, an administrator, portusctl).
def write_old_account_rows(user: User) -> None:
    record(user, "user.create", user.username, admin=False, bot=False)
    record(user, "namespace.create", user.username, namespace=user.personal_namespace, kind="personal")


def test_old_account_lines_that_name_the_account_as_its_own_creator_name_no_actor(world: World) -> None:
    bob = create_user(username="bob", password=PASSWORD, actor=world.admin)
    Activity.objects.filter(target="bob").delete()
    write_old_account_rows(bob)
    log = text_of(client_as(world, "admin").get("/admin/activity/").content.decode())
    assert "bob created account bob" not in log and "bob created namespace bob" not in log
    assert "not recorded Account bob was created (who did it was not recorded)" in log
    assert "not recorded Personal namespace bob was created (who did it was not recorded)" in log
    csv = b"".join(client_as(world, "admin").get("/admin/activity.csv").streaming_content).decode()
    assert "(not recorded),user.create,bob" in csv
    # The same rows written today (an administrator created the account) name the administrator.
    Activity.objects.filter(target="bob").delete()
    create_user(username="carl", password=PASSWORD, actor=world.admin)
    assert "admin created account carl" in text_of(client_as(world, "admin").get("/admin/activity/").content.decode())


def test_a_sign_up_still_reads_as_the_user_signing_up(world: World) -> None:
    form = {"username": "dan", "email": "dan@example.com", "password1": PASSWORD, "password2": PASSWORD}
    assert client_as(world, "anonymous").post("/signup/", form).status_code == 302
    log = text_of(client_as(world, "admin").get("/admin/activity/").content.decode())
    assert "dan signed up as dan" in log and "dan created namespace dan" in log and "not recorded" not in log


def test_an_imported_member_line_the_original_did_not_name_says_so_and_invents_no_role(world: World) -> None:
    record(world.owner, "team.add_member", "acme", team=world.team, imported=True)
    record(world.owner, "team.change_role", "acme", team=world.team, imported=True, new_role="owner")
    page = text_of(client_as(world, "owner").get("/").content.decode())
    assert "added a member (name not recorded) to team acme" in page
    assert "added a member (name not recorded) to team acme as" not in page
    assert "changed the role of a member (name not recorded) in team acme" in page


def test_the_migration_names_the_member_and_roles_the_original_recorded_under_its_own_keys(world: World) -> None:
    migration = importlib.import_module("portus.registry.migrations.0010_activity_member_from_original_parameters")
    added = record(world.owner, "team.add_member", "acme", team=world.team, imported=True, team_user="viewer")
    changed = record(
        world.owner,
        "team.change_role",
        "acme",
        team=world.team,
        imported=True,
        team_user="viewer",
        old_role="viewer",
        new_role="contributor",
    )
    unnamed = record(world.owner, "team.remove_member", "acme", team=world.team, imported=True)
    ours = record(world.owner, "team.add_member", "acme", team=world.team, member="contributor", role="contributor")
    migration.name_members(apps, None)
    for line in (added, changed, unnamed, ours):
        line.refresh_from_db()
    assert (added.data["member"], added.data["team_user"]) == ("viewer", "viewer")  # the original's kept
    assert (changed.data["member"], changed.data["old"], changed.data["role"]) == ("viewer", "viewer", "contributor")
    assert "member" not in unnamed.data  # nothing recorded: nothing invented
    assert ours.data == {"member": "contributor", "role": "contributor"}
    page = text_of(client_as(world, "owner").get("/").content.decode())
    assert "changed the role of viewer in team acme: viewer → contributor" in page
