"""How an activity line reads on the pages: who did what to which object, with a link to that object."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from portus import policy
from portus.accounts.models import User
from portus.principal import Principal
from portus.registry.models import Activity, Repository, Tag

# The verb of a line whose object follows it; an action missing here shows as its code, which still says enough.
ACTIVITY_PHRASES = {
    "namespace.change_description": "edited the description of namespace",
    "namespace.change_visibility": "changed the visibility of",
    "namespace.create": "created namespace",
    "namespace.delete": "deleted namespace",
    "namespace.transfer": "transferred namespace",
    "name.release": "released the reserved name",
    "name.reserve": "reserved the name",
    "registry.create": "added registry",
    "registry.update": "changed registry",
    "registry.rotate_secret": "replaced the notification secret of registry",
    "repository.change_description": "edited the description of",
    "repository.comment": "commented on",
    "repository.delete": "deleted repository",
    "repository.delete_comment": "deleted a comment on",
    "repository.delete_tag": "deleted tag",
    "repository.push": "pushed",
    "repository.pull": "pulled",
    "repository.star": "starred",
    "repository.unstar": "unstarred",
    "repository.sync": "synchronized",
    "security.allowlist_add": "allowlisted the vulnerability",
    "security.allowlist_remove": "removed from the allowlist the vulnerability",
    "team.create": "created team",
    "team.delete": "deleted team",
    "team.update": "edited team",
    "token.create": "created token",
    "token.revoke": "revoked token",
    "user.change_password": "changed the password of",
    "user.create": "created account",
    "user.signup": "signed up as",
    "user.delete": "deleted account",
    "user.disable": "disabled account",
    "user.enable": "enabled account",
    "user.make_admin": "made admin",
    "user.remove_admin": "removed admin rights of",
    "user.unlock": "unlocked account",
    "user.update": "updated the profile of",
    "registry.require_secret": "required the notification secret of registry",
    "webhook.create": "added the webhook",
    "webhook.delete": "deleted the webhook",
    "webhook.disable": "disabled the webhook",
    "webhook.enable": "enabled the webhook",
    "webhook.remove_header": "removed a header of the webhook",
    "webhook.retrigger": "sent a delivery again of the webhook",
    "webhook.set_header": "set a header of the webhook",
    "webhook.update": "changed the webhook",
}


# What describe() reads of each line: select these with the lines.
LINE_OBJECTS = ("actor", "namespace__registry")


@dataclass(frozen=True)
class ActivityLine:
    """One line as a page shows it: the row, and what it says after the actor's name (links included).
    Without ACTOR_RECORDED the row does not say who acted: the page shows no actor and SAYS is passive."""

    activity: Activity
    says: SafeString
    actor_recorded: bool = True


def actor_recorded(line: Activity) -> bool:
    """False for rows written before Portus recorded who creates an account (before 2026-12-01): they name
    the new account itself as the actor, whether the person signed up, an administrator created the
    account or `portusctl` did. Nothing stored tells these apart, so such a row names no actor.

    - ``user.create`` naming the created account as its actor: since then that key is written only by
      an administrator or Portus, and a sign-up is ``user.signup``; usernames never change.
    - ``namespace.create`` of a personal namespace without ``owner`` in its data: since then every such
      row names the owner, and the actor is whoever's change made the namespace.
    """
    if line.action == "user.create":
        return not (line.actor is not None and line.actor.username == line.target)
    if line.action == "namespace.create" and line.data.get("kind") == "personal":
        return "owner" in line.data
    return True


class _Objects:
    """The objects a page's lines are about, fetched with one query per kind rather than one per line."""

    def __init__(self, lines: list[Activity], viewer: Principal) -> None:
        self.admin = policy.is_admin(viewer)
        names = {line.target.split("/")[0] for line in lines if line.action.startswith(("user.", "token."))}
        names |= {str(line.data.get("member")) for line in lines if line.action.startswith("team.")}
        self.users = dict(User.objects.filter(username__in=names).values_list("username", "pk")) if self.admin else {}
        wanted = {self._repository_key(line) for line in lines if line.action.startswith("repository.")}
        wanted.discard(None)
        self.repositories: dict[tuple[int, str], int] = {}
        self.tags: set[tuple[int, str]] = set()
        if wanted:
            found = Repository.objects.filter(
                namespace_id__in={key[0] for key in wanted if key}, name__in={key[1] for key in wanted if key}
            ).values_list("namespace_id", "name", "pk")
            self.repositories = {(namespace, name): pk for namespace, name, pk in found}
            tag_names = {str(line.data.get("tag")) for line in lines if line.data.get("tag")}
            self.tags = set(
                Tag.objects.filter(repository_id__in=self.repositories.values(), name__in=tag_names).values_list(
                    "repository_id", "name"
                )
            )

    @staticmethod
    def _repository_key(line: Activity) -> tuple[int, str] | None:
        """(namespace id, repository name) of a repository line, read from its "namespace/name[:tag]" target."""
        if line.namespace is None or line.namespace_id is None:
            return None
        full_name = line.target.rsplit(":", 1)[0] if ":" in line.target else line.target
        prefix = line.namespace.repository_prefix()
        if not full_name.startswith(prefix):
            return None
        return line.namespace_id, full_name[len(prefix) :]

    def user(self, username: str) -> SafeString:
        pk = self.users.get(username)
        if pk is None:
            return format_html("<code>{}</code>", username)
        return format_html('<a href="{}"><code>{}</code></a>', reverse("web:admin-user", args=[pk]), username)

    def team(self, line: Activity) -> SafeString:
        if line.team_id is None:
            return format_html("<code>{}</code>", line.target)
        return format_html('<a href="{}"><code>{}</code></a>', reverse("web:team", args=[line.team_id]), line.target)

    def namespace(self, line: Activity) -> SafeString:
        if line.namespace is None:
            return format_html("<code>{}</code>", line.target)
        return format_html(
            '<a href="{}"><code>{}</code></a>',
            reverse("web:namespace", args=[line.namespace_id]),
            line.target or line.namespace.display_name,
        )

    def repository(self, line: Activity) -> SafeString:
        key = self._repository_key(line)
        pk = self.repositories.get(key) if key else None
        if pk is None:
            return format_html("<code>{}</code>", line.target)
        tag = str(line.data.get("tag") or "")
        if tag and (pk, tag) in self.tags and line.action != "repository.delete_tag":
            url = reverse("web:tag", args=[pk, tag])
        else:
            url = reverse("web:repository", args=[pk])
        return format_html('<a href="{}"><code>{}</code></a>', url, line.target)

    def page(self, line: Activity, name: str) -> SafeString:
        if not self.admin:
            return format_html("<code>{}</code>", line.target)
        return format_html('<a href="{}"><code>{}</code></a>', reverse(name), line.target)


def _member_line(objects: _Objects, line: Activity) -> SafeString:
    # A line imported from the original Portus may lack what it did not record: say so, invent nothing.
    name = str(line.data.get("member") or "")
    member = objects.user(name) if name else format_html("{}", "a member (name not recorded)")
    team = objects.team(line)
    role, old = str(line.data.get("role") or ""), str(line.data.get("old") or "")
    if line.action == "team.add_member":
        if not role:
            return format_html("added {} to team {}", member, team)
        return format_html("added {} to team {} as {}", member, team, role)
    if line.action == "team.remove_member":
        return format_html("removed {} from team {}", member, team)
    if not (old or role):
        return format_html("changed the role of {} in team {}", member, team)
    return format_html(
        "changed the role of {} in team {}: {} → {}", member, team, old or "(not recorded)", role or "(not recorded)"
    )


def _passive(objects: _Objects, line: Activity) -> SafeString:
    """What a line whose actor was not recorded says: what happened, not who did it."""
    if line.action == "user.create":
        said = format_html("Account {} was created", objects.user(line.target))
    else:
        said = format_html("Personal namespace {} was created", objects.namespace(line))
    return format_html("{} (who did it was not recorded)", said)


def _object(objects: _Objects, line: Activity) -> SafeString:
    kind = line.action.split(".")[0]
    if kind == "user":
        return objects.user(line.target)
    if kind == "token":
        owner, _, name = line.target.partition("/")
        return format_html("{} of {}", format_html("<code>{}</code>", name), objects.user(owner))
    if kind == "team":
        return objects.team(line)
    if kind == "namespace":
        return objects.namespace(line)
    if kind == "repository":
        return objects.repository(line)
    if kind == "registry":
        return objects.page(line, "web:admin-registries")
    if kind == "name":
        return objects.page(line, "web:admin-reserved-names")
    return format_html("<code>{}</code>", line.target)


_SPECIAL: dict[str, Callable[[_Objects, Activity], SafeString]] = {
    "team.add_member": _member_line,
    "team.change_role": _member_line,
    "team.remove_member": _member_line,
}


def _says(objects: _Objects, line: Activity) -> SafeString:
    if not actor_recorded(line):
        return _passive(objects, line)
    special = _SPECIAL.get(line.action)
    if special is not None:
        return special(objects, line)
    said = format_html("{} {}", ACTIVITY_PHRASES.get(line.action, line.action), _object(objects, line))
    if line.action in ("user.create", "user.signup"):
        roles = [role for role in ("admin", "bot") if line.data.get(role)]
        if roles:
            said = format_html("{} ({})", said, ", ".join(roles))
    return said


def describe(lines: Iterable[Activity], viewer: Principal) -> list[ActivityLine]:
    """LINES as VIEWER sees them, each naming and linking its object; links to admin pages only for admins."""
    lines = list(lines)
    objects = _Objects(lines, viewer)
    return [ActivityLine(line, _says(objects, line), actor_recorded(line)) for line in lines]
