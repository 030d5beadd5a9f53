"""The first hour on the pages: why there is no "New namespace" button, what visibilities mean, how to
sign a client in with a token, avatars without third parties, and the small things a newcomer notices."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from portus.accounts.actions import create_user
from portus.registry.models import Namespace, NamespaceKind, Registry
from tests.conftest import World
from tests.support.web import client_as

pytestmark = pytest.mark.django_db


def test_a_user_in_no_team_is_told_why_there_is_no_new_namespace_button(world: World) -> None:
    page = client_as(world, "outsider").get("/namespaces/").content.decode()
    assert reverse("web:namespace-create") not in page
    assert "Every namespace belongs to a team, and you are in no team yet." in page
    assert f'<a href="{reverse("web:team-create")}">Create a team</a>' in page


def test_a_viewer_is_told_a_team_owner_can_make_them_contributor(world: World) -> None:
    page = client_as(world, "viewer").get("/namespaces/").content.decode()
    assert "you are a viewer in all of yours" in page


def test_when_only_admins_create_namespaces_the_page_names_the_setting(world: World, portus_config) -> None:
    portus_config("user_permission.create_namespace.enabled", False)
    page = client_as(world, "contributor").get("/namespaces/").content.decode()
    assert "user_permission.create_namespace is off" in page


def test_a_contributor_gets_the_button_and_no_explanation(world: World) -> None:
    page = client_as(world, "contributor").get("/namespaces/").content.decode()
    assert reverse("web:namespace-create") in page and 'id="no-namespace-create"' not in page
    assert "Your teams' namespaces</h2>" in page


def test_the_visibility_choices_say_who_may_pull(world: World) -> None:
    create_form = client_as(world, "owner").get("/namespaces/new/").content.decode()
    edit_form = client_as(world, "owner").get(f"/namespaces/{world.namespace.pk}/").content.decode()
    for page in (create_form, edit_form):
        assert "Only the owning team&#x27;s members" in page
        assert "Every signed-in user may see and pull its images" in page
        assert "Anyone may see and pull its images, even without an account" in page


def test_the_token_section_shows_docker_and_podman_login_for_the_external_host(world: World) -> None:
    Registry.objects.filter(pk=world.registry.pk).update(external_hostname="registry.example.com:5000")
    page = client_as(world, "viewer").get("/profile/").content.decode()
    assert 'value="docker login -u viewer registry.example.com:5000"' in page
    assert 'value="podman login --tls-verify=false -u viewer registry.example.com:5000"' in page
    assert "--tls-verify=false</code> on every command" in page
    assert '"insecure-registries": ["registry.example.com:5000"]' in page
    assert "registry.test" not in page  # the internal host name is Portus's business


def test_a_registry_behind_tls_gets_no_plain_http_advice(world: World) -> None:
    Registry.objects.filter(pk=world.registry.pk).update(use_ssl=True)
    page = client_as(world, "viewer").get("/profile/").content.decode()
    assert 'value="podman login -u viewer registry.test"' in page
    assert "insecure-registries" not in page


def test_a_user_without_a_password_is_told_to_sign_clients_in_with_a_token(world: World) -> None:
    # An account from an identity provider (OpenID Connect, LDAP) has no usable Portus password.
    user = create_user(username="oidc-user", email="o@example.com")
    client = client_as(world, "anonymous")
    client.force_login(user)
    page = client.get("/profile/").content.decode()
    assert "create an application token below and give it as the password" in page
    assert 'value="docker login -u oidc-user registry.test"' in page


def test_pages_load_no_third_party_image_by_default(world: World) -> None:
    client = client_as(world, "owner")
    for path in ("/", "/profile/", "/namespaces/", f"/teams/{world.team.pk}/", "/explore/"):
        page = client.get(path).content.decode()
        sources = re.findall(r'<img[^>]+src="([^"]+)"', page) + re.findall(r"url\((https?:[^)]+)\)", page)
        assert [source for source in sources if source.startswith(("http:", "https:", "//"))] == [], path
        assert "avatar avatar-" in page or path == "/explore/", path  # initials drawn by Portus


def test_a_bad_team_name_is_called_a_team_name(world: World) -> None:
    response = client_as(world, "owner").post("/teams/new/", {"name": "Bad Name", "description": ""})
    body = response.content.decode()
    assert "is not a valid team name" in body and "namespace name" not in body


def test_the_global_namespace_page_says_what_it_is_once(world: World) -> None:
    namespace = Namespace.objects.get(registry=world.registry, kind=NamespaceKind.GLOBAL)
    page = client_as(world, "owner").get(f"/namespaces/{namespace.pk}/").content.decode()
    assert "Images whose names have no namespace" in page  # its description
    assert "images without a namespace in their name" not in page  # not said a second time


def test_the_global_namespace_explains_itself_when_its_description_is_empty(world: World) -> None:
    namespace = Namespace.objects.get(registry=world.registry, kind=NamespaceKind.GLOBAL)
    Namespace.objects.filter(pk=namespace.pk).update(description="")
    page = client_as(world, "owner").get(f"/namespaces/{namespace.pk}/").content.decode()
    assert "The global namespace of registry test: images without a namespace in their name." in page
