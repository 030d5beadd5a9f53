"""Page/per_page paging of list endpoints, with GitLab-style X-* and Link headers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, TypeVar

from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from portus.api.schemas import MAX_PER_PAGE, PageParams

T = TypeVar("T")


def default_per_page() -> int:
    return max(1, min(MAX_PER_PAGE, settings.PORTUS.pagination.per_page))


def paginate(
    request: HttpRequest,
    response: HttpResponse,
    items: QuerySet[Any] | Sequence[T],
    params: PageParams,
) -> list[Any]:
    """The requested page of ITEMS; sets the headers that tell clients where the others are.

    Two queries whatever the page size: one count, one slice. Callers fetch related data for the
    page in bulk afterwards, so the query count stays flat.
    """
    per_page = params.per_page or default_per_page()
    total = items.count() if isinstance(items, QuerySet) else len(items)
    pages = max(1, math.ceil(total / per_page))
    page = params.page
    start = (page - 1) * per_page
    rows = list(items[start : start + per_page]) if start < total else []
    response["X-Total"] = str(total)
    response["X-Total-Pages"] = str(pages)
    response["X-Page"] = str(page)
    response["X-Per-Page"] = str(per_page)
    response["X-Next-Page"] = str(page + 1) if page < pages else ""
    response["X-Prev-Page"] = str(min(page - 1, pages)) if page > 1 else ""
    links = {"first": 1, "last": pages}
    if page < pages:
        links["next"] = page + 1
    if page > 1:
        links["prev"] = min(page - 1, pages)
    response["Link"] = ", ".join(f'<{_page_url(request, n, per_page)}>; rel="{rel}"' for rel, n in links.items())
    return rows


def _page_url(request: HttpRequest, page: int, per_page: int) -> str:
    query = request.GET.copy()
    query["page"] = str(page)
    query["per_page"] = str(per_page)
    # From the configured address: the Host header is the caller's to choose.
    return f"{settings.PORTUS_URL}{request.path}?{query.urlencode()}"
