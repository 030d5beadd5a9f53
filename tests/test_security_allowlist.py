"""The vulnerability allowlist: who manages it, what it does to the counts, and the activity it leaves."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from portus import policy
from portus.errors import ActionError
from portus.registry.actions import create_namespace
from portus.registry.models import Activity
from portus.security import actions
from portus.security.models import AllowlistEntry, ScanSummary
from portus.security.reports import image_report
from tests.conftest import World
from tests.support.scan_records import DIGEST, scanned_tag


def summary() -> ScanSummary:
    return ScanSummary.objects.get(manifest_digest=DIGEST)


def test_an_admin_manages_the_global_allowlist_and_nobody_else_does(world: World) -> None:
    assert policy.can_manage_allowlist(world.admin, None)
    for persona in (world.owner, world.contributor, world.viewer, world.outsider, None):
        assert not policy.can_manage_allowlist(persona, None)


def test_a_namespace_owner_manages_that_namespaces_allowlist(world: World) -> None:
    assert policy.can_manage_allowlist(world.owner, world.namespace)
    assert policy.can_manage_allowlist(world.admin, world.namespace)
    for persona in (world.contributor, world.viewer, world.outsider, None):
        assert not policy.can_manage_allowlist(persona, world.namespace)


def test_findings_are_seen_by_whoever_may_pull(world: World) -> None:
    assert policy.can_see_findings(world.viewer, world.namespace)
    assert not policy.can_see_findings(world.outsider, world.namespace)
    assert not policy.can_see_findings(None, world.namespace)


def test_an_allowlisted_finding_leaves_the_counts_and_comes_back_when_removed(world: World) -> None:
    scanned_tag(world.namespace)
    assert (summary().critical, summary().allowlisted) == (1, 0)
    entry = actions.add_allowlist_entry(
        vulnerability_id="CVE-2024-0001", comment="not reachable", namespace=world.namespace, actor=world.owner
    )
    assert (summary().critical, summary().low, summary().allowlisted) == (0, 1, 1)
    report = image_report(DIGEST, world.namespace)
    marked = {f.vulnerability_id for f in report.findings if f.allowlisted}
    assert marked == {"CVE-2024-0001"}
    assert len(report.findings) == 4  # still listed
    actions.remove_allowlist_entry(entry=entry, actor=world.owner)
    assert (summary().critical, summary().allowlisted) == (1, 0)


def test_a_global_entry_holds_in_every_namespace(world: World) -> None:
    scanned_tag(world.namespace)
    actions.add_allowlist_entry(vulnerability_id="CVE-2024-0002", comment="disputed", actor=world.admin)
    assert (summary().high, summary().allowlisted) == (0, 1)
    assert "CVE-2024-0002" in AllowlistEntry.active_ids(world.namespace)


def test_another_namespaces_entry_does_not_touch_this_image(world: World) -> None:
    scanned_tag(world.namespace)
    actions.add_allowlist_entry(
        vulnerability_id="CVE-2024-0001",
        comment="theirs",
        namespace=world.outsider.personal_namespace,
        actor=world.outsider,
    )
    assert (summary().critical, summary().allowlisted) == (1, 0)
    assert not any(f.allowlisted for f in image_report(DIGEST, world.namespace).findings)


def test_an_image_in_two_namespaces_counts_until_both_accept(world: World) -> None:
    other = create_namespace(
        name="other", team=world.team, visibility="private", registry=world.registry, actor=world.owner
    )
    scanned_tag(world.namespace)
    scanned_tag(other, repository="copy")
    actions.add_allowlist_entry(vulnerability_id="CVE-2024-0001", comment="ok", namespace=other, actor=world.owner)
    assert summary().critical == 1
    actions.add_allowlist_entry(
        vulnerability_id="CVE-2024-0001", comment="ok", namespace=world.namespace, actor=world.owner
    )
    assert summary().critical == 0


def test_an_expired_entry_counts_again_once_the_expiry_is_applied(world: World) -> None:
    scanned_tag(world.namespace)
    start = timezone.now()
    actions.add_allowlist_entry(
        vulnerability_id="CVE-2024-0001",
        comment="until the fix ships",
        namespace=world.namespace,
        expires_at=start + timedelta(days=1),
        actor=world.owner,
    )
    assert summary().critical == 0
    with time_machine.travel(start + timedelta(days=2)):
        assert actions.refresh_expired_allowlist_entries() == 1
        assert actions.refresh_expired_allowlist_entries() == 0  # applied once
        assert summary().critical == 1
        assert not any(f.allowlisted for f in image_report(DIGEST, world.namespace).findings)


def test_every_allowlist_change_is_in_the_activity_log(world: World) -> None:
    entry = actions.add_allowlist_entry(
        vulnerability_id="CVE-2024-0001", comment="not reachable", namespace=world.namespace, actor=world.owner
    )
    actions.remove_allowlist_entry(entry=entry, actor=world.admin)
    lines = list(Activity.objects.filter(action__startswith="security.").order_by("pk"))
    assert [(line.action, line.actor, line.target, line.namespace) for line in lines] == [
        ("security.allowlist_add", world.owner, "CVE-2024-0001", world.namespace),
        ("security.allowlist_remove", world.admin, "CVE-2024-0001", world.namespace),
    ]
    assert lines[0].data["comment"] == "not reachable"


@pytest.mark.parametrize(
    ("vulnerability_id", "comment", "days", "message"),
    [
        ("", "why", None, "vulnerability id"),
        ("CVE-1 CVE-2", "why", None, "vulnerability id"),
        ("CVE-2024-0001", "  ", None, "Say why"),
        ("CVE-2024-0001", "why", -1, "in the past"),
    ],
)
def test_an_entry_needs_one_id_a_comment_and_a_future_expiry(
    world: World, vulnerability_id: str, comment: str, days: int | None, message: str
) -> None:
    expires = timezone.now() + timedelta(days=days) if days is not None else None
    with pytest.raises(ActionError, match=message):
        actions.add_allowlist_entry(
            vulnerability_id=vulnerability_id, comment=comment, expires_at=expires, actor=world.admin
        )
    assert not AllowlistEntry.objects.exists()
    assert not Activity.objects.filter(action__startswith="security.").exists()


def test_the_same_id_is_allowlisted_once_per_scope(world: World) -> None:
    actions.add_allowlist_entry(vulnerability_id="CVE-2024-0001", comment="a", actor=world.admin)
    with pytest.raises(ActionError, match="already allowlisted"):
        actions.add_allowlist_entry(vulnerability_id="CVE-2024-0001", comment="b", actor=world.admin)
    actions.add_allowlist_entry(
        vulnerability_id="CVE-2024-0001", comment="c", namespace=world.namespace, actor=world.owner
    )
    assert AllowlistEntry.objects.count() == 2


def test_the_worker_applies_expired_entries_on_its_database_check(world: World, portus_config) -> None:  # type: ignore[no-untyped-def]
    from portus.background.worker import Worker

    portus_config("background.security_scanning.enabled", True)
    scanned_tag(world.namespace)
    start = timezone.now()
    actions.add_allowlist_entry(
        vulnerability_id="CVE-2024-0001",
        comment="until the fix ships",
        namespace=world.namespace,
        expires_at=start + timedelta(days=1),
        actor=world.owner,
    )
    assert summary().critical == 0
    with time_machine.travel(start + timedelta(days=2)):
        Worker(name="test").handle_database_check()
        assert summary().critical == 1
