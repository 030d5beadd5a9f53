"""Deleting users and namespaces: refused while they hold repositories, their names reserved until released."""

from __future__ import annotations

import pytest
from django.test import Client

from portus.accounts.actions import create_user
from portus.accounts.models import User
from portus.cli import main as portusctl
from portus.errors import ActionError
from portus.registry.actions import create_namespace, delete_namespace, ensure_personal_namespace
from portus.registry.models import Activity, Namespace, Repository, ReservedName
from tests.api import Api, api_fixture  # noqa: F401  (the api fixture)
from tests.conftest import PASSWORD, World
from tests.support.registry import free_port
from tests.support.web import add_repository, client_as


@pytest.fixture
def eve(world: World) -> User:
    return create_user(username="eve", email="eve@example.com", password=PASSWORD)


def eves_namespace() -> Namespace:
    return Namespace.objects.get(name="eve")


# -- actions ---------------------------------------------------------------------------------------


def test_deleting_a_user_whose_namespace_holds_repositories_is_refused_with_what_to_do(api: Api, eve: User) -> None:
    add_repository(eves_namespace(), "secret")

    answer = api.delete("users/eve")

    assert answer.status == 400
    assert "still holds repositories; delete them first, or delete it with its images" in answer.body["message"]
    assert User.objects.filter(username="eve").exists() and Repository.objects.filter(name="secret").exists()
    assert not ReservedName.objects.exists()


def test_deleting_an_empty_user_reserves_the_name_with_an_activity_line(api: Api, eve: User) -> None:
    assert api.delete("users/eve").status == 204

    reserved = ReservedName.objects.get(name="eve")
    assert (reserved.kind, reserved.reserved_by) == ("user", "admin")
    line = Activity.objects.get(action="name.reserve")
    assert (line.actor, line.target, line.data) == (api.world.admin, "eve", {"kind": "user"})


def test_nobody_may_sign_up_create_or_name_a_namespace_after_a_reserved_name(api: Api, eve: User) -> None:
    assert api.delete("users/eve").status == 204

    with pytest.raises(ActionError, match="reserved"):
        create_user(username="eve", password=PASSWORD)
    created = api.post("users", {"username": "eve", "password": PASSWORD})
    assert created.status == 400 and "release" in created.body["message"]
    namespace = api.post("namespaces", {"name": "eve", "team": "acme"}, "owner")
    assert namespace.status == 400 and "reserved" in namespace.body["message"]
    check = api.get("namespaces/validate", "owner", name="eve").body
    assert (check["valid"], check["available"]) == (True, False)
    page = Client().post(
        "/signup/", {"username": "eve", "email": "e@example.com", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert page.status_code == 200 and "is reserved" in page.content.decode()
    assert not User.objects.filter(username="eve").exists()


def test_a_user_who_already_has_a_deleted_namespaces_name_gets_no_personal_namespace(world: World) -> None:
    # A team namespace "late" existed when user "late" was made, so the user got none; it is deleted now.
    team_namespace = create_namespace(name="late", team=world.team, actor=world.owner)
    late = create_user(username="late", password=PASSWORD)
    delete_namespace(namespace=team_namespace, actor=world.owner)

    assert ensure_personal_namespace(late, actor=None) is None
    assert not Namespace.objects.filter(name="late").exists()


def test_deleting_a_team_namespace_reserves_its_name(api: Api) -> None:
    create_namespace(name="devtmp", team=api.world.team, actor=api.world.owner)

    assert api.delete("namespaces/devtmp", "owner").status == 204

    assert ReservedName.objects.get(name="devtmp").kind == "namespace"
    again = api.post("namespaces", {"name": "devtmp", "team": "acme"}, "owner")
    assert again.status == 400 and "reserved" in again.body["message"]


def test_an_unreachable_registry_refuses_deletion_with_images_and_changes_nothing(api: Api) -> None:
    api.world.registry.hostname = f"127.0.0.1:{free_port()}"  # nothing listens there
    api.world.registry.save(update_fields=["hostname"])
    add_repository(api.world.namespace, "app")

    answer = api.call("delete", "namespaces/acme", "owner", params={"delete_images": "true"})

    assert answer.status == 502 and "Cannot reach the registry" in answer.body["message"]
    assert "nothing was deleted" in answer.body["message"]
    assert Repository.objects.filter(name="app").exists() and Namespace.objects.filter(name="acme").exists()
    assert not ReservedName.objects.exists()


def test_deleting_a_user_with_images_checks_the_last_admin_rule_before_touching_the_registry(api: Api) -> None:
    api.world.registry.hostname = f"127.0.0.1:{free_port()}"
    api.world.registry.save(update_fields=["hostname"])
    add_repository(Namespace.objects.get(owner=api.world.admin), "tools")

    answer = api.call("delete", "users/admin", params={"delete_images": "true"})

    assert answer.status == 400 and "last administrator" in answer.body["message"]
    assert Repository.objects.filter(name="tools").exists()


# -- releasing -------------------------------------------------------------------------------------


def test_only_admins_list_and_release_reserved_names(api: Api, eve: User) -> None:
    assert api.delete("users/eve").status == 204

    assert api.get("reserved-names", "owner").status == 403
    assert api.delete("reserved-names/eve", "owner").status == 403
    listed = api.get("reserved-names").body
    assert [(n["name"], n["kind"], n["reserved_by"]) for n in listed] == [("eve", "user", "admin")]
    assert api.delete("reserved-names/nobody").status == 404

    assert api.delete("reserved-names/eve").status == 204

    assert not ReservedName.objects.exists()
    assert Activity.objects.filter(action="name.release", target="eve", actor=api.world.admin).exists()
    assert create_user(username="eve", password=PASSWORD).username == "eve"


# -- pages -----------------------------------------------------------------------------------------


def test_the_namespace_delete_page_offers_to_delete_images_and_refuses_without_it(world: World) -> None:
    add_repository(world.namespace, "app")
    client = client_as(world, "owner")
    url = f"/namespaces/{world.namespace.pk}/delete/"

    page = client.get(url).content.decode()
    assert 'name="delete_images"' in page and "stays reserved" in page
    refused = client.post(url)

    assert refused.status_code == 200 and "still holds repositories" in refused.content.decode()
    assert Namespace.objects.filter(pk=world.namespace.pk).exists()


def test_the_admin_user_delete_page_reserves_the_name_and_the_reserved_names_page_releases_it(
    world: World, eve: User
) -> None:
    admin = client_as(world, "admin")
    add_repository(eves_namespace(), "secret")
    assert 'name="delete_images"' in admin.get(f"/admin/users/{eve.pk}/delete/").content.decode()
    Repository.objects.filter(name="secret").delete()  # emptied, as a deletion with images would
    assert admin.post(f"/admin/users/{eve.pk}/delete/").status_code == 302

    listing = admin.get("/admin/reserved-names/")
    assert listing.status_code == 200 and "<code>eve</code>" in listing.content.decode()
    reserved = ReservedName.objects.get(name="eve")
    assert client_as(world, "owner").post(f"/admin/reserved-names/{reserved.pk}/release/").status_code == 403
    assert admin.post(f"/admin/reserved-names/{reserved.pk}/release/").status_code == 302
    assert not ReservedName.objects.exists()


# -- portusctl -------------------------------------------------------------------------------------


def test_portusctl_deletes_users_and_namespaces_and_lists_and_releases_names(
    world: World, eve: User, capsys: pytest.CaptureFixture[str]
) -> None:
    add_repository(eves_namespace(), "secret")
    assert portusctl(["user", "delete", "eve"]) == 1
    assert "--delete-images" in capsys.readouterr().err
    Repository.objects.filter(name="secret").delete()
    assert portusctl(["user", "delete", "eve"]) == 0
    create_namespace(name="devtmp", team=world.team, actor=world.owner)
    assert portusctl(["namespace", "delete", "devtmp"]) == 0
    capsys.readouterr()

    assert portusctl(["name", "list"]) == 0
    assert [line.split("\t")[:2] for line in capsys.readouterr().out.splitlines()] == [
        ["devtmp", "namespace"],
        ["eve", "user"],
    ]
    assert portusctl(["name", "release", "eve"]) == 0
    assert portusctl(["name", "release", "eve"]) == 1
    assert "not reserved" in capsys.readouterr().err
    assert list(ReservedName.objects.values_list("name", flat=True)) == ["devtmp"]


def test_portusctl_says_in_one_line_when_the_registry_cannot_delete_the_images(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.registry.hostname = f"127.0.0.1:{free_port()}"  # nothing listens there
    world.registry.save(update_fields=["hostname"])
    add_repository(world.namespace, "app")

    assert portusctl(["namespace", "delete", "acme", "--delete-images"]) == 1

    assert "Cannot reach the registry" in capsys.readouterr().err
    assert Repository.objects.filter(name="app").exists() and Namespace.objects.filter(name="acme").exists()
    assert not ReservedName.objects.exists()
