"""The one place that answers "may this user do X on Y": the token service, the pages and the API ask it.

A *principal* (portus.principal) is a ``User``, an anonymous caller (``None`` or ``AnonymousUser``) or
``INTERNAL`` (Portus reading its own registry).
Disabled users are refused before they get here (they cannot authenticate); the functions
below still treat an inactive user as anonymous, so a stale session cannot act.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.conf import settings
from django.db.models import Q, QuerySet

from portus.accounts.models import User
from portus.principal import INTERNAL, Principal
from portus.registry.models import (
    Activity,
    Comment,
    Namespace,
    NamespaceKind,
    Repository,
    Role,
    Team,
    TeamMembership,
    Visibility,
)
from portus.security.models import AllowlistEntry
from portus.webhooks.models import Webhook

# The caller's role in each team (None: not a member), when the caller has read them already (the token
# service reads them with the namespaces). A team missing from the mapping is looked up.
TeamRoles = Mapping[int, str | None]

PULL, PUSH, DELETE = "pull", "push", "delete"
REPOSITORY_ACTIONS = (PULL, PUSH, DELETE)


def _user(principal: Principal) -> User | None:
    """The signed-in, enabled user behind PRINCIPAL, or None."""
    if not isinstance(principal, User) or not principal.is_authenticated or not principal.is_active:
        return None
    return principal


def is_admin(principal: Principal) -> bool:
    user = _user(principal)
    return bool(user and user.admin)


def role_in(principal: Principal, namespace: Namespace, team_roles: TeamRoles | None = None) -> str | None:
    """The principal's role over NAMESPACE: its team role, or owner of their personal namespace."""
    user = _user(principal)
    if user is None:
        return None
    if namespace.kind == NamespaceKind.PERSONAL:
        return Role.OWNER if namespace.owner_id == user.pk else None
    if namespace.kind == NamespaceKind.TEAM:
        team_id = namespace.team_id
        if team_roles is not None and team_id is not None and team_id in team_roles:
            return team_roles[team_id]
        return team_role(user, team_id)
    return None


def team_role(principal: Principal, team: Team | int | None) -> str | None:
    user = _user(principal)
    if user is None or team is None:
        return None
    team_id = team.pk if isinstance(team, Team) else team
    return TeamMembership.objects.filter(team_id=team_id, user_id=user.pk).values_list("role", flat=True).first()


# -- registry actions -------------------------------------------------------------------------------


# What each visibility means, as the pages explain it beside the choice; can_pull below is the rule itself.
WHO_MAY_PULL: dict[str, str] = {
    Visibility.PRIVATE: "Only the owning team's members (or the owner of a personal namespace) and administrators "
    "may see and pull its images.",
    Visibility.PROTECTED: "Every signed-in user may see and pull its images; visitors without an account may not.",
    Visibility.PUBLIC: "Anyone may see and pull its images, even without an account; they show on Explore.",
}


def can_pull(principal: Principal, namespace: Namespace, team_roles: TeamRoles | None = None) -> bool:
    if principal is INTERNAL or is_admin(principal):
        return True
    if namespace.visibility == Visibility.PUBLIC:
        return True
    user = _user(principal)
    if user is None:
        return False
    if namespace.visibility == Visibility.PROTECTED:
        return True
    return role_in(user, namespace, team_roles) is not None


def can_push(principal: Principal, namespace: Namespace, team_roles: TeamRoles | None = None) -> bool:
    if is_admin(principal):
        return True
    user = _user(principal)
    if user is None or namespace.kind == NamespaceKind.GLOBAL:
        return False
    policy = settings.PORTUS.user_permission.push_images.policy
    if policy == "admin-only":
        return False
    if policy == "allow-personal":
        return namespace.kind == NamespaceKind.PERSONAL and namespace.owner_id == user.pk
    return role_in(user, namespace, team_roles) in (Role.OWNER, Role.CONTRIBUTOR)


def can_delete(principal: Principal, namespace: Namespace, team_roles: TeamRoles | None = None) -> bool:
    if not settings.PORTUS.delete.enabled:
        return False
    if is_admin(principal):
        return True
    role = role_in(principal, namespace, team_roles)
    if namespace.kind == NamespaceKind.GLOBAL:
        return False
    if role == Role.OWNER:
        return True
    return role == Role.CONTRIBUTOR and settings.PORTUS.delete.contributors


DELETION_OFF_FOR_ADMINS = (
    "Deletion is off on this Portus (the default). To allow it, set delete.enabled: true in "
    "config/config-local.yml or PORTUS_DELETE_ENABLED=true, restart Portus, and let the registry delete "
    "too (storage.delete.enabled: true in its config.yml; `portusctl registry config` writes it)."
)
DELETION_OFF = "Deletion is off on this Portus (the default); an administrator can turn it on (delete.enabled)."


def deletion_refusal(principal: Principal, namespace: Namespace, what: str) -> str:
    """Why PRINCIPAL may not delete WHAT in NAMESPACE, with what would allow it: the sentence the pages,
    the API and portusctl show when can_delete says no."""
    if not settings.PORTUS.delete.enabled:
        return DELETION_OFF_FOR_ADMINS if is_admin(principal) else DELETION_OFF
    if namespace.kind == NamespaceKind.GLOBAL:
        return f"Only administrators may delete {what} in the global namespace."
    if settings.PORTUS.delete.contributors:
        return f"Only owners and contributors of {namespace.name} (or administrators) may delete {what}."
    return (
        f"Only owners of {namespace.name} (or administrators) may delete {what}; "
        "contributors may when delete.contributors is on."
    )


def can_list_catalog(principal: Principal) -> bool:
    return principal is INTERNAL or is_admin(principal)


def allowed_repository_actions(
    principal: Principal, namespace: Namespace | None, requested: set[str], team_roles: TeamRoles | None = None
) -> list[str]:
    """The subset of REQUESTED (pull, push, delete, "*") the principal may do, in a stable order."""
    if namespace is None:
        return []
    wanted = set(REPOSITORY_ACTIONS) if "*" in requested else requested
    checks = {PULL: can_pull, PUSH: can_push, DELETE: can_delete}
    return [
        action for action in REPOSITORY_ACTIONS if action in wanted and checks[action](principal, namespace, team_roles)
    ]


# -- seeing things ----------------------------------------------------------------------------------


def visible_namespaces(principal: Principal, queryset: QuerySet[Namespace] | None = None) -> QuerySet[Namespace]:
    """Namespaces whose repositories the principal may pull (and so see)."""
    queryset = Namespace.objects.all() if queryset is None else queryset
    if principal is INTERNAL or is_admin(principal):
        return queryset
    user = _user(principal)
    if user is None:
        return queryset.filter(visibility=Visibility.PUBLIC)
    return queryset.filter(
        Q(visibility__in=[Visibility.PUBLIC, Visibility.PROTECTED])
        | Q(owner_id=user.pk)
        | Q(team__memberships__user_id=user.pk)
    ).distinct()


def visible_repositories(principal: Principal, queryset: QuerySet[Repository] | None = None) -> QuerySet[Repository]:
    queryset = Repository.objects.all() if queryset is None else queryset
    if principal is INTERNAL or is_admin(principal):
        return queryset
    user = _user(principal)
    if user is None:
        return queryset.filter(namespace__visibility=Visibility.PUBLIC)
    member_teams = TeamMembership.objects.filter(user_id=user.pk).values("team_id")
    return queryset.filter(
        Q(namespace__visibility__in=[Visibility.PUBLIC, Visibility.PROTECTED])
        | Q(namespace__owner_id=user.pk)
        | Q(namespace__team_id__in=member_teams)
    )


def visible_teams(principal: Principal, queryset: QuerySet[Team] | None = None) -> QuerySet[Team]:
    """Admins see every team; others the teams they belong to."""
    queryset = Team.objects.all() if queryset is None else queryset
    if is_admin(principal):
        return queryset
    user = _user(principal)
    if user is None:
        return queryset.none()
    return queryset.filter(memberships__user_id=user.pk).distinct()


def can_browse_anonymously() -> bool:
    return settings.PORTUS.anonymous_browsing.enabled


# -- managing things --------------------------------------------------------------------------------


def can_create_team(principal: Principal) -> bool:
    if is_admin(principal):
        return True
    user = _user(principal)
    return user is not None and not user.bot and settings.PORTUS.user_permission.create_team.enabled


def can_manage_team(principal: Principal, team: Team) -> bool:
    """Add and remove members, change roles, edit, delete."""
    if is_admin(principal):
        return True
    if not settings.PORTUS.user_permission.manage_team.enabled:
        return False
    return team_role(principal, team) == Role.OWNER


def can_create_namespace(principal: Principal, team: Team) -> bool:
    if is_admin(principal):
        return True
    if not settings.PORTUS.user_permission.create_namespace.enabled:
        return False
    return team_role(principal, team) in (Role.OWNER, Role.CONTRIBUTOR)


def teams_for_new_namespaces(principal: Principal) -> QuerySet[Team]:
    """The teams in which PRINCIPAL may create (or receive by transfer) a namespace: can_create_namespace,
    as one query whatever the number of teams."""
    if is_admin(principal):
        return Team.objects.all()
    user = _user(principal)
    if user is None or not settings.PORTUS.user_permission.create_namespace.enabled:
        return Team.objects.none()
    creators = TeamMembership.objects.filter(user_id=user.pk, role__in=[Role.OWNER, Role.CONTRIBUTOR])
    return Team.objects.filter(pk__in=creators.values("team_id"))


def can_manage_namespace(principal: Principal, namespace: Namespace, team_roles: TeamRoles | None = None) -> bool:
    """Edit the description, transfer, delete. Nobody but an admin manages the global namespace."""
    if is_admin(principal):
        return True
    if namespace.kind == NamespaceKind.GLOBAL:
        return False
    if not settings.PORTUS.user_permission.manage_namespace.enabled:
        return False
    return role_in(principal, namespace, team_roles) == Role.OWNER


def can_change_visibility(
    principal: Principal, namespace: Namespace, visibility: str | None = None, team_roles: TeamRoles | None = None
) -> bool:
    if namespace.kind == NamespaceKind.GLOBAL and visibility == Visibility.PRIVATE:
        return False
    if is_admin(principal):
        return True
    if not settings.PORTUS.user_permission.change_visibility.enabled:
        return False
    return namespace.kind != NamespaceKind.GLOBAL and role_in(principal, namespace, team_roles) == Role.OWNER


def can_comment(principal: Principal, repository: Repository, team_roles: TeamRoles | None = None) -> bool:
    return _user(principal) is not None and can_pull(principal, repository.namespace, team_roles)


def can_manage_users(principal: Principal) -> bool:
    return is_admin(principal)


def can_release_names(principal: Principal) -> bool:
    """Releasing a deleted user's or namespace's name hands whatever the registry still stores
    under it to the next taker: an administrator's call."""
    return is_admin(principal)


def visible_activities(principal: Principal, queryset: QuerySet[Activity] | None = None) -> QuerySet[Activity]:
    """Activity lines about things the principal may see: namespaces they may pull from, teams they
    belong to, and their own account. Admins see everything."""
    queryset = Activity.objects.all() if queryset is None else queryset
    if is_admin(principal):
        return queryset
    user = _user(principal)
    namespaces = visible_namespaces(principal).values("pk")
    # A webhook's lines name its address: only those who manage the namespace's webhooks read them.
    not_webhooks = ~Q(action__startswith="webhook.")
    if user is None:
        return queryset.filter(namespace_id__in=namespaces).filter(not_webhooks)
    teams = TeamMembership.objects.filter(user_id=user.pk).values("team_id")
    return queryset.filter(
        Q(namespace_id__in=namespaces)
        | Q(namespace__isnull=True, team_id__in=teams)
        | Q(namespace__isnull=True, team__isnull=True, actor_id=user.pk)
    ).filter(not_webhooks | Q(namespace_id__in=_webhook_namespaces(user)))


# -- API: users, tokens, registries, repositories (added with the REST API) ---------------------


def is_signed_in(principal: Principal) -> bool:
    return _user(principal) is not None


def can_see_user(principal: Principal, user: User) -> bool:
    """A user's account (email, tokens' names): themselves and admins."""
    me = _user(principal)
    return me is not None and (me.admin or me.pk == user.pk)


def can_edit_profile(principal: Principal, user: User) -> bool:
    """Email, display name, password: the user themselves, or an admin."""
    return can_see_user(principal, user)


def can_manage_tokens(principal: Principal, owner: User) -> bool:
    """People manage only their own application tokens; admins also manage bots'."""
    me = _user(principal)
    if me is None:
        return False
    return me.pk == owner.pk or (me.admin and bool(owner.bot))


def can_bootstrap() -> bool:
    """The first administrator may be created over the API only on an empty installation."""
    return settings.PORTUS.first_user_admin.enabled and not User.objects.exists()


def can_see_registries(principal: Principal) -> bool:
    """Registry host names appear in every pull command, so any signed-in user may read them."""
    return _user(principal) is not None


def can_manage_registries(principal: Principal) -> bool:
    return is_admin(principal)


def can_edit_repository(principal: Principal, repository: Repository, team_roles: TeamRoles | None = None) -> bool:
    """The description: whoever may push to the repository."""
    return can_push(principal, repository.namespace, team_roles)


def can_star(principal: Principal, repository: Repository, team_roles: TeamRoles | None = None) -> bool:
    return _user(principal) is not None and can_pull(principal, repository.namespace, team_roles)


def can_delete_comment(principal: Principal, comment: Comment) -> bool:
    me = _user(principal)
    return me is not None and (me.admin or comment.author_id == me.pk)


# -- security scanning -------------------------------------------------------------------------------


def can_see_findings(principal: Principal, namespace: Namespace) -> bool:
    """Findings, scan state and the SBOM of an image follow the right to pull it."""
    return can_pull(principal, namespace)


def can_rescan(principal: Principal, namespace: Namespace | None, team_roles: TeamRoles | None = None) -> bool:
    """Rescan a tag or repository: whoever may push there. Everything (NAMESPACE None): admins only."""
    if namespace is None:
        return is_admin(principal)
    return can_push(principal, namespace, team_roles)


def can_manage_allowlist(principal: Principal, namespace: Namespace | None) -> bool:
    """Global entries (NAMESPACE None) and the global namespace's: admins; a namespace's own: also its owners."""
    if is_admin(principal):
        return True
    if namespace is None or namespace.kind == NamespaceKind.GLOBAL:
        return False
    return role_in(principal, namespace) == Role.OWNER


def visible_allowlist(
    principal: Principal, queryset: QuerySet[AllowlistEntry] | None = None
) -> QuerySet[AllowlistEntry]:
    """Global entries for every signed-in user; a namespace's entries for whoever may pull from it."""
    queryset = AllowlistEntry.objects.all() if queryset is None else queryset
    if is_admin(principal):
        return queryset
    if _user(principal) is None:
        return queryset.none()
    return queryset.filter(Q(namespace__isnull=True) | Q(namespace__in=visible_namespaces(principal)))


# -- outgoing webhooks -------------------------------------------------------------------------------


def can_manage_webhooks(principal: Principal, namespace: Namespace, team_roles: TeamRoles | None = None) -> bool:
    """See, add, change, delete and retrigger a namespace's webhooks: its owners and admins (a webhook
    carries credentials and says where every push goes). The global namespace's: admins only."""
    if is_admin(principal):
        return True
    if namespace.kind == NamespaceKind.GLOBAL:
        return False
    return role_in(principal, namespace, team_roles) == Role.OWNER


def _webhook_namespaces(user: User) -> QuerySet[Namespace]:
    """The namespaces whose webhooks USER (not an admin) manages: their personal one, their teams' as owner."""
    owned_teams = TeamMembership.objects.filter(user_id=user.pk, role=Role.OWNER).values("team_id")
    return Namespace.objects.filter(
        Q(kind=NamespaceKind.PERSONAL, owner_id=user.pk) | Q(kind=NamespaceKind.TEAM, team_id__in=owned_teams)
    )


def manageable_webhooks(principal: Principal, queryset: QuerySet[Webhook] | None = None) -> QuerySet[Webhook]:
    """The webhooks PRINCIPAL may manage (can_manage_webhooks, as a query)."""
    queryset = Webhook.objects.all() if queryset is None else queryset
    if is_admin(principal):
        return queryset
    user = _user(principal)
    if user is None:
        return queryset.none()
    return queryset.filter(namespace_id__in=_webhook_namespaces(user))
