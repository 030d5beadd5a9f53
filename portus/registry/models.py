"""Registries, teams, namespaces, repositories, tags, stars, comments, the activity log, registry events
and the marks a running synchronization leaves."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING, Any, TypedDict, cast

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Coalesce
from django.utils import timezone

from portus.errors import ActionError
from portus.sealing import SealBroken, seal, unseal

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

from portus.registry.names import COMPONENT_RE


class SecretUnavailable(ActionError):
    """The stored notification secret cannot be unsealed (the secret key changed); the message says what to do."""


def _secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# The sealing key comes from the secret key, so a copy of the database alone does not give the secret away.
NOTIFICATION_SECRET = "notification-secret"


class Registry(models.Model):
    """A Docker Distribution instance that trusts this Portus for its tokens."""

    name = models.CharField(max_length=100, unique=True)
    # host:port Portus uses to reach the registry; also the token "service".
    hostname = models.CharField(max_length=255, unique=True)
    # host[:port] people use in pull commands, when it differs from hostname.
    external_hostname = models.CharField(max_length=255, blank=True)
    use_ssl = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    # The bearer secret the registry sends with its notifications: random per registry. The intake checks
    # the SHA-256 digest; the secret itself is kept sealed (Fernet, keyed from the secret key) only so that
    # `portusctl registry config` can print it again. See docs/security.md.
    notification_secret_digest = models.CharField(max_length=64, blank=True)
    notification_secret_sealed = models.TextField(blank=True)
    # The grace period after an import from the original Portus, whose registries send their
    # notifications with no secret: while on, a notification without an Authorization header is
    # taken as this registry's (a wrong secret is still refused). Admin pages warn until it is off.
    legacy_unsigned_notifications = models.BooleanField(default=False)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "registries"

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.notification_secret_digest:
            self.new_notification_secret()
        super().save(*args, **kwargs)

    @property
    def public_hostname(self) -> str:
        return self.external_hostname or self.hostname

    @property
    def base_url(self) -> str:
        return f"{'https' if self.use_ssl else 'http'}://{self.hostname}"

    @property
    def services(self) -> set[str]:
        return {self.hostname, self.public_hostname}

    def new_notification_secret(self) -> str:
        """Give the registry a new random notification secret (saved by the caller) and return it."""
        secret = secrets.token_urlsafe(32)
        self.notification_secret_digest = _secret_digest(secret)
        self.notification_secret_sealed = seal(secret, purpose=NOTIFICATION_SECRET)
        return secret

    def notification_secret(self) -> str:
        """The bearer secret the registry must send; SecretUnavailable when the secret key changed since."""
        try:
            return unseal(self.notification_secret_sealed, purpose=NOTIFICATION_SECRET)
        except SealBroken:
            raise SecretUnavailable(
                f"the notification secret of registry {self.name!r} was sealed with another secret key; "
                f"run `portusctl registry rotate-secret {self.name}` and put the new config on the registry."
            ) from None

    def accepts_notification_secret(self, presented: str) -> bool:
        """Whether PRESENTED is this registry's notification secret (constant time)."""
        return bool(self.notification_secret_digest) and hmac.compare_digest(
            _secret_digest(presented), self.notification_secret_digest
        )


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    CONTRIBUTOR = "contributor", "Contributor"
    VIEWER = "viewer", "Viewer"


class Team(models.Model):
    name = models.CharField(max_length=128, unique=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="TeamMembership", related_name="teams")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TeamMembership(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["team", "user"]
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="one_membership_per_team")]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} as {self.role}"


class Visibility(models.TextChoices):
    PRIVATE = "private", "Private"  # team members and admins
    PROTECTED = "protected", "Protected"  # any signed-in user
    PUBLIC = "public", "Public"  # everyone, anonymous included


class NamespaceKind(models.TextChoices):
    GLOBAL = "global", "Global"
    PERSONAL = "personal", "Personal"
    TEAM = "team", "Team"


class Namespace(models.Model):
    """The first component of a repository name; the global one (name "") holds names without a slash."""

    registry = models.ForeignKey(Registry, on_delete=models.CASCADE, related_name="namespaces")
    name = models.CharField(max_length=128, blank=True)
    kind = models.CharField(max_length=16, choices=NamespaceKind.choices, default=NamespaceKind.TEAM)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.PROTECT, related_name="namespaces")
    owner = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="personal_namespace",
    )
    visibility = models.CharField(max_length=16, choices=Visibility.choices, default=Visibility.PRIVATE)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["registry", "name"], name="namespace_name_unique_per_registry"),
            models.CheckConstraint(
                condition=~models.Q(kind="global", visibility="private"), name="global_namespace_not_private"
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(kind="global", team__isnull=True, owner__isnull=True, name="")
                    | models.Q(kind="personal", team__isnull=True, owner__isnull=False)
                    | models.Q(kind="team", team__isnull=False, owner__isnull=True)
                ),
                name="namespace_kind_matches_owner",
            ),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return self.name or f"{self.registry.name} (global)"

    @property
    def is_global(self) -> bool:
        return self.kind == NamespaceKind.GLOBAL

    @property
    def is_personal(self) -> bool:
        return self.kind == NamespaceKind.PERSONAL

    def clean(self) -> None:
        if self.kind != NamespaceKind.GLOBAL and not COMPONENT_RE.match(self.name or ""):
            raise ValidationError({"name": "Use lower-case letters and digits separated by '.', '_' or '-'."})
        if self.kind == NamespaceKind.GLOBAL and self.visibility == Visibility.PRIVATE:
            raise ValidationError({"visibility": "The global namespace cannot be private."})

    def repository_prefix(self) -> str:
        return f"{self.name}/" if self.name else ""


def related_count(model: type[models.Model], field: str) -> Coalesce:
    """A per-row count of MODEL rows whose FIELD points at the row, as a subquery: joins would
    multiply rows under OR'ed visibility filters."""
    counted = (
        model._default_manager.filter(**{field: models.OuterRef("pk")})
        .order_by()
        .values(field)
        .annotate(n=models.Count("pk"))
        .values("n")
    )
    return Coalesce(models.Subquery(counted, output_field=models.IntegerField()), 0)


class RepositoryCounts(TypedDict):
    tag_count: int
    star_count: int


class RepositoryQuerySet(models.QuerySet["Repository"]):
    def with_counts(self) -> models.QuerySet[WithAnnotations[Repository, RepositoryCounts]]:
        """Each repository with ``tag_count`` and ``star_count``, and what its full name needs."""
        counted = self.select_related("namespace", "namespace__registry").annotate(
            tag_count=related_count(Tag, "repository"), star_count=related_count(Star, "repository")
        )
        # The plugin types annotations as Any; these two are integers (Coalesce(..., 0) over a count).
        return cast("models.QuerySet[WithAnnotations[Repository, RepositoryCounts]]", counted)


class Repository(models.Model):
    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE, related_name="repositories")
    # The part after the namespace: "group/app" for "team/group/app", "busybox" in the global namespace.
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = RepositoryQuerySet.as_manager()

    class Meta:
        ordering = ["namespace__name", "name"]
        verbose_name_plural = "repositories"
        constraints = [
            models.UniqueConstraint(fields=["namespace", "name"], name="repository_name_unique_per_namespace")
        ]

    def __str__(self) -> str:
        return self.full_name

    @property
    def full_name(self) -> str:
        return self.namespace.repository_prefix() + self.name


class Tag(models.Model):
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=128)
    digest = models.CharField(max_length=100)
    config_digest = models.CharField(max_length=100, blank=True)
    media_type = models.CharField(max_length=255, blank=True)
    # Bytes: the config plus the layers (for an index, the sum over its platforms).
    size = models.BigIntegerField(default=0)
    # ["linux/amd64", "linux/arm64/v8"] for an index; one entry for a single image when known.
    platforms = models.JSONField(default=list, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="pushed_tags"
    )
    pushed_at = models.DateTimeField(default=timezone.now)
    last_pulled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-pushed_at", "name"]
        constraints = [models.UniqueConstraint(fields=["repository", "name"], name="tag_name_unique_per_repository")]
        indexes = [models.Index(fields=["repository", "digest"], name="tag_repository_digest")]

    def __str__(self) -> str:
        return f"{self.repository}:{self.name}"


class Star(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="stars")
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="stars")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "repository"], name="one_star_per_user")]

    def __str__(self) -> str:
        return f"{self.user} starred {self.repository}"


class Comment(models.Model):
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="comments")
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"comment by {self.author} on {self.repository}"


class Activity(models.Model):
    """One line of the activity log, written in the same transaction as the change it records."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="activities"
    )
    # "repository.push", "team.add_member", "namespace.change_visibility", ...
    action = models.CharField(max_length=64)
    # What the line is about, kept as text so the line survives the object's deletion.
    target = models.CharField(max_length=300)
    # Who may see the line: scoped by namespace (and team); admins see all.
    namespace = models.ForeignKey(
        Namespace, null=True, blank=True, on_delete=models.SET_NULL, related_name="activities"
    )
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="activities")
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "activities"

    def __str__(self) -> str:
        return f"{self.actor} {self.action} {self.target}"

    @property
    def reported_actor(self) -> str:
        """The user name a registry notification named: what the registry said, not who signed in."""
        return str(self.data.get("reported_actor", "")) if isinstance(self.data, dict) else ""


class EventState(models.TextChoices):
    PENDING = "pending", "Pending"
    DONE = "done", "Done"
    SKIPPED = "skipped", "Skipped"  # understood but nothing to change (unknown namespace, manifest gone)
    FAILED = "failed", "Failed"  # gave up after the configured number of attempts


class RegistryEvent(models.Model):
    """A manifest notification from the registry, stored before it is applied (by the background worker)."""

    registry = models.ForeignKey(Registry, on_delete=models.CASCADE, related_name="events")
    # The registry's own event id: a retried delivery carries the same one and is stored once.
    event_id = models.CharField(max_length=255, unique=True)
    action = models.CharField(max_length=16)  # push, pull, delete
    repository = models.CharField(max_length=255)  # full name, "team/app"
    tag = models.CharField(max_length=128, blank=True)
    digest = models.CharField(max_length=100, blank=True)
    media_type = models.CharField(max_length=255, blank=True)
    actor = models.CharField(max_length=255, blank=True)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)
    state = models.CharField(max_length=16, choices=EventState.choices, default=EventState.PENDING)
    # A worker's claim: whoever holds ``claim`` until ``lease_until`` may apply the event.
    claim = models.CharField(max_length=64, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    result = models.TextField(blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    # The event object exactly as the registry sent it (one member of the envelope's "events"): the body
    # outgoing webhooks send, as the original Portus did. Empty for events stored before it was kept.
    payload = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["state", "id"], name="registry_event_state_id"),
            # Synchronization asks "did the registry tell us about this repository since we read it?"
            models.Index(fields=["repository", "occurred_at"], name="registry_event_repo_time"),
            # The claim's "no earlier pending event in this repository": one seek, however many events the
            # registry has applied (the index on registry_id alone walked them all, for every candidate).
            models.Index(fields=["registry", "repository", "state", "id"], name="registry_event_repo_queue"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.repository}{':' + self.tag if self.tag else ''} ({self.event_id})"


class SyncMark(models.Model):
    """A repository a synchronization run found in the registry.

    Kept in the database, not in memory, so a run over a huge catalog needs no more memory. Marks
    live only while their run does: the run deletes them when it ends."""

    run = models.CharField(max_length=64)
    repository_id = models.BigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "repository_id"], name="one_sync_mark_per_run")]

    def __str__(self) -> str:
        return f"{self.run}: repository {self.repository_id}"


class ReservedKind(models.TextChoices):
    USER = "user", "User"
    NAMESPACE = "namespace", "Namespace"


class ReservedNameQuerySet(models.QuerySet["ReservedName"]):
    def holds(self, name: str) -> bool:
        return self.filter(name=name).exists()


class ReservedName(models.Model):
    """The name of a deleted user or namespace: nobody takes it again until an admin releases it.

    The token service grants by name, so a new owner of the name would get whatever the registry
    still stores under it (images Portus never knew of, a deletion that half failed)."""

    name = models.CharField(max_length=128, unique=True)
    kind = models.CharField(max_length=16, choices=ReservedKind.choices)
    reserved_by = models.CharField(max_length=64, blank=True)  # user name of whoever deleted it
    created_at = models.DateTimeField(default=timezone.now)

    objects = ReservedNameQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} (deleted {self.kind})"


class ImageDetails(models.Model):
    """What one manifest says about its image, read once from the registry by the worker.

    Keyed by the manifest digest: the content behind a digest never changes, so a row is never updated,
    and every tag (in any repository) on that digest shares it. An index has a row of its own (its
    annotations, the platforms' summed size) with one ImagePlatform per platform, each pointing at the
    platform manifest's row."""

    digest = models.CharField(max_length=100, unique=True)
    media_type = models.CharField(max_length=255, blank=True)
    config_digest = models.CharField(max_length=100, blank=True)
    # Bytes as pushed (compressed): the config plus the layers; for an index, summed over its platforms.
    size = models.BigIntegerField(default=0)
    os = models.CharField(max_length=64, blank=True)
    architecture = models.CharField(max_length=64, blank=True)
    variant = models.CharField(max_length=64, blank=True)
    created = models.DateTimeField(null=True, blank=True)
    entrypoint = models.JSONField(default=list, blank=True)
    command = models.JSONField(default=list, blank=True)
    # "NAME=value" as in the config; values may be secrets: shown only to those who may pull the image.
    environment = models.JSONField(default=list, blank=True)
    exposed_ports = models.JSONField(default=list, blank=True)
    labels = models.JSONField(default=dict, blank=True)  # the config's labels
    annotations = models.JSONField(default=dict, blank=True)  # the manifest's (or index's) OCI annotations
    # The build steps, oldest first: {"created", "created_by", "comment", "empty_layer"}.
    history = models.JSONField(default=list, blank=True)
    # Why the details could not be read (the manifest or config was gone or unreadable); the rest is empty.
    error = models.TextField(blank=True)
    read_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "image details"

    def __str__(self) -> str:
        return self.digest

    @property
    def platform(self) -> str:
        parts = [part for part in (self.os, self.architecture, self.variant) if part]
        return "/".join(parts)


class ImageReadRetry(models.Model):
    """An image whose details could not be read because the registry could not answer (unreachable, a
    timeout, a 5xx, refused credentials): the worker reads it again at ``retry_at``, each time later, until
    it succeeds (the row goes) or the attempts run out (an ImageDetails row then records the last reason).
    An answer about the image itself (404, a config over the cap, a digest mismatch) is never retried: it
    is stored at once as ImageDetails.error."""

    digest = models.CharField(max_length=100, unique=True)
    attempts = models.PositiveIntegerField(default=0)  # failed reads so far
    retry_at = models.DateTimeField(db_index=True)
    error = models.TextField(blank=True)  # the last failure, as the registry client said it
    tried_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.digest}: {self.attempts} failed read(s), next at {self.retry_at:%Y-%m-%d %H:%M}"


class ImagePlatform(models.Model):
    """One platform of an index: its name as the index gives it and the platform manifest's details."""

    index = models.ForeignKey(ImageDetails, on_delete=models.CASCADE, related_name="platform_entries")
    image = models.ForeignKey(ImageDetails, on_delete=models.CASCADE, related_name="in_indexes")
    position = models.PositiveIntegerField()
    name = models.CharField(max_length=200)  # "linux/arm64/v8"

    class Meta:
        constraints = [models.UniqueConstraint(fields=["index", "position"], name="image_platform_position_unique")]

    def __str__(self) -> str:
        return f"{self.index.digest} {self.name}"


class ImageBlob(models.Model):
    """A blob an image needs (its config and layers; for an index, those of every platform), with its size:
    what storage counts, each distinct digest once."""

    image = models.ForeignKey(ImageDetails, on_delete=models.CASCADE, related_name="blobs")
    digest = models.CharField(max_length=100)
    size = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["image", "digest"], name="image_blob_unique")]
        indexes = [models.Index(fields=["digest"], name="image_blob_digest")]

    def __str__(self) -> str:
        return f"{self.image.digest} needs {self.digest}"


class ActivityDaily(models.Model):
    """Pushes and pulls per namespace and day: what the charts read, kept up to date as events are applied,
    so that no page counts activity rows. Rebuilt from the stored rows by `portusctl rollup-activity`."""

    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE, related_name="daily_activity")
    day = models.DateField()
    pushes = models.PositiveIntegerField(default=0)
    pulls = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["day"]
        verbose_name_plural = "daily activity"
        constraints = [models.UniqueConstraint(fields=["namespace", "day"], name="one_activity_daily_per_day")]
        indexes = [models.Index(fields=["day"], name="activity_daily_day")]

    def __str__(self) -> str:
        return f"{self.namespace} {self.day}: {self.pushes} pushes, {self.pulls} pulls"
