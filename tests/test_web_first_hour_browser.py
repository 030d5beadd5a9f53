"""The first-hour pages in a real browser (Debian's Chromium through Playwright) on a live Portus: what a
newcomer reads and clicks, and the layout measured rather than looked at. Screenshots go to build/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from portus.registry.actions import create_namespace, star_repository
from portus.registry.activity import record
from portus.registry.models import Registry
from tests.conftest import World, make_world
from tests.support.browser import launched_chromium, shot, signed_in
from tests.support.web import add_repository

pytestmark = pytest.mark.browser

# Each table's content must fit inside its card: no scroll bar, nothing drawn over the card's edge.
FITS_IN_CARD = """() => [...document.querySelectorAll('.card table:not(.visually-hidden)')].map(table => {
    const card = table.closest('.card');
    return {heading: card.querySelector('h2') ? card.querySelector('h2').textContent : '',
            table: table.scrollWidth, card: card.clientWidth, right: table.getBoundingClientRect().right,
            cardRight: card.getBoundingClientRect().right};
})"""


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with launched_chromium(monkeypatch) as chromium:
        yield chromium


@pytest.fixture
def site(live_server: Any, transactional_db: None) -> tuple[World, str]:
    return make_world(), live_server.url


def test_the_dashboard_tables_fit_their_cards_at_1400_pixels(browser: Any, site: tuple[World, str]) -> None:
    world, base = site
    long_names = ("a-rather-long-repository-name-for-the-dashboard", "another/with-a-nested-path-that-is-long")
    for name in long_names:
        repository = add_repository(world.namespace, name, {f"v{i}": "sha256:" + f"{i}" * 64 for i in range(3)})
        star_repository(repository=repository, actor=world.owner)
    create_namespace(
        name="owner-tools", team=world.team, visibility="public", registry=world.registry, actor=world.owner
    )
    page = signed_in(browser, base, "owner", width=1400)
    measured = page.evaluate(FITS_IN_CARD)
    shot(page, "dashboard-1400")
    assert len(measured) == 3
    for table in measured:
        assert table["table"] <= table["card"], table
        assert table["right"] <= table["cardRight"] + 0.5, table
    page.context.close()


def test_a_user_in_no_team_learns_why_and_reaches_team_creation(browser: Any, site: tuple[World, str]) -> None:
    _, base = site
    page = signed_in(browser, base, "outsider")
    page.goto(f"{base}/namespaces/")
    assert page.locator("a:has-text('New namespace')").count() == 0
    assert "you are in no team yet" in page.inner_text("#no-namespace-create")
    shot(page, "namespaces-no-team")
    page.click("#no-namespace-create a:has-text('Create a team')")
    page.wait_for_url(f"{base}/teams/new/")
    page.context.close()


def test_the_visibility_choices_explain_themselves_on_the_create_form(browser: Any, site: tuple[World, str]) -> None:
    _, base = site
    page = signed_in(browser, base, "owner")
    page.goto(f"{base}/namespaces/new/")
    label = page.locator("label", has=page.locator("input[name=visibility][value=protected]"))
    assert "Every signed-in user may see and pull" in label.inner_text()
    page.context.close()


def test_the_token_section_shows_login_commands_for_the_real_host(browser: Any, site: tuple[World, str]) -> None:
    world, base = site
    Registry.objects.filter(pk=world.registry.pk).update(external_hostname="registry.example.com")
    page = signed_in(browser, base, "viewer")
    page.goto(f"{base}/profile/")
    hint = page.locator("#login-hint")
    assert hint.is_visible()
    assert page.input_value(f"#docker-login-{world.registry.pk}") == "docker login -u viewer registry.example.com"
    assert (
        page.input_value(f"#podman-login-{world.registry.pk}")
        == "podman login --tls-verify=false -u viewer registry.example.com"
    )
    assert "insecure-registries" in hint.inner_text()
    # A new token keeps the commands beside it.
    page.fill("#id_name", "laptop")
    page.click("button:has-text('Create token')")
    page.wait_for_selector("#new-token")
    assert page.locator("#login-hint").is_visible()
    shot(page, "profile-tokens")
    page.context.close()


def test_empty_search_results_keep_their_distance_from_the_edges(browser: Any, site: tuple[World, str]) -> None:
    _, base = site
    page = signed_in(browser, base, "owner")
    page.goto(f"{base}/search/?q=nothing-matches-this")
    shot(page, "search-empty")
    gaps = page.evaluate(
        """() => ['No repository matches.', 'No namespace matches.', 'No team matches.'].map(text => {
            const cell = [...document.querySelectorAll('main td, main li')].find(e => e.textContent.trim() === text);
            const outer = cell.closest('.card, table').getBoundingClientRect();
            const range = document.createRange(); range.selectNodeContents(cell);
            const words = range.getBoundingClientRect();
            return {text, left: words.left - outer.left, top: words.top - outer.top};
        })"""
    )
    for gap in gaps:
        assert gap["left"] >= 8 and gap["top"] >= 6, gap
    page.context.close()


def test_markdown_tables_have_borders(browser: Any, site: tuple[World, str]) -> None:
    world, base = site
    world.namespace.description = "| Tag | Use |\n| --- | --- |\n| v1 | stable |\n"
    world.namespace.save(update_fields=["description"])
    page = signed_in(browser, base, "owner")
    page.goto(f"{base}/namespaces/{world.namespace.pk}/")
    cell = page.locator(".description table td").first
    assert cell.evaluate("e => getComputedStyle(e).borderTopStyle") == "solid"
    assert float(cell.evaluate("e => parseFloat(getComputedStyle(e).borderTopWidth)")) >= 1
    page.context.close()


def test_activity_lines_link_to_what_they_are_about(browser: Any, site: tuple[World, str]) -> None:
    world, base = site
    repository = add_repository(world.namespace, "app", {"v1": "sha256:" + "3" * 64})
    record(None, "repository.push", "acme/app:v1", namespace=world.namespace, tag="v1", reported_actor="owner")
    page = signed_in(browser, base, "viewer")
    page.locator(".activity li", has_text="pushed").get_by_role("link", name="acme/app:v1").click()
    page.wait_for_url(f"{base}/repositories/{repository.pk}/tags/v1/")
    page.goto(f"{base}/")
    page.locator(".activity li", has_text="added viewer").get_by_role("link", name="acme").click()
    page.wait_for_url(f"{base}/teams/{world.team.pk}/")
    page.context.close()


def test_no_page_asks_a_third_party_for_an_image_by_default(browser: Any, site: tuple[World, str]) -> None:
    _, base = site
    page = signed_in(browser, base, "owner")
    outside: list[str] = []
    page.on("request", lambda request: outside.append(request.url) if not request.url.startswith(base) else None)
    for path in ("/", "/profile/", "/namespaces/", "/teams/", "/explore/"):
        page.goto(f"{base}{path}")
        page.wait_for_load_state("load")
    assert outside == []
    page.context.close()
