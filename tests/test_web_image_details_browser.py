"""Image details and the charts in a real browser (Debian's Chromium through Playwright) on a live Portus:
what the tag page shows of a stored image and of each platform of an index, the activity chart's text
alternatives on the dashboard and a namespace page, and the admin's storage chart. Screenshots go to
build/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import timezone

from portus.registry.client import OCI_INDEX, OCI_MANIFEST
from portus.registry.images import ImageRead, config_fields, store_image
from portus.registry.models import ActivityDaily
from tests.conftest import World, make_world
from tests.support.browser import launched_chromium, shot, signed_in
from tests.support.web import add_repository

pytestmark = pytest.mark.browser

SINGLE = "sha256:" + "1" * 64
INDEX = "sha256:" + "2" * 64
AMD64 = "sha256:" + "3" * 64
ARM64 = "sha256:" + "4" * 64

# Every element an aria-labelledby names, with its text: an accessible name that resolves to words.
LABELLED_BY = """element => element.getAttribute('aria-labelledby').split(/\\s+/).map(id => {
    const named = document.getElementById(id);
    return named ? named.textContent.trim() : null;
})"""


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with launched_chromium(monkeypatch) as chromium:
        yield chromium


@pytest.fixture
def site(live_server: Any, transactional_db: None) -> tuple[World, str]:
    return make_world(), live_server.url


def image(digest: str, config: dict[str, Any], blobs: dict[str, int]) -> ImageRead:
    """An image as the worker reads it from the registry: the config's fields and its blobs."""
    fields = {"media_type": OCI_MANIFEST, "annotations": {}, "config_digest": next(iter(blobs))}
    fields |= config_fields(config) | {"size": sum(blobs.values())}
    return ImageRead(digest, fields, dict(blobs))


def server_config(architecture: str, variant: str = "") -> dict[str, Any]:
    return {
        "created": "2026-01-02T03:04:05Z",
        "os": "linux",
        "architecture": architecture,
        "variant": variant,
        "config": {
            "Entrypoint": ["/usr/bin/server"],
            "Cmd": ["--port", "8080"],
            "Env": ["PATH=/usr/bin", "MODE=production"],
            "ExposedPorts": {"8080/tcp": {}, "9090/udp": {}},
            "Labels": {"org.opencontainers.image.source": "https://example.com/server"},
        },
        "history": [
            {"created_by": "ADD rootfs.tar /"},
            {"created_by": "ENV MODE=production", "empty_layer": True},
            {"created_by": "COPY server /usr/bin/server"},
        ],
    }


def test_the_tag_page_shows_what_the_image_runs_and_how_it_was_built(browser: Any, site: tuple[World, str]) -> None:
    world, base = site
    store_image(image(SINGLE, server_config("amd64"), {"sha256:" + "c" * 64: 900, "sha256:" + "d" * 64: 3000}))
    repository = add_repository(world.namespace, "server", {"1.0": SINGLE})
    page = signed_in(browser, base, "viewer")
    page.goto(f"{base}/repositories/{repository.pk}/tags/1.0/")
    details = page.locator("#details")
    shot(page, "tag-image-details")

    facts = dict(zip(details.locator("dt").all_inner_texts(), details.locator("dd").all_inner_texts(), strict=True))
    assert facts["Platform"] == "linux/amd64"
    assert facts["Entrypoint"] == "/usr/bin/server" and facts["Command"] == "--port 8080"
    assert facts["Exposed ports"] == "8080/tcp, 9090/udp"
    assert facts["Manifest"] == SINGLE
    assert details.get_by_role("heading", name="Environment").is_visible()
    assert details.locator("li").all_inner_texts() == ["PATH=/usr/bin", "MODE=production"]
    labels = details.get_by_role("table", name="Labels")
    assert labels.get_by_role("row").nth(1).inner_text().split("\t") == [
        "org.opencontainers.image.source",
        "https://example.com/server",
    ]
    history = details.locator("table", has=page.locator("caption", has_text="History")).locator("tbody tr")
    steps = [row.locator("td").nth(1).inner_text() for row in history.all()]
    layers = [row.locator("td").nth(2).inner_text() for row in history.all()]
    assert steps == ["ADD rootfs.tar /", "ENV MODE=production", "COPY server /usr/bin/server"]
    assert layers == ["layer", "empty layer", "layer"]
    page.context.close()


def test_the_tag_page_of_an_index_shows_each_platform_with_its_own_details(
    browser: Any, site: tuple[World, str]
) -> None:
    world, base = site
    amd64 = image(AMD64, server_config("amd64"), {"sha256:" + "e" * 64: 1000})
    arm64 = image(ARM64, server_config("arm64", "v8"), {"sha256:" + "f" * 64: 2000})
    fields = {"media_type": OCI_INDEX, "annotations": {"org.opencontainers.image.version": "1.0"}, "size": 3000}
    store_image(ImageRead(INDEX, fields, {}, [("linux/amd64", amd64), ("linux/arm64/v8", arm64)]))
    repository = add_repository(world.namespace, "multi", {"1.0": INDEX})
    page = signed_in(browser, base, "viewer")
    page.goto(f"{base}/repositories/{repository.pk}/tags/1.0/")
    details = page.locator("#details")

    assert INDEX in details.locator("p", has_text="multi-platform image").inner_text()
    assert "2 platforms" in details.inner_text()
    annotations = details.get_by_role("table", name="Index annotations")
    assert "org.opencontainers.image.version" in annotations.inner_text()
    platforms = details.locator("details")
    assert platforms.count() == 2
    assert [summary.split(" · ")[0] for summary in platforms.locator("summary").all_inner_texts()] == [
        "linux/amd64",
        "linux/arm64/v8",
    ]
    second = platforms.nth(1)
    assert not second.locator("dl").is_visible()  # closed until asked
    second.locator("summary").click()
    assert second.locator("dd").first.inner_text() == "linux/arm64/v8"
    summary = second.locator("summary").inner_text().replace("\xa0", " ")
    assert ARM64 in summary and "2.0 KB" in summary
    assert second.locator("td", has_text="empty layer").count() == 1
    shot(page, "tag-index-details")
    page.context.close()


def check_activity_chart(page: Any, pushes: int, pulls: int) -> None:
    """The chart is an SVG image named by words on the page, with its numbers in a table for screen readers."""
    svg = page.locator("#activity-chart-caption").locator("xpath=..").locator("svg")
    assert svg.get_attribute("role") == "img"
    names = svg.evaluate(LABELLED_BY)
    assert names[0] == "Pushes and pulls per day, last 30 days"
    assert "push" in names[1]
    assert page.get_by_role("img", name="Pushes and pulls per day, last 30 days").count() == 1
    figure = page.get_by_role("figure", name="Pushes and pulls, last 30 days")
    table = figure.get_by_role("table", name="Pushes and pulls per day, last 30 days")
    assert table.count() == 1
    # Read by screen readers, drawn for no one: clipped to nothing, out of the flow.
    assert table.evaluate("e => [getComputedStyle(e).position, getComputedStyle(e).clip]") == [
        "absolute",
        "rect(0px, 0px, 0px, 0px)",
    ]
    today = timezone.localdate().isoformat()
    row = table.locator("tbody tr", has=page.locator(f"th:text-is('{today}')"))
    assert row.locator("td").all_inner_texts() == [str(pushes), str(pulls)]


def test_the_dashboard_and_a_namespace_page_chart_pushes_and_pulls_with_text_alternatives(
    browser: Any, site: tuple[World, str]
) -> None:
    world, base = site
    ActivityDaily.objects.create(namespace=world.namespace, day=timezone.localdate(), pushes=3, pulls=7)
    page = signed_in(browser, base, "viewer")
    check_activity_chart(page, 3, 7)
    assert page.locator("svg.chart-svg rect").count() == 2
    shot(page, "dashboard-activity-chart")
    page.goto(f"{base}/namespaces/{world.namespace.pk}/")
    check_activity_chart(page, 3, 7)
    shot(page, "namespace-activity-chart")
    page.context.close()


def test_an_admin_sees_storage_by_namespace_and_no_one_else_does(browser: Any, site: tuple[World, str]) -> None:
    world, base = site
    store_image(image(SINGLE, server_config("amd64"), {"sha256:" + "c" * 64: 1024, "sha256:" + "d" * 64: 4096}))
    add_repository(world.namespace, "server", {"1.0": SINGLE, "latest": SINGLE})  # one image, counted once
    page = signed_in(browser, base, "admin")
    page.goto(f"{base}/admin/storage/")
    chart = page.get_by_role("img", name="Storage by namespace")
    assert chart.count() == 1
    assert chart.locator("rect").count() == 1
    assert [text.strip() for text in chart.evaluate(LABELLED_BY)][0] == "Storage by namespace"
    table = page.get_by_role("table", name="Storage by namespace")
    assert table.locator("tbody tr").all_inner_texts() == ["acme\t5120"]
    shot(page, "admin-storage")
    page.context.close()

    for username in ("owner", "viewer"):
        page = signed_in(browser, base, username)
        answer = page.goto(f"{base}/admin/storage/")
        assert answer is not None and answer.status in (403, 404)
        assert page.get_by_role("img", name="Storage by namespace").count() == 0
        page.context.close()
