"""Stored XSS: script in descriptions and comments renders inert."""

from __future__ import annotations

import re

import pytest

from portus.registry.actions import create_comment, update_namespace_description, update_repository
from tests.conftest import World
from tests.support.web import add_repository, client_as

pytestmark = pytest.mark.django_db

PAYLOADS = [
    "<script>alert('x')</script>",
    '<img src=x onerror="alert(1)">',
    "[click me](javascript:alert(1))",
    '<a href="javascript:alert(1)">raw link</a>',
    "<svg onload=alert(1)></svg>",
    '<iframe src="https://evil.example"></iframe>',
    '<p style="background:url(javascript:alert(1))">styled</p>',
]
DANGER = re.compile(r"<script|<img|<svg|<iframe|\son\w+=|javascript:|style=", re.IGNORECASE)


def rendered_markdown(html: str) -> str:
    """Only the parts of the page that came from user markdown."""
    return "\n".join(re.findall(r'<div class="(?:card )?description">(.*?)</div>', html, re.DOTALL))


@pytest.mark.parametrize("payload", PAYLOADS)
def test_description_and_comment_payloads_render_inert(world: World, payload: str) -> None:
    repository = add_repository(world.namespace, "target")
    update_repository(repository=repository, description=f"Repo {payload}", actor=world.owner)
    update_namespace_description(namespace=world.namespace, description=f"Namespace {payload}", actor=world.owner)
    create_comment(repository=repository, body=f"Comment {payload}", actor=world.viewer)
    for url in (f"/repositories/{repository.pk}/", f"/namespaces/{world.namespace.pk}/"):
        html = client_as(world, "owner").get(url).content.decode()
        user_html = rendered_markdown(html)
        assert user_html, f"no rendered markdown found on {url}"
        assert not DANGER.search(user_html), user_html


def test_safe_markdown_still_renders(world: World) -> None:
    repository = add_repository(world.namespace, "doc")
    update_repository(
        repository=repository,
        description="# Title\n\n[docs](https://example.com) `code`",
        actor=world.owner,
    )
    html = client_as(world, "owner").get(f"/repositories/{repository.pk}/").content.decode()
    assert "<h1>Title</h1>" in html and 'href="https://example.com"' in html and "<code>code</code>" in html


def test_names_and_activity_targets_are_escaped(world: World) -> None:
    from portus.registry.activity import record

    record(world.owner, "repository.push", "<script>alert(1)</script>", namespace=world.namespace)
    html = client_as(world, "owner").get("/").content.decode()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
