"""Repositories with their tag and star counts: one query method that pages and API share."""

from __future__ import annotations

from django.db.models import Q

from portus.registry.models import Repository, Star
from tests.conftest import World
from tests.support.web import add_repository


def test_counts_are_per_repository_and_not_multiplied_by_joins(world: World) -> None:
    app = add_repository(world.namespace, "app", {"v1": "sha256:" + "1" * 64, "v2": "sha256:" + "2" * 64})
    Repository.objects.create(namespace=world.namespace, name="empty")
    for user in (world.owner, world.viewer, world.contributor):
        Star.objects.create(user=user, repository=app)
    # An OR over a join, as visibility filters do: a JOIN-based count would count rows twice or more.
    found = (
        Repository.objects.filter(Q(namespace__team__members=world.owner) | Q(stars__user=world.viewer))
        .distinct()
        .with_counts()
    )
    assert sorted((r.name, r.tag_count, r.star_count) for r in found) == [("app", 2, 3), ("empty", 0, 0)]
