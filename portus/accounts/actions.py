"""Writes about users and their tokens: each atomic, each writing its activity line."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from allauth.socialaccount.models import SocialAccount
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from portus.accounts.models import ApplicationToken, User, token_digest, validate_username
from portus.errors import ActionError
from portus.principal import Actor
from portus.registry.actions import (
    DELETE_IMAGES_HOW,
    ensure_personal_namespace,
    namespace_not_empty,
    refuse_reserved_name,
    reserve_name,
)
from portus.registry.activity import record
from portus.registry.models import Namespace, ReservedKind, Role, TeamMembership

# Bots sign in with tokens only, from scripts: administration stays with people.
BOT_ADMIN = "A bot cannot be an administrator; make a person administrator instead."
# A bot's password would be a second, unrevocable way in that no person types.
LDAP_PASSWORD = "This account signs in with its LDAP directory password; change it in the directory."
BOT_PASSWORD = "A bot signs in with application tokens only and cannot have a password; create a token for it."


@transaction.atomic
def create_user(
    *,
    username: str,
    email: str = "",
    password: str | None = None,
    admin: bool | None = None,
    bot: bool = False,
    display_name: str = "",
    ldap: bool = False,
    actor: Actor = None,
    signed_up: bool = False,
) -> User:
    """Create a user and their personal namespace. With admin=None the first user becomes admin
    when ``first_user_admin`` is on. An LDAP user (ldap=True) signs in through the directory and
    has no local password. ACTOR is whoever creates the account (None: Portus itself, as for
    ``portusctl user create``); SIGNED_UP says the new user created it themselves (sign-up, bootstrap)."""
    try:
        validate_username(username)
    except ValidationError as exc:
        raise ActionError(f"{username!r}: {exc.messages[0]}") from None
    if User.objects.filter(username=username).exists():
        raise ActionError(f"A user called {username!r} already exists.")
    refuse_reserved_name(username)
    if bot and admin:
        raise ActionError(BOT_ADMIN)
    if bot and password is not None:
        raise ActionError(BOT_PASSWORD)
    if ldap and bot:
        raise ActionError("A bot signs in with application tokens only, never through LDAP.")
    if ldap and password is not None:
        raise ActionError(LDAP_PASSWORD)
    if admin is None:
        admin = not bot and settings.PORTUS.first_user_admin.enabled and not User.objects.filter(bot=False).exists()
    user = User(username=username, email=email, admin=bool(admin), bot=bot, display_name=display_name, ldap=ldap)
    if password is None:
        user.set_unusable_password()
    else:
        user.set_password(password)
    user.save()
    creator = user if signed_up else actor
    data: dict[str, Any] = {"admin": user.admin, "bot": bot, **({"via": "ldap"} if ldap else {})}
    record(creator, "user.signup" if signed_up else "user.create", username, **data)
    ensure_personal_namespace(user, actor=creator)
    return user


@transaction.atomic
def create_token(
    *, user: User, name: str, expires_at: datetime | None = None, actor: Actor
) -> tuple[ApplicationToken, str]:
    """Create a token; the plain secret is returned once and never stored."""
    name = name.strip()
    if not name:
        raise ActionError("Give the token a name, so you can tell it apart later.")
    if expires_at is not None and expires_at <= timezone.now():
        raise ActionError("The expiry date is in the past; choose a future date or none.")
    if user.application_tokens.filter(name=name).exists():
        raise ActionError(f"{user.username} already has a token called {name!r}; pick another name.")
    plain = ApplicationToken.generate()
    token = ApplicationToken.objects.create(
        user=user, name=name, digest=token_digest(plain), hint=plain[:8], expires_at=expires_at
    )
    record(actor, "token.create", f"{user.username}/{name}")
    return token, plain


@transaction.atomic
def revoke_token(*, token: ApplicationToken, actor: Actor) -> ApplicationToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        record(actor, "token.revoke", f"{token.user.username}/{token.name}")
    return token


@transaction.atomic
def change_password(*, user: User, password: str, actor: Actor) -> User:
    """Set a new password: remembered verifications and every other session end, a lockout ends."""
    if user.bot:
        raise ActionError(BOT_PASSWORD)
    if user.ldap:
        raise ActionError(LDAP_PASSWORD)
    user.set_password(password)  # bumps credential_version and clears locked_until
    user.save(update_fields=["password", "credential_version", "locked_until"])
    record(actor, "user.change_password", user.username)
    return user


@transaction.atomic
def unlock_user(*, user: User, actor: Actor) -> User:
    """End a lockout: the account's lock and every failure counted so far, from every address."""
    User.objects.filter(pk=user.pk).update(locked_until=None, failed_sign_ins=0, lockout_epoch=F("lockout_epoch") + 1)
    user.refresh_from_db(fields=["locked_until", "failed_sign_ins", "lockout_epoch"])
    record(actor, "user.unlock", user.username)
    return user


@transaction.atomic
def set_enabled(*, user: User, enabled: bool, actor: Actor) -> User:
    if not enabled and user.admin and User.objects.filter(admin=True, is_active=True).exclude(pk=user.pk).count() == 0:
        raise ActionError("This is the last enabled administrator; make someone else admin first.")
    user.is_active = enabled
    # Ends remembered verifications and, through the session hash (User._get_session_auth_hash),
    # every session; enabling bumps it again, so old sessions never come back.
    user.credential_version += 1
    user.save(update_fields=["is_active", "credential_version"])
    record(actor, "user.enable" if enabled else "user.disable", user.username)
    return user


@transaction.atomic
def set_admin(*, user: User, admin: bool, actor: Actor) -> User:
    if admin and user.bot:
        raise ActionError(BOT_ADMIN)
    if not admin and user.admin and User.objects.filter(admin=True, is_active=True).exclude(pk=user.pk).count() == 0:
        raise ActionError("This is the last administrator; make someone else admin first.")
    user.admin = admin
    user.save(update_fields=["admin"])
    record(actor, "user.make_admin" if admin else "user.remove_admin", user.username)
    return user


def check_user_deletable(user: User) -> None:
    """Refuse what deleting USER would break; checked before any image is deleted, too."""
    if user.admin and User.objects.filter(admin=True, is_active=True).exclude(pk=user.pk).count() == 0:
        raise ActionError("This is the last administrator; make someone else admin first.")
    for membership in TeamMembership.objects.filter(user=user, role=Role.OWNER).select_related("team"):
        if membership.team.memberships.filter(role=Role.OWNER).count() <= 1:
            raise ActionError(
                f"{user.username} is the last owner of {membership.team.name}; give it another owner first."
            )


@transaction.atomic
def delete_user(*, user: User, actor: Actor) -> None:
    """Delete USER with their personal namespace, which must be empty (portus.registry.deletion
    deletes its images first when asked); the user name is reserved."""
    check_user_deletable(user)
    personal = Namespace.objects.select_for_update().filter(owner=user).first()
    # Portus never forgets images it has not removed from the registry.
    if personal is not None and personal.repositories.exists():
        raise ActionError(namespace_not_empty(personal, DELETE_IMAGES_HOW))
    record(actor, "user.delete", user.username)
    reserve_name(name=user.username, kind=ReservedKind.USER, actor=actor)
    # Delete the personal namespace first: on MySQL/MariaDB, Django cascades a nullable foreign
    # key by setting it to NULL before deleting, which the namespace's kind/owner check refuses.
    Namespace.objects.filter(owner=user).delete()
    user.delete()


@transaction.atomic
def update_profile(*, user: User, actor: Actor, email: str | None = None, display_name: str | None = None) -> User:
    """Change the fields a user may edit about themselves; unchanged values write nothing."""
    changed = {}
    if email is not None and email != user.email:
        changed["email"] = email
    if display_name is not None and display_name != user.display_name:
        changed["display_name"] = display_name
    if not changed:
        return user
    for field, value in changed.items():
        setattr(user, field, value)
    user.save(update_fields=list(changed))
    record(actor, "user.update", user.username, fields=sorted(changed))
    return user


def sign_in_methods(user: User) -> int:
    """How many ways USER has to sign in on the pages: a password (while the form is shown: a usable local one,
    or the directory's for an LDAP user while LDAP is on) and each linked provider account."""
    has_password = user.has_usable_password() or (user.ldap and settings.PORTUS.ldap.enabled)
    password = has_password and settings.PORTUS.oauth.local_login.enabled
    linked: int = SocialAccount.objects.filter(user=user).count()
    return int(password) + linked


@transaction.atomic
def unlink_provider(*, account: SocialAccount, actor: Actor) -> None:
    """Unlink a provider account from its user, never the user's last way to sign in."""
    user = account.user
    User.objects.select_for_update().filter(pk=user.pk).first()  # two unlinks at once cannot both pass
    if sign_in_methods(user) <= 1:
        raise ActionError(
            "This is your last way to sign in: link another provider"
            + (" or set a password" if settings.PORTUS.oauth.local_login.enabled else "")
            + " first."
        )
    account.delete()
    record(actor, "user.unlink_provider", f"{user.username}/{account.provider}", uid=account.uid)
