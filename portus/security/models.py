"""What the built-in scanner keeps: OSV advisories indexed by package, the database's version, and the
package inventory of every image manifest it has read."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone

from portus.registry.models import Namespace, Tag
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


# What a scan or a summary made against an empty advisory database says instead of "0 findings".
NO_ADVISORIES = "no_advisories"
NO_ADVISORIES_MESSAGE = "no advisories imported: run `portusctl vulndb import PATH` or set security.builtin.advisories"


class ScanState(models.TextChoices):
    PENDING = "pending", "Pending"  # waiting for a worker (also: waiting for a retry after a failure)
    RUNNING = "running", "Running"  # claimed by a worker whose lease has not run out
    DONE = "done", "Done"
    FAILED = "failed", "Failed"  # gave up after security.max_attempts; ``reason`` says why


class Backend(models.TextChoices):
    BUILTIN = "builtin", "Built-in"
    HARBOR = "harbor", "Harbor scanner adapter"
    CLAIR = "clair", "Clair v4"
    DUMMY = "dummy", "Dummy"


class Scan(models.Model):
    """The scan of one image manifest digest by one backend: its state, claim and outcome.

    Results belong to the digest, so every tag pointing at it shares them. ``registry`` and
    ``repository`` say where the image can be read (the repository of the push that asked for the
    scan; any repository holding the digest will do)."""

    manifest_digest = models.CharField(max_length=100)
    backend = models.CharField(max_length=16, choices=Backend.choices)
    registry = models.ForeignKey("registry.Registry", on_delete=models.CASCADE, related_name="scans")
    repository = models.CharField(max_length=255)  # full name, "team/app"
    state = models.CharField(max_length=16, choices=ScanState.choices, default=ScanState.PENDING)
    reason = models.TextField(blank=True)  # the last error (failed, or pending for a retry)
    attempts = models.PositiveIntegerField(default=0)  # since the last request; reset by a rescan
    # A worker's claim, as on RegistryEvent: whoever holds ``claim`` until ``lease_until`` may save.
    # A pending scan with a future lease_until is not free before then: waiting for its retry (backoff),
    # or, with ``waiting_since`` set, for its scanner's report (the time to poll again).
    claim = models.CharField(max_length=64, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    requested_at = models.DateTimeField(auto_now_add=True)
    scanned_at = models.DateTimeField(null=True, blank=True)  # when the stored findings were made
    # The backend's vulnerability database the findings were made with: a version text for people
    # ("builtin generation 7", Harbor's vulnerability-database-updated-at, Clair's index_state) and
    # its time when the backend tells it.
    database_version = models.CharField(max_length=255, blank=True)
    database_updated_at = models.DateTimeField(null=True, blank=True)
    notes = models.JSONField(default=list)  # what the backend could not read, in sentences
    # Done, but against an empty advisory database (the built-in backend before any import): its zero
    # findings mean "not known", never "clean". The next import's re-match turns it into a result.
    no_advisories = models.BooleanField(default=False)
    # A backend's requests in flight, kept across claims and restarts: Harbor's scan request id per
    # image manifest digest, so a later claim polls the same request instead of submitting again.
    backend_requests = models.JSONField(default=dict, blank=True)
    # Since when the scanner has answered "not ready yet" (None: not waiting); the backend's deadline.
    waiting_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["manifest_digest", "backend"], name="security_scan_digest_backend"),
        ]
        indexes = [
            models.Index(fields=["state", "id"], name="security_scan_state_id"),
            models.Index(fields=["repository", "registry"], name="security_scan_repository"),
        ]

    def __str__(self) -> str:
        return f"{self.backend} scan of {self.manifest_digest} ({self.state})"

    @property
    def shown_state(self) -> str:
        """The state as people see it: a done scan made without advisories is NO_ADVISORIES, not done."""
        return NO_ADVISORIES if self.state == ScanState.DONE and self.no_advisories else str(self.state)


class ScanFinding(models.Model):
    """One vulnerability one backend found in one digest (an index: in one of its platforms)."""

    scan = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="findings")
    vulnerability_id = models.CharField(max_length=128)  # CVE-..., GHSA-..., DSA-...
    severity = models.CharField(max_length=16, choices=[(s.value, s.value) for s in Severity])
    package = models.CharField(max_length=255)
    installed_version = models.CharField(max_length=255, blank=True)
    fixed_version = models.CharField(max_length=255, blank=True)  # "" when no fix is known
    summary = models.TextField(blank=True)  # description or summary, as the backend gives it
    link = models.URLField(max_length=500, blank=True)
    platform = models.CharField(max_length=64, blank=True)  # "linux/arm64" for an index's platform

    class Meta:
        indexes = [models.Index(fields=["vulnerability_id"], name="security_finding_vuln")]

    def __str__(self) -> str:
        return f"{self.vulnerability_id} in {self.package} {self.installed_version}"


class ScanSummary(models.Model):
    """Per digest, over every backend: counts by severity (allowlisted findings left out) and the
    overall state, precomputed by ``portus.security.summary.refresh`` so the repository page reads
    one row per tag in one query."""

    manifest_digest = models.CharField(max_length=100, unique=True)
    state = models.CharField(max_length=16, choices=ScanState.choices, default=ScanState.PENDING)
    critical = models.PositiveIntegerField(default=0)
    high = models.PositiveIntegerField(default=0)
    medium = models.PositiveIntegerField(default=0)
    low = models.PositiveIntegerField(default=0)
    negligible = models.PositiveIntegerField(default=0)
    unknown = models.PositiveIntegerField(default=0)
    allowlisted = models.PositiveIntegerField(default=0)  # findings left out of the counts
    # Every done scan of the digest was made without advisories: the counts say nothing (not "clean").
    no_advisories = models.BooleanField(default=False)
    scanned_at = models.DateTimeField(null=True, blank=True)  # the latest scan of any backend
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.manifest_digest}: {self.state}"


class AllowlistEntry(models.Model):
    """A vulnerability id accepted for one namespace (or, without one, everywhere): its findings stay
    visible but marked, and are left out of the counts until the entry expires or is removed."""

    namespace = models.ForeignKey(
        Namespace, null=True, blank=True, on_delete=models.CASCADE, related_name="allowlist_entries"
    )
    vulnerability_id = models.CharField(max_length=128)  # as findings name it: CVE-..., GHSA-..., DSA-...
    comment = models.TextField()
    expires_at = models.DateTimeField(null=True, blank=True)
    # Set once the summaries were recounted after the expiry (by the worker): each expiry is applied once.
    expiry_applied = models.BooleanField(default=False)
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

    @classmethod
    def ids_for_digest(cls, digest: str, now: datetime | None = None) -> frozenset[str]:
        """The ids left out of DIGEST's counts: global entries, and those every namespace holding the image
        accepts (the summary is one per digest; an image in two namespaces counts until both accept)."""
        now = now or timezone.now()
        namespace_ids = set(
            Tag.objects.filter(digest=digest).values_list("repository__namespace_id", flat=True).distinct().order_by()
        )
        accepted = set(cls.active_ids(None, now))
        shared: set[str] | None = None
        for namespace_id in namespace_ids:
            own = set(
                cls.objects.filter(namespace_id=namespace_id)
                .filter(models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now))
                .values_list("vulnerability_id", flat=True)
            )
            shared = own if shared is None else shared & own
        return frozenset(accepted | (shared or set()))
