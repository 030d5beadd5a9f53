"""What the built-in scanner keeps: OSV advisories indexed by package, the database's version, and the
package inventory of every image manifest it has read."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone

from portus.registry.models import Namespace
from portus.security.severity import Severity


class AdvisoryDatabase(models.Model):
    """One row: the version of the imported advisories, so scans can tell when to run again."""

    updated_at = models.DateTimeField(null=True, help_text="newest `modified` among the imported advisories")
    imported_at = models.DateTimeField(null=True)
    advisories = models.PositiveIntegerField(default=0)
    # Bumped by every import that changed something: a clock-free "has it moved" for the scan flow.
    generation = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.advisories} advisories, updated at {self.updated_at}"


class Advisory(models.Model):
    """One OSV record. A withdrawn one is kept (so a re-import sees it) but has no affected rows."""

    osv_id = models.CharField(max_length=128, unique=True)
    modified = models.DateTimeField()
    withdrawn = models.DateTimeField(null=True, blank=True)
    summary = models.TextField(blank=True)
    severity = models.CharField(max_length=16, choices=[(s.value, s.value) for s in Severity])
    link = models.URLField(max_length=500)
    aliases = models.JSONField(default=list)

    def __str__(self) -> str:
        return self.osv_id


class AffectedPackage(models.Model):
    """One ``affected`` entry of an advisory, looked up by (ecosystem, package name) when matching."""

    advisory = models.ForeignKey(Advisory, on_delete=models.CASCADE, related_name="affected")
    ecosystem = models.CharField(max_length=16)  # portus.security.versions.ECOSYSTEMS
    release = models.CharField(max_length=32, blank=True)  # "12", "v3.19", "22.04"; "" for every release
    name = models.CharField(max_length=255)  # the source package for Debian, Ubuntu and Alpine
    severity = models.CharField(max_length=16, choices=[(s.value, s.value) for s in Severity])
    ranges = models.JSONField(default=list)  # OSV ranges of type ECOSYSTEM and SEMVER, as published
    versions = models.JSONField(default=list)

    class Meta:
        indexes = [models.Index(fields=["ecosystem", "name"], name="security_affected_package")]

    def __str__(self) -> str:
        return f"{self.ecosystem}/{self.name}"


class Inventory(models.Model):
    """The packages found in one image manifest (one platform), kept so advisories can be matched again
    without reading the layers."""

    manifest_digest = models.CharField(max_length=100, unique=True)
    platform = models.CharField(max_length=64, blank=True)
    distro = models.CharField(max_length=16, blank=True)  # debian, ubuntu, alpine or ""
    release = models.CharField(max_length=32, blank=True)  # the OSV release: "12", "v3.19", "22.04"
    distro_version = models.CharField(max_length=64, blank=True)  # as the image says: "12.4", "3.19.1"
    packages = models.JSONField(default=list)  # Package.to_json() each
    notes = models.JSONField(default=list)  # what could not be read, in sentences
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.manifest_digest


class AllowlistEntry(models.Model):
    """A vulnerability id accepted for one namespace (or, without one, everywhere): its findings stay
    visible but marked, and are left out of the counts until the entry expires or is removed."""

    namespace = models.ForeignKey(
        Namespace, null=True, blank=True, on_delete=models.CASCADE, related_name="allowlist_entries"
    )
    vulnerability_id = models.CharField(max_length=128)  # an OSV id, a CVE, a GHSA: matched with aliases
    comment = models.TextField()
    expires_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["vulnerability_id", "id"]
        indexes = [models.Index(fields=["vulnerability_id"], name="security_allowlist_id")]

    def __str__(self) -> str:
        return f"{self.vulnerability_id} ({self.namespace or 'global'})"

    def is_active(self, now: datetime | None = None) -> bool:
        return self.expires_at is None or self.expires_at > (now or timezone.now())

    @classmethod
    def active_ids(cls, namespace: Namespace | int | None, now: datetime | None = None) -> frozenset[str]:
        """The vulnerability ids allowlisted for NAMESPACE right now: its own entries and the global ones."""
        namespace_id = namespace.pk if isinstance(namespace, Namespace) else namespace
        scope = models.Q(namespace__isnull=True)
        if namespace_id is not None:
            scope |= models.Q(namespace_id=namespace_id)
        live = models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now or timezone.now())
        return frozenset(cls.objects.filter(scope, live).values_list("vulnerability_id", flat=True))
