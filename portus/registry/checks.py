"""System checks for the registry app (stable ids portus.E0xx / portus.W0xx)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register

from portus.registry.signing import SigningKeyError, signing_key


@register()
def signing_key_check(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    try:
        signing_key()
    except SigningKeyError as exc:
        return [Error(str(exc), hint="Point PORTUS_KEY_PATH at a PEM private key.", id="portus.E001")]
    return []


@register()
def production_check(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    problems: list[CheckMessage] = []
    if settings.PRODUCTION and settings.DEBUG:
        problems.append(Warning("PORTUS_DEBUG is on in production.", hint="Unset PORTUS_DEBUG.", id="portus.W001"))
    metrics = settings.PORTUS.metrics
    if settings.PRODUCTION and metrics.enabled and not metrics.token:
        problems.append(
            Warning(
                "/metrics is on without a token: whoever reaches it reads how many users, teams and "
                "repositories there are.",
                hint="Set PORTUS_METRICS_TOKEN (or PORTUS_METRICS_TOKEN_FILE) and give Prometheus the same token.",
                id="portus.W003",
            )
        )
    return problems


@register()
def secret_key_check(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    if not getattr(settings, "SECRET_KEY_EPHEMERAL", False):
        return []
    return [
        Warning(
            f"No secret key in {settings.DATA_DIR}: this process made up its own, so its sessions and the "
            "registry's notification secret end with it and differ from other processes'.",
            hint="Run portusctl (any command writes the development secret) or set PORTUS_SECRET_KEY_BASE.",
            id="portus.W002",
        )
    ]


@register()
def original_settings_check(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    left_out = settings.PORTUS.unsupported_original_settings
    if not left_out:
        return []
    return [
        Warning(
            "Settings of the original Portus that this Portus does not support were read and left out: "
            + ", ".join(left_out)
            + ".",
            hint="See docs/migration.md for what replaces each; remove them from config-local.yml to silence this.",
            id="portus.W010",
        )
    ]
