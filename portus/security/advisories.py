"""OSV advisories (ossf/osv-schema JSON): reading files, folders and OSV's zip exports, storing them indexed
by (ecosystem, package), and the version of what is stored."""

from __future__ import annotations

import json
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from portus.security.models import Advisory, AdvisoryDatabase, AffectedPackage
from portus.security.severity import advisory_severity
from portus.security.versions import ecosystem_from_osv, package_key

BATCH = 1000
# The fields of an advisory row that an import writes (besides its osv_id).
ADVISORY_FIELDS = ("modified", "withdrawn", "summary", "severity", "link", "aliases")
AFFECTED_FIELDS = ("ecosystem", "release", "name", "severity", "ranges", "versions")
SUMMARY_CHARS = 500


class AdvisoryImportError(Exception):
    """The advisories could not be read at all; the message says what to fix."""


@dataclass(frozen=True)
class DatabaseVersion:
    """What the scan flow compares to decide whether stored results are older than the advisories."""

    updated_at: datetime | None
    imported_at: datetime | None
    advisories: int
    generation: int


@dataclass
class ImportResult:
    read: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    withdrawn: int = 0  # among the added and updated
    skipped: int = 0  # no ecosystem the scanner inventories
    errors: list[str] = field(default_factory=list)  # unreadable records, one sentence each (first 20)
    # (ecosystem, package) pairs whose advisories changed: only inventories holding one need matching again.
    changed_packages: set[tuple[str, str]] = field(default_factory=set)
    database: DatabaseVersion | None = None

    def summary(self) -> str:
        return (
            f"{self.read} read: {self.added} added, {self.updated} updated ({self.withdrawn} withdrawn), "
            f"{self.unchanged} unchanged, {self.skipped} skipped (no supported ecosystem), "
            f"{len(self.errors)} unreadable"
        )


@dataclass
class _Affected:
    ecosystem: str
    release: str
    name: str
    severity: str
    ranges: list[dict[str, Any]]
    versions: list[str]


@dataclass
class _Record:
    osv_id: str
    modified: datetime
    withdrawn: datetime | None
    summary: str
    severity: str
    link: str
    aliases: list[str]
    affected: list[_Affected]


def advisory_database_version() -> DatabaseVersion:
    row = AdvisoryDatabase.objects.order_by("pk").first()
    if row is None:
        return DatabaseVersion(None, None, 0, 0)
    return DatabaseVersion(row.updated_at, row.imported_at, row.advisories, row.generation)


# -- reading ---------------------------------------------------------------------------------------------------------


def _documents(raw: bytes, origin: str) -> Iterator[tuple[str, Any]]:
    try:
        data = json.loads(raw)
    except ValueError as exc:
        yield origin, exc
        return
    for item in data if isinstance(data, list) else [data]:
        yield origin, item


def _zip_documents(path: Path) -> Iterator[tuple[str, Any]]:
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if not info.is_dir() and info.filename.endswith(".json"):
                # One member in memory at a time: all.zip holds hundreds of thousands of them.
                yield from _documents(archive.read(info), f"{path.name}:{info.filename}")


def read_osv(path: Path) -> Iterator[tuple[str, Any]]:
    """(where, parsed JSON or the error) for every advisory in a .json file, a .zip export or a folder of both."""
    if path.is_dir():
        for child in sorted(path.rglob("*")):
            if child.is_file() and child.suffix in (".json", ".zip"):
                yield from read_osv(child)
    elif zipfile.is_zipfile(path):
        yield from _zip_documents(path)
    elif path.is_file():
        yield from _documents(path.read_bytes(), path.name)
    else:
        raise AdvisoryImportError(f"{path}: no such file or folder; give an OSV .json file, a folder or a .zip export.")


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    parsed = parse_datetime(value)
    if parsed is None:
        return None
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, UTC)


def _link(osv_id: str, references: object) -> str:
    by_type: dict[str, str] = {}
    for reference in references if isinstance(references, list) else []:
        if isinstance(reference, dict) and isinstance(reference.get("url"), str):
            by_type.setdefault(str(reference.get("type")), reference["url"])
    link = by_type.get("ADVISORY") or f"https://osv.dev/vulnerability/{osv_id}"
    return link[:500]


def parse_record(document: Any) -> _Record | None:
    """One OSV advisory as stored; None when it has no id or modified time (not an OSV record)."""
    if not isinstance(document, dict):
        return None
    osv_id, modified = document.get("id"), _time(document.get("modified"))
    if not isinstance(osv_id, str) or not osv_id or modified is None:
        return None
    summary = str(document.get("summary") or "").strip()
    if not summary:
        summary = str(document.get("details") or "").strip().split("\n\n", 1)[0]
    affected: list[_Affected] = []
    for entry in document.get("affected") or []:
        package = entry.get("package") if isinstance(entry, dict) else None
        if not isinstance(package, dict) or not isinstance(package.get("name"), str):
            continue
        mapped = ecosystem_from_osv(str(package.get("ecosystem") or ""))
        if mapped is None:
            continue
        ranges = [
            r for r in entry.get("ranges") or [] if isinstance(r, dict) and r.get("type") in ("ECOSYSTEM", "SEMVER")
        ]
        versions = [str(v) for v in entry.get("versions") or []]
        if not ranges and not versions:
            continue
        ecosystem, release = mapped
        affected.append(
            _Affected(
                ecosystem,
                release[:32],
                package_key(ecosystem, package["name"])[:255],
                advisory_severity(document, entry).value,
                [{"type": r["type"], "events": r.get("events") or []} for r in ranges],
                versions,
            )
        )
    aliases = [str(alias) for alias in document.get("aliases") or []]
    return _Record(
        osv_id[:128],
        modified,
        _time(document.get("withdrawn")),
        summary[:SUMMARY_CHARS],
        advisory_severity(document).value,
        _link(osv_id, document.get("references")),
        aliases,
        affected,
    )


# -- storing ---------------------------------------------------------------------------------------------------------


def _store_batch(records: dict[str, _Record], result: ImportResult) -> None:
    existing = dict(Advisory.objects.filter(osv_id__in=list(records)).values_list("osv_id", "modified"))
    changed = [
        record
        for osv_id, record in records.items()
        if existing.get(osv_id) != record.modified and (record.affected or osv_id in existing)
    ]
    result.unchanged += sum(1 for osv_id, record in records.items() if existing.get(osv_id) == record.modified)
    result.skipped += sum(1 for osv_id, record in records.items() if not record.affected and osv_id not in existing)
    if not changed:
        return
    with transaction.atomic():
        Advisory.objects.bulk_create(
            [Advisory(osv_id=r.osv_id, **{field: getattr(r, field) for field in ADVISORY_FIELDS}) for r in changed],
            update_conflicts=True,
            # MySQL names no conflict target (ON DUPLICATE KEY UPDATE); the others need one.
            unique_fields=["osv_id"] if connection.features.supports_update_conflicts_with_target else None,
            update_fields=list(ADVISORY_FIELDS),
        )
        pks = dict(Advisory.objects.filter(osv_id__in=[r.osv_id for r in changed]).values_list("osv_id", "pk"))
        old = AffectedPackage.objects.filter(advisory_id__in=[pks[r.osv_id] for r in changed if r.osv_id in existing])
        result.changed_packages.update(old.values_list("ecosystem", "name"))
        old.delete()
        AffectedPackage.objects.bulk_create(
            [
                AffectedPackage(advisory_id=pks[r.osv_id], **{field: getattr(a, field) for field in AFFECTED_FIELDS})
                for r in changed
                if r.withdrawn is None  # withdrawn advisories stay out of matching
                for a in r.affected
            ],
            batch_size=BATCH,
        )
    for r in changed:
        result.changed_packages.update((a.ecosystem, a.name) for a in r.affected)
        result.withdrawn += r.withdrawn is not None
        if r.osv_id in existing:
            result.updated += 1
        else:
            result.added += 1


def import_documents(documents: Iterable[tuple[str, Any]]) -> ImportResult:
    """Store every advisory in DOCUMENTS; one that did not change (same `modified`) is not written again."""
    result = ImportResult()
    batch: dict[str, _Record] = {}
    for origin, document in documents:
        result.read += 1
        record = parse_record(document) if not isinstance(document, Exception) else None
        if record is None:
            if len(result.errors) < 20:
                result.errors.append(f"{origin}: not an OSV advisory (it needs at least `id` and `modified`).")
            continue
        previous = batch.get(record.osv_id)
        if previous is None or previous.modified < record.modified:
            batch[record.osv_id] = record
        if len(batch) >= BATCH:
            _store_batch(batch, result)
            batch = {}
    if batch:
        _store_batch(batch, result)
    result.database = _record_version(moved=bool(result.added or result.updated))
    return result


def _record_version(*, moved: bool) -> DatabaseVersion:
    with transaction.atomic():
        row = AdvisoryDatabase.objects.select_for_update().order_by("pk").first() or AdvisoryDatabase()
        row.updated_at = Advisory.objects.aggregate(newest=Max("modified"))["newest"]
        row.imported_at = timezone.now()
        row.advisories = Advisory.objects.count()
        row.generation += 1 if moved else 0
        row.save()
    return DatabaseVersion(row.updated_at, row.imported_at, row.advisories, row.generation)


@contextmanager
def _local_copy(source: str) -> Iterator[Path]:
    """SOURCE as a local path: an http(s) URL is downloaded to a temporary file first (streamed)."""
    if not source.startswith(("http://", "https://")):
        yield Path(source)
        return
    with tempfile.TemporaryDirectory(prefix="portus-osv-") as folder:
        target = Path(folder) / (source.rsplit("/", 1)[-1] or "advisories.json")
        try:
            with requests.get(source, stream=True, timeout=(10, 300)) as response:
                response.raise_for_status()
                with open(target, "wb") as out:
                    for chunk in response.iter_content(chunk_size=1 << 20):
                        out.write(chunk)
        except requests.RequestException as exc:
            raise AdvisoryImportError(f"cannot download {source}: {exc}; check the URL and the network.") from exc
        yield target


def import_advisories(source: str | Path) -> ImportResult:
    """Import the OSV advisories at SOURCE: a .json file, a folder, an OSV .zip export, or an http(s) URL of one."""
    with _local_copy(str(source)) as path:
        return import_documents(read_osv(path))
