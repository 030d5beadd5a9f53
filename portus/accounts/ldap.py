"""Signing in through an LDAP directory: django-auth-ldap set up from settings.PORTUS.ldap, the new
user's e-mail address, and the directory's groups mirrored into Portus teams and the admin flag.

django-auth-ldap does the directory conversation (search as the service account or anonymously,
with the user name escaped into the filter, then bind as the entry found; StartTLS or LDAPS with a
CA file). Portus adds what it lacks: creating the user through the same action as every other
user (personal namespace, activity), guessing the e-mail address, and team sync through the
registry's actions. portus.accounts.credentials decides who is checked here and keeps the
throttles and the verified-credential memory the same as for local passwords.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from contextlib import suppress
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from portus.accounts.actions import create_user, set_admin
from portus.accounts.models import User, validate_username
from portus.config import Ldap
from portus.errors import ActionError
from portus.registry.actions import add_member, change_role, remove_member
from portus.registry.models import Team, TeamMembership

try:
    import ldap
    import ldap.dn
    from django_auth_ldap.backend import LDAPBackend, ldap_error
    from django_auth_ldap.config import GroupOfNamesType, GroupOfUniqueNamesType, LDAPSearch, PosixGroupType
except ImportError:  # pragma: no cover - without the ldap extra, settings.py refuses ldap.enabled
    INSTALLED = False
else:
    INSTALLED = True

logger = logging.getLogger(__name__)

ROLE_RANK = {"viewer": 0, "contributor": 1, "owner": 2}


def server_uri(config: Ldap) -> str:
    scheme = "ldaps" if config.encryption.method == "simple_tls" else "ldap"
    host = f"[{config.hostname}]" if ":" in config.hostname else config.hostname
    return f"{scheme}://{host}:{config.port}"


def _group_type(config: Ldap) -> Any:
    if config.group_type == "posixGroup":
        return PosixGroupType(name_attr="cn")
    if config.group_type == "groupOfUniqueNames":
        return GroupOfUniqueNamesType(name_attr="cn")
    return GroupOfNamesType(name_attr="cn")


def backend_settings(config: Ldap) -> dict[str, Any]:
    """django-auth-ldap's settings (without their AUTH_LDAP_ prefix) for CONFIG."""
    options: dict[int, Any] = {
        ldap.OPT_PROTOCOL_VERSION: ldap.VERSION3,
        ldap.OPT_NETWORK_TIMEOUT: config.timeout,
        ldap.OPT_TIMEOUT: config.timeout,
        ldap.OPT_REFERRALS: 0,
    }
    if config.encryption.method != "plain":
        options[ldap.OPT_X_TLS_REQUIRE_CERT] = ldap.OPT_X_TLS_DEMAND
        if config.encryption.options.ca_file:
            options[ldap.OPT_X_TLS_CACERTFILE] = config.encryption.options.ca_file
        # libldap applies the TLS options above only to a new TLS context, which this one makes:
        # it must come after them (dicts keep their order).
        options[ldap.OPT_X_TLS_NEWCTX] = 0
    # django-auth-ldap fills in %(user)s with the name escaped (RFC 4515); a literal % in the
    # configured parts must not be read as a placeholder.
    uid = config.uid.replace("%", "%%")
    condition = config.filter.replace("%", "%%")
    user_filter = f"(&({uid}=%(user)s){condition})" if condition else f"({uid}=%(user)s)"
    values: dict[str, Any] = {
        "SERVER_URI": server_uri(config),
        "START_TLS": config.encryption.method == "start_tls",
        "CONNECTION_OPTIONS": options,
        "BIND_DN": config.authentication.bind_dn if config.authentication.enabled else "",
        "BIND_PASSWORD": config.authentication.password if config.authentication.enabled else "",
        "USER_SEARCH": LDAPSearch(config.base, ldap.SCOPE_SUBTREE, user_filter),
        # Portus keeps its own user fields; the directory only creates the user and names their groups.
        "ALWAYS_UPDATE_USER": False,
        "CACHE_TIMEOUT": 0,
    }
    if config.group_base:
        # ldap.group_type is also the groups' object class.
        group_class = f"(objectClass={config.group_type})"
        group_filter = f"(&{group_class}{config.group_filter})" if config.group_filter else group_class
        values["GROUP_SEARCH"] = LDAPSearch(config.group_base, ldap.SCOPE_SUBTREE, group_filter.replace("%", "%%"))
        values["GROUP_TYPE"] = _group_type(config)
    return values


def guess_email(config: Ldap, username: str, attrs: Mapping[str, Sequence[str]]) -> str:
    """A new user's e-mail address: the entry's guess_email.attr, or USERNAME at the base DN's dc= parts;
    "" when guessing is off or yields no valid address."""
    if not config.guess_email.enabled:
        return ""
    if config.guess_email.attr:
        values = attrs.get(config.guess_email.attr) or []
        address = str(values[0]) if values else ""
    else:
        domain = [value for rdn in ldap.dn.str2dn(config.base) for kind, value, _ in rdn if kind.lower() == "dc"]
        address = f"{username}@{'.'.join(domain)}" if domain else ""
    try:
        validate_email(address)
    except ValidationError:
        return ""
    return address


if INSTALLED:

    class DirectoryBackend(LDAPBackend):  # type: ignore[misc]
        """django-auth-ldap reading Portus's settings, and creating users through Portus's action."""

        # Every setting comes from default_settings: nothing in Django's settings is read.
        settings_prefix = "PORTUS_LDAP_UNUSED_"

        def __init__(self, config: Ldap) -> None:
            self.config = config
            self.default_settings = backend_settings(config)

        def get_or_build_user(self, username: str, ldap_user: Any) -> tuple[User, bool]:
            user = User.objects.filter(username=username).first()
            if user is not None and not user.ldap:
                # A local account of that name appeared since credentials.verify looked: never let the
                # directory's password open it.
                raise ldap_user.AuthenticationFailed(f"{username} is a local account")
            if user is None:
                try:
                    user = create_user(
                        username=username,
                        email=guess_email(self.config, username, ldap_user.attrs),
                        ldap=True,
                        signed_up=True,
                    )
                except ActionError as exc:
                    logger.warning("LDAP sign-in of %s: cannot create the user: %s", username, exc)
                    raise ldap_user.AuthenticationFailed(str(exc)) from None
            # Never "built": the user is saved, and django-auth-ldap must not save it again.
            return user, False

    _noted_errors: ContextVar[list[BaseException] | None] = ContextVar("portus_ldap_errors", default=None)

    def _note_error(sender: Any, context: str = "", exception: BaseException | None = None, **_: Any) -> None:
        noted = _noted_errors.get()
        if noted is not None and exception is not None and issubclass(sender, DirectoryBackend):
            noted.append(exception)

    # django-auth-ldap answers "no user" both for a wrong password and for a directory it cannot
    # reach; it tells the second apart only through this signal.
    ldap_error.connect(_note_error, dispatch_uid="portus.accounts.ldap")


@dataclass(frozen=True)
class DirectoryAnswer:
    user: User | None  # the Portus user the directory vouched for (created on first sign-in)
    unreachable: bool = False  # no answer: the directory could not be asked (down, TLS refused)


class DirectoryUnreachable(Exception):
    """The directory could not be asked (down, TLS refused, the service account refused)."""


def enabled() -> bool:
    return bool(settings.PORTUS.ldap.enabled and INSTALLED)


def knows(username: str) -> bool:
    """Whether the directory has an entry USERNAME signs in as, found by the sign-in's own search (the
    service account's or an anonymous bind, the name escaped into the filter); no password is tried.
    Raises DirectoryUnreachable when the directory cannot be asked."""
    config: Ldap = settings.PORTUS.ldap
    values = backend_settings(config)
    connection = ldap.initialize(values["SERVER_URI"], bytes_mode=False)
    try:
        for option, value in values["CONNECTION_OPTIONS"].items():
            connection.set_option(option, value)
        if values["START_TLS"]:
            connection.start_tls_s()
        connection.simple_bind_s(values["BIND_DN"], values["BIND_PASSWORD"])
        found = values["USER_SEARCH"].execute(connection, {"user": username})
    except ldap.LDAPError as exc:
        logger.warning("LDAP directory %s could not be asked about %s: %s", server_uri(config), username, exc)
        raise DirectoryUnreachable(str(exc)) from None
    finally:
        with suppress(ldap.LDAPError):
            connection.unbind_s()
    return bool(found)


def authenticate(username: str, password: str) -> DirectoryAnswer:
    """Check USERNAME and PASSWORD against the directory; on success create the Portus user when new
    and, for an enabled user, mirror their groups (admin_group, team_sync)."""
    try:
        validate_username(username)
    except ValidationError:
        # No Portus user can have this name, so the directory is never asked about it.
        return DirectoryAnswer(None)
    config: Ldap = settings.PORTUS.ldap
    backend = DirectoryBackend(config)
    noted: list[BaseException] = []
    reset = _noted_errors.set(noted)
    try:
        user = backend.authenticate(None, username=username, password=password)
    finally:
        _noted_errors.reset(reset)
    if user is None:
        if noted:
            logger.warning("LDAP directory %s could not be asked: %s", server_uri(config), noted[0])
        return DirectoryAnswer(None, unreachable=bool(noted))
    if user.is_active and config.group_base:
        groups = _group_names(user.ldap_user, username)
        if groups is not None:
            mirror_groups(user, groups, config)
    return DirectoryAnswer(user)


def _group_names(ldap_user: Any, username: str) -> set[str] | None:
    """The cn of every group the entry is in, lower-cased; None when the directory did not answer
    (then nothing is changed: an outage must not remove anyone from a team)."""
    try:
        return {str(name).lower() for name in ldap_user.group_names}
    except ldap.LDAPError as exc:
        logger.warning("LDAP sign-in of %s: cannot read the groups, teams left as they were: %s", username, exc)
        return None


def wanted_roles(config: Ldap, groups: Iterable[str]) -> dict[str, str | None]:
    """Each team named in ldap.team_sync with the role the user should have there (the highest their
    groups give), or None for no membership."""
    lowered = {group.lower() for group in groups}
    wanted: dict[str, str | None] = {}
    for rule in config.team_rules:
        current = wanted.setdefault(rule.team, None)
        if rule.group.lower() in lowered and (current is None or ROLE_RANK[rule.role] > ROLE_RANK[current]):
            wanted[rule.team] = rule.role
    return wanted


def mirror_groups(user: User, groups: set[str], config: Ldap) -> None:
    """Make USER's admin flag and memberships of the teams in ldap.team_sync follow GROUPS, through the
    actions (each writes its activity row; Portus itself is the actor). A refusal, such as removing a
    team's last owner or the last administrator, leaves that one thing as it was."""
    if config.admin_group:
        admin = config.admin_group.lower() in groups
        if user.admin != admin:
            try:
                set_admin(user=user, admin=admin, actor=None)
            except ActionError as exc:
                logger.info("LDAP sign-in of %s: admin flag kept: %s", user.username, exc)
    wanted = wanted_roles(config, groups)
    if not wanted:
        return
    teams = {team.name: team for team in Team.objects.filter(name__in=wanted)}
    memberships = {
        membership.team.name: membership
        for membership in TeamMembership.objects.filter(user=user, team__in=teams.values()).select_related("team")
    }
    for name, role in wanted.items():
        team = teams.get(name)
        if team is None:
            logger.warning("ldap.team_sync names the team %r, which does not exist; create it in Portus.", name)
            continue
        membership = memberships.get(name)
        try:
            if membership is None and role is not None:
                add_member(team=team, user=user, role=role, actor=None)
            elif membership is not None and role is None:
                remove_member(membership=membership, actor=None)
            elif membership is not None and role is not None and membership.role != role:
                change_role(membership=membership, role=role, actor=None)
        except ActionError as exc:
            logger.info("LDAP sign-in of %s: membership of %s kept: %s", user.username, name, exc)
