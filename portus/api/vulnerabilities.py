"""/api/v1 security scanning: a tag's scan state and findings, its SBOM, and the vulnerability allowlist."""

from __future__ import annotations

from typing import cast

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Query, Router, Status

from portus import policy
from portus.api.auth import OPTIONAL, SIGNED_IN, principal, signed_in
from portus.api.errors import ERRORS, ApiError, forbidden, not_found
from portus.api.lookups import visible_repository, visible_tag
from portus.api.pagination import paginate
from portus.api.params import ObjectId, find_by_key
from portus.api.schemas import (
    AllowlistEntryCreate,
    AllowlistEntryOut,
    AllowlistFilters,
    Error,
    FindingFilters,
    FindingOut,
    PageParams,
    RescanOut,
    ScanOut,
    ScanStateName,
    SeverityCounts,
    SeverityName,
    VulnerabilityReport,
)
from portus.errors import ActionError
from portus.registry.client import RegistryError
from portus.registry.models import Namespace
from portus.security import actions, scans
from portus.security.models import NO_ADVISORIES, AllowlistEntry
from portus.security.reports import image_report, image_sbom
from portus.security.sbom import CYCLONEDX_MEDIA_TYPE

router = Router(tags=["vulnerabilities"])


@router.get(
    "/tags/{tag_id}/vulnerabilities",
    response={200: VulnerabilityReport, ERRORS: Error},
    auth=OPTIONAL,
    summary="A tag's scan state and findings",
)
def tag_vulnerabilities(request: HttpRequest, tag_id: ObjectId, filters: Query[FindingFilters]) -> VulnerabilityReport:
    tag = visible_tag(request, tag_id)
    repository = tag.repository
    report = image_report(
        tag.digest,
        repository.namespace,
        severities=filters.severity or (),
        package=filters.package or "",
        sort=filters.sort,
    )
    return VulnerabilityReport(
        tag_id=tag.pk,
        repository=repository.full_name,
        tag=tag.name,
        digest=tag.digest,
        state=cast(ScanStateName, report.state),
        message=report.message,
        scanned_at=report.scanned_at,
        counts=None
        if report.state == NO_ADVISORIES
        else SeverityCounts(
            **{severity.lower(): count for severity, count in report.counts.items()}, allowlisted=report.allowlisted
        ),
        scans=[
            ScanOut(
                backend=scan.backend,
                state=cast(ScanStateName, scan.shown_state),
                reason=scan.reason,
                scanned_at=scan.scanned_at,
                database_version=scan.database_version,
                database_updated_at=scan.database_updated_at,
                notes=[str(note) for note in scan.notes],
            )
            for scan in report.scans
        ],
        findings=[
            FindingOut(
                vulnerability_id=finding.vulnerability_id,
                severity=cast(SeverityName, finding.severity),
                package=finding.package,
                installed_version=finding.installed_version,
                fixed_version=finding.fixed_version,
                description=finding.description,
                link=finding.link,
                backend=finding.backend,
                platform=finding.platform,
                allowlisted=finding.allowlisted,
            )
            for finding in report.findings
        ],
    )


@router.get(
    "/tags/{tag_id}/sbom",
    response={200: dict[str, object], ERRORS: Error, 502: Error},
    auth=OPTIONAL,
    summary="A tag's software bill of materials (CycloneDX 1.6 JSON, from the built-in backend's inventory)",
)
def tag_sbom(request: HttpRequest, tag_id: ObjectId) -> HttpResponse:
    tag = visible_tag(request, tag_id)
    try:
        sbom = image_sbom(tag)
    except RegistryError as exc:
        raise ApiError(502, f"The registry could not be read: {exc}") from None
    if sbom is None:
        raise ApiError(404, "No package inventory is stored for this image yet: the built-in backend has not read it.")
    response = HttpResponse(sbom, content_type=CYCLONEDX_MEDIA_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{tag.repository.name}-{tag.name}.cdx.json"'
    return response


# -- rescans --------------------------------------------------------------------------------------


@router.post(
    "/tags/{tag_id}/scan",
    response={202: RescanOut, ERRORS: Error},
    auth=SIGNED_IN,
    summary="Scan a tag's image again with every enabled backend (whoever may push)",
)
def rescan_tag(request: HttpRequest, tag_id: ObjectId) -> Status[RescanOut]:
    actor = signed_in(request)
    tag = visible_tag(request, tag_id)
    if not policy.can_rescan(actor, tag.repository.namespace):
        raise forbidden("Only those who may push to this repository may ask for a rescan.")
    return Status(202, RescanOut(scans=scans.rescan_tag(tag)))


@router.post(
    "/repositories/{repository_id}/scan",
    response={202: RescanOut, ERRORS: Error},
    auth=SIGNED_IN,
    summary="Scan every image of a repository again (whoever may push)",
)
def rescan_repository(request: HttpRequest, repository_id: ObjectId) -> Status[RescanOut]:
    actor = signed_in(request)
    repository = visible_repository(request, repository_id)
    if not policy.can_rescan(actor, repository.namespace):
        raise forbidden("Only those who may push to this repository may ask for a rescan.")
    return Status(202, RescanOut(scans=scans.rescan_repository(repository)))


@router.post(
    "/scans",
    response={202: RescanOut, ERRORS: Error},
    auth=SIGNED_IN,
    summary="Scan every image again (admins)",
)
def rescan_everything(request: HttpRequest) -> Status[RescanOut]:
    if not policy.can_rescan(signed_in(request), None):
        raise forbidden("Only administrators may rescan every image.")
    return Status(202, RescanOut(scans=scans.rescan_all()))


# -- allowlist -------------------------------------------------------------------------------------


def _entry_out(entry: AllowlistEntry) -> AllowlistEntryOut:
    now = timezone.now()
    return AllowlistEntryOut(
        id=entry.pk,
        vulnerability_id=entry.vulnerability_id,
        namespace=entry.namespace.display_name if entry.namespace else None,
        comment=entry.comment,
        expires_at=entry.expires_at,
        active=entry.is_active(now),
        created_by=entry.created_by.username if entry.created_by else None,
        created_at=entry.created_at,
    )


def _namespace(request: HttpRequest, key: str) -> Namespace:
    namespace = find_by_key(policy.visible_namespaces(principal(request)), key)
    if namespace is None:
        raise not_found("namespace")
    return namespace


@router.get(
    "/allowlist",
    response={200: list[AllowlistEntryOut], ERRORS: Error},
    auth=SIGNED_IN,
    summary="Allowlisted vulnerabilities you may see",
)
def list_allowlist(
    request: HttpRequest, response: HttpResponse, filters: Query[AllowlistFilters], paging: Query[PageParams]
) -> list[AllowlistEntryOut]:
    entries = policy.visible_allowlist(signed_in(request)).select_related("namespace", "created_by")
    if filters.namespace == "-":
        entries = entries.filter(namespace__isnull=True)
    elif filters.namespace:
        entries = entries.filter(namespace=_namespace(request, filters.namespace))
    return [
        _entry_out(entry) for entry in paginate(request, response, entries.order_by("vulnerability_id", "pk"), paging)
    ]


@router.post(
    "/allowlist",
    response={201: AllowlistEntryOut, ERRORS: Error},
    auth=SIGNED_IN,
    summary="Allowlist a vulnerability (global: admins; a namespace's: its owners)",
)
def add_allowlist_entry(request: HttpRequest, payload: AllowlistEntryCreate) -> Status[AllowlistEntryOut]:
    actor = signed_in(request)
    namespace = _namespace(request, payload.namespace) if payload.namespace else None
    if not policy.can_manage_allowlist(actor, namespace):
        raise forbidden(
            "Only administrators manage the global allowlist; a namespace's allowlist is its owners'."
            if namespace is None
            else "Only the namespace's owners (and administrators) manage its allowlist."
        )
    try:
        entry = actions.add_allowlist_entry(
            vulnerability_id=payload.vulnerability_id,
            comment=payload.comment,
            namespace=namespace,
            expires_at=payload.expires_at,
            actor=actor,
        )
    except ActionError as exc:
        raise ApiError(400, str(exc)) from None
    return Status(201, _entry_out(entry))


def _visible_entry(request: HttpRequest, entry_id: int) -> AllowlistEntry:
    entry = (
        policy.visible_allowlist(signed_in(request))
        .select_related("namespace", "created_by")
        .filter(pk=entry_id)
        .first()
    )
    if entry is None:
        raise not_found("allowlist entry")
    return entry


@router.get(
    "/allowlist/{entry_id}",
    response={200: AllowlistEntryOut, ERRORS: Error},
    auth=SIGNED_IN,
    summary="Show an allowlist entry",
)
def show_allowlist_entry(request: HttpRequest, entry_id: ObjectId) -> AllowlistEntryOut:
    return _entry_out(_visible_entry(request, entry_id))


@router.delete(
    "/allowlist/{entry_id}",
    response={204: None, ERRORS: Error},
    auth=SIGNED_IN,
    summary="Remove an allowlist entry: its findings count again",
)
def remove_allowlist_entry(request: HttpRequest, entry_id: ObjectId) -> Status[None]:
    actor = signed_in(request)
    entry = _visible_entry(request, entry_id)
    if not policy.can_manage_allowlist(actor, entry.namespace):
        raise forbidden("Only administrators (global entries) or the namespace's owners may remove this entry.")
    actions.remove_allowlist_entry(entry=entry, actor=actor)
    return Status(204, None)
