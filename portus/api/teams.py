"""/api/v1/teams: teams, their members and their namespaces."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, cast

from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema, Status

from portus import policy
from portus.accounts.models import User
from portus.api.auth import OPTIONAL, principal, signed_in
from portus.api.errors import ERRORS, ApiError, Error, forbidden, not_found
from portus.api.namespaces import NamespaceFilters, NamespaceOut, namespace_page
from portus.api.pagination import PageParams, paginate
from portus.api.params import Body, Key, find_by_key
from portus.registry import actions
from portus.registry.models import Namespace, Team, TeamMembership

router = Router(tags=["teams"])

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
    owner: str | None = Field(None, max_length=150, description="User name of the owner (admins); default: you.")


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
    user: str = Field(..., min_length=1, max_length=150, description="User name or id.")
    role: RoleName


class MemberUpdate(Body):
    role: RoleName


def _count_of(model: type[Any], field: str) -> Coalesce:
    """A per-team count as a subquery: counting over a join would count only the rows the
    visibility filter (which joins memberships itself) left in."""
    rows = model.objects.filter(**{field: OuterRef("pk")}).order_by().values(field)
    return Coalesce(Subquery(rows.annotate(n=Count("pk")).values("n")[:1]), 0)


def _counted(queryset: QuerySet[Team]) -> QuerySet[Team]:
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
            member_count=team.member_count,  # type: ignore[attr-defined]
            namespace_count=team.namespace_count,  # type: ignore[attr-defined]
            role=cast(RoleName | None, roles.get(team.pk)),
        )
        for team in teams
    ]


def visible_team(request: HttpRequest, key: str) -> Team:
    team = find_by_key(_counted(policy.visible_teams(principal(request))), key)
    if team is None:
        raise not_found("team")
    return team


def managed_team(request: HttpRequest, key: str) -> tuple[User, Team]:
    actor = signed_in(request)
    team = visible_team(request, key)
    if not policy.can_manage_team(actor, team):
        raise forbidden(f"Only owners of {team.name} (or admins) may change it.")
    return actor, team


def member_out(membership: TeamMembership) -> MemberOut:
    return MemberOut(
        id=membership.pk,
        user_id=membership.user_id,
        username=membership.user.username,
        role=cast(RoleName, membership.role),
        created_at=membership.created_at,
    )


def _membership(team: Team, key: str) -> TeamMembership:
    queryset = team.memberships.select_related("user", "team")
    found = None
    if key.isascii() and key.isdigit() and len(key) <= 18:
        found = queryset.filter(user_id=int(key)).first()
    found = found or queryset.filter(user__username=key).first()
    if found is None:
        raise not_found("member")
    return found


@router.get(
    "",
    response={200: list[TeamOut], ERRORS: Error},
    auth=OPTIONAL,
    summary="List teams you can see",
)
def list_teams(
    request: HttpRequest,
    response: HttpResponse,
    filters: Query[TeamFilters],
    paging: Query[PageParams],
) -> list[TeamOut]:
    teams = policy.visible_teams(principal(request))
    if filters.q:
        teams = teams.filter(name__icontains=filters.q)
    teams = _counted(teams).order_by(filters.sort, "pk")
    return teams_out(request, paginate(request, response, teams, paging))


@router.post("", response={201: TeamOut, ERRORS: Error}, auth=OPTIONAL, summary="Create a team")
def create_team(request: HttpRequest, payload: TeamCreate) -> Status[TeamOut]:
    actor = signed_in(request)
    if not policy.can_create_team(actor):
        raise forbidden("You may not create teams here; ask an administrator.")
    owner: User | None = actor
    if payload.owner and payload.owner != actor.username:
        if not policy.is_admin(actor):
            raise forbidden("Only administrators may create a team for someone else.")
        owner = find_by_key(User.objects.all(), payload.owner, "username")
        if owner is None:
            raise ApiError(400, f"No user called {payload.owner!r}; create the user first.")
    team = actions.create_team(name=payload.name, owner=owner, description=payload.description, actor=actor)
    return Status(201, teams_out(request, [visible_team(request, str(team.pk))])[0])


@router.get("/{key}", response={200: TeamOut, ERRORS: Error}, auth=OPTIONAL, summary="Show a team")
def show_team(request: HttpRequest, key: Key) -> TeamOut:
    return teams_out(request, [visible_team(request, key)])[0]


@router.put(
    "/{key}",
    response={200: TeamOut, ERRORS: Error},
    auth=OPTIONAL,
    summary="Rename or describe a team",
)
def update_team(request: HttpRequest, key: Key, payload: TeamUpdate) -> TeamOut:
    actor, team = managed_team(request, key)
    actions.update_team(team=team, name=payload.name, description=payload.description, actor=actor)
    return teams_out(request, [visible_team(request, str(team.pk))])[0]


@router.delete("/{key}", response={204: None, ERRORS: Error}, auth=OPTIONAL, summary="Delete a team")
def delete_team(request: HttpRequest, key: Key) -> Status[None]:
    actor, team = managed_team(request, key)
    actions.delete_team(team=team, actor=actor)
    return Status(204, None)


@router.get(
    "/{key}/members",
    response={200: list[MemberOut], ERRORS: Error},
    auth=OPTIONAL,
    summary="List a team's members",
)
def list_members(request: HttpRequest, response: HttpResponse, key: Key, paging: Query[PageParams]) -> list[MemberOut]:
    team = visible_team(request, key)
    members = team.memberships.select_related("user").order_by("user__username", "pk")
    return [member_out(m) for m in paginate(request, response, members, paging)]


@router.post(
    "/{key}/members",
    response={201: MemberOut, ERRORS: Error},
    auth=OPTIONAL,
    summary="Add a member to a team",
)
def add_member(request: HttpRequest, key: Key, payload: MemberCreate) -> Status[MemberOut]:
    actor, team = managed_team(request, key)
    user = find_by_key(User.objects.all(), payload.user, "username")
    if user is None:
        raise ApiError(400, f"No user called {payload.user!r}.")
    membership = actions.add_member(team=team, user=user, role=payload.role, actor=actor)
    return Status(201, member_out(membership))


@router.put(
    "/{key}/members/{member}",
    response={200: MemberOut, ERRORS: Error},
    auth=OPTIONAL,
    summary="Change a member's role",
)
def change_role(request: HttpRequest, key: Key, member: Key, payload: MemberUpdate) -> MemberOut:
    actor, team = managed_team(request, key)
    membership = actions.change_role(membership=_membership(team, member), role=payload.role, actor=actor)
    return member_out(_membership(team, str(membership.user_id)))


@router.delete(
    "/{key}/members/{member}",
    response={204: None, ERRORS: Error},
    auth=OPTIONAL,
    summary="Remove a member from a team",
)
def remove_member(request: HttpRequest, key: Key, member: Key) -> Status[None]:
    actor, team = managed_team(request, key)
    actions.remove_member(membership=_membership(team, member), actor=actor)
    return Status(204, None)


@router.get(
    "/{key}/namespaces",
    response={200: list[NamespaceOut], ERRORS: Error},
    auth=OPTIONAL,
    summary="List a team's namespaces",
)
def team_namespaces(
    request: HttpRequest,
    response: HttpResponse,
    key: Key,
    filters: Query[NamespaceFilters],
    paging: Query[PageParams],
) -> list[NamespaceOut]:
    team = visible_team(request, key)
    return namespace_page(request, response, filters, paging, team=team)
