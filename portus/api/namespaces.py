"""/api/v1/namespaces: namespaces, their repositories, and name validation."""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Status

from portus import policy
from portus.accounts.models import User
from portus.api.auth import OPTIONAL, SIGNED_IN, signed_in
from portus.api.errors import ERRORS, ApiError, forbidden
from portus.api.listings import namespace_detail_out, namespace_page, namespaces_out, repository_page
from portus.api.lookups import visible_namespace
from portus.api.params import Key, find_by_key, key_for
from portus.api.schemas import (
    Error,
    NameCheck,
    NamespaceCreate,
    NamespaceDetailOut,
    NamespaceFilters,
    NamespaceOut,
    NamespaceUpdate,
    PageParams,
    RepositoryFilters,
    RepositoryOut,
)
from portus.registry import actions, deletion
from portus.registry.deletion import RegistryDeletionError
from portus.registry.models import Namespace, Registry, ReservedName, Team
from portus.registry.names import InvalidName, check_namespace_name

router = Router(tags=["namespaces"])


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
    auth=SIGNED_IN,
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
    return Status(201, namespaces_out([visible_namespace(request, key_for(namespace))])[0])


@router.get(
    "/validate",
    response={200: NameCheck, ERRORS: Error},
    # Availability tells about private namespaces: not for anonymous callers.
    auth=SIGNED_IN,
    summary="Is this a valid, free namespace name?",
)
def validate_namespace(request: HttpRequest, name: str = Query(..., max_length=300)) -> NameCheck:
    try:
        check_namespace_name(name)
    except InvalidName as exc:
        return NameCheck(name=name, valid=False, available=False, message=str(exc))
    if ReservedName.objects.holds(name):
        return NameCheck(name=name, valid=True, available=False, message=actions.reserved_message(name))
    if Namespace.objects.filter(name=name).exists():
        return NameCheck(name=name, valid=True, available=False, message=f"{name!r} is taken; pick another name.")
    return NameCheck(name=name, valid=True, available=True, message=f"{name!r} is free.")


@router.get(
    "/{key}",
    response={200: NamespaceDetailOut, ERRORS: Error},
    auth=OPTIONAL,
    summary="Show a namespace and the storage it uses",
)
def show_namespace(request: HttpRequest, key: Key) -> NamespaceDetailOut:
    return namespace_detail_out(visible_namespace(request, key))


@router.put(
    "/{key}",
    response={200: NamespaceOut, ERRORS: Error},
    auth=SIGNED_IN,
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
    return namespaces_out([visible_namespace(request, key_for(namespace))])[0]


@router.delete(
    "/{key}",
    response={204: None, ERRORS: Error},
    auth=SIGNED_IN,
    summary="Delete a team namespace (its name stays reserved until an admin releases it)",
)
def delete_namespace(
    request: HttpRequest,
    key: Key,
    delete_images: bool = Query(
        False,
        description="Also delete its repositories' images in the registry first; "
        "without it a namespace that holds repositories is refused.",
    ),
) -> Status[None]:
    actor = signed_in(request)
    namespace = visible_namespace(request, key)
    if not policy.can_manage_namespace(actor, namespace):
        raise forbidden(f"Only owners of {namespace.display_name} (or admins) may delete it.")
    try:
        deletion.delete_namespace(namespace=namespace, actor=actor, delete_images=delete_images)
    except RegistryDeletionError as exc:
        raise ApiError(502, str(exc)) from None
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
