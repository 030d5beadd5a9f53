"""/api/v1/teams: teams, their members and their namespaces."""

from __future__ import annotations

from typing import cast

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Status

from portus import policy
from portus.accounts.models import User
from portus.api.auth import OPTIONAL, SIGNED_IN, principal, signed_in
from portus.api.errors import ERRORS, ApiError, forbidden, not_found
from portus.api.listings import namespace_page, teams_out, with_team_counts
from portus.api.lookups import visible_team
from portus.api.pagination import paginate
from portus.api.params import ID_PREFIX, Key, find_by_key, key_for, key_id
from portus.api.schemas import (
    Error,
    MemberCreate,
    MemberOut,
    MemberUpdate,
    NamespaceFilters,
    NamespaceOut,
    PageParams,
    RoleName,
    TeamCreate,
    TeamFilters,
    TeamOut,
    TeamUpdate,
)
from portus.registry import actions
from portus.registry.models import Team, TeamMembership

router = Router(tags=["teams"])


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
    """The membership of the user named KEY, or for "id:N" of the user whose id is N."""
    queryset = team.memberships.select_related("user", "team")
    user_id = key_id(key)
    if key.startswith(ID_PREFIX):
        found = None if user_id is None else queryset.filter(user_id=user_id).first()
    else:
        found = queryset.filter(user__username=key).first()
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
    teams = with_team_counts(teams).order_by(filters.sort, "pk")
    return teams_out(request, paginate(request, response, teams, paging))


@router.post("", response={201: TeamOut, ERRORS: Error}, auth=SIGNED_IN, summary="Create a team")
def create_team(request: HttpRequest, payload: TeamCreate) -> Status[TeamOut]:
    actor = signed_in(request)
    if not policy.can_create_team(actor):
        raise forbidden("You may not create teams here; ask an administrator.")
    owner = actor
    if payload.owner and payload.owner != actor.username:
        if not policy.is_admin(actor):
            raise forbidden("Only administrators may create a team for someone else.")
        named = find_by_key(User.objects.all(), payload.owner, "username")
        if named is None:
            raise ApiError(400, f"No user called {payload.owner!r}; create the user first (or write id:N for an id).")
        owner = named
    team = actions.create_team(name=payload.name, owner=owner, description=payload.description, actor=actor)
    return Status(201, teams_out(request, [visible_team(request, key_for(team))])[0])


@router.get("/{key}", response={200: TeamOut, ERRORS: Error}, auth=OPTIONAL, summary="Show a team")
def show_team(request: HttpRequest, key: Key) -> TeamOut:
    return teams_out(request, [visible_team(request, key)])[0]


@router.put(
    "/{key}",
    response={200: TeamOut, ERRORS: Error},
    auth=SIGNED_IN,
    summary="Rename or describe a team",
)
def update_team(request: HttpRequest, key: Key, payload: TeamUpdate) -> TeamOut:
    actor, team = managed_team(request, key)
    actions.update_team(team=team, name=payload.name, description=payload.description, actor=actor)
    return teams_out(request, [visible_team(request, key_for(team))])[0]


@router.delete("/{key}", response={204: None, ERRORS: Error}, auth=SIGNED_IN, summary="Delete a team")
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
    auth=SIGNED_IN,
    summary="Add a member to a team",
)
def add_member(request: HttpRequest, key: Key, payload: MemberCreate) -> Status[MemberOut]:
    actor, team = managed_team(request, key)
    user = find_by_key(User.objects.all(), payload.user, "username")
    if user is None:
        raise ApiError(400, f"No user called {payload.user!r}; give a user name, or id:N for the user whose id is N.")
    membership = actions.add_member(team=team, user=user, role=payload.role, actor=actor)
    return Status(201, member_out(membership))


@router.put(
    "/{key}/members/{member}",
    response={200: MemberOut, ERRORS: Error},
    auth=SIGNED_IN,
    summary="Change a member's role",
)
def change_role(request: HttpRequest, key: Key, member: Key, payload: MemberUpdate) -> MemberOut:
    actor, team = managed_team(request, key)
    membership = actions.change_role(membership=_membership(team, member), role=payload.role, actor=actor)
    return member_out(_membership(team, f"{ID_PREFIX}{membership.user_id}"))


@router.delete(
    "/{key}/members/{member}",
    response={204: None, ERRORS: Error},
    auth=SIGNED_IN,
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
