"""Repositories, namespaces, teams and tags as several resources answer with them: rows to schemas in
bulk, a constant number of queries whatever the page size."""

from __future__ import annotations

from typing import Any, cast

from django.db.models import Count, Max, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse

from portus import policy
from portus.api.auth import principal
from portus.api.pagination import paginate
from portus.api.schemas import (
    ImageConfigOut,
    ImageDetailsOut,
    KindName,
    NamespaceDetailOut,
    NamespaceFilters,
    NamespaceOut,
    PageParams,
    PlatformOut,
    RepositoryFilters,
    RepositoryOut,
    RoleName,
    TagDetailOut,
    TagFilters,
    TagGroupOut,
    TagOut,
    TeamOut,
    VisibilityName,
)
from portus.registry.images import details_for, namespace_storage
from portus.registry.models import Namespace, Repository, Star, Tag, Team, TeamMembership
from portus.registry.names import split_repository_name

REPOSITORY_SORTS = {
    "name": ("namespace__name", "name"),
    "-name": ("-namespace__name", "-name"),
    "created_at": ("created_at",),
    "-created_at": ("-created_at",),
    "updated_at": ("updated_at",),
    "-updated_at": ("-updated_at",),
}


# -- repositories ----------------------------------------------------------------------------------


def repositories_out(request: HttpRequest, repositories: list[Repository]) -> list[RepositoryOut]:
    """Two bulk queries for the whole page, whatever its size."""
    ids = [r.pk for r in repositories]
    counts = {
        pk: (tags, stars)
        for pk, tags, stars in Repository.objects.filter(pk__in=ids)
        .with_counts()
        .values_list("pk", "tag_count", "star_count")
    }
    user = principal(request)
    starred: set[int] = set()
    if user is not None and ids:
        starred = set(Star.objects.filter(user=user, repository__in=ids).values_list("repository", flat=True))
    return [
        RepositoryOut(
            id=r.pk,
            name=r.name,
            full_name=r.full_name,
            namespace_id=r.namespace_id,
            namespace=r.namespace.name,
            registry=r.namespace.registry.public_hostname,
            description=r.description,
            created_at=r.created_at,
            updated_at=r.updated_at,
            tag_count=counts.get(r.pk, (0, 0))[0],
            star_count=counts.get(r.pk, (0, 0))[1],
            starred=r.pk in starred,
        )
        for r in repositories
    ]


def repository_page(
    request: HttpRequest,
    response: HttpResponse,
    filters: RepositoryFilters,
    paging: PageParams,
    namespace: Namespace | None = None,
) -> list[RepositoryOut]:
    repositories = policy.visible_repositories(principal(request))
    if namespace is not None:
        repositories = repositories.filter(namespace=namespace)
    if filters.q:
        repositories = repositories.filter(name__icontains=filters.q)
    if filters.full_name is not None:
        namespace_name, name = split_repository_name(filters.full_name)
        repositories = repositories.filter(namespace__name=namespace_name, name=name)
    repositories = repositories.select_related("namespace__registry").order_by(*REPOSITORY_SORTS[filters.sort], "pk")
    return repositories_out(request, paginate(request, response, repositories, paging))


# -- namespaces ------------------------------------------------------------------------------------


def with_namespace_relations(queryset: QuerySet[Namespace]) -> QuerySet[Namespace]:
    """What namespaces_out reads of each namespace, fetched in the same query."""
    return queryset.select_related("registry", "team", "owner")


def namespaces_out(namespaces: list[Namespace]) -> list[NamespaceOut]:
    counts = dict(
        Repository.objects.filter(namespace__in=[n.pk for n in namespaces])
        .values("namespace")
        .annotate(n=Count("pk"))
        .values_list("namespace", "n")
    )
    return [
        NamespaceOut(
            id=ns.pk,
            name=ns.name,
            display_name=ns.display_name,
            kind=cast(KindName, ns.kind),
            visibility=cast(VisibilityName, ns.visibility),
            description=ns.description,
            registry=ns.registry.name,
            team=ns.team.name if ns.team else None,
            owner=ns.owner.username if ns.owner else None,
            created_at=ns.created_at,
            repository_count=counts.get(ns.pk, 0),
        )
        for ns in namespaces
    ]


def namespace_detail_out(namespace: Namespace) -> NamespaceDetailOut:
    storage = namespace_storage([namespace]).get(namespace.pk, 0)
    return NamespaceDetailOut(**namespaces_out([namespace])[0].model_dump(), storage_bytes=storage)


def namespace_page(
    request: HttpRequest,
    response: HttpResponse,
    filters: NamespaceFilters,
    paging: PageParams,
    team: Team | None = None,
) -> list[NamespaceOut]:
    namespaces = policy.visible_namespaces(principal(request))
    if team is not None:
        namespaces = namespaces.filter(team=team)
    if filters.q:
        namespaces = namespaces.filter(name__icontains=filters.q)
    if filters.kind:
        namespaces = namespaces.filter(kind=filters.kind)
    if filters.visibility:
        namespaces = namespaces.filter(visibility=filters.visibility)
    namespaces = with_namespace_relations(namespaces).order_by(filters.sort, "pk")
    return namespaces_out(paginate(request, response, namespaces, paging))


# -- teams -----------------------------------------------------------------------------------------


def _count_of(model: type[Any], field: str) -> Coalesce:
    """A per-team count as a subquery: counting over a join would count only the rows the
    visibility filter (which joins memberships itself) left in."""
    rows = model.objects.filter(**{field: OuterRef("pk")}).order_by().values(field)
    return Coalesce(Subquery(rows.annotate(n=Count("pk")).values("n")[:1]), 0)


def with_team_counts(queryset: QuerySet[Team]) -> QuerySet[Team]:
    """What teams_out reads of each team besides its own columns: its member and namespace counts."""
    return queryset.annotate(
        member_count=_count_of(TeamMembership, "team"), namespace_count=_count_of(Namespace, "team")
    )


def teams_out(request: HttpRequest, teams: list[Team]) -> list[TeamOut]:
    user = principal(request)
    roles: dict[int, str] = {}
    if user is not None:
        roles = dict(
            TeamMembership.objects.filter(user=user, team__in=[t.pk for t in teams]).values_list("team_id", "role")
        )
    return [
        TeamOut(
            id=team.pk,
            name=team.name,
            description=team.description,
            created_at=team.created_at,
            # Annotated by with_team_counts, which every caller applies; the model does not declare them.
            member_count=team.member_count,  # type: ignore[attr-defined]
            namespace_count=team.namespace_count,  # type: ignore[attr-defined]
            role=cast(RoleName | None, roles.get(team.pk)),
        )
        for team in teams
    ]


# -- tags ------------------------------------------------------------------------------------------


def tag_out(tag: Tag, repository: Repository) -> TagOut:
    author = tag._state.fields_cache.get("author")
    return TagOut(
        id=tag.pk,
        name=tag.name,
        digest=tag.digest,
        media_type=tag.media_type,
        size=tag.size,
        platforms=[str(p) for p in tag.platforms or []],
        author=author.username if author else None,
        pushed_at=tag.pushed_at,
        last_pulled_at=tag.last_pulled_at,
        repository_id=repository.pk,
        repository=repository.full_name,
    )


def tag_detail_out(tag: Tag, repository: Repository) -> TagDetailOut:
    """A tag with its image's stored details (and, for an index, each platform's)."""
    details, platforms = details_for(tag.digest)
    shown = None
    if details is not None:
        shown = ImageDetailsOut(
            **ImageConfigOut.model_validate(details).model_dump(),
            error=details.error,
            platforms=[
                PlatformOut(name=entry.name, image=ImageConfigOut.model_validate(entry.image)) for entry in platforms
            ],
        )
    return TagDetailOut(**tag_out(tag, repository).model_dump(), details=shown)


def tag_page(
    request: HttpRequest,
    response: HttpResponse,
    repository: Repository,
    filters: TagFilters,
    paging: PageParams,
) -> list[TagOut]:
    tags = repository.tags.select_related("author")
    if filters.q:
        tags = tags.filter(name__icontains=filters.q)
    if filters.digest:
        tags = tags.filter(digest=filters.digest)
    tags = tags.order_by(filters.sort, "pk")
    return [tag_out(tag, repository) for tag in paginate(request, response, tags, paging)]


def tag_group_page(
    request: HttpRequest, response: HttpResponse, repository: Repository, paging: PageParams
) -> list[TagGroupOut]:
    """Tags pointing at the same image, newest first: two queries for the page, one for its tags."""
    groups = (
        repository.tags.values("digest")
        .annotate(latest=Max("pushed_at"), largest=Max("size"))
        .order_by("-latest", "digest")
    )
    page = paginate(request, response, groups, paging)
    by_digest: dict[str, list[Tag]] = {}
    for tag in repository.tags.filter(digest__in=[g["digest"] for g in page]).order_by("name"):
        by_digest.setdefault(tag.digest, []).append(tag)
    result = []
    for group in page:
        members = by_digest.get(str(group["digest"]), [])
        platforms = sorted({str(p) for tag in members for p in tag.platforms or []})
        result.append(
            TagGroupOut(
                digest=str(group["digest"]),
                tags=[t.name for t in members],
                size=int(group["largest"] or 0),
                platforms=platforms,
                pushed_at=group["latest"],
            )
        )
    return result
