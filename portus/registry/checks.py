"""System checks for the registry app (stable ids portus.E0xx / portus.W0xx)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register


@register()
def signing_key_check(app_configs: Any, **kwargs: Any) -> list[Any]:
    from portus.registry.signing import SigningKeyError, signing_key

    try:
        signing_key()
    except SigningKeyError as exc:
        return [Error(str(exc), hint="Point PORTUS_KEY_PATH at a PEM private key.", id="portus.E001")]
    return []


@register()
def production_check(app_configs: Any, **kwargs: Any) -> list[Any]:
    problems: list[Any] = []
    if settings.PRODUCTION and settings.DEBUG:
        problems.append(Warning("PORTUS_DEBUG is on in production.", hint="Unset PORTUS_DEBUG.", id="portus.W001"))
    return problems
