"""What an import from the original Portus brought in: its runs, which source row became which object,
and the sign-in identities (LDAP name, OAuth provider and uid) waiting to be linked."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class ImportRun(models.Model):
    """One real (committed) import; a dry run leaves none."""

    source = models.CharField(max_length=300)  # the database URL without its password
    schema_version = models.CharField(max_length=32)
    merge = models.BooleanField(default=False)
    started_at = models.DateTimeField(default=timezone.now)
    summary = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"import from {self.source} at {self.started_at:%Y-%m-%d %H:%M}"


class ImportedRow(models.Model):
    """Source row (table, id) became our object TARGET_ID: a second run (--merge) skips it."""

    run = models.ForeignKey(ImportRun, on_delete=models.CASCADE, related_name="rows")
    source_table = models.CharField(max_length=64)
    source_id = models.BigIntegerField()
    target_id = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source_table", "source_id"], name="imported_row_once"),
        ]

    def __str__(self) -> str:
        return f"{self.source_table}#{self.source_id} -> {self.target_id}"


class LegacyIdentity(models.Model):
    """How the original let a user sign in besides a password: kept until sign-in providers link it."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="legacy_identity")
    ldap_name = models.CharField(max_length=255, blank=True)
    provider = models.CharField(max_length=64, blank=True)  # omniauth: github, gitlab, google_oauth2, ...
    uid = models.CharField(max_length=255, blank=True)
    linked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["user"]

    def __str__(self) -> str:
        return f"{self.user}: {self.provider or 'ldap'} {self.uid or self.ldap_name}"
