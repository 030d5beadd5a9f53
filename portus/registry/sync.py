"""Reconciling Portus's repositories and tags with what a registry actually holds.

Safety rules, in order of importance:
- nothing is deleted unless the whole catalog and every tag list were read without an error;
- deletions per run are capped (``background.sync.max_deletions``); the rest wait for the next run;
- a repository the registry sent events about after we read it is left to those events, and a tag
  or repository written after the run read it is never changed or deleted by the run;
- memory stays flat: the catalog is read page by page and the repositories seen are marked in the
  database (``SyncMark``), not collected in a Python set.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from portus.config import SYNC_STRATEGIES
from portus.registry import actions
from portus.registry.activity import record
from portus.registry.client import ManifestInfo, NotFound, RegistryClient, RegistryError
from portus.registry.events import image_fields
from portus.registry.models import Namespace, Registry, RegistryEvent, Repository, SyncMark, Tag
from portus.registry.names import split_repository_name

log = logging.getLogger(__name__)
# Registry and Portus clocks may differ a little; events this close to a read count as "after" it.
CLOCK_SKEW = dt.timedelta(seconds=30)


@dataclass(frozen=True)
class Strategy:
    """What a ``background.sync.strategy`` (one of config.SYNC_STRATEGIES) does."""

    when: str  # "never"; "empty": while the registry has no repository in Portus; "start"; "always"
    delete: bool  # update-delete: also delete what the registry no longer holds


STRATEGIES = {
    "initial": Strategy("empty", delete=False),
    "on-start": Strategy("start", delete=True),
    "update": Strategy("always", delete=False),
    "update-delete": Strategy("always", delete=True),
    "disabled": Strategy("never", delete=False),
}
assert set(STRATEGIES) == set(SYNC_STRATEGIES), "every configurable strategy needs a meaning here"


class SyncAborted(Exception):
    """The run stopped before reading everything (shutdown requested)."""


@dataclass
class RepositoryRead:
    """One repository as the registry showed it at ``read_at``."""

    full_name: str
    read_at: dt.datetime
    tags: dict[str, ManifestInfo]
    vanished: set[str]  # listed, but the manifest was gone when fetched: neither added nor deleted


@dataclass
class SyncReport:
    dry_run: bool
    deleting: bool
    repositories_read: int = 0
    added_repositories: int = 0
    added_tags: int = 0
    changed_tags: int = 0
    deleted_tags: int = 0
    deleted_repositories: int = 0
    deferred_deletions: int = 0
    skipped: int = 0  # repositories in namespaces Portus does not have, or busy with fresh events
    complete: bool = False
    error: str = ""
    lines: list[str] = field(default_factory=list, repr=False)

    def summary(self) -> str:
        verb = "would " if self.dry_run else ""
        parts = [
            f"read {self.repositories_read} repositories",
            f"{verb}add {self.added_repositories} repositories and {self.added_tags} tags",
            f"{verb}change {self.changed_tags} tags",
        ]
        if self.deleting:
            parts.append(f"{verb}delete {self.deleted_repositories} repositories and {self.deleted_tags} tags")
            if self.deferred_deletions:
                parts.append(f"{self.deferred_deletions} deletions left for the next run (max_deletions)")
        if self.skipped:
            parts.append(f"skipped {self.skipped} repositories")
        if not self.complete:
            parts.append(f"INCOMPLETE, nothing deleted: {self.error}")
        return "; ".join(parts)


@dataclass
class PlannedTagDeletion:
    repository_id: int
    tag_id: int
    label: str
    digest: str
    read_at: dt.datetime


class Synchronizer:
    """One run over one registry: ``delete`` means update-delete; ``dry_run`` writes nothing."""

    def __init__(
        self,
        registry: Registry,
        *,
        delete: bool,
        dry_run: bool = False,
        max_deletions: int | None = None,
        concurrency: int | None = None,
        should_stop: Callable[[], bool] = lambda: False,
        on_page: Callable[[SyncReport], None] = lambda report: None,
        echo: Callable[[str], None] | None = None,
    ):
        self.registry = registry
        self.delete = delete
        self.dry_run = dry_run
        self.max_deletions = settings.PORTUS.background.sync.max_deletions if max_deletions is None else max_deletions
        self.concurrency = concurrency or settings.PORTUS.background.sync.concurrency
        self.should_stop = should_stop
        self.on_page = on_page
        self.echo = echo
        self.run_id = f"sync-{secrets.token_hex(8)}"
        self.report = SyncReport(dry_run=dry_run, deleting=delete)
        # Only up to the cap is kept, the rest counted, so memory does not follow the registry.
        self.tag_deletions: list[PlannedTagDeletion] = []
        self._local = threading.local()
        self._clients: list[RegistryClient] = []
        self._clients_lock = threading.Lock()

    # -- reading the registry (worker threads: network only, no database) ---------------------

    def _client(self) -> RegistryClient:
        client = getattr(self._local, "client", None)
        if client is None:
            client = RegistryClient(self.registry)
            self._local.client = client
            with self._clients_lock:
                self._clients.append(client)
        return client

    def read_repository(self, full_name: str) -> RepositoryRead:
        client = self._client()
        read_at = timezone.now()
        try:
            tag_names = client.tags(full_name)
        except NotFound:
            tag_names = []  # the registry lists the name but holds nothing under it
        tags: dict[str, ManifestInfo] = {}
        vanished: set[str] = set()
        for tag in tag_names:
            try:
                tags[tag] = client.describe(full_name, tag)
            except NotFound:
                vanished.add(tag)  # deleted between the tag list and this read
        return RepositoryRead(full_name, read_at, tags, vanished)

    def _reads(self, executor: ThreadPoolExecutor, names: list[str]) -> Iterator[RepositoryRead]:
        yield from executor.map(self.read_repository, names)

    # -- the run --------------------------------------------------------------------------------

    def say(self, line: str) -> None:
        self.report.lines.append(line) if self.echo is None else self.echo(line)

    def run(self) -> SyncReport:
        started = timezone.now()
        try:
            with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="portus-sync") as executor:
                client = RegistryClient(self.registry)
                try:
                    for page in client.catalog_pages():
                        if self.should_stop():
                            raise SyncAborted("stopped on request before the catalog was read to the end")
                        self._page(executor, page)
                        self.on_page(self.report)
                finally:
                    client.close()
            self.report.complete = True
        except (RegistryError, SyncAborted) as exc:
            self.report.error = str(exc)
            log.warning("synchronization of %s incomplete, nothing deleted: %s", self.registry.hostname, exc)
        finally:
            for reader in self._clients:
                reader.close()
        try:
            if self.report.complete and self.delete:
                self._delete_missing(started)
        finally:
            SyncMarkStore.forget(self.run_id)
        return self.report

    def _page(self, executor: ThreadPoolExecutor, names: list[str]) -> None:
        namespace_names = {split_repository_name(name)[0] for name in names}
        namespaces = {ns.name: ns for ns in Namespace.objects.filter(registry=self.registry, name__in=namespace_names)}
        wanted: list[str] = []
        for name in names:
            namespace = namespaces.get(split_repository_name(name)[0])
            if namespace is None:
                self.report.skipped += 1
                self.say(f"skip {name}: namespace {split_repository_name(name)[0]!r} does not exist in Portus")
            else:
                wanted.append(name)
        reads = list(self._reads(executor, wanted))  # one page at most: memory stays bounded
        known = self._known_state(namespaces, reads)
        seen: list[int] = []
        for read in reads:
            if self.should_stop():
                raise SyncAborted("stopped on request in the middle of a catalog page")
            self.report.repositories_read += 1
            namespace = namespaces[split_repository_name(read.full_name)[0]]
            current = known.get(read.full_name)
            if current is not None and not self._would_change(current[1], read):
                seen.append(current[0])  # the common case of a periodic run: nothing to write
                continue
            repository_id = self._reconcile(namespace, read)
            if repository_id is not None:
                seen.append(repository_id)
        SyncMarkStore.mark(self.run_id, seen)

    def _known_state(
        self, namespaces: dict[str, Namespace], reads: list[RepositoryRead]
    ) -> dict[str, tuple[int, dict[str, Tag]]]:
        """What Portus holds for a page's repositories, in three queries for the whole page.

        Only a hint: a repository that looks changed is read again under its row lock."""
        by_namespace: dict[int, str] = {ns.pk: name for name, ns in namespaces.items()}
        names = [split_repository_name(read.full_name)[1] for read in reads]
        repositories = Repository.objects.filter(namespace_id__in=by_namespace, name__in=names)
        full_names = {
            repo.pk: by_namespace[repo.namespace_id] + ("/" if by_namespace[repo.namespace_id] else "") + repo.name
            for repo in repositories.only("pk", "namespace_id", "name")
        }
        state: dict[str, tuple[int, dict[str, Tag]]] = {name: (pk, {}) for pk, name in full_names.items()}
        for tag in Tag.objects.filter(repository_id__in=full_names):
            state[full_names[tag.repository_id]][1][tag.name] = tag
        if reads:
            since = min(read.read_at for read in reads) - CLOCK_SKEW
            busy = set(
                RegistryEvent.objects.filter(
                    registry=self.registry,
                    repository__in=[read.full_name for read in reads],
                    action__in=["push", "delete"],
                    occurred_at__gte=since,
                ).values_list("repository", flat=True)
            )
            for name in busy:
                state.pop(name, None)  # let _reconcile look at it carefully
        return state

    def _would_change(self, known: dict[str, Tag], read: RepositoryRead) -> bool:
        for tag_name, info in read.tags.items():
            tag = known.get(tag_name)
            if tag is None or (tag.pushed_at < read.read_at and _differs(tag, info)):
                return True
        if self.delete:
            return any(
                name not in read.tags and name not in read.vanished and tag.pushed_at < read.read_at
                for name, tag in known.items()
            )
        return False

    def _has_fresh_events(self, full_name: str, since: dt.datetime) -> bool:
        return RegistryEvent.objects.filter(
            registry=self.registry,
            repository=full_name,
            action__in=["push", "delete"],
            occurred_at__gte=since - CLOCK_SKEW,
        ).exists()

    def _reconcile(self, namespace: Namespace, read: RepositoryRead) -> int | None:
        """Apply one repository's read; the id of its Portus repository, if there is one."""
        name = split_repository_name(read.full_name)[1]
        with transaction.atomic():
            repository = Repository.objects.select_for_update().filter(namespace=namespace, name=name).first()
            if self._has_fresh_events(read.full_name, read.read_at):
                self.report.skipped += 1
                self.say(f"skip {read.full_name}: the registry sent events about it during this run")
                return repository.pk if repository else None
            created = False
            if repository is None:
                if not read.tags:
                    return None
                self.report.added_repositories += 1
                self.say(f"add repository {read.full_name}")
                if not self.dry_run:
                    repository = Repository.objects.create(namespace=namespace, name=name)
                    created = True
            known = {tag.name: tag for tag in repository.tags.all()} if repository and not created else {}
            changes: dict[str, list[str]] = {"added": [], "changed": []}
            new_tags: list[Tag] = []
            for tag_name, info in read.tags.items():
                tag = known.get(tag_name)
                if tag is None:
                    changes["added"].append(tag_name)
                    self.say(f"add tag {read.full_name}:{tag_name} {info.digest}")
                    new_tags.append(
                        Tag(
                            repository=repository,
                            name=tag_name,
                            pushed_at=read.read_at,
                            **image_fields(info),
                        )
                    )
                elif tag.pushed_at < read.read_at and _differs(tag, info):
                    changes["changed"].append(tag_name)
                    self.say(f"change tag {read.full_name}:{tag_name} {tag.digest} -> {info.digest}")
                    if not self.dry_run:
                        for key, value in image_fields(info).items():
                            setattr(tag, key, value)
                        tag.save()
            if new_tags and not self.dry_run:
                Tag.objects.bulk_create(new_tags)
            for tag_name, tag in known.items():
                if tag_name in read.tags or tag_name in read.vanished or tag.pushed_at >= read.read_at:
                    continue
                self._plan_tag_deletion(tag, f"{read.full_name}:{tag_name}", read.read_at)
            self.report.added_tags += len(changes["added"])
            self.report.changed_tags += len(changes["changed"])
            if (changes["added"] or changes["changed"]) and not self.dry_run and repository is not None:
                if not created:
                    repository.updated_at = timezone.now()
                    repository.save(update_fields=["updated_at"])
                record(
                    None,
                    "repository.sync",
                    read.full_name,
                    namespace=namespace,
                    added=changes["added"],
                    changed=changes["changed"],
                )
            return repository.pk if repository is not None and repository.pk else None

    def _plan_tag_deletion(self, tag: Tag, label: str, read_at: dt.datetime) -> None:
        if not self.delete:
            return
        if self.dry_run:
            if self.report.deleted_tags < self.max_deletions:
                self.say(f"delete tag {label}")
                self.report.deleted_tags += 1
            else:
                self.report.deferred_deletions += 1
        elif len(self.tag_deletions) < self.max_deletions:
            self.tag_deletions.append(PlannedTagDeletion(tag.repository_id, tag.pk, label, tag.digest, read_at))
        else:
            self.report.deferred_deletions += 1

    def _delete_missing(self, started: dt.datetime) -> None:
        """After a complete read only: planned tag deletions, then repositories not listed."""
        budget = self.max_deletions - (self.report.deleted_tags if self.dry_run else 0)
        for plan in self.tag_deletions:
            if budget <= 0:
                self.report.deferred_deletions += 1
                continue
            repository = Repository.objects.select_related("namespace").filter(pk=plan.repository_id).first()
            if repository is None:
                continue  # deleted by an event since we read it
            deletion = actions.delete_tags(
                repository=repository,
                # Nothing when an event changed the tag since we read it.
                tags=repository.tags.filter(pk=plan.tag_id, digest=plan.digest, pushed_at__lt=plan.read_at),
                actor=None,
                via="sync",
            )
            if not deletion.tags:
                continue
            self.report.deleted_tags += 1
            budget -= 1
            self.say(f"delete tag {plan.label}")
            if deletion.repository_deleted:
                self.report.deleted_repositories += 1
                self.say(f"delete repository {repository.full_name} (no tag left)")
        missing = (
            Repository.objects.filter(namespace__registry=self.registry, created_at__lt=started)
            .exclude(pk__in=SyncMarkStore.marked(self.run_id))
            .select_related("namespace")
            .order_by("pk")
        )
        for repository in missing.iterator(chunk_size=500):
            if self._has_fresh_events(repository.full_name, started):
                continue
            if budget <= 0:
                self.report.deferred_deletions += 1
                continue
            budget -= 1
            self.report.deleted_repositories += 1
            self.say(f"delete repository {repository.full_name} (not in the registry's catalog)")
            if self.dry_run:
                continue
            actions.delete_repository(repository=repository, actor=None, via="sync")


class SyncMarkStore:
    """The repositories a run has seen, in the database so memory does not grow with the catalog."""

    @staticmethod
    def mark(run_id: str, repository_ids: list[int]) -> None:
        SyncMark.objects.bulk_create(
            [SyncMark(run=run_id, repository_id=pk) for pk in repository_ids], ignore_conflicts=True
        )

    @staticmethod
    def marked(run_id: str) -> QuerySet[SyncMark, Any]:
        return SyncMark.objects.filter(run=run_id).values("repository_id")

    @staticmethod
    def forget(run_id: str) -> None:
        SyncMark.objects.filter(run=run_id).delete()


def _differs(tag: Tag, info: ManifestInfo) -> bool:
    return any(getattr(tag, key) != value for key, value in image_fields(info).items())


def may_run(strategy: str, *, at_start: bool) -> bool:
    """Whether STRATEGY runs at all now; ``at_start`` is the worker's first look after starting."""
    when = STRATEGIES[strategy].when
    return when != "never" and (when != "start" or at_start)


def deletes(strategy: str) -> bool:
    return STRATEGIES[strategy].delete


def should_run(strategy: str, registry: Registry, *, at_start: bool) -> tuple[bool, bool]:
    """(run now?, delete?) for STRATEGY on REGISTRY."""
    if not may_run(strategy, at_start=at_start):
        return False, False
    if STRATEGIES[strategy].when == "empty":
        return not Repository.objects.filter(namespace__registry=registry).exists(), deletes(strategy)
    return True, deletes(strategy)
