"""A deleted user's or namespace's name cannot hand its images to whoever takes the name next.

The attack: eve pushes a private image; an admin deletes eve (or an owner deletes the team namespace
devtmp) while the registry still holds the image; a new sign-up eve (a new namespace devtmp) is
granted pull by name and reads it. Through the live server, the real registry and skopeo.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from django.test import Client

from portus.accounts.actions import create_token, create_user
from portus.accounts.models import User
from portus.background.worker import Worker
from portus.registry.client import NotFound, RegistryClient
from portus.registry.models import Activity, Namespace, Registry, Repository, ReservedName
from tests.conftest import PASSWORD
from tests.e2e import Stack, start_stack
from tests.support.background import settle
from tests.support.images import make_image
from tests.support.registry import skopeo

pytestmark = pytest.mark.e2e


@pytest.fixture
def delete_stack(live_server: object, transactional_db: None, tmp_path: Path, portus_config) -> Iterator[Stack]:
    portus_config("delete.enabled", True)
    yield from start_stack(live_server, tmp_path)


@pytest.fixture
def refusing_stack(live_server: object, transactional_db: None, tmp_path: Path, portus_config) -> Iterator[Stack]:
    portus_config("delete.enabled", False)  # the registry's storage.delete stays off: it answers 405
    yield from start_stack(live_server, tmp_path)


def push(stack: Stack, user: str, repository: str, tag: str = "v1") -> None:
    image = make_image(stack.tmp / repository.replace("/", "-"), tag=tag, files={"secret": repository.encode()})
    done = skopeo(
        "copy", "--dest-tls-verify=false", "--dest-creds", f"{user}:{PASSWORD}", image.reference, stack.ref(repository)
    )
    assert done.returncode == 0, done.stderr


def pulls(stack: Stack, user: str, repository: str) -> bool:
    found = skopeo("inspect", "--raw", "--tls-verify=false", "--creds", f"{user}:{PASSWORD}", stack.ref(repository))
    return found.returncode == 0


def registry_tags(stack: Stack, repository: str) -> list[str]:
    """What the registry itself holds, asked with Portus's own internal account."""
    client = RegistryClient(Registry.objects.get())
    try:
        return client.tags(repository)
    except NotFound:
        return []
    finally:
        client.close()


def api(stack: Stack, persona_token: str, method: str, path: str, **kwargs: object) -> requests.Response:
    return requests.request(
        method,
        f"{stack.portus_url}/api/v1/{path}",
        headers={"Authorization": f"Bearer {persona_token}"},
        timeout=60,
        **kwargs,  # type: ignore[arg-type]
    )


def sign_up(username: str) -> tuple[int, str]:
    """The sign-up page, as a newcomer fills it in: the status and the page."""
    answer = Client().post(
        "/signup/",
        {"username": username, "email": f"{username}@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    return answer.status_code, answer.content.decode()


def test_a_new_sign_up_with_a_deleted_users_name_cannot_pull_their_images(delete_stack: Stack) -> None:
    stack, worker = delete_stack, Worker()
    admin_token = create_token(user=stack.world.admin, name="api", actor=stack.world.admin)[1]
    create_user(username="eve", email="eve@example.com", password=PASSWORD)
    push(stack, "eve", "eve/secret")
    settle(worker, lambda: Repository.objects.filter(namespace__name="eve", name="secret").exists())

    # The old attack's first step: deleting eve while the registry holds her image is refused.
    refused = api(stack, admin_token, "DELETE", "users/eve")
    assert refused.status_code == 400
    assert "still holds repositories" in refused.json()["message"]
    assert "delete_images=true" in refused.json()["message"]
    assert Namespace.objects.filter(name="eve").exists() and registry_tags(stack, "eve/secret") == ["v1"]

    deleted = api(stack, admin_token, "DELETE", "users/eve", params={"delete_images": "true"})
    assert deleted.status_code == 204, deleted.text
    assert registry_tags(stack, "eve/secret") == []
    assert not Namespace.objects.filter(name="eve").exists()
    assert ReservedName.objects.filter(name="eve", kind="user", reserved_by="admin").exists()

    # The attacker signs up as eve: refused, so there is no eve to grant anything to.
    status, page = sign_up("eve")
    assert status == 200 and "is reserved" in page
    assert not User.objects.filter(username="eve").exists()
    assert not pulls(stack, "eve", "eve/secret")

    # An admin releases the name: a new eve may sign up, with nothing of the old one to pull.
    released = api(stack, admin_token, "DELETE", "reserved-names/eve")
    assert released.status_code == 204
    assert sign_up("eve")[0] == 302
    assert User.objects.filter(username="eve").exists()
    assert not pulls(stack, "eve", "eve/secret")
    push(stack, "eve", "eve/fresh")  # and the new eve works normally
    assert pulls(stack, "eve", "eve/fresh")
    assert list(
        Activity.objects.filter(action__startswith="name.", target="eve")
        .order_by("pk")
        .values_list("action", flat=True)
    ) == [
        "name.reserve",
        "name.release",
    ]


def test_a_new_team_namespace_with_a_deleted_ones_name_cannot_pull_its_images(delete_stack: Stack) -> None:
    stack, worker = delete_stack, Worker()
    world = stack.world
    owner_token = create_token(user=world.owner, name="api", actor=world.owner)[1]
    admin_token = create_token(user=world.admin, name="api", actor=world.admin)[1]
    outsider_token = create_token(user=world.outsider, name="api", actor=world.outsider)[1]
    created = api(stack, owner_token, "POST", "namespaces", json={"name": "devtmp", "team": "acme"})
    assert created.status_code == 201, created.text
    push(stack, "owner", "devtmp/app")
    settle(worker, lambda: Repository.objects.filter(namespace__name="devtmp", name="app").exists())

    refused = api(stack, owner_token, "DELETE", "namespaces/devtmp")
    assert refused.status_code == 400 and "still holds repositories" in refused.json()["message"]
    assert registry_tags(stack, "devtmp/app") == ["v1"]

    assert api(stack, owner_token, "DELETE", "namespaces/devtmp?delete_images=true").status_code == 204
    assert registry_tags(stack, "devtmp/app") == []

    # The outsider makes a team and tries to take the name: refused while it is reserved.
    assert api(stack, outsider_token, "POST", "teams", json={"name": "grabbers"}).status_code == 201
    taken = api(stack, outsider_token, "POST", "namespaces", json={"name": "devtmp", "team": "grabbers"})
    assert taken.status_code == 400 and "reserved" in taken.json()["message"]
    assert not pulls(stack, "outsider", "devtmp/app")

    assert api(stack, outsider_token, "DELETE", "reserved-names/devtmp").status_code == 403
    assert api(stack, admin_token, "DELETE", "reserved-names/devtmp").status_code == 204
    again = api(stack, outsider_token, "POST", "namespaces", json={"name": "devtmp", "team": "grabbers"})
    assert again.status_code == 201, again.text
    assert not pulls(stack, "outsider", "devtmp/app")


def test_a_registry_that_refuses_deletions_leaves_namespace_images_and_name_as_they_were(
    refusing_stack: Stack,
) -> None:
    stack, worker = refusing_stack, Worker()
    owner_token = create_token(user=stack.world.owner, name="api", actor=stack.world.owner)[1]
    push(stack, "owner", "acme/app")
    settle(worker, lambda: Repository.objects.filter(namespace__name="acme", name="app").exists())

    answer = api(stack, owner_token, "DELETE", "namespaces/acme?delete_images=true")

    assert answer.status_code == 502 and "storage.delete" in answer.json()["message"]
    assert Namespace.objects.filter(name="acme").exists()
    assert Repository.objects.filter(namespace__name="acme", name="app").exists()
    assert registry_tags(stack, "acme/app") == ["v1"]
    assert not ReservedName.objects.exists()
