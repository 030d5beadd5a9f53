"""``portusctl import portus --from URL``: bring an original Portus (2.3 to 2.5) database into this one."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from portus.cli.command import CommandError, setup_django

# What keeps the original's registry configuration (its auth.token section and certificate bundle)
# working unchanged: the same key and certificate, algorithm, issuer and service.
KEEP_THE_REGISTRY = """\
To keep the registry's configuration unchanged (docs/migration.md):
  PORTUS_KEY_PATH=<the original's key, e.g. /certificates/portus.key>
  PORTUS_CERT_PATH=<the certificate in the registry's auth.token.rootcertbundle>
  PORTUS_REGISTRY_JWT_ALGORITHM_VALUE=RS256   (the original signed with its RSA key)
  PORTUS_MACHINE_FQDN_VALUE=<the original's machine_fqdn: the registry's auth.token.issuer>
  The service stays the registry's host name ({services}); /v2/token and /v2/webhooks/events answer as before.
  The registry's notifications carry no secret yet: accepted until an admin requires the secret
  (Admin > Registries, after `portusctl registry config` put it into the registry's configuration).
Then: `portusctl sync --dry-run` shows what differs between the registry and what was imported."""


def import_portus(args: argparse.Namespace) -> int:
    setup_django()
    from portus.importer.run import Importer, ImportRefused
    from portus.importer.source import SourceError, open_source

    try:
        source = open_source(args.source)
    except SourceError as exc:
        raise CommandError(str(exc)) from None
    try:
        report = Importer(source, dry_run=args.dry_run, merge=args.merge).run()
    except ImportRefused as exc:
        raise CommandError(str(exc)) from None
    finally:
        source.close()
    out = sys.stdout
    out.write("\n".join(report.lines()) + "\n")
    if not args.dry_run:
        from portus.registry.models import Registry

        services = ", ".join(Registry.objects.order_by("pk").values_list("hostname", flat=True)) or "none"
        out.write(KEEP_THE_REGISTRY.format(services=services) + "\n")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("import", help="import another system's database (the original Portus)")
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True)
    q = kinds.add_parser("portus", help="an original Portus 2.3 to 2.5 database, read-only (docs/migration.md)")
    q.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="DATABASE_URL",
        help="mysql://USER:PASSWORD@HOST/NAME or postgresql://USER:PASSWORD@HOST/NAME",
    )
    q.add_argument(
        "--dry-run", action="store_true", help="print what would be imported and what cannot be; change nothing"
    )
    q.add_argument("--merge", action="store_true", help="keep what is already here and import only what is new")
    q.set_defaults(handler=import_portus)
