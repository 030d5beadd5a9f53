"""Users and their application tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from django.contrib.auth.hashers import check_password
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F
from django.utils import timezone
from django.utils.crypto import salted_hmac

from portus.registry.names import COMPONENT_RE

# Portus reads the registry under this name with tokens it signs itself; nobody may sign up as it.
INTERNAL_ACCOUNT = "portus"
RESERVED_USERNAMES = frozenset({INTERNAL_ACCOUNT, "admin-portus", "anonymous"})
TOKEN_PREFIX = "prt_"


def validate_username(value: str) -> None:
    # A user's personal namespace carries the user name, so it must be a valid namespace name.
    if not COMPONENT_RE.match(value) or len(value) > 64:
        raise ValidationError(
            "Use 1 to 64 lower-case letters and digits, separated by single '.', '_' or '-'.",
            code="invalid",
        )
    if value in RESERVED_USERNAMES:
        raise ValidationError(f"The name {value!r} is reserved; choose another.", code="reserved")


class User(AbstractUser):
    """A person or a bot. ``is_active`` is Portus's "enabled"; ``admin`` is the registry administrator."""

    username = models.CharField(max_length=64, unique=True, validators=[validate_username])
    email = models.EmailField(blank=True)
    admin = models.BooleanField(default=False)
    bot = models.BooleanField(default=False)
    display_name = models.CharField(max_length=150, blank=True)
    # Bumped whenever a remembered credential must stop working (password change, disabling).
    credential_version = models.PositiveIntegerField(default=0)
    # Failed passwords since the last success (shown to admins); the throttles themselves live in
    # the cache (portus/accounts/throttle.py).
    failed_sign_ins = models.PositiveIntegerField(default=0)
    # The whole account is locked (every credential refused) until then: too many failures from
    # everywhere together. Cleared by an unlock and by a new password.
    locked_until = models.DateTimeField(null=True, blank=True)
    # Bumped by an unlock: every failure counted before it (per client address too) is forgotten.
    lockout_epoch = models.PositiveIntegerField(default=0)
    # Signs in through the LDAP directory (portus/accounts/ldap.py): the password is the directory's
    # and is never stored here; the local password stays unusable.
    ldap = models.BooleanField(default=False)

    class Meta:
        ordering = ["username"]

    def __str__(self) -> str:
        return self.username

    @property
    def enabled(self) -> bool:
        return self.is_active

    @property
    def shown_name(self) -> str:
        from django.conf import settings

        if settings.PORTUS.display_name.enabled and self.display_name:
            return self.display_name
        return self.username

    def set_password(self, raw_password: str | None) -> None:
        """Also ends remembered verifications, sessions elsewhere and a lockout (a new password is
        what a locked-out owner is told to set)."""
        super().set_password(raw_password)
        self.credential_version = (self.credential_version or 0) + 1
        self.locked_until = None

    def check_password(self, raw_password: str | None) -> bool:
        """Django's check, whose upgrade of an old hash (an imported Devise hash, fewer PBKDF2
        rounds) only re-hashes the same password: set_password above would also forget every
        remembered verification and end a lockout, and only the hash is saved."""

        def upgrade(raw: str | None) -> None:
            AbstractUser.set_password(self, raw)
            self._password = None
            self.save(update_fields=["password"])

        return check_password(raw_password, self.password, upgrade)

    def _get_session_auth_hash(self, secret: str | None = None) -> str:
        # Django ends a session whose stored hash differs from this one (AuthenticationMiddleware,
        # in every process). Django's own hash follows only the password; this one also follows
        # credential_version, so disabling a user ends their sessions and enabling them again
        # does not bring the old sessions back.
        key_salt = "portus.accounts.models.User.get_session_auth_hash"
        value = f"{self.password}\0{self.credential_version}"
        return salted_hmac(key_salt, value, secret=secret, algorithm="sha256").hexdigest()

    def is_locked(self, now: datetime | None = None) -> bool:
        return self.locked_until is not None and self.locked_until > (now or timezone.now())

    def forget_credentials(self) -> None:
        """Make every remembered password verification stale, in all processes."""
        User.objects.filter(pk=self.pk).update(credential_version=F("credential_version") + 1)
        self.refresh_from_db(fields=["credential_version"])


def token_digest(plain: str) -> str:
    return hashlib.sha256(plain.encode()).hexdigest()


class ApplicationTokenQuerySet(models.QuerySet["ApplicationToken"]):
    def usable(self, now: datetime | None = None) -> ApplicationTokenQuerySet:
        now = now or timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class ApplicationToken(models.Model):
    """A named secret that works as a password; only its SHA-256 digest is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="application_tokens")
    name = models.CharField(max_length=100)
    digest = models.CharField(max_length=64, unique=True)
    # The first characters, so people can tell their tokens apart without the secret.
    hint = models.CharField(max_length=12)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Tokens imported from the original Portus: its bcrypt hash of the secret until the secret is
    # first presented (then ``digest`` holds its SHA-256 like any other token's and this is emptied),
    # and when it was imported (shown on the profile page with the advice to rotate).
    imported_hash = models.CharField(max_length=100, blank=True)
    imported_at = models.DateTimeField(null=True, blank=True)

    objects = ApplicationTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["user", "name"], name="token_name_unique_per_user")]

    def __str__(self) -> str:
        return f"{self.user}/{self.name}"

    @staticmethod
    def generate() -> str:
        # 32 random bytes: far beyond guessing, so a fast digest lookup is a safe check.
        return TOKEN_PREFIX + secrets.token_urlsafe(32)

    @property
    def imported(self) -> bool:
        return self.imported_at is not None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def is_usable(self, now: datetime | None = None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)
