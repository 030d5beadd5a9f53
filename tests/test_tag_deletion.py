"""Deleting one tag: the paths the real registry here (Distribution 2.8) cannot show: a registry that deletes
tag references (Distribution 3), one that refuses to take the image back under a tag, the worker meeting
Portus's own deletions, and what refusing a deletion says. The 2.8 path runs in test_tag_deletion_e2e.py."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from portus.registry.client import OCI_MANIFEST
from portus.registry.deletion import TagsLost, delete_tag
from portus.registry.events import apply_event, read_registry
from portus.registry.models import EventState, RegistryEvent, Tag
from tests.conftest import World
from tests.support.web import add_repository, client_as

MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {}, "layers": []}).encode()
DIGEST = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()


@dataclass
class FakeRegistry:
    """Manifests by tag and digest as the OCI distribution specification describes them."""

    deletes_tags: bool  # Distribution 3 answers DELETE /v2/<name>/manifests/<tag> with 202
    refuse_put: set[str] = field(default_factory=set)
    tags: dict[str, str] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)


def _handler(fake: FakeRegistry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _answer(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _reference(self) -> str:
            fake.calls.append(f"{self.command} {self.path}")
            return self.path.rsplit("/", 1)[1]

        def do_HEAD(self) -> None:
            reference = self._reference()
            if reference in fake.tags:
                self._answer(200, headers={"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": fake.tags[reference]})
            else:
                self._answer(404)

        def _tag_list(self) -> None:
            """One tag a page, the next page named by a Link header, as a registry paginating with n does."""
            names = sorted(fake.tags)
            last = self.path.partition("?last=")[2]
            rest = [name for name in names if name > last] if last else names
            headers = {"Content-Type": "application/json"}
            if len(rest) > 1:
                headers["Link"] = f'</v2/acme/app/tags/list?last={rest[0]}>; rel="next"'
            self._answer(200, json.dumps({"name": "acme/app", "tags": rest[:1]}).encode(), headers)

        def do_GET(self) -> None:
            reference = self._reference()
            if reference.startswith("list"):
                self._tag_list()
                return
            if reference in fake.tags or (reference == DIGEST and DIGEST in fake.tags.values()):
                self._answer(200, MANIFEST, {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": DIGEST})
            else:
                self._answer(404, b'{"errors": [{"code": "MANIFEST_UNKNOWN"}]}')

        def do_DELETE(self) -> None:
            reference = self._reference()
            if reference.startswith("sha256:"):
                fake.tags = {t: d for t, d in fake.tags.items() if d != reference}
                self._answer(202)
            elif not fake.deletes_tags:
                self._answer(405, b'{"errors": [{"code": "UNSUPPORTED"}]}')
            elif fake.tags.pop(reference, None):
                self._answer(202)
            else:
                self._answer(404)

        def do_PUT(self) -> None:
            reference = self._reference()
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if reference in fake.refuse_put or body != MANIFEST:
                self._answer(500, b'{"errors": [{"code": "UNKNOWN"}]}')
                return
            fake.tags[reference] = DIGEST
            self._answer(201, headers={"Docker-Content-Digest": DIGEST})

    return Handler


@pytest.fixture
def serve(world: World) -> Iterator[object]:
    servers: list[ThreadingHTTPServer] = []

    def start(fake: FakeRegistry) -> FakeRegistry:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        world.registry.hostname = f"127.0.0.1:{server.server_address[1]}"
        world.registry.use_ssl = False
        world.registry.save()
        return fake

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def two_tags(world: World) -> Tag:
    repository = add_repository(world.namespace, "app", {"1.0": DIGEST, "latest": DIGEST})
    return repository.tags.get(name="1.0")


def test_a_registry_that_deletes_tags_is_asked_to_delete_the_tag_alone(world: World, serve) -> None:  # type: ignore[no-untyped-def]
    fake = serve(FakeRegistry(deletes_tags=True, tags={"1.0": DIGEST, "latest": DIGEST}))
    tag = two_tags(world)

    delete_tag(tag=tag, actor=world.owner)

    assert fake.calls == ["DELETE /v2/acme/app/manifests/1.0"]
    assert fake.tags == {"latest": DIGEST}
    assert list(Tag.objects.values_list("name", flat=True)) == ["latest"]


def test_a_registry_that_deletes_by_digest_only_gets_the_image_back_under_the_other_tags(world: World, serve) -> None:  # type: ignore[no-untyped-def]
    fake = serve(FakeRegistry(deletes_tags=False, tags={"1.0": DIGEST, "latest": DIGEST}))

    delete_tag(tag=two_tags(world), actor=world.owner)

    assert fake.calls[-2:] == [f"DELETE /v2/acme/app/manifests/{DIGEST}", "PUT /v2/acme/app/manifests/latest"]
    assert fake.tags == {"latest": DIGEST}
    assert list(Tag.objects.values_list("name", flat=True)) == ["latest"]


def test_the_image_goes_back_under_registry_tags_portus_does_not_know_and_not_under_moved_ones(
    world: World, serve
) -> None:  # type: ignore[no-untyped-def]
    moved = "sha256:" + "9" * 64
    fake = serve(FakeRegistry(deletes_tags=False, tags={"1.0": DIGEST, "latest": moved, "new": DIGEST, "z": DIGEST}))
    tag = two_tags(world)  # Portus still has latest on DIGEST: it was pushed again since

    delete_tag(tag=tag, actor=world.owner)

    assert sorted(c for c in fake.calls if c.startswith("PUT")) == [
        "PUT /v2/acme/app/manifests/new",
        "PUT /v2/acme/app/manifests/z",
    ]
    assert fake.tags == {"latest": moved, "new": DIGEST, "z": DIGEST}
    assert list(Tag.objects.values_list("name", flat=True)) == ["latest"]  # the worker syncs the rest


def test_the_dry_run_marks_kept_tags_portus_has_not_synchronized(world: World, serve, portus_config) -> None:  # type: ignore[no-untyped-def]
    portus_config("delete.enabled", True)
    serve(FakeRegistry(deletes_tags=False, tags={"1.0": DIGEST, "latest": DIGEST, "new": DIGEST}))
    tag = two_tags(world)

    plan = client_as(world, "owner").delete(f"/api/v1/tags/{tag.pk}?dry_run=true").json()
    page = client_as(world, "owner").get(f"/repositories/{tag.repository_id}/tags/1.0/delete/").content.decode()

    assert (plan["kept_tags"], plan["unsynced_kept_tags"], plan["registry_read"]) == (["latest", "new"], ["new"], True)
    assert '<code>new</code> <span class="small">(in the registry, not yet synchronized to Portus)</span>' in page


def test_a_tag_the_registry_would_not_take_back_is_named_and_forgotten(world: World, serve) -> None:  # type: ignore[no-untyped-def]
    fake = serve(FakeRegistry(deletes_tags=False, refuse_put={"latest"}, tags={"1.0": DIGEST, "latest": DIGEST}))

    with pytest.raises(TagsLost, match="refused to tag the image again as latest") as raised:
        delete_tag(tag=two_tags(world), actor=world.owner)

    assert raised.value.lost == ["latest"]
    assert fake.tags == {}
    assert not Tag.objects.exists()  # what the registry lost, Portus does not pretend to have


def test_the_worker_leaves_the_rows_of_portuss_own_deletions_to_the_deletion(world: World) -> None:
    tag = two_tags(world)
    event = RegistryEvent.objects.create(
        registry=world.registry,
        event_id="e1",
        action="delete",
        repository="acme/app",
        digest=tag.digest,
        actor="portus",
        occurred_at=timezone.now(),
        received_at=timezone.now(),
    )

    # Read between the deletion by digest and the put back, the registry serves nothing under the digest.
    outcome = apply_event(event, None)

    assert outcome.state == EventState.DONE and "made by Portus itself" in outcome.result
    assert Tag.objects.count() == 2
    assert read_registry(event, client=None) is None  # type: ignore[arg-type]  # no registry read either


def test_refused_deletion_names_the_setting_for_admins(world: World, portus_config) -> None:  # type: ignore[no-untyped-def]
    portus_config("delete.enabled", False)
    tag = two_tags(world)

    admin_page = client_as(world, "admin").get(f"/repositories/{tag.repository_id}/tags/1.0/delete/")
    owner_api = client_as(world, "owner").delete(f"/api/v1/tags/{tag.pk}")

    assert admin_page.status_code == 403
    assert "delete.enabled" in admin_page.content.decode() and "PORTUS_DELETE_ENABLED" in admin_page.content.decode()
    assert owner_api.status_code == 403
    assert "an administrator can turn it on (delete.enabled)" in owner_api.json()["message"]
