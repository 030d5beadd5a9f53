"""The dashboard: what each persona sees, the first-run page, and activity that never leaks."""

from __future__ import annotations

import pytest

from portus.accounts.actions import create_user
from portus.registry.actions import create_namespace, create_team, star_repository
from portus.registry.models import Registry
from tests.conftest import World
from tests.support.web import add_repository, client_as, is_sign_in_redirect

pytestmark = pytest.mark.django_db


def test_anonymous_visitor_is_sent_to_sign_in(world: World) -> None:
    assert is_sign_in_redirect(client_as(world, "anonymous").get("/"))


def test_member_sees_team_repositories_and_starred_ones(world: World) -> None:
    repository = add_repository(world.namespace, "api")
    star_repository(repository=repository, actor=world.viewer)
    page = client_as(world, "viewer").get("/")
    assert page.status_code == 200
    assert list(page.context["team_repositories"]) == [repository]
    assert list(page.context["starred"]) == [repository]
    assert page.context["counts"]["stars"] == 1


def test_outsider_sees_no_private_repository_nor_its_activity(world: World) -> None:
    add_repository(world.namespace, "secret-app")
    page = client_as(world, "outsider").get("/")
    body = page.content.decode()
    assert page.context["counts"]["repositories"] == 0
    assert "secret-app" not in body
    assert "acme" not in body  # neither the team, its namespace nor any activity line about them


def test_activity_shows_lines_about_visible_things(world: World) -> None:
    other_team = create_team(name="other", owner=world.outsider, actor=world.outsider)
    create_namespace(name="elsewhere", team=other_team, actor=world.outsider)
    lines = [line.activity.target for line in client_as(world, "owner").get("/").context["activities"]]
    assert "acme" in lines
    assert "elsewhere" not in lines and "other" not in lines


def test_admin_without_registry_is_led_to_the_first_run_page(client, db: None) -> None:
    admin = create_user(username="root", password="x" * 12, admin=True)
    client.force_login(admin)
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/setup/"
    assert "Welcome to Portus" in client.get("/setup/").content.decode()


def test_user_without_registry_is_told_an_admin_must_add_one(client, db: None) -> None:
    create_user(username="root", password="x" * 12, admin=True)
    user = create_user(username="someone", password="x" * 12)
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 200 and "An administrator must add one" in response.content.decode()
    assert client.get("/setup/").status_code == 403


def test_first_run_page_goes_away_once_a_registry_exists(world: World) -> None:
    assert Registry.objects.exists()
    assert client_as(world, "admin").get("/setup/")["Location"] == "/"
