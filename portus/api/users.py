"""/api/v1/users: accounts (admins manage them, people see and edit themselves) and bootstrap."""

from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Status

from portus import policy
from portus.accounts import actions
from portus.accounts.credentials import Failure, verify
from portus.accounts.models import User
from portus.accounts.throttle import client_address
from portus.api.auth import OPTIONAL, PUBLIC, SIGNED_IN, RateLimited, signed_in, signed_in_with_token
from portus.api.errors import ERRORS, ApiError, forbidden
from portus.api.lookups import find_user, visible_user
from portus.api.pagination import paginate
from portus.api.params import Key, key_for
from portus.api.schemas import (
    Bootstrap,
    BootstrapOut,
    Error,
    PageParams,
    UserCreate,
    UserFilters,
    UserOut,
    UserUpdate,
)
from portus.registry import deletion
from portus.registry.deletion import RegistryDeletionError
from portus.registry.models import Namespace

router = Router(tags=["users"])


def user_out(user: User) -> UserOut:
    cache = user._state.fields_cache
    if "personal_namespace" in cache:  # fetched with select_related: no query per user
        namespace = cache["personal_namespace"]
        namespace_id = namespace.pk if namespace is not None else None
    else:
        namespace_id = Namespace.objects.filter(owner=user).values_list("pk", flat=True).first()
    return UserOut(
        id=user.pk,
        username=user.username,
        email=user.email,
        display_name=user.display_name,
        admin=user.admin,
        bot=user.bot,
        enabled=user.is_active,
        created_at=user.date_joined,
        namespace_id=namespace_id,
    )


def _with_namespace(queryset: QuerySet[User]) -> QuerySet[User]:
    return queryset.select_related("personal_namespace")


def _check_password(password: str, user: User | None = None) -> None:
    try:
        validate_password(password, user)
    except DjangoValidationError as exc:
        raise ApiError(400, " ".join(exc.messages)) from None


TOKEN_CANNOT_CHANGE_CREDENTIALS = (
    "An application token cannot change its account's password or email: sign in to Portus with your "
    "password and change them on your profile page."
)


def _may_change_credentials(request: HttpRequest, actor: User, user: User, current_password: str | None) -> None:
    """Refuse a password or email change of USER unless ACTOR proved who they are: a person changing
    their own account gives the current password from a password-signed-in session; an
    administrator may change another account's. A leaked token or session is then no way to take
    the account over for good."""
    if actor.pk != user.pk:
        return  # policy.can_edit_profile let only an administrator this far
    if signed_in_with_token(request):
        raise forbidden(TOKEN_CANNOT_CHANGE_CREDENTIALS)
    if not current_password:
        raise forbidden("Give your current password as 'current_password' to change your password or email.")
    result = verify(user.username, current_password, address=client_address(request), allow_tokens=False)
    if result.failure is Failure.THROTTLED:
        raise RateLimited(result.retry_after or 1)
    if result.user is None or result.user.pk != user.pk:
        raise forbidden("That is not your current password.")


@router.get(
    "",
    response={200: list[UserOut], ERRORS: Error},
    auth=SIGNED_IN,
    summary="List users (admins)",
)
def list_users(
    request: HttpRequest,
    response: HttpResponse,
    filters: Query[UserFilters],
    paging: Query[PageParams],
) -> list[UserOut]:
    if not policy.can_manage_users(signed_in(request)):
        raise forbidden("Only administrators may list users.")
    users = _with_namespace(User.objects.all())
    if filters.q:
        users = users.filter(
            Q(username__icontains=filters.q) | Q(display_name__icontains=filters.q) | Q(email__icontains=filters.q)
        )
    for field in ("admin", "bot"):
        if getattr(filters, field) is not None:
            users = users.filter(**{field: getattr(filters, field)})
    if filters.enabled is not None:
        users = users.filter(is_active=filters.enabled)
    users = users.order_by(filters.sort.replace("created_at", "date_joined"), "pk")
    return [user_out(user) for user in paginate(request, response, users, paging)]


@router.post(
    "/bootstrap",
    response={201: BootstrapOut, ERRORS: Error},
    auth=PUBLIC,
    summary="Create the first administrator of an empty installation",
)
def bootstrap(request: HttpRequest, payload: Bootstrap) -> Status[BootstrapOut]:
    if not policy.can_bootstrap():
        raise forbidden(
            "Bootstrap only works on an installation without users "
            "and with first_user_admin enabled; "
            "ask an administrator for an account instead."
        )
    _check_password(payload.password)
    with transaction.atomic():
        user = actions.create_user(
            username=payload.username, email=payload.email, password=payload.password, admin=True, signed_up=True
        )
        _, plain = actions.create_token(user=user, name="bootstrap", actor=user)
    return Status(201, BootstrapOut(user=user_out(find_user(key_for(user)) or user), token=plain))


@router.post("", response={201: UserOut, ERRORS: Error}, auth=SIGNED_IN, summary="Create a user (admins)")
def create_user(request: HttpRequest, payload: UserCreate) -> Status[UserOut]:
    actor = signed_in(request)
    if not policy.can_manage_users(actor):
        raise forbidden("Only administrators may create users.")
    if payload.password is None and not payload.bot:
        raise ApiError(400, "Give a password (only bots sign in without one).")
    if payload.password is not None:
        _check_password(payload.password)
    user = actions.create_user(
        username=payload.username,
        email=payload.email,
        password=payload.password,
        admin=payload.admin,
        bot=payload.bot,
        display_name=payload.display_name,
        actor=actor,
    )
    return Status(201, user_out(find_user(key_for(user)) or user))


@router.get("/{key}", response={200: UserOut, ERRORS: Error}, auth=OPTIONAL, summary="Show a user")
def show_user(request: HttpRequest, key: Key) -> UserOut:
    return user_out(visible_user(request, key))


@router.put("/{key}", response={200: UserOut, ERRORS: Error}, auth=SIGNED_IN, summary="Update a user")
def update_user(request: HttpRequest, key: Key, payload: UserUpdate) -> UserOut:
    actor = signed_in(request)
    user = visible_user(request, key)
    if not policy.can_edit_profile(actor, user):
        raise forbidden("You may only edit your own account.")
    if (payload.admin is not None or payload.enabled is not None) and not policy.can_manage_users(actor):
        raise forbidden("Only administrators may change 'admin' or 'enabled'.")
    if payload.password is not None or (payload.email is not None and payload.email != user.email):
        _may_change_credentials(request, actor, user, payload.current_password)
    if payload.password is not None:
        _check_password(payload.password, user)
    with transaction.atomic():
        actions.update_profile(user=user, email=payload.email, display_name=payload.display_name, actor=actor)
        if payload.password is not None:
            actions.change_password(user=user, password=payload.password, actor=actor)
        if payload.admin is not None and payload.admin != user.admin:
            actions.set_admin(user=user, admin=payload.admin, actor=actor)
        if payload.enabled is not None and payload.enabled != user.is_active:
            actions.set_enabled(user=user, enabled=payload.enabled, actor=actor)
    return user_out(find_user(key_for(user)) or user)


@router.post(
    "/{key}/unlock",
    response={200: UserOut, ERRORS: Error},
    auth=SIGNED_IN,
    summary="End a user's lockout after failed sign-ins (admins)",
)
def unlock_user(request: HttpRequest, key: Key) -> UserOut:
    actor = signed_in(request)
    user = visible_user(request, key)
    if not policy.can_manage_users(actor):
        raise forbidden("Only administrators may unlock users.")
    actions.unlock_user(user=user, actor=actor)
    return user_out(find_user(str(user.pk)) or user)


@router.delete(
    "/{key}",
    response={204: None, ERRORS: Error},
    auth=SIGNED_IN,
    summary="Delete a user (admins; the name stays reserved until released)",
)
def delete_user(
    request: HttpRequest,
    key: Key,
    delete_images: bool = Query(
        False,
        description="Also delete the images of the user's personal namespace in the registry first; "
        "without it a user whose namespace holds repositories is refused.",
    ),
) -> Status[None]:
    actor = signed_in(request)
    user = visible_user(request, key)
    if not policy.can_manage_users(actor):
        raise forbidden("Only administrators may delete users.")
    try:
        deletion.delete_user(user=user, actor=actor, delete_images=delete_images)
    except RegistryDeletionError as exc:
        raise ApiError(502, str(exc)) from None
    return Status(204, None)
