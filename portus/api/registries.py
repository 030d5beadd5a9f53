"""/api/v1/registries: the registries Portus authorizes for, and checking that one is reachable."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Status

from portus import policy
from portus.accounts.models import User
from portus.api.auth import SIGNED_IN, signed_in
from portus.api.errors import ERRORS, ApiError, forbidden, not_found
from portus.api.pagination import paginate
from portus.api.params import ObjectId
from portus.api.schemas import (
    HOSTNAME_PATTERN,
    Error,
    PageParams,
    Reachability,
    RegistryCreate,
    RegistryOut,
    RegistryUpdate,
)
from portus.registry import actions
from portus.registry.models import Registry
from portus.registry.reachability import check_registry

router = Router(tags=["registries"])


def registry_out(registry: Registry) -> RegistryOut:
    return RegistryOut(
        id=registry.pk,
        name=registry.name,
        hostname=registry.hostname,
        external_hostname=registry.external_hostname,
        use_ssl=registry.use_ssl,
        created_at=registry.created_at,
    )


def _reader(request: HttpRequest) -> None:
    if not policy.can_see_registries(signed_in(request)):
        raise forbidden("You may not see the registries.")


def _manager(request: HttpRequest) -> User:
    actor = signed_in(request)
    if not policy.can_manage_registries(actor):
        raise forbidden("Only administrators may change registries.")
    return actor


@router.get(
    "",
    response={200: list[RegistryOut], ERRORS: Error},
    auth=SIGNED_IN,
    summary="List registries",
)
def list_registries(request: HttpRequest, response: HttpResponse, paging: Query[PageParams]) -> list[RegistryOut]:
    _reader(request)
    return [registry_out(r) for r in paginate(request, response, Registry.objects.order_by("name", "pk"), paging)]


@router.post(
    "",
    response={201: RegistryOut, ERRORS: Error},
    auth=SIGNED_IN,
    summary="Add a registry (admins)",
)
def create_registry(request: HttpRequest, payload: RegistryCreate) -> Status[RegistryOut]:
    actor = _manager(request)
    registry = actions.create_registry(
        name=payload.name,
        hostname=payload.hostname,
        external_hostname=payload.external_hostname,
        use_ssl=payload.use_ssl,
        actor=actor,
    )
    return Status(201, registry_out(registry))


@router.get(
    "/validate",
    response={200: Reachability, ERRORS: Error},
    auth=SIGNED_IN,
    summary="Does a registry answer at this host name? (admins)",
)
def validate_registry(
    request: HttpRequest,
    hostname: str = Query(..., pattern=HOSTNAME_PATTERN, max_length=255),
    use_ssl: bool = False,
) -> Reachability:
    # Admins only: otherwise anyone could make Portus probe hosts on its network for them.
    _manager(request)
    try:
        result = check_registry(hostname, use_ssl)
    except (ValueError, UnicodeError) as exc:  # a name the resolver or URL parser cannot take
        raise ApiError(400, f"{hostname!r} is not a usable host name ({exc}); check it.") from None
    return Reachability(hostname=hostname, use_ssl=use_ssl, reachable=result.ok, message=result.message)


@router.get(
    "/{registry_id}",
    response={200: RegistryOut, ERRORS: Error},
    auth=SIGNED_IN,
    summary="Show a registry",
)
def show_registry(request: HttpRequest, registry_id: ObjectId) -> RegistryOut:
    _reader(request)
    registry = Registry.objects.filter(pk=registry_id).first()
    if registry is None:
        raise not_found("registry")
    return registry_out(registry)


@router.put(
    "/{registry_id}",
    response={200: RegistryOut, ERRORS: Error},
    auth=SIGNED_IN,
    summary="Change a registry (admins)",
)
def update_registry(request: HttpRequest, registry_id: ObjectId, payload: RegistryUpdate) -> RegistryOut:
    actor = _manager(request)
    registry = Registry.objects.filter(pk=registry_id).first()
    if registry is None:
        raise not_found("registry")
    actions.update_registry(
        registry=registry,
        name=payload.name,
        hostname=payload.hostname,
        external_hostname=payload.external_hostname,
        use_ssl=payload.use_ssl,
        actor=actor,
    )
    return registry_out(registry)
