"""/api/v1/namespaces: listing by visibility, creating, changing, deleting, validating names."""

from __future__ import annotations

from portus.registry.actions import change_visibility
from portus.registry.models import Namespace, Repository
from tests.api import Api, api_fixture  # noqa: F401  (the api fixture)


def names(answer) -> list[str]:  # type: ignore[no-untyped-def]
    return [n["name"] for n in answer.body]


def test_each_persona_lists_the_namespaces_they_may_pull_from(api: Api, world) -> None:  # type: ignore[no-untyped-def]
    assert names(api.get("namespaces", "anonymous")) == [""]  # the global namespace is public
    assert names(api.get("namespaces", "outsider")) == ["", "outsider"]
    assert names(api.get("namespaces", "viewer")) == ["", "acme", "viewer"]
    assert len(api.get("namespaces", "admin").body) == Namespace.objects.count()
    change_visibility(namespace=world.namespace, visibility="protected", actor=world.owner)
    assert names(api.get("namespaces", "outsider")) == ["", "acme", "outsider"]
    assert names(api.get("namespaces", "anonymous")) == [""]


def test_filters_and_sorting(api: Api) -> None:
    assert names(api.get("namespaces", kind="team")) == ["acme"]
    assert names(api.get("namespaces", kind="personal", sort="-name"))[:2] == ["viewer", "owner"]
    assert names(api.get("namespaces", visibility="public")) == [""]
    assert names(api.get("namespaces", q="cme")) == ["acme"]


def test_bad_filter_value_is_a_422(api: Api) -> None:
    answer = api.get("namespaces", kind="galactic")
    assert answer.status == 422
    assert "kind" in answer.body["message"]


def test_contributor_creates_a_namespace_for_the_team(api: Api) -> None:
    created = api.post(
        "namespaces",
        {"name": "acme-tools", "team": "acme", "visibility": "protected", "description": "Tools"},
        "contributor",
    )
    assert created.status == 201, created.body
    body = created.body
    assert (body["team"], body["visibility"], body["kind"], body["registry"]) == (
        "acme",
        "protected",
        "team",
        "test",
    )
    assert body["repository_count"] == 0


def test_namespace_name_must_be_valid_and_free(api: Api) -> None:
    assert api.post("namespaces", {"name": "acme", "team": "acme"}, "owner").status == 400
    assert api.post("namespaces", {"name": "UPPER", "team": "acme"}, "owner").status == 400


def test_validate_reports_validity_and_availability(api: Api) -> None:
    assert api.get("namespaces/validate", "viewer", name="fresh").body == {
        "name": "fresh",
        "valid": True,
        "available": True,
        "message": "'fresh' is free.",
    }
    taken = api.get("namespaces/validate", "viewer", name="acme").body
    assert (taken["valid"], taken["available"]) == (True, False)
    invalid = api.get("namespaces/validate", "viewer", name="No Way").body
    assert (invalid["valid"], invalid["available"]) == (False, False)
    assert "lower-case" in invalid["message"]


def test_owner_changes_description_visibility_and_team(api: Api) -> None:
    api.post("teams", {"name": "other"}, "owner")
    answer = api.put(
        "namespaces/acme",
        {"description": "Acme's", "visibility": "public", "team": "other"},
        "owner",
    )
    assert answer.status == 200, answer.body
    assert (answer.body["description"], answer.body["visibility"], answer.body["team"]) == (
        "Acme's",
        "public",
        "other",
    )
    assert api.get("namespaces/acme", "anonymous").status == 200


def test_global_namespace_cannot_become_private(api: Api) -> None:
    global_ns = Namespace.objects.get(kind="global")
    answer = api.put(f"namespaces/id:{global_ns.pk}", {"visibility": "private"})
    assert answer.status == 403
    assert Namespace.objects.get(pk=global_ns.pk).visibility == "public"


def test_personal_namespace_cannot_be_deleted(api: Api) -> None:
    answer = api.delete("namespaces/owner", "owner")
    assert answer.status == 400
    assert "personal" in answer.body["message"]


def test_namespace_repositories_are_listed_with_tag_counts(api: Api, world) -> None:  # type: ignore[no-untyped-def]
    repo = Repository.objects.create(namespace=world.namespace, name="web")
    repo.tags.create(name="v1", digest="sha256:" + "1" * 64)
    listed = api.get("namespaces/acme/repositories", "viewer").body
    assert [(r["full_name"], r["tag_count"]) for r in listed] == [("acme/web", 1)]
    assert api.get("namespaces/acme", "viewer").body["repository_count"] == 1
