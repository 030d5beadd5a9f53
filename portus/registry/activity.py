"""Writing the activity log; callers run inside the transaction of the change they record."""

from __future__ import annotations

from typing import Any

from portus.accounts.models import User
from portus.principal import Actor
from portus.registry.models import Activity, Namespace, Team


def record(
    actor: Actor,
    action: str,
    target: str,
    *,
    namespace: Namespace | None = None,
    team: Team | None = None,
    **data: Any,
) -> Activity:
    user = actor if isinstance(actor, User) and actor.pk else None
    return Activity.objects.create(
        actor=user, action=action, target=target[:300], namespace=namespace, team=team, data=data
    )
