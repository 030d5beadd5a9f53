"""Namespace pages: list, create, show, edit, visibility, transfer and delete, per persona."""

from __future__ import annotations

import pytest

from portus.registry.actions import create_team
from portus.registry.models import Namespace
from tests.conftest import World
from tests.support.web import MEMBERS, PERSONAS, add_repository, client_as, is_sign_in_redirect

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def test_list_groups_global_personal_team_and_other_namespaces(world: World) -> None:
    page = client_as(world, "owner").get("/namespaces/")
    assert page.status_code == 200
    assert [n.kind for n in page.context["global_namespaces"]] == ["global"]
    assert [n.name for n in page.context["personal"]] == ["owner"]
    assert [n.name for n in page.context["team_namespaces"]] == ["acme"]
    assert list(page.context["page_obj"]) == []  # the others' personal namespaces are private


def test_list_never_shows_private_namespaces_of_others(world: World) -> None:
    page = client_as(world, "outsider").get("/namespaces/")
    body = page.content.decode()
    assert "acme" not in body and "contributor" not in body


@pytest.mark.parametrize("persona", PERSONAS)
def test_private_team_namespace_page_is_shown_to_members_only(world: World, persona: str) -> None:
    add_repository(world.namespace, "app")
    response = client_as(world, persona).get(f"/namespaces/{world.namespace.pk}/")
    if persona in MEMBERS:
        assert response.status_code == 200 and "acme/app" in response.content.decode()
    else:
        assert response.status_code == 404


@pytest.mark.parametrize(
    ("persona", "status"),
    [
        ("admin", 200),
        ("owner", 200),
        ("contributor", 200),
        ("viewer", 403),
        ("outsider", 403),
    ],
)
def test_create_namespace_needs_owner_or_contributor_of_some_team(world: World, persona: str, status: int) -> None:
    assert client_as(world, persona).get("/namespaces/new/").status_code == status


def test_contributor_creates_a_namespace_for_their_team(world: World) -> None:
    response = client_as(world, "contributor").post(
        "/namespaces/new/",
        {
            "name": "acme-tools",
            "team": world.team.pk,
            "visibility": "protected",
            "description": "Tools",
        },
    )
    created = Namespace.objects.get(name="acme-tools")
    assert response.status_code == 302 and response["Location"] == f"/namespaces/{created.pk}/"
    assert created.team == world.team and created.visibility == "protected"


def test_create_namespace_shows_field_errors(world: World) -> None:
    response = client_as(world, "owner").post(
        "/namespaces/new/",
        {
            "name": "Bad Name",
            "team": world.team.pk,
            "visibility": "private",
        },
    )
    assert response.status_code == 200
    assert 'id="id_name_error"' in response.content.decode()
    taken = client_as(world, "owner").post(
        "/namespaces/new/",
        {
            "name": "acme",
            "team": world.team.pk,
            "visibility": "private",
        },
    )
    assert "already exists" in taken.content.decode()


def test_contributor_cannot_create_a_namespace_for_another_team(world: World) -> None:
    other = create_team(name="other", owner=world.outsider, actor=world.outsider)
    response = client_as(world, "contributor").post(
        "/namespaces/new/",
        {
            "name": "sneaky",
            "team": other.pk,
            "visibility": "private",
        },
    )
    assert response.status_code == 200 and not Namespace.objects.filter(name="sneaky").exists()


@pytest.mark.parametrize(
    ("persona", "status"),
    [
        ("admin", 200),
        ("owner", 200),
        ("contributor", 403),
        ("viewer", 403),
        ("outsider", 404),
    ],
)
def test_edit_description_is_for_owners(world: World, persona: str, status: int) -> None:
    client = client_as(world, persona)
    assert client.get(f"/namespaces/{world.namespace.pk}/edit/").status_code == status
    response = client.post(f"/namespaces/{world.namespace.pk}/edit/", {"description": "**new**"})
    world.namespace.refresh_from_db()
    assert (world.namespace.description == "**new**") is (status == 200)
    assert response.status_code == (302 if status == 200 else status)


@pytest.mark.parametrize(
    ("persona", "status"),
    [
        ("admin", 302),
        ("owner", 302),
        ("contributor", 403),
        ("viewer", 403),
        ("outsider", 404),
    ],
)
def test_visibility_changes_only_for_owners(world: World, persona: str, status: int) -> None:
    response = client_as(world, persona).post(f"/namespaces/{world.namespace.pk}/visibility/", {"visibility": "public"})
    assert response.status_code == status
    world.namespace.refresh_from_db()
    assert (world.namespace.visibility == "public") is (status == 302)


def test_visibility_change_with_htmx_answers_the_chooser_alone(world: World) -> None:
    response = client_as(world, "owner").post(
        f"/namespaces/{world.namespace.pk}/visibility/", {"visibility": "protected"}, **HTMX
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="visibility">') and "<html" not in body
    assert "Saved" in body


def test_global_namespace_cannot_become_private(world: World) -> None:
    global_namespace = Namespace.objects.get(kind="global")
    response = client_as(world, "admin").post(
        f"/namespaces/{global_namespace.pk}/visibility/", {"visibility": "private"}
    )
    assert response.status_code == 403
    global_namespace.refresh_from_db()
    assert global_namespace.visibility == "public"


def test_owner_transfers_namespace_to_another_team_they_belong_to(world: World) -> None:
    other = create_team(name="platform", owner=world.owner, actor=world.owner)
    client = client_as(world, "owner")
    page = client.get(f"/namespaces/{world.namespace.pk}/transfer/")
    assert [t.name for t in page.context["form"].fields["team"].queryset] == ["platform"]
    assert client.post(f"/namespaces/{world.namespace.pk}/transfer/", {"team": other.pk}).status_code == 302
    world.namespace.refresh_from_db()
    assert world.namespace.team == other


def test_owner_cannot_transfer_to_a_team_they_are_not_in(world: World) -> None:
    foreign = create_team(name="foreign", owner=world.outsider, actor=world.outsider)
    response = client_as(world, "owner").post(f"/namespaces/{world.namespace.pk}/transfer/", {"team": foreign.pk})
    assert response.status_code == 200  # the form refuses the choice
    world.namespace.refresh_from_db()
    assert world.namespace.team == world.team


@pytest.mark.parametrize(
    ("persona", "status"),
    [
        ("contributor", 403),
        ("viewer", 403),
        ("outsider", 404),
    ],
)
def test_only_owners_delete_namespaces(world: World, persona: str, status: int) -> None:
    assert client_as(world, persona).post(f"/namespaces/{world.namespace.pk}/delete/").status_code == status
    assert Namespace.objects.filter(pk=world.namespace.pk).exists()


def test_owner_deletes_an_empty_namespace_but_not_one_holding_repositories(world: World) -> None:
    client = client_as(world, "owner")
    add_repository(world.namespace, "keep")
    refused = client.post(f"/namespaces/{world.namespace.pk}/delete/")
    assert refused.status_code == 200 and "Delete them first" in refused.content.decode()
    world.namespace.repositories.all().delete()
    assert client.post(f"/namespaces/{world.namespace.pk}/delete/").status_code == 302
    assert not Namespace.objects.filter(pk=world.namespace.pk).exists()


def test_personal_namespace_cannot_be_deleted(world: World) -> None:
    personal = Namespace.objects.get(owner=world.owner)
    assert client_as(world, "owner").post(f"/namespaces/{personal.pk}/delete/").status_code == 403


def test_namespace_list_needs_an_account(world: World) -> None:
    assert is_sign_in_redirect(client_as(world, "anonymous").get("/namespaces/"))


def test_the_rule_that_only_empty_namespaces_go_lives_in_the_action(world: World) -> None:
    from portus.errors import ActionError
    from portus.registry.actions import delete_namespace

    add_repository(world.namespace, "keep")
    with pytest.raises(ActionError, match="still holds repositories"):
        delete_namespace(namespace=world.namespace, actor=world.owner)
    assert Namespace.objects.filter(pk=world.namespace.pk).exists()


def test_description_edit_page_cancels_back_to_the_namespace(world: World) -> None:
    page = client_as(world, "owner").get(f"/namespaces/{world.namespace.pk}/edit/")
    assert page.context["back"] == f"/namespaces/{world.namespace.pk}/"
    assert f'href="/namespaces/{world.namespace.pk}/"' in page.content.decode()


def test_anonymous_htmx_request_is_sent_to_sign_in_like_a_page(world: World) -> None:
    response = client_as(world, "anonymous").post(
        f"/namespaces/{world.namespace.pk}/visibility/", {"visibility": "public"}, **HTMX
    )
    assert is_sign_in_redirect(response)
    assert response["Location"] == f"/login/?next=/namespaces/{world.namespace.pk}/visibility/"
