"""The REST API: a NinjaAPI with one router per resource under /api/v1, docs at /api/docs."""

from __future__ import annotations

from typing import Any

from ninja import NinjaAPI

from portus import __version__
from portus.api import (
    activities,
    comments,
    errors,
    health,
    namespaces,
    registries,
    repositories,
    search,
    stars,
    tags,
    teams,
    tokens,
    users,
)
from portus.api.auth import OPTIONAL
from portus.api.params import refuse_nul_characters

DESCRIPTION = """Drive Portus from scripts and CI pipelines.

Authenticate with `Authorization: Bearer APPLICATION_TOKEN`, with
`Portus-Auth: USER:APPLICATION_TOKEN`, or with a signed-in browser session (writes then need the
CSRF token). Errors are JSON `{"message": ...}`. Lists take `page` and `per_page` and answer
with `X-Total`, `X-Total-Pages`, `X-Page`, `X-Per-Page`, `X-Next-Page`, `X-Prev-Page` and `Link`
headers."""


class PortusAPI(NinjaAPI):
    def get_openapi_schema(self, *args: Any, **kwargs: Any) -> Any:
        """Mark every operation's credentials as optional (an empty requirement): each one answers
        anonymous callers itself, with what they may see or with 401 and a sentence."""
        schema = super().get_openapi_schema(*args, **kwargs)
        for operations in schema["paths"].values():
            for operation in operations.values():
                if operation.get("security") and {} not in operation["security"]:
                    operation["security"].append({})
        return schema


api = PortusAPI(
    title="Portus API",
    version=__version__,
    description=DESCRIPTION,
    urls_namespace="api",
    openapi_url="/openapi.json",
    docs_url="/docs",
    auth=OPTIONAL,
)
errors.install(api)
api.add_decorator(refuse_nul_characters, mode="view")

api.add_router("/v1", health.router)
api.add_router("/v1/users", users.router)
api.add_router("/v1", tokens.router)
api.add_router("/v1/teams", teams.router)
api.add_router("/v1/namespaces", namespaces.router)
api.add_router("/v1/repositories", repositories.router)
api.add_router("/v1/tags", tags.router)
api.add_router("/v1/registries", registries.router)
api.add_router("/v1/search", search.router)
api.add_router("/v1", stars.router)
api.add_router("/v1", comments.router)
api.add_router("/v1", activities.router)

urlpatterns = [*api.urls[0]]
app_name = api.urls_namespace  # "api": the namespace django-ninja reverses its own URLs in
