"""Activity lines name who really acted and what they acted on, and link to that object."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from portus.accounts.actions import create_user
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
