"""Repository pages: tags grouped by image, pull command, stars, comments, description, deletion."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from portus.registry.models import Comment, Repository, Star, Tag
from tests.conftest import World
from tests.support.web import MEMBERS, PERSONAS, add_repository, client_as, is_sign_in_redirect

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
OLD, NEW = "sha256:" + "a" * 64, "sha256:" + "b" * 64


@pytest.fixture
def repository(world: World) -> Repository:
    repository = add_repository(world.namespace, "api", {"1.0": OLD, "stable": OLD, "2.0": NEW, "latest": NEW})
    earlier = timezone.now() - dt.timedelta(days=3)
    Tag.objects.filter(repository=repository, digest=OLD).update(pushed_at=earlier)
    return repository


@pytest.mark.parametrize("persona", PERSONAS)
def test_private_repository_is_shown_to_members_only(world: World, repository: Repository, persona: str) -> None:
    response = client_as(world, persona).get(f"/repositories/{repository.pk}/")
    assert response.status_code == (200 if persona in MEMBERS else 404)


def test_tags_are_grouped_by_image_newest_first(world: World, repository: Repository) -> None:
    page = client_as(world, "viewer").get(f"/repositories/{repository.pk}/")
    images = page.context["images"]
    assert [image["digest"] for image in images] == [NEW, OLD]
    assert sorted(tag.name for tag in images[0]["tags"]) == ["2.0", "latest"]
    body = page.content.decode()
    assert "docker pull registry.test/acme/api:" in body
    assert 'title="' in body and "<time datetime=" in body  # relative time with the exact one on hover


def test_deletion_buttons_follow_the_policy(world: World, repository: Repository, portus_config) -> None:
    assert not client_as(world, "owner").get(f"/repositories/{repository.pk}/").context["can_delete"]
    portus_config("delete.enabled", True)
    assert client_as(world, "owner").get(f"/repositories/{repository.pk}/").context["can_delete"]
    assert not client_as(world, "contributor").get(f"/repositories/{repository.pk}/").context["can_delete"]


@pytest.mark.parametrize(("persona", "status"), [("owner", 403), ("viewer", 403), ("outsider", 404)])
def test_tag_deletion_is_refused_without_permission(
    world: World, repository: Repository, persona: str, status: int
) -> None:
    response = client_as(world, persona).post(f"/repositories/{repository.pk}/tags/latest/delete/")
    assert response.status_code == status  # delete.enabled is off: even the owner may not
    assert repository.tags.count() == 4


def test_tag_deletion_keeps_the_tags_when_the_registry_cannot_be_reached(
    world: World, repository: Repository, portus_config
) -> None:
    portus_config("delete.enabled", True)
    response = client_as(world, "owner").post(f"/repositories/{repository.pk}/tags/latest/delete/")
    assert response.status_code == 502
    assert "Cannot reach the registry" in response.content.decode()
    assert repository.tags.count() == 4


def test_tag_deletion_page_names_the_other_tags_on_the_same_image_as_staying(
    world: World, repository: Repository, portus_config
) -> None:
    portus_config("delete.enabled", True)
    page = client_as(world, "owner").get(f"/repositories/{repository.pk}/tags/latest/delete/")
    assert [t.name for t in page.context["plan"].kept] == ["2.0"]
    assert "point at the same image and stay" in page.content.decode()
    assert "delete the whole image" in page.content.decode()


def test_repository_deletion_keeps_everything_when_the_registry_cannot_be_reached(
    world: World, repository: Repository, portus_config
) -> None:
    portus_config("delete.enabled", True)
    assert client_as(world, "contributor").post(f"/repositories/{repository.pk}/delete/").status_code == 403
    response = client_as(world, "owner").post(f"/repositories/{repository.pk}/delete/")
    assert response.status_code == 502
    assert Repository.objects.filter(pk=repository.pk).exists()


def test_star_toggles_and_htmx_gets_the_button_alone(world: World, repository: Repository) -> None:
    client = client_as(world, "viewer")
    starred = client.post(f"/repositories/{repository.pk}/star/", {"star": "1"}, **HTMX)
    assert starred.content.decode().lstrip().startswith('<div id="star">') and "Unstar" in starred.content.decode()
    assert Star.objects.filter(user=world.viewer, repository=repository).exists()
    unstarred = client.post(f"/repositories/{repository.pk}/star/", {"star": "0"})
    assert unstarred.status_code == 302
    assert not Star.objects.filter(user=world.viewer, repository=repository).exists()


def test_outsider_cannot_star_or_comment_on_a_private_repository(world: World, repository: Repository) -> None:
    client = client_as(world, "outsider")
    assert client.post(f"/repositories/{repository.pk}/star/").status_code == 404
    assert client.post(f"/repositories/{repository.pk}/comments/", {"body": "hi"}).status_code == 404
    assert not Star.objects.exists() and not Comment.objects.exists()


def test_anonymous_visitor_cannot_star_a_public_repository(world: World, repository: Repository) -> None:
    world.namespace.visibility = "public"
    world.namespace.save()
    anonymous = client_as(world, "anonymous")
    assert anonymous.get(f"/repositories/{repository.pk}/").status_code == 200
    assert is_sign_in_redirect(anonymous.post(f"/repositories/{repository.pk}/star/"))


def test_member_comments_in_markdown_and_deletes_their_own_comment(world: World, repository: Repository) -> None:
    client = client_as(world, "viewer")
    response = client.post(f"/repositories/{repository.pk}/comments/", {"body": "Looks **good**"}, **HTMX)
    assert "<strong>good</strong>" in response.content.decode()
    comment = Comment.objects.get()
    assert (
        client_as(world, "contributor").post(f"/repositories/{repository.pk}/comments/{comment.pk}/delete/").status_code
        == 403
    )
    assert client.post(f"/repositories/{repository.pk}/comments/{comment.pk}/delete/").status_code == 302
    assert not Comment.objects.exists()


def test_empty_comment_is_refused_with_a_message(world: World, repository: Repository) -> None:
    response = client_as(world, "viewer").post(f"/repositories/{repository.pk}/comments/", {"body": "  "}, **HTMX)
    assert "This field is required" in response.content.decode() or "empty" in response.content.decode()
    assert not Comment.objects.exists()


@pytest.mark.parametrize(
    ("persona", "status"),
    [
        ("owner", 302),
        ("contributor", 302),
        ("viewer", 403),
        ("outsider", 404),
    ],
)
def test_description_is_edited_by_those_who_may_push(
    world: World, repository: Repository, persona: str, status: int
) -> None:
    response = client_as(world, persona).post(f"/repositories/{repository.pk}/edit/", {"description": "# API"})
    assert response.status_code == status
    repository.refresh_from_db()
    assert (repository.description == "# API") is (status == 302)


def test_tag_page_shows_details_and_says_when_the_registry_cannot_be_read(world: World, repository: Repository) -> None:
    page = client_as(world, "viewer").get(f"/repositories/{repository.pk}/tags/latest/")
    body = page.content.decode()
    assert page.status_code == 200
    assert NEW in body and "2.0" in body  # the other tag on the same image
    assert "could not be read" in body
    assert 'id="vulnerabilities"' in body


def test_unknown_tag_is_a_404(world: World, repository: Repository) -> None:
    assert client_as(world, "owner").get(f"/repositories/{repository.pk}/tags/nope/").status_code == 404


def test_repository_page_paginates_images(world: World) -> None:
    many = add_repository(world.namespace, "many", {f"t{i}": f"sha256:{i:064x}" for i in range(60)})
    client = client_as(world, "owner")
    first = client.get(f"/repositories/{many.pk}/")
    assert len(first.context["images"]) == 25 and first.context["page_obj"].paginator.num_pages == 3
    last = client.get(f"/repositories/{many.pk}/", {"page": 3})
    assert len(last.context["images"]) == 10


def test_only_the_comments_a_user_may_delete_are_in_the_deletable_set(world: World, repository: Repository) -> None:
    client_as(world, "viewer").post(f"/repositories/{repository.pk}/comments/", {"body": "mine"})
    client_as(world, "contributor").post(f"/repositories/{repository.pk}/comments/", {"body": "theirs"})
    mine, theirs = Comment.objects.order_by("pk")
    page = client_as(world, "viewer").get(f"/repositories/{repository.pk}/")
    assert page.context["deletable"] == {mine.pk}
    body = page.content.decode()
    assert f"/comments/{mine.pk}/delete/" in body and f"/comments/{theirs.pk}/delete/" not in body
    assert client_as(world, "admin").get(f"/repositories/{repository.pk}/").context["deletable"] == {
        mine.pk,
        theirs.pk,
    }


def test_comment_without_javascript_goes_back_to_the_comments(world: World, repository: Repository) -> None:
    response = client_as(world, "viewer").post(f"/repositories/{repository.pk}/comments/", {"body": "hi"})
    assert response.status_code == 302 and response["Location"] == f"/repositories/{repository.pk}/#comments"
    refused = client_as(world, "viewer").post(f"/repositories/{repository.pk}/comments/", {"body": " "}, follow=True)
    assert "This field is required" in refused.content.decode() and Comment.objects.count() == 1


def test_the_pull_command_names_latest_when_it_exists_and_offers_the_digest(world: World) -> None:
    digest = "sha256:" + "d" * 64
    repository = add_repository(world.namespace, "pulled", {"latest": digest, "9.9": "sha256:" + "e" * 64})
    Tag.objects.filter(repository=repository, name="9.9").update(pushed_at=timezone.now() + dt.timedelta(hours=1))

    page = client_as(world, "viewer").get(f"/repositories/{repository.pk}/").content.decode()

    host = f"{world.registry.public_hostname}/acme/pulled"
    assert f'value="docker pull {host}:latest"' in page
    assert f'value="docker pull {host}@{digest}"' in page
    assert f"docker pull {host}@sha256:{'e' * 64}" in page  # beside every digest the table shows


def test_without_latest_the_pull_command_names_the_newest_tag(world: World) -> None:
    repository = add_repository(world.namespace, "nolatest", {"1.0": "sha256:" + "d" * 64, "2.0": "sha256:" + "e" * 64})
    Tag.objects.filter(repository=repository, name="2.0").update(pushed_at=timezone.now() + dt.timedelta(hours=1))
    page = client_as(world, "viewer").get(f"/repositories/{repository.pk}/").content.decode()
    assert f'value="docker pull {world.registry.public_hostname}/acme/nolatest:2.0"' in page
