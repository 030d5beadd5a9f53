"""The REST API: a NinjaAPI with one router per resource under /api/v1, docs at /api/docs."""

from __future__ import annotations

from typing import Any

from django.urls import URLPattern, URLResolver
from ninja import NinjaAPI
from ninja.openapi.schema import OpenAPISchema
from ninja.operation import Operation

from portus import __version__
from portus.api import (
    activities,
    comments,
    errors,
    health,
    namespaces,
    registries,
    repositories,
    reserved_names,
    search,
    stars,
    tags,
    teams,
    tokens,
    users,
    vulnerabilities,
    webhooks,
)
from portus.api.auth import SIGNED_IN, NoCredentials
from portus.api.params import refuse_nul_characters

DESCRIPTION = """Drive Portus from scripts and CI pipelines.

Authenticate with `Authorization: Bearer APPLICATION_TOKEN`, with
`Portus-Auth: USER:APPLICATION_TOKEN`, or with a signed-in browser session (writes then need the
CSRF token). Each operation's `security` lists what it takes; an empty requirement `{}` among them
means it also answers callers without credentials, with what anonymous visitors may see.

Errors are JSON `{"message": ...}`. Lists take `page` and `per_page` and answer with `X-Total`,
`X-Total-Pages`, `X-Page`, `X-Per-Page`, `X-Next-Page`, `X-Prev-Page` and `Link` headers."""


class PortusOpenAPISchema(OpenAPISchema):
    """django-ninja's document, plus the empty requirement ``{}`` on each operation whose auth list
    admits callers without credentials right now (anonymous browsing on, or a public route)."""

    def operation_security(self, operation: Operation) -> list[dict[str, Any]] | None:
        security = super().operation_security(operation)
        if security is not None and any(
            isinstance(callback, NoCredentials) and callback.admits() for callback in operation.auth_callbacks
        ):
            security.append({})
        return security


class PortusAPI(NinjaAPI):
    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> OpenAPISchema:
        if path_prefix is None:
            path_prefix = self.get_root_path(path_params or {})
        return PortusOpenAPISchema(self, path_prefix)


api = PortusAPI(
    title="Portus API",
    version=__version__,
    description=DESCRIPTION,
    urls_namespace="api",
    openapi_url="/openapi.json",
    docs_url="/docs",
    auth=SIGNED_IN,  # each route declares its own; this is the default for one that forgets
)
errors.install(api)
api.add_decorator(refuse_nul_characters, mode="view")

api.add_router("/v1", health.router)
api.add_router("/v1/users", users.router)
api.add_router("/v1", tokens.router)
api.add_router("/v1/teams", teams.router)
api.add_router("/v1/namespaces", namespaces.router)
api.add_router("/v1/namespaces", webhooks.router)
api.add_router("/v1/repositories", repositories.router)
api.add_router("/v1/tags", tags.router)
api.add_router("/v1/registries", registries.router)
api.add_router("/v1/reserved-names", reserved_names.router)
api.add_router("/v1/search", search.router)
api.add_router("/v1", stars.router)
api.add_router("/v1", comments.router)
api.add_router("/v1", activities.router)
api.add_router("/v1", vulnerabilities.router)


def _guarded(pattern: URLPattern | URLResolver) -> URLPattern:
    """PATTERN with its view wrapped so that every failure under /api/ is answered in JSON."""
    if not isinstance(pattern, URLPattern) or pattern.callback is None:
        raise TypeError(f"django-ninja listed {pattern!r}; expected a plain path to a view")
    view = errors.answering_in_json(api, pattern.callback)
    return URLPattern(pattern.pattern, view, pattern.default_args, pattern.name)


urlpatterns = [_guarded(p) for p in api.urls[0]]
app_name = api.urls_namespace  # "api": the namespace django-ninja reverses its own URLs in
