"""Template helpers for the pages: markdown, relative times, avatars and settings lookups."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from django import template
from django.conf import settings
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import timesince

from portus import policy
from portus.accounts.models import User
from portus.web.markdown import render_markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str) -> SafeString:
    # render_markdown sanitizes with an allow-list, so its output is safe to mark as such.
    return mark_safe(render_markdown(text))  # noqa: S308


@register.simple_tag
def when(moment: datetime | None, empty: str = "never") -> str:
    """A relative time ("3 minutes ago") with the exact UTC time on hover and for machines."""
    if moment is None:
        return format_html('<span class="muted">{}</span>', empty)
    now = timezone.now()
    exact = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if moment > now:
        relative = f"in {timesince(now, moment, depth=1)}"
    else:
        elapsed = (now - moment).total_seconds()
        relative = "just now" if elapsed < 60 else f"{timesince(moment, now, depth=1)} ago"
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        moment.isoformat(),
        exact,
        relative.replace("\xa0", " "),
    )


# The sizes portus.css draws (class avatar-N): no inline style, which the Content-Security-Policy refuses.
AVATAR_SIZES = (20, 24, 32, 48, 56)


@register.simple_tag
def avatar(user: User | None, size: int = 32) -> str:
    """Gravatar when it is on and the user has an email; otherwise the initial, drawn locally."""
    size = min(AVATAR_SIZES, key=lambda known: abs(known - size))
    if user is None:
        return format_html('<span class="avatar avatar-{} avatar-none" aria-hidden="true">?</span>', size)
    if settings.PORTUS.gravatar.enabled and user.email:
        digest = hashlib.md5(user.email.strip().lower().encode(), usedforsecurity=False).hexdigest()
        return format_html(
            '<img class="avatar" src="https://www.gravatar.com/avatar/{}?s={}&amp;d=identicon" '
            'width="{}" height="{}" alt="" loading="lazy">',
            digest,
            size * 2,
            size,
            size,
        )
    return format_html(
        '<span class="avatar avatar-{}" aria-hidden="true">{}</span>',
        size,
        user.username[:1].upper(),
    )


@register.filter
def shown_name(user: User | None, missing: str = "Portus") -> str:
    """The name to show for USER; MISSING for lines by Portus itself or a deleted account."""
    return missing if user is None else str(user.shown_name)


@register.filter
def short_digest(digest: str) -> str:
    """sha256:0123456789ab for sha256:0123...; enough to tell images apart."""
    algorithm, _, value = (digest or "").partition(":")
    return f"{algorithm}:{value[:12]}" if value else digest


@register.filter
def imported_tokens(tokens: Iterable[Any]) -> bool:
    """Whether any of TOKENS came from the original Portus (the profile then advises rotating them)."""
    return any(getattr(token, "imported_at", None) for token in tokens)


@register.filter
def who_may_pull(visibility: str) -> str:
    """What VISIBILITY means, in one sentence (policy.can_pull is the rule)."""
    return policy.WHO_MAY_PULL.get(visibility, "")
