"""/api/v1/users/{user}/application_tokens: people manage their own tokens, admins also bots'."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Status

from portus import policy
from portus.accounts import actions
from portus.accounts.models import ApplicationToken, User
from portus.api.auth import SIGNED_IN, signed_in, signed_in_with_token
from portus.api.errors import ERRORS, forbidden, not_found
from portus.api.lookups import find_user
from portus.api.pagination import paginate
from portus.api.params import Key, ObjectId
from portus.api.schemas import Error, PageParams, TokenCreate, TokenCreated, TokenOut

router = Router(tags=["application tokens"])


def token_out(token: ApplicationToken) -> TokenOut:
    return TokenOut(
        id=token.pk,
        name=token.name,
        hint=token.hint,
        created_at=token.created_at,
        expires_at=token.expires_at,
        last_used_at=token.last_used_at,
        revoked=token.revoked,
    )


def token_owner(request: HttpRequest, key: str) -> tuple[User, User]:
    """(caller, owner) when the caller may manage the owner's tokens."""
    actor = signed_in(request)
    owner = find_user(key)
    if owner is None or not policy.can_see_user(actor, owner):
        raise not_found("user")
    if not policy.can_manage_tokens(actor, owner):
        raise forbidden("You may manage only your own tokens (admins: also bots' tokens).")
    return actor, owner


@router.get(
    "/users/{key}/application_tokens",
    response={200: list[TokenOut], ERRORS: Error},
    auth=SIGNED_IN,
    summary="List a user's application tokens",
)
def list_tokens(request: HttpRequest, response: HttpResponse, key: Key, paging: Query[PageParams]) -> list[TokenOut]:
    _, owner = token_owner(request, key)
    tokens = owner.application_tokens.order_by("-created_at", "-pk")
    return [token_out(token) for token in paginate(request, response, tokens, paging)]


@router.post(
    "/users/{key}/application_tokens",
    response={201: TokenCreated, ERRORS: Error},
    auth=SIGNED_IN,
    summary="Create an application token; the secret is in the answer, once",
)
def create_token(request: HttpRequest, key: Key, payload: TokenCreate) -> Status[TokenCreated]:
    actor, owner = token_owner(request, key)
    if owner.pk == actor.pk and signed_in_with_token(request):
        # Otherwise one leaked token mints others that outlive its revocation.
        raise forbidden(
            "An application token cannot create tokens: sign in to Portus with your password and create "
            "it on your profile page."
        )
    token, plain = actions.create_token(user=owner, name=payload.name, expires_at=payload.expires_at, actor=actor)
    return Status(201, TokenCreated(**token_out(token).model_dump(), token=plain))


@router.delete(
    "/users/{key}/application_tokens/{token_id}",
    response={204: None, ERRORS: Error},
    auth=SIGNED_IN,
    summary="Revoke an application token",
)
def revoke_token(request: HttpRequest, key: Key, token_id: ObjectId) -> Status[None]:
    actor, owner = token_owner(request, key)
    token = owner.application_tokens.filter(pk=token_id).first()
    if token is None:
        raise not_found("token")
    actions.revoke_token(token=token, actor=actor)
    return Status(204, None)
