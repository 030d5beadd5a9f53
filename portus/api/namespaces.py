"""/api/v1/namespaces: namespaces, their repositories, and name validation."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, cast

from django.db import transaction
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema, Status

from portus import policy
from portus.accounts.models import User
from portus.api.auth import OPTIONAL, principal, signed_in
from portus.api.errors import ERRORS, ApiError, Error, forbidden, not_found
from portus.api.pagination import PageParams, paginate
from portus.api.params import Body, Key, find_by_key
from portus.api.repositories import RepositoryFilters, RepositoryOut, repository_page
from portus.registry import actions
from portus.registry.models import Namespace, Registry, Repository, Team
from portus.registry.names import InvalidName, check_namespace_name

router = Router(tags=["namespaces"])

VisibilityName = Literal["private", "protected", "public"]
KindName = Literal["global", "personal", "team"]


class NamespaceOut(Schema):
    id: int
    name: str = Field(..., description="Empty for a registry's global namespace.")
    display_name: str
    kind: KindName
    visibility: VisibilityName
    description: str
    registry: str
    team: str | None
    owner: str | None = Field(None, description="The user of a personal namespace.")
    created_at: datetime
    repository_count: int


class NamespaceCreate(Body):
    name: str = Field(..., min_length=1, max_length=128)
    team: str = Field(..., min_length=1, max_length=150, description="Name or id of the owning team.")
    visibility: VisibilityName = "private"
    description: str = Field("", max_length=10_000)
    registry: str | None = Field(None, max_length=100, description="Registry name; default: the first one.")


class NamespaceUpdate(Body):
    description: str | None = Field(None, max_length=10_000)
    visibility: VisibilityName | None = None
    team: str | None = Field(None, min_length=1, max_length=150, description="Move to this team (name or id).")


class NamespaceFilters(Schema):
    q: str | None = Field(None, max_length=128, description="Part of the namespace name.")
    kind: KindName | None = None
    visibility: VisibilityName | None = None
    sort: Literal["name", "-name", "created_at", "-created_at"] = "name"


class NameCheck(Schema):
    name: str
    valid: bool
    available: bool
    message: str


def namespaces_out(namespaces: list[Namespace]) -> list[NamespaceOut]:
    counts = dict(
        Repository.objects.filter(namespace__in=[n.pk for n in namespaces])
        .values("namespace")
        .annotate(n=Count("pk"))
        .values_list("namespace", "n")
    )
    return [
        NamespaceOut(
            id=ns.pk,
            name=ns.name,
            display_name=ns.display_name,
            kind=cast(KindName, ns.kind),
            visibility=cast(VisibilityName, ns.visibility),
            description=ns.description,
            registry=ns.registry.name,
            team=ns.team.name if ns.team else None,
            owner=ns.owner.username if ns.owner else None,
            created_at=ns.created_at,
            repository_count=counts.get(ns.pk, 0),
        )
        for ns in namespaces
    ]


def _related(queryset: QuerySet[Namespace]) -> QuerySet[Namespace]:
    return queryset.select_related("registry", "team", "owner")


def namespace_page(
    request: HttpRequest,
    response: HttpResponse,
    filters: NamespaceFilters,
    paging: PageParams,
    team: Team | None = None,
) -> list[NamespaceOut]:
    namespaces = policy.visible_namespaces(principal(request))
    if team is not None:
        namespaces = namespaces.filter(team=team)
    if filters.q:
        namespaces = namespaces.filter(name__icontains=filters.q)
    if filters.kind:
        namespaces = namespaces.filter(kind=filters.kind)
    if filters.visibility:
        namespaces = namespaces.filter(visibility=filters.visibility)
    namespaces = _related(namespaces).order_by(filters.sort, "pk")
    return namespaces_out(paginate(request, response, namespaces, paging))


def visible_namespace(request: HttpRequest, key: str) -> Namespace:
    namespace = find_by_key(_related(policy.visible_namespaces(principal(request))), key)
    if namespace is None:
        raise not_found("namespace")
    return namespace


def _team_for(actor: User, key: str) -> Team:
    team = find_by_key(policy.visible_teams(actor), key)
    if team is None:
        raise ApiError(400, f"No team called {key!r} that you belong to; check the name.")
    return team


@router.get(
    "",
    response={200: list[NamespaceOut], ERRORS: Error},
    auth=OPTIONAL,
    summary="List namespaces you can see",
)
def list_namespaces(
    request: HttpRequest,
    response: HttpResponse,
    filters: Query[NamespaceFilters],
    paging: Query[PageParams],
) -> list[NamespaceOut]:
    return namespace_page(request, response, filters, paging)


@router.post(
    "",
    response={201: NamespaceOut, ERRORS: Error},
    auth=OPTIONAL,
    summary="Create a team namespace",
)
def create_namespace(request: HttpRequest, payload: NamespaceCreate) -> Status[NamespaceOut]:
    actor = signed_in(request)
    team = _team_for(actor, payload.team)
    if not policy.can_create_namespace(actor, team):
        raise forbidden(f"Only owners and contributors of {team.name} may create its namespaces.")
    registry = None
    if payload.registry:
        registry = Registry.objects.filter(name=payload.registry).first()
        if registry is None:
            raise ApiError(400, f"No registry called {payload.registry!r}; see GET /api/v1/registries.")
    namespace = actions.create_namespace(
        name=payload.name,
        team=team,
        visibility=payload.visibility,
        description=payload.description,
        registry=registry,
        actor=actor,
    )
    return Status(201, namespaces_out([visible_namespace(request, str(namespace.pk))])[0])


@router.get(
    "/validate",
    response={200: NameCheck, ERRORS: Error},
    auth=OPTIONAL,
    summary="Is this a valid, free namespace name?",
)
def validate_namespace(request: HttpRequest, name: str = Query(..., max_length=300)) -> NameCheck:
    signed_in(request)  # availability tells about private namespaces: not for anonymous callers
    try:
        check_namespace_name(name)
    except InvalidName as exc:
        return NameCheck(name=name, valid=False, available=False, message=str(exc))
    if Namespace.objects.filter(name=name).exists():
        return NameCheck(name=name, valid=True, available=False, message=f"{name!r} is taken; pick another name.")
    return NameCheck(name=name, valid=True, available=True, message=f"{name!r} is free.")


@router.get(
    "/{key}",
    response={200: NamespaceOut, ERRORS: Error},
    auth=OPTIONAL,
    summary="Show a namespace",
)
def show_namespace(request: HttpRequest, key: Key) -> NamespaceOut:
    return namespaces_out([visible_namespace(request, key)])[0]


@router.put(
    "/{key}",
    response={200: NamespaceOut, ERRORS: Error},
    auth=OPTIONAL,
    summary="Change a namespace's description, visibility or team",
)
def update_namespace(request: HttpRequest, key: Key, payload: NamespaceUpdate) -> NamespaceOut:
    actor = signed_in(request)
    namespace = visible_namespace(request, key)
    new_team = _team_for(actor, payload.team) if payload.team is not None else None
    if (payload.description is not None or new_team is not None) and not policy.can_manage_namespace(actor, namespace):
        raise forbidden(f"Only owners of {namespace.display_name} (or admins) may change it.")
    if payload.visibility is not None and not policy.can_change_visibility(actor, namespace, payload.visibility):
        raise forbidden(f"You may not make {namespace.display_name} {payload.visibility}.")
    if new_team is not None and not policy.can_create_namespace(actor, new_team):
        raise forbidden(f"You may not move namespaces into {new_team.name}.")
    with transaction.atomic():
        if payload.description is not None:
            actions.update_namespace_description(namespace=namespace, description=payload.description, actor=actor)
        if payload.visibility is not None and payload.visibility != namespace.visibility:
            actions.change_visibility(namespace=namespace, visibility=payload.visibility, actor=actor)
        if new_team is not None and new_team.pk != namespace.team_id:
            actions.transfer_namespace(namespace=namespace, team=new_team, actor=actor)
    return namespaces_out([visible_namespace(request, str(namespace.pk))])[0]


@router.delete(
    "/{key}",
    response={204: None, ERRORS: Error},
    auth=OPTIONAL,
    summary="Delete a team namespace",
)
def delete_namespace(request: HttpRequest, key: Key) -> Status[None]:
    actor = signed_in(request)
    namespace = visible_namespace(request, key)
    if not policy.can_manage_namespace(actor, namespace):
        raise forbidden(f"Only owners of {namespace.display_name} (or admins) may delete it.")
    actions.delete_namespace(namespace=namespace, actor=actor)
    return Status(204, None)


@router.get(
    "/{key}/repositories",
    response={200: list[RepositoryOut], ERRORS: Error},
    auth=OPTIONAL,
    summary="List a namespace's repositories",
)
def namespace_repositories(
    request: HttpRequest,
    response: HttpResponse,
    key: Key,
    filters: Query[RepositoryFilters],
    paging: Query[PageParams],
) -> list[RepositoryOut]:
    namespace = visible_namespace(request, key)
    return repository_page(request, response, filters, paging, namespace=namespace)
