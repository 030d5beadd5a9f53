"""``portusctl background`` (the worker) and ``portusctl sync`` (one run, or a dry run)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from portus.background.metrics_endpoint import start_metrics_server
from portus.cli.command import CommandError, setup_django


def background(args: argparse.Namespace) -> int:
    setup_django()
    from django.conf import settings

    from portus.background.worker import Worker

    config = settings.PORTUS.metrics
    if config.enabled and config.worker_listen:
        try:
            start_metrics_server(config.worker_listen)
        except (ValueError, OSError) as exc:
            raise CommandError(f"cannot serve the worker's metrics: {exc}") from None
    worker = Worker()
    worker.install_signal_handlers()
    worker.run(until_idle=args.until_idle)
    return 0


def sync(args: argparse.Namespace) -> int:
    setup_django()
    from django.conf import settings

    from portus.registry.models import Registry
    from portus.registry.sync import Synchronizer, deletes

    registries = Registry.objects.order_by("pk")
    if args.registry:
        registries = registries.filter(name=args.registry)
    if not registries.exists():
        raise CommandError(
            "no such registry; add one with `portusctl registry add`."
            if args.registry
            else "no registry yet; add one with `portusctl registry add`."
        )
    strategy = settings.PORTUS.background.sync.strategy
    delete = args.delete if args.delete is not None else deletes(strategy)
    complete = True
    for registry in registries:
        print(
            f"{'Dry run: ' if args.dry_run else ''}"
            f"synchronizing {registry.name} ({registry.hostname}), "
            f"{'adding, changing and deleting' if delete else 'adding and changing only'}"
        )
        report = Synchronizer(
            registry,
            delete=delete,
            dry_run=args.dry_run,
            max_deletions=args.max_deletions,
            echo=lambda line: print(f"  {line}", flush=True),
        ).run()
        print(f"  {report.summary()}")
        complete = complete and report.complete
    if not complete:
        sys.stderr.write(
            "portusctl sync: the registry could not be read completely, so nothing was deleted; "
            "check that it is up and retry.\n"
        )
        return 1
    return 0


def rollup_activity(args: argparse.Namespace) -> int:
    setup_django()
    from portus.registry.activity import rebuild_daily

    days = rebuild_daily()
    print(f"daily activity rebuilt: {days} namespace-days of pushes and pulls")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("background", help="run the background worker (registry events, sync, scanning)")
    p.add_argument("--until-idle", action="store_true", help="exit once nothing is left to do")
    p.set_defaults(handler=background)

    p = sub.add_parser("sync", help="synchronize Portus with its registries now")
    p.add_argument("--dry-run", action="store_true", help="print what would be added, changed and deleted")
    p.add_argument("--registry", help="registry name (default: all)")
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        "--delete",
        dest="delete",
        action="store_true",
        default=None,
        help="also delete what the registry lacks (default: from background.sync.strategy)",
    )
    group.add_argument("--no-delete", dest="delete", action="store_false")
    p.add_argument(
        "--max-deletions",
        type=int,
        help="cap for this run (default: background.sync.max_deletions)",
    )
    p.set_defaults(handler=sync)

    p = sub.add_parser(
        "rollup-activity",
        help="rebuild the daily pushes and pulls the charts show from the stored activity and pull events",
    )
    p.set_defaults(handler=rollup_activity)
