"""URL map: the registry's endpoints, the API and the pages."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import include, path


def ping(request: HttpRequest) -> JsonResponse:
    """A trivial JSON view: the baseline the token benchmark compares against."""
    return JsonResponse({"ok": True})


urlpatterns = [
    path("", include("portus.registry_endpoints.urls")),
    path("_ping", ping, name="ping"),
    path("api/", include("portus.api.urls")),
    path("accounts/", include("portus.web.provider_urls")),
    path("", include("portus.web.urls")),
]

# Friendly error pages; the views live with the other pages.
handler403 = "portus.web.views.errors.forbidden"
handler404 = "portus.web.views.errors.not_found"
handler500 = "portus.web.views.errors.server_error"
