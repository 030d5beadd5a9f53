"""One object by id or name, as far as the caller may see it: the same 404 for missing and hidden."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import HttpRequest

from portus import policy
from portus.accounts.models import User
from portus.api.auth import principal
from portus.api.errors import not_found
from portus.api.listings import with_namespace_relations, with_team_counts
from portus.api.params import find_by_key
from portus.registry.models import Namespace, Repository, Tag, Team


def visible_repository(request: HttpRequest, repository_id: int) -> Repository:
    repository = (
        policy.visible_repositories(principal(request))
        .select_related("namespace__registry", "namespace__team")
        .filter(pk=repository_id)
        .first()
    )
    if repository is None:
        raise not_found("repository")
    return repository


def visible_tag(request: HttpRequest, tag_id: int) -> Tag:
    repositories = policy.visible_repositories(principal(request))
    tag = (
        Tag.objects.select_related("repository__namespace__registry", "author")
        .filter(pk=tag_id, repository__in=repositories)
        .first()
    )
    if tag is None:
        raise not_found("tag")
    return tag


def visible_namespace(request: HttpRequest, key: str) -> Namespace:
    namespace = find_by_key(with_namespace_relations(policy.visible_namespaces(principal(request))), key)
    if namespace is None:
        raise not_found("namespace")
    return namespace


def visible_team(request: HttpRequest, key: str) -> Team:
    team = find_by_key(with_team_counts(policy.visible_teams(principal(request))), key)
    if team is None:
        raise not_found("team")
    return team


def find_user(key: str, queryset: QuerySet[User] | None = None) -> User | None:
    """A user by numeric id or by user name, with the personal namespace the answer names."""
    queryset = (User.objects.all() if queryset is None else queryset).select_related("personal_namespace")
    return find_by_key(queryset, key, "username")


def visible_user(request: HttpRequest, key: str) -> User:
    user = find_user(key)
    if user is None or not policy.can_see_user(principal(request), user):
        raise not_found("user")
    return user
