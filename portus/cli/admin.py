"""Admin tasks run directly against the database: users, tokens, teams, namespaces, registries."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portus.cli.command import CommandError, add_password_arguments, read_password, setup_django, write_private_file
from portus.errors import ActionError
from portus.registry.names import InvalidName

if TYPE_CHECKING:
    from portus.accounts.models import User
    from portus.registry.models import Registry, Team


def django_command(
    func: Callable[[argparse.Namespace], int | None],
) -> Callable[[argparse.Namespace], int | None]:
    """Set Django up first and turn the actions' refusals into one readable line."""

    @wraps(func)
    def wrapper(args: argparse.Namespace) -> int | None:
        setup_django()
        from django.core.exceptions import ObjectDoesNotExist

        from portus.registry.deletion import RegistryDeletionError

        try:
            return func(args)
        except (ActionError, InvalidName, RegistryDeletionError) as exc:
            raise CommandError(str(exc)) from None
        except ObjectDoesNotExist as exc:
            raise CommandError(str(exc)) from None

    return wrapper


def _user(name: str) -> User:
    from portus.accounts.models import User

    user = User.objects.filter(username=name).first()
    if user is None:
        raise CommandError(f"no user called {name!r}; see `portusctl user create`.")
    return user


def _team(name: str) -> Team:
    from portus.registry.models import Team

    team = Team.objects.filter(name=name).first()
    if team is None:
        raise CommandError(f"no team called {name!r}; see `portusctl team create`.")
    return team


def _registry(name: str | None) -> Registry:
    from portus.registry.models import Registry

    registries = Registry.objects.order_by("pk")
    registry = registries.filter(name=name).first() if name else registries.first()
    if registry is None:
        raise CommandError(
            f"no registry called {name!r}." if name else "no registry yet; add one with `portusctl registry add`."
        )
    return registry


@django_command
def user_create(args: argparse.Namespace) -> int:
    from portus.accounts.actions import create_user

    password = read_password(args)
    if password is None and not args.bot:
        raise CommandError("give a password with --password-stdin, --password-file or --password (bots need none).")
    user = create_user(
        username=args.name,
        email=args.email or "",
        password=password,
        admin=args.admin or None,
        bot=args.bot,
    )
    print(f"created user {user.username}{' (admin)' if user.admin else ''}{' (bot)' if user.bot else ''}")
    return 0


@django_command
def user_unlock(args: argparse.Namespace) -> int:
    from portus.accounts.actions import unlock_user

    user = unlock_user(user=_user(args.name), actor=None)
    print(f"unlocked {user.username}: failed sign-ins from every address are forgotten")
    return 0


@django_command
def token_create(args: argparse.Namespace) -> int:
    from portus.accounts.actions import create_token

    expires = None
    if args.expires_in_days:
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=args.expires_in_days)
    user = _user(args.user)
    _, plain = create_token(user=user, name=args.name, expires_at=expires, actor=None)
    print(plain)
    sys.stderr.write("This token is shown once; Portus keeps only its digest.\n")
    return 0


@django_command
def token_revoke(args: argparse.Namespace) -> int:
    from portus.accounts.actions import revoke_token

    token = _user(args.user).application_tokens.filter(name=args.name).first()
    if token is None:
        raise CommandError(f"{args.user} has no token called {args.name!r}.")
    revoke_token(token=token, actor=None)
    print(f"revoked {args.user}/{args.name}")
    return 0


@django_command
def team_create(args: argparse.Namespace) -> int:
    from portus.registry.actions import create_team

    team = create_team(name=args.name, owner=_user(args.owner), description=args.description or "", actor=None)
    print(f"created team {team.name} owned by {args.owner}")
    return 0


@django_command
def team_add_member(args: argparse.Namespace) -> int:
    from portus.registry.actions import add_member

    add_member(team=_team(args.team), user=_user(args.user), role=args.role, actor=None)
    print(f"added {args.user} to {args.team} as {args.role}")
    return 0


@django_command
def namespace_create(args: argparse.Namespace) -> int:
    from portus.registry.actions import create_namespace

    namespace = create_namespace(
        name=args.name,
        team=_team(args.team),
        visibility=args.visibility,
        description=args.description or "",
        registry=_registry(args.registry) if args.registry else None,
        actor=None,
    )
    print(f"created namespace {namespace.name} ({namespace.visibility}) for team {args.team}")
    return 0


def _namespace(name: str) -> Any:
    from portus.registry.models import Namespace

    namespace = Namespace.objects.filter(name=name).select_related("registry").order_by("pk").first()
    if namespace is None:
        raise CommandError(f"no namespace called {name!r}; see `portusctl get namespaces`.")
    return namespace


@django_command
def user_delete(args: argparse.Namespace) -> int:
    from portus.registry.deletion import delete_user

    delete_user(user=_user(args.name), actor=None, delete_images=args.delete_images)
    print(f"deleted user {args.name}; the name stays reserved (`portusctl name release {args.name}` frees it)")
    return 0


@django_command
def namespace_delete(args: argparse.Namespace) -> int:
    from portus.registry.deletion import delete_namespace

    delete_namespace(namespace=_namespace(args.name), actor=None, delete_images=args.delete_images)
    print(f"deleted namespace {args.name}; the name stays reserved (`portusctl name release {args.name}` frees it)")
    return 0


@django_command
def name_list(args: argparse.Namespace) -> int:
    from portus.registry.models import ReservedName

    for reserved in ReservedName.objects.order_by("name"):
        by = reserved.reserved_by or "-"
        print(f"{reserved.name}\t{reserved.kind}\t{by}\t{reserved.created_at.isoformat(timespec='seconds')}")
    return 0


@django_command
def name_release(args: argparse.Namespace) -> int:
    from portus.registry.actions import release_name
    from portus.registry.models import ReservedName

    reserved = ReservedName.objects.filter(name=args.name).first()
    if reserved is None:
        raise CommandError(f"{args.name!r} is not reserved; see `portusctl name list`.")
    release_name(reserved=reserved, actor=None)
    print(f"released {args.name}: a new user or namespace may take it")
    return 0


@django_command
def registry_add(args: argparse.Namespace) -> int:
    from portus.registry.actions import create_registry

    registry = create_registry(
        name=args.name,
        hostname=args.hostname,
        external_hostname=args.external_hostname or "",
        use_ssl=args.use_ssl,
    )
    print(f"added registry {registry.name} at {registry.hostname}")
    return 0


def default_portus_url() -> str:
    from django.conf import settings

    return str(settings.PORTUS_URL)


@django_command
def registry_config(args: argparse.Namespace) -> int:
    from portus.registry.distribution_config import render_distribution_config

    text = render_distribution_config(
        _registry(args.registry),
        portus_url=args.portus_url or default_portus_url(),
        storage_dir=args.storage,
        listen=args.listen,
    )
    if args.output:
        write_private_file(Path(args.output), text)  # it holds the notification secret
    else:
        sys.stdout.write(text)
    return 0


@django_command
def registry_rotate_secret(args: argparse.Namespace) -> int:
    from portus.registry.actions import rotate_notification_secret
    from portus.registry.distribution_config import render_distribution_config

    registry = _registry(args.name)
    rotate_notification_secret(registry=registry, actor=None)
    text = render_distribution_config(
        registry,
        portus_url=args.portus_url or default_portus_url(),
        storage_dir=args.storage,
        listen=args.listen,
    )
    if args.output:
        write_private_file(Path(args.output), text)  # it holds the secret
    else:
        sys.stdout.write(text)
    print(
        f"registry {registry.name}: new notification secret. Portus refuses the old one from now on: put this "
        "config.yml on the registry and restart it; then run `portusctl sync` to take in what it pushed meanwhile.",
        file=sys.stderr,
    )
    return 0


def register(sub: Any) -> None:
    user = sub.add_parser("user", help="manage users").add_subparsers(dest="action", required=True)
    p = user.add_parser("create", help="create a user (and their personal namespace)")
    p.add_argument("name")
    p.add_argument("--email")
    add_password_arguments(p)
    p.add_argument("--admin", action="store_true")
    p.add_argument("--bot", action="store_true", help="a bot: signs in only with application tokens")
    p.set_defaults(handler=user_create)
    p = user.add_parser("delete", help="delete a user and their personal namespace; the name stays reserved")
    p.add_argument("name")
    p.add_argument(
        "--delete-images",
        action="store_true",
        help="also delete the personal namespace's images in the registry (else refused while it holds any)",
    )
    p.set_defaults(handler=user_delete)

    p = user.add_parser("unlock", help="end NAME's lockout after failed sign-ins")
    p.add_argument("name")
    p.set_defaults(handler=user_unlock)

    token = sub.add_parser("token", help="manage application tokens").add_subparsers(dest="action", required=True)
    p = token.add_parser("create", help="create a token for USER and print it once")
    p.add_argument("user")
    p.add_argument("--name", required=True)
    p.add_argument("--expires-in-days", type=int)
    p.set_defaults(handler=token_create)
    p = token.add_parser("revoke", help="revoke USER's token called NAME")
    p.add_argument("user")
    p.add_argument("--name", required=True)
    p.set_defaults(handler=token_revoke)

    team = sub.add_parser("team", help="manage teams").add_subparsers(dest="action", required=True)
    p = team.add_parser("create")
    p.add_argument("name")
    p.add_argument("--owner", required=True)
    p.add_argument("--description")
    p.set_defaults(handler=team_create)
    p = team.add_parser("add-member")
    p.add_argument("team")
    p.add_argument("user")
    p.add_argument("--role", required=True, choices=["owner", "contributor", "viewer"])
    p.set_defaults(handler=team_add_member)

    namespace = sub.add_parser("namespace", help="manage namespaces").add_subparsers(dest="action", required=True)
    p = namespace.add_parser("create")
    p.add_argument("name")
    p.add_argument("--team", required=True)
    p.add_argument("--visibility", default="private", choices=["private", "protected", "public"])
    p.add_argument("--description")
    p.add_argument("--registry", help="registry name (default: the first one)")
    p.set_defaults(handler=namespace_create)
    p = namespace.add_parser("delete", help="delete a team namespace; the name stays reserved")
    p.add_argument("name")
    p.add_argument(
        "--delete-images",
        action="store_true",
        help="also delete its images in the registry (else refused while it holds any)",
    )
    p.set_defaults(handler=namespace_delete)

    name = sub.add_parser("name", help="names of deleted users and namespaces").add_subparsers(
        dest="action", required=True
    )
    p = name.add_parser("list", help="list reserved names: name, was, deleted by, since")
    p.set_defaults(handler=name_list)
    p = name.add_parser("release", help="let a new user or namespace take NAME again")
    p.add_argument("name")
    p.set_defaults(handler=name_release)

    registry = sub.add_parser("registry", help="manage registries").add_subparsers(dest="action", required=True)
    p = registry.add_parser("add", help="tell Portus about a registry")
    p.add_argument("--name", required=True)
    p.add_argument("--hostname", required=True, help="HOST:PORT Portus reaches the registry at")
    p.add_argument("--external-hostname", help="host name people pull from, if different")
    p.add_argument("--use-ssl", action="store_true")
    p.set_defaults(handler=registry_add)
    p = registry.add_parser("config", help="print a Distribution config.yml wired to this Portus")
    p.add_argument("--registry", help="registry name (default: the first one)")
    p.add_argument(
        "--portus-url",
        help="URL the registry and clients reach Portus at (default: $PORTUS_URL, else MACHINE_FQDN over https "
        "when PORTUS_CHECK_SSL_USAGE_ENABLED is on, as in production)",
    )
    p.add_argument("--storage", default="/var/lib/docker-registry", help="registry storage directory")
    p.add_argument("--listen", help="address the registry listens on (default: its hostname)")
    p.add_argument("-o", "--output", help="write to this file instead of standard output")
    p.set_defaults(handler=registry_config)
    p = registry.add_parser(
        "rotate-secret", help="give a registry a new notification secret and print its new config.yml"
    )
    p.add_argument("name", help="the registry's name")
    p.add_argument(
        "--portus-url",
        help="URL the registry and clients reach Portus at (default: $PORTUS_URL or https://MACHINE_FQDN)",
    )
    p.add_argument("--storage", default="/var/lib/docker-registry", help="registry storage directory")
    p.add_argument("--listen", help="address the registry listens on (default: its hostname)")
    p.add_argument("-o", "--output", help="write to this file (mode 0600) instead of standard output")
    p.set_defaults(handler=registry_rotate_secret)
