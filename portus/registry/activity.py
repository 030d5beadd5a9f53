"""Writing the activity log; callers run inside the transaction of the change they record."""

from __future__ import annotations

from typing import Any

from portus.registry.models import Activity, Namespace, Team


def record(
    actor: Any,
    action: str,
    target: str,
    *,
    namespace: Namespace | None = None,
    team: Team | None = None,
    **data: Any,
) -> Activity:
    user = actor if getattr(actor, "is_authenticated", False) and getattr(actor, "pk", None) else None
    return Activity.objects.create(
        actor=user, action=action, target=target[:300], namespace=namespace, team=team, data=data
    )
