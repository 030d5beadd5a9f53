"""``portusctl get|create|update|delete|bootstrap|health|version``: a client of the REST API v1.

Unlike the admin commands, these talk HTTP to a running Portus, so they work from any machine
with a URL and an application token (``--server/--user/--token`` or ``PORTUSCTL_API_SERVER``,
``PORTUSCTL_API_USER``, ``PORTUSCTL_API_TOKEN``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote

import requests

from portus import __version__
from portus.cli.command import CommandError, add_password_arguments, read_password

TIMEOUT = (5.0, 60.0)
SEVERITIES = ("Critical", "High", "Medium", "Low", "Negligible", "Unknown")
PAGE_SIZE = 100


@dataclass(frozen=True)
class Resource:
    """How one kind of object maps onto the API."""

    path: str  # the collection, under /api/v1; may name a parent: "teams/{team}/members"
    columns: tuple[str, ...]
    parent: str | None = None  # the --option that fills {parent} in the path
    item: str | None = None  # a different path for single items: "tags/{id}"
    writable: tuple[str, ...] = ("create", "update", "delete")
    aliases: tuple[str, ...] = field(default_factory=tuple)


RESOURCES: dict[str, Resource] = {
    "users": Resource("users", ("id", "username", "email", "admin", "bot", "enabled"), aliases=("user",)),
    "tokens": Resource(
        "users/{owner}/application_tokens",
        ("id", "name", "hint", "created_at", "expires_at", "revoked"),
        parent="owner",
        writable=("create", "delete"),
        aliases=("token", "application_tokens"),
    ),
    "teams": Resource(
        "teams",
        ("id", "name", "role", "member_count", "namespace_count", "description"),
        aliases=("team",),
    ),
    "members": Resource(
        "teams/{team}/members",
        ("username", "role", "created_at"),
        parent="team",
        aliases=("member",),
    ),
    "namespaces": Resource(
        "namespaces",
        ("id", "display_name", "kind", "visibility", "team", "owner", "repository_count"),
        aliases=("namespace",),
    ),
    "repositories": Resource(
        "repositories",
        ("id", "full_name", "tag_count", "star_count", "updated_at"),
        writable=("update", "delete"),
        aliases=("repository", "repos", "repo"),
    ),
    "tags": Resource(
        "repositories/{repository}/tags",
        ("id", "name", "digest", "size", "author", "pushed_at"),
        parent="repository",
        item="tags/{id}",
        writable=("delete",),
        aliases=("tag",),
    ),
    "comments": Resource(
        "repositories/{repository}/comments",
        ("id", "author", "created_at", "body"),
        parent="repository",
        writable=("create", "delete"),
        aliases=("comment",),
    ),
    "stars": Resource("stars", ("id", "full_name", "star_count"), writable=(), aliases=("star",)),
    "registries": Resource(
        "registries",
        ("id", "name", "hostname", "external_hostname", "use_ssl"),
        writable=("create", "update"),
        aliases=("registry",),
    ),
    "allowlist": Resource(
        "allowlist",
        ("id", "vulnerability_id", "namespace", "comment", "expires_at", "active"),
        writable=("create", "delete"),
        aliases=("allowlists", "allowlist_entries"),
    ),
    # Read with the image's name: portusctl get vulnerabilities team/app:1.0 [--severity High] [--package ssl]
    "vulnerabilities": Resource(
        "tags/{id}/vulnerabilities",
        ("vulnerability_id", "severity", "package", "installed_version", "fixed_version", "allowlisted", "backend"),
        writable=(),
        aliases=("vulnerability", "vulns", "findings"),
    ),
    # A namespace's webhooks (owners and admins): portusctl get webhooks NAMESPACE [--id N]
    "webhooks": Resource(
        "namespaces/{namespace}/webhooks",
        ("id", "name", "url", "request_method", "content_type", "enabled", "has_secret"),
        parent="namespace",
        aliases=("webhook",),
    ),
    # portusctl get deliveries NAMESPACE --webhook ID
    "deliveries": Resource(
        "namespaces/{namespace}/webhooks/{webhook}/deliveries",
        ("id", "uuid", "event", "state", "status", "attempts", "created_at", "error"),
        parent="namespace",
        writable=(),
        aliases=("delivery", "webhook_deliveries"),
    ),
    "activities": Resource(
        "activities",
        ("created_at", "actor", "action", "target"),
        writable=(),
        aliases=("activity",),
    ),
}
# An image is named by one of its tags: portusctl delete images 42 deletes tag 42's digest and every tag on it.
RESOURCES["images"] = replace(RESOURCES["tags"], item="tags/{id}/image", aliases=("image",))
ALIASES = {alias: name for name, res in RESOURCES.items() for alias in (name, *res.aliases)}


@dataclass
class Connection:
    server: str
    user: str | None
    token: str | None
    session: requests.Session = field(default_factory=requests.Session)

    def headers(self) -> dict[str, str]:
        if not self.token:
            return {}
        if self.user:
            return {"Portus-Auth": f"{self.user}:{self.token}"}
        return {"Authorization": f"Bearer {self.token}"}

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        ok: tuple[int, ...] = (),
    ) -> requests.Response:
        url = f"{self.server}/api/v1/{path}"
        try:
            response = self.session.request(
                method, url, params=params, json=body, headers=self.headers(), timeout=TIMEOUT
            )
        except requests.RequestException as exc:
            raise CommandError(
                f"cannot reach Portus at {self.server} ({type(exc).__name__}); check --server or PORTUSCTL_API_SERVER."
            ) from None
        if response.status_code >= 400 and response.status_code not in ok:
            raise CommandError(f"{response.status_code} {response.reason}: {_message(response)}")
        return response


def _message(response: requests.Response) -> str:
    try:
        message = response.json().get("message")
    except (ValueError, AttributeError):
        message = None
    if message:
        return str(message)
    if response.status_code == 404:
        return f"{response.url} does not exist; is this a Portus server with API v1?"
    return response.text.strip().splitlines()[0][:200] if response.text.strip() else "no details given"


def connect(args: argparse.Namespace, extra: dict[str, Any] | None = None) -> Connection:
    extra = extra or {}
    server = extra.pop("server", None) or args.server or os.environ.get("PORTUSCTL_API_SERVER")
    if not server:
        raise CommandError("no server given: pass --server URL or set PORTUSCTL_API_SERVER.")
    if not server.startswith(("http://", "https://")):
        raise CommandError(f"--server {server!r} must start with http:// or https://.")
    user = extra.pop("user_auth", None) or args.user or os.environ.get("PORTUSCTL_API_USER")
    token = extra.pop("token", None) or args.token or os.environ.get("PORTUSCTL_API_TOKEN")
    return Connection(server.rstrip("/"), user, token)


# -- reading the command line -------------------------------------------------------------------


# Also taken after the resource. --user is not: there it is a field (``create members --user bob``);
# give the signing-in user before the resource or in PORTUSCTL_API_USER.
CONNECTION_OPTIONS = {"--server": "server", "--token": "token"}


def parse_rest(rest: list[str]) -> tuple[str | None, dict[str, Any], dict[str, Any]]:
    """(id, fields, connection options) from what follows the resource: ``alice --email a@b``.

    ``--name value`` sets a field; a bare ``--flag`` means true; ``true``/``false`` become booleans.
    """
    ident: str | None = None
    fields: dict[str, Any] = {}
    options: dict[str, Any] = {}
    i = 0
    while i < len(rest):
        word = rest[i]
        if word in ("-o", "--output"):
            if i + 1 >= len(rest):
                raise CommandError("-o needs a format: table or json.")
            options["output"] = rest[i + 1]
            i += 2
            continue
        if word.startswith("--"):
            name, eq, value = word[2:].partition("=")
            if not name:
                raise CommandError(f"{word!r} is not an option; write --field value.")
            if not eq:
                if i + 1 < len(rest) and not rest[i + 1].startswith("--"):
                    value = rest[i + 1]
                    i += 1
                else:
                    value = "true"
            if word.split("=")[0] in CONNECTION_OPTIONS:
                options[CONNECTION_OPTIONS[word.split("=")[0]]] = value
            else:
                fields[name.replace("-", "_")] = value
            i += 1
            continue
        if ident is not None:
            raise CommandError(f"unexpected {word!r}: give one id, then --field value pairs.")
        ident = word
        i += 1
    return ident, fields, options


def typed(fields: dict[str, Any]) -> dict[str, Any]:
    """Body values: true/false as booleans, null as null, the rest as text."""
    words = {"true": True, "false": False, "null": None}
    return {k: words.get(v.lower(), v) if isinstance(v, str) else v for k, v in fields.items()}


def resource_named(name: str) -> tuple[str, Resource]:
    canonical = ALIASES.get(name.lower())
    if canonical is None:
        raise CommandError(f"unknown resource {name!r}; use one of: {', '.join(RESOURCES)}.")
    return canonical, RESOURCES[canonical]


def _repository_id(conn: Connection, key: str) -> str:
    """Repositories are addressed by id; a full name (team/app) is looked up first."""
    if key.isdigit():
        return key
    found = conn.request("get", "repositories", params={"full_name": key}).json()
    if not found:
        raise CommandError(f"no repository {key!r} that you can see; check the name (team/app).")
    return str(found[0]["id"])


def collection_path(conn: Connection, name: str, res: Resource, fields: dict[str, Any]) -> str:
    if res.parent is None:
        return res.path
    value = fields.pop(res.parent, None)
    if value is None and res.parent == "owner":  # your own tokens, unless an admin names a bot
        value = conn.user
        if value is None:
            raise CommandError("say whose tokens: --owner NAME (or set PORTUSCTL_API_USER).")
    if value is None:
        raise CommandError(f"{name} belong to a {res.parent}: add --{res.parent} NAME.")
    if res.parent == "repository":
        value = _repository_id(conn, str(value))
    parts = {res.parent: quote(str(value), safe="")}
    if "{webhook}" in res.path:
        webhook = fields.pop("webhook", None)
        if webhook is None:
            raise CommandError(f"{name} belong to a webhook: add --webhook ID (portusctl get webhooks NAMESPACE).")
        parts["webhook"] = quote(str(webhook), safe="")
    return res.path.format(**parts)


def item_path(conn: Connection, name: str, res: Resource, ident: str, fields: dict[str, Any]) -> str:
    if res.item is not None and res.parent not in fields:
        return res.item.format(id=quote(ident, safe=""))
    if name == "repositories":
        ident = _repository_id(conn, ident)
    return f"{collection_path(conn, name, res, fields)}/{quote(ident, safe='')}"


def all_pages(conn: Connection, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if "page" in params:  # one page asked for: just that one
        yield from conn.request("get", path, params=params).json()
        return
    params = {"per_page": PAGE_SIZE, **params}
    page = 1
    while page:
        response = conn.request("get", path, params={**params, "page": page})
        yield from response.json()
        page = int(response.headers.get("X-Next-Page") or 0)


# -- printing -----------------------------------------------------------------------------------


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    text = str(value).replace("\n", " ")
    return text if len(text) <= 60 else text[:57] + "..."


def table(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    header = [c.upper().replace("_", " ") for c in columns]
    body = [[cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(columns))]
    return "\n".join(
        "  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() for line in [header, *body]
    )


def show(data: Any, columns: tuple[str, ...], output: str) -> None:
    if output == "json":
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
        return
    if output != "table":
        raise CommandError(f"-o {output!r}: use table or json.")
    if isinstance(data, list):
        sys.stdout.write(table(data, columns) + "\n" if data else "(none)\n")
        return
    width = max(len(k) for k in data) if data else 0
    for key, value in data.items():
        rendered = json.dumps(value, sort_keys=True) if isinstance(value, dict) else cell(value)
        sys.stdout.write(f"{key.ljust(width)}  {rendered}\n")


# -- the commands -------------------------------------------------------------------------------


def _prepare(
    args: argparse.Namespace,
) -> tuple[Connection, str, Resource, str | None, dict[str, Any], str]:
    ident, fields, options = parse_rest(args.rest)
    conn = connect(args, options)
    name, res = resource_named(args.resource)
    if res.parent == "namespace" and ident is not None and "namespace" not in fields:
        # portusctl get webhooks NAMESPACE [--id N]: the word after the resource names the namespace.
        fields["namespace"] = ident
        ident = fields.pop("id", None)
    output = options.get("output", args.output)
    if output not in ("table", "json"):
        raise CommandError(f"-o {output!r}: use table or json.")
    return conn, name, res, ident, fields, output


def _tag_id(conn: Connection, image: str) -> str:
    """The id of the tag REPO:TAG (a bare number is taken as the tag's id)."""
    if image.isdigit():
        return image
    repository, colon, tag = image.rpartition(":")
    if not colon or not repository or not tag or "/" in tag:
        raise CommandError(f"{image!r}: name the image as REPOSITORY:TAG, such as team/app:1.0.")
    path = f"repositories/{_repository_id(conn, repository)}/tags"
    found = [row for row in all_pages(conn, path, {"q": tag}) if row["name"] == tag]
    if not found:
        raise CommandError(
            f"no tag {tag!r} in {repository}; list them with: portusctl get tags --repository {repository}"
        )
    return str(found[0]["id"])


def vulnerabilities(conn: Connection, res: Resource, image: str | None, fields: dict[str, Any], output: str) -> int:
    if image is None:
        raise CommandError("say which image: portusctl get vulnerabilities REPOSITORY:TAG")
    path = res.path.format(id=_tag_id(conn, image))
    report = conn.request("get", path, params=fields).json()
    if output == "json":
        show(report, res.columns, output)
        return 0
    sys.stdout.write(f"{report['repository']}:{report['tag']}  {report['digest']}\n")
    sys.stdout.write(f"scan: {report['state']}, last scanned {cell(report['scanned_at'])}\n")
    for scan in report["scans"]:
        reason = f": {scan['reason']}" if scan["reason"] else ""
        sys.stdout.write(f"  {scan['backend']}: {scan['state']}{reason} (database {scan['database_version'] or '-'})\n")
    if report.get("message"):
        sys.stdout.write(f"note: {report['message']}\n")
    counts = report["counts"]
    if counts is None:  # no advisory database: nothing is known, which is not "none found"
        sys.stdout.write("findings: unknown (no advisory database)\n")
        return 0
    summary = ", ".join(f"{counts[s.lower()]} {s}" for s in SEVERITIES if counts[s.lower()])
    allowlisted = f" ({counts['allowlisted']} allowlisted)" if counts["allowlisted"] else ""
    sys.stdout.write(f"findings: {summary or 'none counted'}{allowlisted}\n")
    show(report["findings"], res.columns, output)
    return 0


def get(args: argparse.Namespace) -> int:
    conn, name, res, ident, fields, output = _prepare(args)
    if name == "vulnerabilities":
        return vulnerabilities(conn, res, ident, fields, output)
    if ident is None:
        rows = list(all_pages(conn, collection_path(conn, name, res, fields), fields))
        show(rows, res.columns, output)
    else:
        show(
            conn.request("get", item_path(conn, name, res, ident, fields), params=fields).json(),
            res.columns,
            output,
        )
    return 0


def scan(args: argparse.Namespace) -> int:
    """Queue scans again: one tag (REPO:TAG), one repository (REPO), or every image (--all, admins)."""
    conn = connect(args)
    if args.all == bool(args.image):
        raise CommandError("say what to scan again: REPOSITORY:TAG, REPOSITORY, or --all (administrators).")
    if args.all:
        path = "scans"
    elif ":" in args.image.rpartition("/")[2]:
        path = f"tags/{_tag_id(conn, args.image)}/scan"
    else:
        path = f"repositories/{_repository_id(conn, args.image)}/scan"
    queued = conn.request("post", path).json()["scans"]
    if args.output == "json":
        show({"scans": queued}, (), "json")
    else:
        sys.stdout.write(
            f"{queued} scan{'s' if queued != 1 else ''} queued\n"
            if queued
            else "nothing queued: security scanning is off or no scanner is enabled\n"
        )
    return 0


def _writable(name: str, res: Resource, verb: str) -> None:
    if verb not in res.writable:
        allowed = ", ".join(res.writable) or "only get"
        raise CommandError(f"{name} cannot be {verb}d here; {name} allow: {allowed}.")


def create(args: argparse.Namespace) -> int:
    conn, name, res, ident, fields, output = _prepare(args)
    _writable(name, res, "create")
    if ident is not None:
        raise CommandError(f"create takes no id; give fields, e.g. portusctl create {name} --name NAME.")
    path = collection_path(conn, name, res, fields)
    created = conn.request("post", path, body=typed(fields)).json()
    show(created, res.columns, output)
    if "token" in created and output == "table":
        sys.stderr.write("The token is shown once; Portus keeps only its digest.\n")
    return 0


def _one_to_change(
    args: argparse.Namespace, verb: str, usage: str
) -> tuple[Connection, str, Resource, str, dict[str, Any], str]:
    """What update and delete both need first: a resource that allows VERB and the id of the one to change."""
    conn, name, res, ident, fields, output = _prepare(args)
    _writable(name, res, verb)
    if ident is None:
        raise CommandError(f"say which one: portusctl {verb} {name} {usage}.")
    return conn, name, res, ident, fields, output


def update(args: argparse.Namespace) -> int:
    conn, name, res, ident, fields, output = _one_to_change(args, "update", "ID --field value")
    path = item_path(conn, name, res, ident, fields)
    if not fields:
        raise CommandError("nothing to change: add --field value pairs.")
    show(conn.request("put", path, body=typed(fields)).json(), res.columns, output)
    return 0


# Deletions whose reach is not obvious from the id: the API answers ?dry_run=true with what would go.
PREVIEWED = ("tags", "images")


def _deletion_summary(plan: dict[str, Any], done: bool) -> str:
    names = ", ".join(f"{plan['repository']}:{tag}" for tag in plan["deleted_tags"])
    lines = [f"{'deleted' if done else 'will delete'} {names} ({plan['digest']})"]
    if plan["kept_tags"]:
        unsynced = set(plan.get("unsynced_kept_tags") or [])
        kept = ", ".join(f"{tag}*" if tag in unsynced else tag for tag in plan["kept_tags"])
        note = "; * in the registry, not yet in Portus" if unsynced else ""
        lines.append(f"{'kept' if done else 'keeps'} {kept} (same image{note})")
    if plan["repository_deleted"]:
        lines.append(f"{'deleted' if done else 'deletes'} {plan['repository']} too: no tag is left")
    return "\n".join(lines) + "\n"


def _confirmed(question: str) -> bool:
    sys.stdout.write(question)
    sys.stdout.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def delete(args: argparse.Namespace) -> int:
    conn, name, res, ident, fields, output = _one_to_change(args, "delete", "ID")
    yes = str(fields.pop("yes", "false")).lower() == "true"
    path = item_path(conn, name, res, ident, fields)
    if name not in PREVIEWED:
        conn.request("delete", path)
        if output == "table":
            sys.stdout.write(f"deleted {name} {ident}\n")
        return 0
    plan = conn.request("delete", path, params={"dry_run": "true"}).json()
    if not yes:
        sys.stdout.write(_deletion_summary(plan, done=False))
        if not _confirmed("Delete? [y/N] "):
            raise CommandError("nothing deleted (answer y, or pass --yes to skip the question).")
    conn.request("delete", path)
    if output == "json":
        show({**plan, "dry_run": False}, (), "json")
    else:
        sys.stdout.write(_deletion_summary(plan, done=True))
    return 0


def retrigger(args: argparse.Namespace) -> int:
    """Send a webhook delivery again: portusctl retrigger NAMESPACE --webhook ID --delivery ID."""
    conn = connect(args)
    path = f"namespaces/{quote(args.namespace, safe='')}/webhooks/{args.webhook}/deliveries/{args.delivery}/retrigger"
    again = conn.request("post", path).json()
    show(again, RESOURCES["deliveries"].columns, args.output)
    return 0


def bootstrap(args: argparse.Namespace) -> int:
    conn = connect(args)
    password = read_password(args)
    if not password:
        raise CommandError("give the admin's password with --password-stdin, --password-file or --password.")
    body = {"username": args.username, "password": password, "email": args.email or ""}
    answer = conn.request("post", "users/bootstrap", body=body).json()
    if args.output == "json":
        show(answer, (), "json")
        return 0
    sys.stdout.write(answer["token"] + "\n")
    sys.stderr.write(
        f"Created administrator {answer['user']['username']}. The token above is shown once; "
        "use it as PORTUSCTL_API_TOKEN.\n"
    )
    return 0


def health(args: argparse.Namespace) -> int:
    conn = connect(args)
    answer = conn.request("get", "health", ok=(503,))
    body = answer.json()
    if args.output == "json":
        show(body, (), "json")
    elif body.get("database") is not None:  # the checks are shown to administrators only
        rows = [{"check": "database", **body["database"]}]
        rows += [{"check": f"registry {n}", **c} for n, c in body["registries"].items()]
        rows += [{"check": f"background {n}", **c} for n, c in body["background"].items()]
        sys.stdout.write(table(rows, ("check", "ok", "message")) + "\n")
    if answer.status_code != 200:
        raise CommandError(f"unhealthy: {body.get('message', 'a check failed')}")
    return 0


def version(args: argparse.Namespace) -> int:
    answer = connect(args).request("get", "version").json()
    data = {
        "client": __version__,
        "server": answer["version"],
        "api_version": answer["api_version"],
    }
    show(data, (), args.output)
    return 0


def _connection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", help="Portus URL (default: $PORTUSCTL_API_SERVER)")
    parser.add_argument("--user", help="user name the token belongs to (default: $PORTUSCTL_API_USER)")
    parser.add_argument("--token", help="application token (default: $PORTUSCTL_API_TOKEN)")
    parser.add_argument(
        "-o",
        "--output",
        default="table",
        choices=["table", "json"],
        help="table for people (default), json for scripts",
    )


def register(sub: Any) -> None:
    verbs: dict[str, tuple[Callable[[argparse.Namespace], int], str]] = {
        "get": (get, "list RESOURCE, or show one: portusctl get repositories [ID] [--q word]"),
        "create": (create, "create RESOURCE: portusctl create teams --name devs"),
        "update": (
            update,
            "change RESOURCE ID: portusctl update namespaces devs --visibility public",
        ),
        "delete": (
            delete,
            "delete RESOURCE ID: portusctl delete tags 42 (that tag only; images 42: its image with every tag "
            "on it; both list what goes and ask first, --yes skips the question)",
        ),
    }
    epilog = "resources: " + ", ".join(RESOURCES)
    for verb, (handler, text) in verbs.items():
        p = sub.add_parser(verb, help=f"API: {text}", description=text, epilog=epilog)
        _connection_options(p)
        p.add_argument("resource", help=epilog)
        p.add_argument("rest", nargs=argparse.REMAINDER, help="[ID] [--field value ...]")
        p.set_defaults(handler=handler)

    p = sub.add_parser("scan", help="API: scan again: REPOSITORY:TAG, a whole REPOSITORY, or --all (administrators)")
    _connection_options(p)
    p.add_argument("image", nargs="?", help="team/app:1.0 for one tag, team/app for every tag of the repository")
    p.add_argument("--all", action="store_true", help="every image of every repository (administrators)")
    p.set_defaults(handler=scan)

    p = sub.add_parser("retrigger", help="API: send a webhook delivery again (a new delivery the worker sends)")
    _connection_options(p)
    p.add_argument("namespace", help="the webhook's namespace")
    p.add_argument("--webhook", type=int, required=True, help="the webhook's id (portusctl get webhooks NAMESPACE)")
    p.add_argument("--delivery", type=int, required=True, help="the delivery's id (portusctl get deliveries ...)")
    p.set_defaults(handler=retrigger)

    p = sub.add_parser("bootstrap", help="API: create the first admin of an empty Portus and print a token")
    _connection_options(p)
    p.add_argument("--username", required=True)
    p.add_argument("--email")
    add_password_arguments(p)
    p.set_defaults(handler=bootstrap)

    p = sub.add_parser("health", help="API: database, registries and background tasks (exit 1 when down)")
    _connection_options(p)
    p.set_defaults(handler=health)

    p = sub.add_parser("version", help="API: client, server and API versions")
    _connection_options(p)
    p.set_defaults(handler=version)
