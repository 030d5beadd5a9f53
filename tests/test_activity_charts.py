"""The daily roll-up of pushes and pulls, its rebuild from stored rows, the SVG charts drawn from it, and
storage by namespace counted from stored image blobs (each blob once)."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from portus.cli import main as portusctl
from portus.registry.activity import rebuild_daily
from portus.registry.client import OCI_MANIFEST, ManifestInfo
from portus.registry.events import apply_event
from portus.registry.images import ImageRead, namespace_storage, store_image
from portus.registry.models import ActivityDaily, Namespace, RegistryEvent, Repository, Tag
from tests.conftest import World
from tests.support.web import client_as

pytestmark = pytest.mark.django_db

DIGEST = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64
START = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)


def event(world: World, action: str, tag: str = "v1", digest: str = DIGEST, repository: str = "acme/app") -> None:
    """A registry event applied as the worker would, with the image the registry would describe."""
    stored = RegistryEvent.objects.create(
        registry=world.registry,
        event_id=str(uuid.uuid4()),
        action=action,
        repository=repository,
        tag=tag,
        digest=digest,
        actor="contributor",
        occurred_at=timezone.now(),
        state="done",
    )
    apply_event(stored, ManifestInfo(digest=digest, media_type=OCI_MANIFEST, size=10) if action == "push" else None)


def days(namespace: Namespace) -> dict[dt.date, tuple[int, int]]:
    rows = ActivityDaily.objects.filter(namespace=namespace)
    return {row.day: (row.pushes, row.pulls) for row in rows}


def test_pushes_and_pulls_are_counted_per_day_as_events_are_applied(world: World) -> None:
    with time_machine.travel(START, tick=False):
        event(world, "push", "v1")
        event(world, "push", "latest")
        event(world, "pull", "v1")
    with time_machine.travel(START + dt.timedelta(days=1), tick=False):
        event(world, "pull", "", DIGEST)
        event(world, "pull", "", DIGEST)
        # An index's platform manifest, or anything without a tag here, is not a pull of an image Portus lists.
        event(world, "pull", "", OTHER)
    assert days(world.namespace) == {dt.date(2026, 11, 20): (2, 1), dt.date(2026, 11, 21): (0, 2)}


def test_the_rebuild_gives_the_same_roll_up_from_the_stored_rows(world: World) -> None:
    with time_machine.travel(START, tick=False):
        event(world, "push", "v1")
        event(world, "pull", "v1")
    with time_machine.travel(START + dt.timedelta(days=3), tick=False):
        event(world, "push", "v2", OTHER)
        event(world, "pull", "", OTHER)
        event(world, "pull", "", "sha256:" + "c" * 64)
    counted = days(world.namespace)
    ActivityDaily.objects.all().delete()
    assert rebuild_daily() == 2
    assert days(world.namespace) == counted == {dt.date(2026, 11, 20): (1, 1), dt.date(2026, 11, 23): (1, 1)}
    ActivityDaily.objects.all().delete()
    assert portusctl(["rollup-activity"]) == 0
    assert days(world.namespace) == counted


def test_the_namespace_page_draws_30_days_as_svg_with_a_text_alternative(world: World) -> None:
    with time_machine.travel(START, tick=False):
        event(world, "push", "v1")
        event(world, "pull", "v1")
    with time_machine.travel(START + dt.timedelta(days=40), tick=False):
        event(world, "push", "v2", OTHER)  # outside the shown window, on the day after it
    with time_machine.travel(START + dt.timedelta(days=10), tick=False):
        page = client_as(world, "viewer").get(f"/namespaces/{world.namespace.pk}/").content.decode()
    svg = re.search(r"<svg[^>]*role=\"img\".*?</svg>", page, re.S)
    assert svg is not None
    assert "<title" in svg.group(0) and "<desc" in svg.group(0)
    assert "1 push and 1 pull from Nov 1 to Nov 30" in svg.group(0)
    assert svg.group(0).count('class="chart-push"') == 1
    # The same figures in a table that screen readers (and text browsers) read.
    assert '<th scope="row">2026-11-20</th><td>1</td><td>1</td>' in page
    assert '<th scope="row">2026-11-21</th><td>0</td><td>0</td>' in page


def test_the_dashboard_chart_reads_only_the_roll_up_and_the_namespaces_the_user_sees(world: World) -> None:
    other = Namespace.objects.get(owner=world.admin)
    assert other.visibility == "private"
    today = timezone.localdate()
    ActivityDaily.objects.create(namespace=world.namespace, day=today, pushes=3, pulls=4)
    ActivityDaily.objects.create(namespace=other, day=today, pushes=50, pulls=60)
    viewer = client_as(world, "viewer").get("/").content.decode()
    assert "3 pushes and 4 pulls" in viewer  # the admin's personal namespace is not the viewer's
    admin = client_as(world, "admin").get("/").content.decode()
    assert "53 pushes and 64 pulls" in admin
    with CaptureQueriesContext(connection) as captured:
        client_as(world, "viewer").get("/")
    assert not any('registry_activity"' in query["sql"] and "GROUP BY" in query["sql"] for query in captured)


def image(digest: str, blobs: dict[str, int]) -> ImageRead:
    return ImageRead(digest, {"media_type": OCI_MANIFEST, "size": sum(blobs.values())}, blobs)


def test_storage_counts_each_blob_once_per_namespace_and_the_admin_sees_the_bar_chart(world: World) -> None:
    base, config_a, config_b = "sha256:" + "1" * 64, "sha256:" + "2" * 64, "sha256:" + "3" * 64
    store_image(image(DIGEST, {base: 1000, config_a: 10}))
    store_image(image(OTHER, {base: 1000, config_b: 20}))
    app = Repository.objects.create(namespace=world.namespace, name="app")
    tool = Repository.objects.create(namespace=world.namespace, name="tool")
    Tag.objects.create(repository=app, name="v1", digest=DIGEST, size=1010)
    Tag.objects.create(repository=app, name="latest", digest=DIGEST, size=1010)
    Tag.objects.create(repository=tool, name="v1", digest=OTHER, size=1020)
    personal = Namespace.objects.get(owner=world.contributor)
    mine = Repository.objects.create(namespace=personal, name="copy")
    Tag.objects.create(repository=mine, name="v1", digest=DIGEST, size=1010)
    Tag.objects.create(repository=mine, name="unread", digest="sha256:" + "9" * 64, size=5)  # no details yet

    assert namespace_storage([world.namespace]) == {world.namespace.pk: 1030}
    # A blob shared by two namespaces counts in each.
    assert namespace_storage() == {world.namespace.pk: 1030, personal.pk: 1010}

    page = client_as(world, "admin").get("/admin/storage/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Storage by namespace" in html and "<svg" in html and "<desc" in html
    assert "acme: 1.0\xa0KB" in html or "acme: 1.0 KB" in html
    assert '<th scope="row">acme</th><td>1030</td>' in html
    assert client_as(world, "owner").get("/admin/storage/").status_code in (302, 403)
