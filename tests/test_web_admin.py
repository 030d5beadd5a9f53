"""Administration pages: users and bots, registries and the reachability check, tasks, activity."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from portus.accounts.models import ApplicationToken, User
from portus.background.models import TaskName, TaskStatus
from portus.registry.models import Registry
from tests.conftest import PASSWORD, World
from tests.support.registry import free_port, running_registry
from tests.support.web import client_as, is_sign_in_redirect

pytestmark = pytest.mark.django_db

ADMIN_PAGES = [
    "/admin/users/",
    "/admin/users/new/",
    "/admin/registries/",
    "/admin/registries/new/",
    "/admin/tasks/",
    "/admin/activity/",
    "/admin/activity.csv",
]


@pytest.mark.parametrize("url", ADMIN_PAGES)
@pytest.mark.parametrize("persona", ["owner", "contributor", "viewer", "outsider"])
def test_admin_pages_are_forbidden_to_non_admins(world: World, url: str, persona: str) -> None:
    assert client_as(world, persona).get(url).status_code == 403


@pytest.mark.parametrize("url", ADMIN_PAGES)
def test_admin_pages_send_anonymous_visitors_to_sign_in(world: World, url: str) -> None:
    assert is_sign_in_redirect(client_as(world, "anonymous").get(url))


@pytest.mark.parametrize("url", ADMIN_PAGES)
def test_admin_pages_open_for_admins(world: World, url: str) -> None:
    assert client_as(world, "admin").get(url).status_code == 200


def test_admin_creates_a_user_with_a_password(world: World) -> None:
    response = client_as(world, "admin").post(
        "/admin/users/new/", {"username": "newbie", "email": "n@example.com", "password": PASSWORD}
    )
    newbie = User.objects.get(username="newbie")
    assert response["Location"] == f"/admin/users/{newbie.pk}/"
    assert newbie.check_password(PASSWORD) and not newbie.admin


def test_person_without_password_is_refused_next_to_the_field(world: World) -> None:
    response = client_as(world, "admin").post("/admin/users/new/", {"username": "nopass"})
    assert 'id="id_password_error"' in response.content.decode()
    assert not User.objects.filter(username="nopass").exists()


def test_admin_creates_a_bot_and_gives_it_a_token(world: World) -> None:
    client = client_as(world, "admin")
    client.post("/admin/users/new/", {"username": "builder", "bot": "on"})
    bot = User.objects.get(username="builder")
    assert bot.bot and not bot.has_usable_password()
    response = client.post(f"/admin/users/{bot.pk}/tokens/", {"name": "ci"}, HTTP_HX_REQUEST="true")
    secret = response.context["secret"]
    assert secret in response.content.decode()
    token = ApplicationToken.objects.get(user=bot)
    assert client.post(f"/admin/users/{bot.pk}/tokens/{token.pk}/revoke/").status_code == 302
    token.refresh_from_db()
    assert token.revoked


def test_admin_cannot_create_tokens_for_people(world: World) -> None:
    client_as(world, "admin").post(f"/admin/users/{world.owner.pk}/tokens/", {"name": "sneaky"})
    assert not ApplicationToken.objects.filter(user=world.owner).exists()


def test_admin_makes_admin_disables_and_enables(world: World) -> None:
    client = client_as(world, "admin")
    url = f"/admin/users/{world.viewer.pk}/change/"
    client.post(url, {"change": "make-admin"})
    client.post(url, {"change": "disable"})
    world.viewer.refresh_from_db()
    assert world.viewer.admin and not world.viewer.is_active
    client.post(url, {"change": "enable"})
    client.post(url, {"change": "remove-admin"})
    world.viewer.refresh_from_db()
    assert not world.viewer.admin and world.viewer.is_active


def test_last_admin_cannot_remove_their_own_admin_rights(world: World) -> None:
    response = client_as(world, "admin").post(
        f"/admin/users/{world.admin.pk}/change/", {"change": "remove-admin"}, follow=True
    )
    assert "last administrator" in response.content.decode()
    world.admin.refresh_from_db()
    assert world.admin.admin


def test_admin_deletes_a_user_but_not_the_last_owner_of_a_team(world: World) -> None:
    client = client_as(world, "admin")
    refused = client.post(f"/admin/users/{world.owner.pk}/delete/")
    assert "last owner" in refused.content.decode()
    assert client.post(f"/admin/users/{world.outsider.pk}/delete/").status_code == 302
    assert not User.objects.filter(username="outsider").exists()


def test_registry_that_does_not_answer_is_refused_unless_forced(world: World) -> None:
    client = client_as(world, "admin")
    port = free_port()
    response = client.post("/admin/registries/new/", {"name": "down", "hostname": f"127.0.0.1:{port}"})
    assert "Cannot reach" in response.content.decode()
    assert not Registry.objects.filter(name="down").exists()
    client.post(
        "/admin/registries/new/",
        {"name": "down", "hostname": f"127.0.0.1:{port}", "skip_check": "on"},
    )
    assert Registry.objects.filter(name="down").exists()


def test_something_that_is_not_a_registry_is_refused(world: World, live_server) -> None:
    # Portus itself answers /v2/ with a 404 page and no Docker-Distribution-Api-Version header.
    host = live_server.url.removeprefix("http://")
    response = client_as(world, "admin").post("/admin/registries/new/", {"name": "web", "hostname": host})
    assert "does not look like a Docker registry" in response.content.decode()


def test_real_registry_passes_the_reachability_check(world: World, tmp_path: Path) -> None:
    hostname = f"127.0.0.1:{free_port()}"
    config = f"version: 0.1\nstorage: {{filesystem: {{rootdirectory: {tmp_path}/data}}}}\nhttp: {{addr: {hostname}}}\n"
    with running_registry(config, hostname, tmp_path):
        response = client_as(world, "admin").post("/admin/registries/new/", {"name": "real", "hostname": hostname})
        assert response.status_code == 302, response.content.decode()[-2000:]
        checked = client_as(world, "admin").get("/admin/registries/", {"check": Registry.objects.get(name="real").pk})
        assert "answered 200" in checked.content.decode()


def test_task_page_shows_the_workers_status_rows(world: World) -> None:
    TaskStatus.objects.create(
        name=TaskName.REGISTRY_SYNC,
        summary="added 3 tags",
        backlog=7,
        last_error="registry said 500",
    )
    body = client_as(world, "admin").get("/admin/tasks/").content.decode()
    assert "Registry synchronization" in body and "added 3 tags" in body and "registry said 500" in body


def test_activity_log_exports_every_line_as_csv(world: World) -> None:
    response = client_as(world, "admin").get("/admin/activity.csv")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:4] == ["time", "actor", "action", "target"]
    assert ["owner", "team.add_member", "acme"] in [row[1:4] for row in rows]


def test_csv_export_neutralizes_spreadsheet_formulas(world: World) -> None:
    from portus.registry.activity import record

    record(world.owner, "evil", '=HYPERLINK("http://x")')
    body = b"".join(client_as(world, "admin").get("/admin/activity.csv").streaming_content).decode()
    assert "'=HYPERLINK" in body


def test_a_bot_cannot_be_made_administrator_from_its_page(world: World) -> None:
    client = client_as(world, "admin")
    client.post("/admin/users/new/", {"username": "builder", "bot": "on"})
    bot = User.objects.get(username="builder")
    response = client.post(f"/admin/users/{bot.pk}/change/", {"change": "make-admin"}, follow=True)
    assert "A bot cannot be an administrator" in response.content.decode()
    bot.refresh_from_db()
    assert not bot.admin


def test_a_bot_administrator_is_refused_when_creating_it(world: World) -> None:
    response = client_as(world, "admin").post("/admin/users/new/", {"username": "boss", "bot": "on", "admin": "on"})
    assert response.status_code == 200 and "A bot cannot be an administrator" in response.content.decode()
    assert not User.objects.filter(username="boss").exists()


def test_the_bot_rule_lives_in_the_action_that_every_path_shares(world: World) -> None:
    from portus.accounts import actions as account_actions
    from portus.errors import ActionError

    with pytest.raises(ActionError, match="bot cannot be an administrator"):
        account_actions.create_user(username="robot", bot=True, admin=True, actor=world.admin)
    robot = account_actions.create_user(username="robot", bot=True, admin=False, actor=world.admin)
    with pytest.raises(ActionError, match="bot cannot be an administrator"):
        account_actions.set_admin(user=robot, admin=True, actor=world.admin)


def test_an_unknown_change_on_a_users_page_says_to_use_the_buttons(world: World) -> None:
    response = client_as(world, "admin").post(
        f"/admin/users/{world.viewer.pk}/change/", {"change": "promote"}, follow=True
    )
    assert "Unknown change; use the buttons" in response.content.decode()


def test_a_registry_whose_name_is_taken_is_refused_next_to_the_form(world: World) -> None:
    response = client_as(world, "admin").post(
        "/admin/registries/new/",
        {"name": world.registry.name, "hostname": "other.test:5000", "skip_check": "on"},
    )
    assert response.status_code == 200 and "already exists" in response.content.decode()
    assert Registry.objects.count() == 1


def test_the_admin_pages_show_their_tab_in_the_navigation(world: World) -> None:
    client = client_as(world, "admin")
    for url, tab in [
        ("/admin/users/", "users"),
        (f"/admin/users/{world.owner.pk}/", "users"),
        ("/admin/registries/new/", "registries"),
        ("/admin/tasks/", "tasks"),
        ("/admin/activity/", "activity"),
    ]:
        context = client.get(url).context
        assert (context["section"], context["tab"]) == ("admin", tab), url


def test_a_bot_token_refused_without_javascript_goes_back_to_the_bots_page(world: World) -> None:
    client = client_as(world, "admin")
    client.post("/admin/users/new/", {"username": "builder", "bot": "on"})
    bot = User.objects.get(username="builder")
    client.post(f"/admin/users/{bot.pk}/tokens/", {"name": "ci"})
    again = client.post(f"/admin/users/{bot.pk}/tokens/", {"name": "ci"})
    assert again.status_code == 400 and "already has a token called" in again.content.decode()
    assert again.context["person"] == bot and ApplicationToken.objects.filter(user=bot).count() == 1
