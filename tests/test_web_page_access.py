"""Every page, every persona: the status each one gets, written out by hand from the rules.

"login" means the anonymous visitor is sent to sign in; 404 means the persona may not see the
thing (the same answer as for something that does not exist); 403 means they see it but may not
do this. The expectations are a table, not a call to the policy, so a policy slip shows here.
"""

from __future__ import annotations

import pytest

from tests.conftest import World
from tests.support.web import PERSONAS, add_repository, client_as, is_sign_in_redirect

pytestmark = pytest.mark.django_db

SHORT = {
    "admin": "a",
    "owner": "o",
    "contributor": "c",
    "viewer": "v",
    "outsider": "x",
    "anonymous": "N",
}


def expect(**statuses: object) -> dict[str, object]:
    """Per persona: a status code or "login"; `rest` applies to the personas not named."""
    rest = statuses.pop("rest", None)
    return {persona: statuses.get(SHORT[persona], rest) for persona in PERSONAS}


PAGES: dict[str, dict[str, object]] = {
    "/": expect(N="login", rest=200),
    "/explore/": expect(rest=200),
    "/search/?q=acme": expect(N="login", rest=200),
    "/namespaces/": expect(N="login", rest=200),
    "/namespaces/new/": expect(a=200, o=200, c=200, v=403, N="login", rest=403),
    "/namespaces/{ns}/": expect(a=200, o=200, c=200, v=200, rest=404),
    "/namespaces/{ns}/edit/": expect(a=200, o=200, c=403, v=403, N="login", rest=404),
    "/namespaces/{ns}/transfer/": expect(a=200, o=200, c=403, v=403, N="login", rest=404),
    "/namespaces/{ns}/delete/": expect(a=200, o=200, c=403, v=403, N="login", rest=404),
    "/teams/": expect(N="login", rest=200),
    "/teams/new/": expect(N="login", rest=200),
    "/teams/{team}/": expect(a=200, o=200, c=200, v=200, N="login", rest=404),
    "/teams/{team}/edit/": expect(a=200, o=200, c=403, v=403, N="login", rest=404),
    "/teams/{team}/delete/": expect(a=200, o=200, c=403, v=403, N="login", rest=404),
    "/repositories/{repo}/": expect(a=200, o=200, c=200, v=200, rest=404),
    "/repositories/{repo}/edit/": expect(a=200, o=200, c=200, v=403, N="login", rest=404),
    "/repositories/{repo}/delete/": expect(a=403, o=403, c=403, v=403, N="login", rest=404),  # delete off
    "/repositories/{repo}/tags/latest/": expect(a=200, o=200, c=200, v=200, rest=404),
    "/repositories/{repo}/tags/latest/delete/": expect(a=403, o=403, c=403, v=403, N="login", rest=404),
    "/profile/": expect(N="login", rest=200),
    "/setup/": expect(a=302, N="login", rest=403),  # a registry exists: the admin goes on
    "/admin/users/": expect(a=200, N="login", rest=403),
}
# With delete.enabled on, owners and admins may delete; contributors need delete.contributors too.
DELETE_ON = {
    "/repositories/{repo}/delete/": expect(a=200, o=200, c=403, v=403, N="login", rest=404),
    "/repositories/{repo}/tags/latest/delete/": expect(a=200, o=200, c=403, v=403, N="login", rest=404),
}


def check(world: World, template: str, persona: str, wanted: object) -> None:
    repository = add_repository(world.namespace, "app")
    url = template.format(ns=world.namespace.pk, team=world.team.pk, repo=repository.pk)
    response = client_as(world, persona).get(url)
    if wanted == "login":
        assert is_sign_in_redirect(response), (url, persona, response.status_code)
    else:
        assert response.status_code == wanted, (url, persona, response.status_code)


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("template", list(PAGES))
def test_page_answers_each_persona_as_the_rules_say(world: World, template: str, persona: str) -> None:
    check(world, template, persona, PAGES[template][persona])


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("template", list(DELETE_ON))
def test_deletion_pages_open_for_owners_when_deletion_is_on(
    world: World, template: str, persona: str, portus_config
) -> None:
    portus_config("delete.enabled", True)
    check(world, template, persona, DELETE_ON[template][persona])


@pytest.mark.parametrize("persona", PERSONAS)
def test_public_namespace_pages_open_to_everyone(world: World, persona: str) -> None:
    world.namespace.visibility = "public"
    world.namespace.save()
    for template in (
        "/namespaces/{ns}/",
        "/repositories/{repo}/",
        "/repositories/{repo}/tags/latest/",
    ):
        check(world, template, persona, 200)
        world.namespace.repositories.all().delete()


@pytest.mark.parametrize("persona", PERSONAS)
def test_protected_namespace_pages_open_to_every_signed_in_user(world: World, persona: str) -> None:
    world.namespace.visibility = "protected"
    world.namespace.save()
    for template in (
        "/namespaces/{ns}/",
        "/repositories/{repo}/",
        "/repositories/{repo}/tags/latest/",
    ):
        check(world, template, persona, 404 if persona == "anonymous" else 200)
        world.namespace.repositories.all().delete()
