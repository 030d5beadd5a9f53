"""/api/v1/reserved-names: names of deleted users and namespaces, kept until an admin releases them."""

from __future__ import annotations

from typing import cast

from django.http import HttpRequest, HttpResponse
from ninja import Path, Query, Router, Status

from portus import policy
from portus.api.auth import SIGNED_IN, signed_in
from portus.api.errors import ERRORS, forbidden, not_found
from portus.api.pagination import paginate
from portus.api.schemas import Error, PageParams, ReservedKindName, ReservedNameOut
from portus.registry import actions
from portus.registry.models import ReservedName

router = Router(tags=["reserved names"])


def _out(reserved: ReservedName) -> ReservedNameOut:
    return ReservedNameOut(
        name=reserved.name,
        kind=cast(ReservedKindName, reserved.kind),
        reserved_by=reserved.reserved_by,
        created_at=reserved.created_at,
    )


@router.get(
    "",
    response={200: list[ReservedNameOut], ERRORS: Error},
    auth=SIGNED_IN,
    summary="List reserved names (admins)",
)
def list_reserved_names(
    request: HttpRequest, response: HttpResponse, paging: Query[PageParams]
) -> list[ReservedNameOut]:
    if not policy.can_release_names(signed_in(request)):
        raise forbidden("Only administrators may see reserved names.")
    return [_out(reserved) for reserved in paginate(request, response, ReservedName.objects.order_by("name"), paging)]


@router.delete(
    "/{name}",
    response={204: None, ERRORS: Error},
    auth=SIGNED_IN,
    summary="Release a reserved name, so a new user or namespace may take it (admins)",
)
def release_name(
    request: HttpRequest, name: str = Path(..., min_length=1, max_length=128, description="The reserved name.")
) -> Status[None]:
    actor = signed_in(request)
    if not policy.can_release_names(actor):
        raise forbidden("Only administrators may release reserved names.")
    reserved = ReservedName.objects.filter(name=name).first()
    if reserved is None:
        raise not_found("reserved name")
    actions.release_name(reserved=reserved, actor=actor)
    return Status(204, None)
