"""Every shape the API reads or answers with, one section per resource; the routers import them from here."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from ninja import Field, Schema
from pydantic import AfterValidator

from portus.api.params import Body, Flag, IsoDatetime
from portus.registry.actions import MAX_COMMENT_LENGTH

# -- shared ----------------------------------------------------------------------------------------

MAX_PER_PAGE = 100


class Error(Schema):
    message: str


class PageParams(Schema):
    page: int = Field(1, ge=1, le=1_000_000, description="Page number, from 1.")
    per_page: int | None = Field(
        None,
        ge=1,
        le=MAX_PER_PAGE,
        description="Items per page (default from pagination.per_page).",
    )


# -- health ----------------------------------------------------------------------------------------


class Ping(Schema):
    ok: bool


class Check(Schema):
    ok: bool
    message: str


class Health(Schema):
    healthy: bool = Field(..., description="False (and status 503) when any check fails.")
    message: str = Field(..., description="One line: all is well, or what is down.")
    # The checks themselves only for administrators: they name internal hosts and errors.
    database: Check | None = Field(None, description="Administrators only.")
    registries: dict[str, Check] = Field(
        default_factory=dict, description="One check per registry, by name (administrators only)."
    )
    background: dict[str, Check] = Field(
        default_factory=dict, description="One check per enabled background task (administrators only)."
    )
    scanners: dict[str, Check] = Field(
        default_factory=dict,
        description="One check per enabled scanning backend: reachable, and its database's age (administrators only).",
    )


class Version(Schema):
    version: str
    api_version: str


# -- users -----------------------------------------------------------------------------------------


class UserOut(Schema):
    id: int
    username: str
    email: str
    display_name: str
    admin: bool
    bot: bool
    enabled: bool
    created_at: datetime
    namespace_id: int | None


def _email_address(value: str | None) -> str | None:
    """The same rule as the pages' e-mail fields; empty means none."""
    if value:
        try:
            validate_email(value)
        except DjangoValidationError:
            raise ValueError("not a valid e-mail address (name@example.com)") from None
    return value


EmailAddress = Annotated[str, AfterValidator(_email_address)]


class UserCreate(Body):
    username: str = Field(..., min_length=1, max_length=64)
    email: EmailAddress = Field("", max_length=254)
    password: str | None = Field(None, min_length=1, max_length=256, description="Not needed for bots.")
    admin: Flag = False
    bot: Flag = False
    display_name: str = Field("", max_length=150)


class UserUpdate(Body):
    email: EmailAddress | None = Field(None, max_length=254)
    display_name: str | None = Field(None, max_length=150)
    password: str | None = Field(None, min_length=8, max_length=256)
    current_password: str | None = Field(
        None,
        max_length=256,
        description="Needed to change your own password or email (from a browser session; application tokens cannot).",
    )
    admin: Flag | None = Field(None, description="Admins only.")
    enabled: Flag | None = Field(None, description="Admins only.")


class UserFilters(Schema):
    q: str | None = Field(None, max_length=100, description="Part of the user name, display name or email.")
    admin: bool | None = None
    bot: bool | None = None
    enabled: bool | None = None
    sort: Literal["username", "-username", "created_at", "-created_at"] = "username"


class Bootstrap(Body):
    username: str = Field(..., min_length=1, max_length=64)
    email: EmailAddress = Field("", max_length=254)
    password: str = Field(..., min_length=8, max_length=256)


class BootstrapOut(Schema):
    user: UserOut
    token: str = Field(..., description="An application token for the new admin; shown once.")


# -- application tokens ----------------------------------------------------------------------------


class TokenOut(Schema):
    id: int
    name: str
    hint: str = Field(..., description="The first characters of the secret, to tell tokens apart.")
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked: bool


class TokenCreate(Body):
    name: str = Field(..., min_length=1, max_length=100)
    expires_at: IsoDatetime | None = None


class TokenCreated(TokenOut):
    token: str = Field(..., description="The secret; shown once, Portus keeps only its digest.")


# -- teams -----------------------------------------------------------------------------------------

RoleName = Literal["owner", "contributor", "viewer"]


class TeamOut(Schema):
    id: int
    name: str
    description: str
    created_at: datetime
    member_count: int
    namespace_count: int
    role: RoleName | None = Field(None, description="The caller's role in the team, if a member.")


class TeamCreate(Body):
    name: str = Field(..., min_length=1, max_length=128)
    description: str = Field("", max_length=10_000)
    owner: str | None = Field(
        None, max_length=150, description="User name of the owner, or id:N (admins); default: you."
    )


class TeamUpdate(Body):
    name: str | None = Field(None, min_length=1, max_length=128)
    description: str | None = Field(None, max_length=10_000)


class TeamFilters(Schema):
    q: str | None = Field(None, max_length=128, description="Part of the team name.")
    sort: Literal["name", "-name", "created_at", "-created_at"] = "name"


class MemberOut(Schema):
    id: int = Field(..., description="The membership's id.")
    user_id: int
    username: str
    role: RoleName
    created_at: datetime


class MemberCreate(Body):
    user: str = Field(..., min_length=1, max_length=150, description="User name, or id:N for the user whose id is N.")
    role: RoleName


class MemberUpdate(Body):
    role: RoleName


# -- namespaces ------------------------------------------------------------------------------------

VisibilityName = Literal["private", "protected", "public"]
KindName = Literal["global", "personal", "team"]


class NamespaceOut(Schema):
    id: int
    name: str = Field(..., description="Empty for a registry's global namespace.")
    display_name: str
    kind: KindName
    visibility: VisibilityName
    description: str
    registry: str
    team: str | None
    owner: str | None = Field(None, description="The user of a personal namespace.")
    created_at: datetime
    repository_count: int


class NamespaceDetailOut(NamespaceOut):
    storage_bytes: int = Field(
        description="Compressed bytes the namespace's tags need: each distinct config and layer counted once."
    )


class NamespaceCreate(Body):
    name: str = Field(..., min_length=1, max_length=128)
    team: str = Field(..., min_length=1, max_length=150, description="Name of the owning team, or id:N.")
    visibility: VisibilityName = "private"
    description: str = Field("", max_length=10_000)
    registry: str | None = Field(None, max_length=100, description="Registry name; default: the first one.")


class NamespaceUpdate(Body):
    description: str | None = Field(None, max_length=10_000)
    visibility: VisibilityName | None = None
    team: str | None = Field(None, min_length=1, max_length=150, description="Move to this team (name, or id:N).")


class NamespaceFilters(Schema):
    q: str | None = Field(None, max_length=128, description="Part of the namespace name.")
    kind: KindName | None = None
    visibility: VisibilityName | None = None
    sort: Literal["name", "-name", "created_at", "-created_at"] = "name"


ReservedKindName = Literal["user", "namespace"]


class ReservedNameOut(Schema):
    name: str
    kind: ReservedKindName = Field(description="What the name belonged to.")
    reserved_by: str = Field(description="User name of whoever deleted it.")
    created_at: datetime


class NameCheck(Schema):
    name: str
    valid: bool
    available: bool
    message: str


# -- repositories and tags -------------------------------------------------------------------------


class RepositoryOut(Schema):
    id: int
    name: str = Field(..., description="The part after the namespace.")
    full_name: str
    namespace_id: int
    namespace: str
    registry: str = Field(..., description="Host name to pull from.")
    description: str
    created_at: datetime
    updated_at: datetime
    tag_count: int
    star_count: int
    starred: bool = Field(..., description="Starred by the caller.")


class RepositoryFilters(Schema):
    q: str | None = Field(None, max_length=255, description="Part of the repository name.")
    full_name: str | None = Field(None, max_length=400, description="Exactly this repository, e.g. team/app.")
    sort: Literal["name", "-name", "created_at", "-created_at", "updated_at", "-updated_at"] = "name"


class RepositoryUpdate(Body):
    description: str = Field(..., max_length=100_000)


class TagOut(Schema):
    id: int
    name: str
    digest: str
    media_type: str
    size: int
    platforms: list[str]
    author: str | None
    pushed_at: datetime
    last_pulled_at: datetime | None
    repository_id: int
    repository: str = Field(..., description="The repository's full name.")


class DeletionOut(Schema):
    """What a deletion removes and keeps: the answer to ?dry_run=true, before anything changes."""

    repository: str
    digest: str
    deleted_tags: list[str] = Field(..., description="The tags that go, in the registry and in Portus.")
    kept_tags: list[str] = Field(
        ..., description="Other tags on the same image in the registry, which stay (Portus may not know them all yet)."
    )
    unsynced_kept_tags: list[str] = Field(
        default_factory=list,
        description="Those of kept_tags that are in the registry but not yet in Portus (a push not synchronized yet).",
    )
    registry_read: bool = Field(
        True, description="False when the registry could not be asked: kept_tags are then the tags Portus knows."
    )
    repository_deleted: bool = Field(..., description="No tag would be left, so the repository goes too.")
    dry_run: bool


class HistoryStepOut(Schema):
    created: str
    created_by: str
    comment: str
    empty_layer: bool = Field(description="The step changed only the config, and made no layer.")


class ImageConfigOut(Schema):
    digest: str = Field(description="The manifest's digest.")
    media_type: str
    size: int = Field(description="Compressed bytes as pushed: config and layers (an index: its platforms').")
    platform: str = Field(description="os/architecture[/variant]; empty for an index.")
    created: datetime | None
    entrypoint: list[str]
    command: list[str]
    environment: list[str] = Field(description="NAME=value; values may be secrets (shown to those who may pull).")
    exposed_ports: list[str]
    labels: dict[str, str] = Field(description="The image config's labels.")
    annotations: dict[str, str] = Field(description="The manifest's (or the index's) OCI annotations.")
    history: list[HistoryStepOut]


class PlatformOut(Schema):
    name: str
    image: ImageConfigOut


class ImageDetailsOut(ImageConfigOut):
    error: str = Field(description="Why the details could not be read; the other fields are empty then.")
    platforms: list[PlatformOut] = Field(description="For an index: each platform's manifest and details.")


class TagDetailOut(TagOut):
    details: ImageDetailsOut | None = Field(
        None, description="What the image's config says; null until the background worker has read it."
    )


class TagFilters(Schema):
    q: str | None = Field(None, max_length=128, description="Part of the tag name.")
    digest: str | None = Field(None, max_length=100)
    sort: Literal["name", "-name", "pushed_at", "-pushed_at"] = "-pushed_at"


class TagGroupOut(Schema):
    digest: str
    tags: list[str]
    size: int
    platforms: list[str]
    pushed_at: datetime


# -- registries ------------------------------------------------------------------------------------

# host or host:port, as Distribution's "service" and as clients write it: no scheme, no path.
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME_PATTERN = rf"^{_LABEL}(\.{_LABEL})*(:[0-9]{{1,5}})?$"


class RegistryOut(Schema):
    id: int
    name: str
    hostname: str
    external_hostname: str
    use_ssl: bool
    created_at: datetime


class RegistryCreate(Body):
    name: str = Field(..., min_length=1, max_length=100)
    hostname: str = Field(..., pattern=HOSTNAME_PATTERN, max_length=255)
    external_hostname: str = Field("", pattern=r"^$|" + HOSTNAME_PATTERN, max_length=255)
    use_ssl: Flag = False


class RegistryUpdate(Body):
    name: str | None = Field(None, min_length=1, max_length=100)
    hostname: str | None = Field(None, pattern=HOSTNAME_PATTERN, max_length=255)
    external_hostname: str | None = Field(None, pattern=r"^$|" + HOSTNAME_PATTERN, max_length=255)
    use_ssl: Flag | None = None


class Reachability(Schema):
    hostname: str
    use_ssl: bool
    reachable: bool
    message: str


# -- search, comments, activities ------------------------------------------------------------------


class SearchParams(Schema):
    q: str = Field(..., min_length=1, max_length=255, description="Part of a name.")
    limit: int = Field(20, ge=1, le=100, description="At most this many of each kind.")


class SearchOut(Schema):
    repositories: list[RepositoryOut]
    namespaces: list[NamespaceOut]
    teams: list[TeamOut]


class CommentOut(Schema):
    id: int
    repository_id: int
    author: str | None = Field(..., description="None once the author's account is deleted.")
    body: str = Field(..., description="Markdown, as written.")
    created_at: datetime


class CommentCreate(Body):
    body: str = Field(..., min_length=1, max_length=MAX_COMMENT_LENGTH)


class ActivityOut(Schema):
    id: int
    created_at: datetime
    actor: str | None
    action: str = Field(..., description="For example repository.push or team.add_member.")
    target: str
    namespace: str | None
    team: str | None
    data: dict[str, Any]


class ActivityFilters(Schema):
    action: str | None = Field(None, max_length=64, description="Exact action, or a prefix ending in '.'.")
    actor: str | None = Field(None, max_length=150, description="User name of who did it.")
    namespace: str | None = Field(None, max_length=128)
    team: str | None = Field(None, max_length=128)
    since: IsoDatetime | None = None
    until: IsoDatetime | None = None
    sort: Literal["created_at", "-created_at"] = "-created_at"


# -- security scanning -----------------------------------------------------------------------------

SeverityName = Literal["Critical", "High", "Medium", "Low", "Negligible", "Unknown"]
# no_advisories: done, but against an empty advisory database (the built-in backend before any import).
ScanStateName = Literal["pending", "running", "done", "failed", "unscanned", "no_advisories"]


class SeverityCounts(Schema):
    critical: int
    high: int
    medium: int
    low: int
    negligible: int
    unknown: int
    allowlisted: int = Field(..., description="Findings left out of the counts above by the allowlist.")


class ScanOut(Schema):
    backend: str = Field(..., description="builtin, harbor, clair or dummy.")
    state: ScanStateName
    reason: str = Field(..., description="Why the scan failed (or waits for a retry); empty otherwise.")
    scanned_at: datetime | None
    database_version: str = Field(..., description="The backend's vulnerability database the findings come from.")
    database_updated_at: datetime | None
    notes: list[str] = Field(..., description="What the backend could not read, in sentences.")


class FindingOut(Schema):
    vulnerability_id: str
    severity: SeverityName
    package: str
    installed_version: str
    fixed_version: str = Field(..., description="Empty when no fix is known.")
    description: str
    link: str = Field(..., description="The advisory.")
    backend: str
    platform: str = Field(..., description='For an index, the platform the finding is in ("linux/arm64").')
    allowlisted: bool = Field(..., description="Accepted by an allowlist entry: shown, but not counted.")


class VulnerabilityReport(Schema):
    tag_id: int
    repository: str
    tag: str
    digest: str
    state: ScanStateName = Field(
        ...,
        description="Over every backend; unscanned when no scan was asked for; no_advisories when every finished "
        "scan was made without an advisory database (nothing is known yet: not a clean result).",
    )
    message: str = Field(
        "", description="Why the findings are incomplete: set when a backend scanned without an advisory database."
    )
    scanned_at: datetime | None
    counts: SeverityCounts | None = Field(..., description="null while the state is no_advisories.")
    scans: list[ScanOut]
    findings: list[FindingOut]


class FindingFilters(Schema):
    severity: list[SeverityName] | None = Field(None, description="Only these severities (repeat the parameter).")
    package: str | None = Field(None, max_length=255, description="Package names containing this text.")
    sort: Literal["severity", "-severity", "package", "-package", "vulnerability_id", "-vulnerability_id"] = "severity"


class RescanOut(Schema):
    scans: int = Field(..., description="Scans queued: one per image digest and enabled backend.")


class AllowlistEntryOut(Schema):
    id: int
    vulnerability_id: str
    namespace: str | None = Field(..., description="None: the entry holds for every namespace.")
    comment: str
    expires_at: datetime | None
    active: bool = Field(..., description="False once the entry has expired.")
    created_by: str | None
    created_at: datetime


class AllowlistEntryCreate(Body):
    vulnerability_id: str = Field(..., min_length=1, max_length=128, examples=["CVE-2024-1234"])
    comment: str = Field(..., min_length=1, max_length=2000, description="Why the vulnerability is accepted.")
    namespace: str | None = Field(
        None, max_length=150, description='Namespace name or "id:N"; omit for a global entry (admins).'
    )
    expires_at: IsoDatetime | None = None


class AllowlistFilters(Schema):
    namespace: str | None = Field(None, max_length=150, description='Namespace name or "id:N"; "-" for global.')


# -- outgoing webhooks ---------------------------------------------------------------------------------------

RequestMethodName = Literal["GET", "POST"]
ContentTypeName = Literal["application/json", "application/x-www-form-urlencoded"]


class WebhookHeaderOut(Schema):
    name: str
    value: str


class WebhookOut(Schema):
    id: int
    namespace: str
    name: str
    url: str
    request_method: RequestMethodName
    content_type: ContentTypeName
    username: str
    has_password: bool = Field(..., description="The password is never shown again.")
    has_secret: bool = Field(..., description="Deliveries carry X-Portus-Signature-256 when true.")
    enabled: bool
    headers: list[WebhookHeaderOut]
    created_at: datetime
    updated_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(..., description="The signing secret, shown this once.")


class WebhookCreate(Body):
    name: str = Field(..., min_length=1, max_length=255)
    url: str = Field(..., min_length=1, max_length=2000)
    request_method: RequestMethodName = "POST"
    content_type: ContentTypeName = "application/json"
    username: str = Field("", max_length=255)
    password: str = Field("", max_length=1000)
    secret: str = Field("", max_length=1000, description="Empty: Portus generates one and returns it once.")
    enabled: bool = True


class WebhookUpdate(Body):
    name: str | None = Field(None, min_length=1, max_length=255)
    url: str | None = Field(None, min_length=1, max_length=2000)
    request_method: RequestMethodName | None = None
    content_type: ContentTypeName | None = None
    username: str | None = Field(None, max_length=255)
    password: str | None = Field(None, max_length=1000, description="Empty clears it.")
    secret: str | None = Field(None, max_length=1000, description="Empty clears it (no signature).")
    enabled: bool | None = None


class WebhookHeaderSet(Body):
    value: str = Field(..., max_length=4000)


class WebhookDeliveryOut(Schema):
    id: int
    uuid: str
    event: str
    state: Literal["pending", "delivered", "failed"]
    status: int | None
    error: str
    attempts: int
    request_header: str
    request_body: str
    response_header: str
    response_body: str
    duration: float | None
    next_attempt_at: datetime | None = Field(None, description="When a pending delivery is tried again.")
    retrigger_of: int | None
    created_at: datetime
    delivered_at: datetime | None
