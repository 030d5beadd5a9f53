"""/api/v1/activities: the activity log as far as the caller may see it, as JSON pages or as CSV."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from ninja import Query, Router

from portus import policy
from portus.api.auth import OPTIONAL, principal
from portus.api.errors import ERRORS
from portus.api.pagination import paginate
from portus.api.schemas import ActivityFilters, ActivityOut, Error, PageParams
from portus.registry.models import Activity

router = Router(tags=["activities"])

CSV_COLUMNS = ["id", "created_at", "actor", "action", "target", "namespace", "team", "data"]


def filtered(request: HttpRequest, filters: ActivityFilters) -> QuerySet[Activity]:
    activities = policy.visible_activities(principal(request))
    if filters.action:
        if filters.action.endswith("."):
            activities = activities.filter(action__startswith=filters.action)
        else:
            activities = activities.filter(action=filters.action)
    if filters.actor:
        activities = activities.filter(actor__username=filters.actor)
    if filters.namespace:
        activities = activities.filter(namespace__name=filters.namespace)
    if filters.team:
        activities = activities.filter(team__name=filters.team)
    if filters.since:
        activities = activities.filter(created_at__gte=filters.since)
    if filters.until:
        activities = activities.filter(created_at__lt=filters.until)
    return activities.select_related("actor", "namespace__registry", "team").order_by(
        filters.sort, filters.sort.replace("created_at", "pk")
    )


def activity_row(activity: Activity) -> dict[str, Any]:
    return {
        "id": activity.pk,
        "created_at": activity.created_at,
        "actor": activity.actor.username if activity.actor else None,
        "action": activity.action,
        "target": activity.target,
        "namespace": activity.namespace.display_name if activity.namespace else None,
        "team": activity.team.name if activity.team else None,
        "data": activity.data if isinstance(activity.data, dict) else {"value": activity.data},
    }


@router.get(
    "/activities",
    response={200: list[ActivityOut], ERRORS: Error},
    auth=OPTIONAL,
    summary="The activity log, newest first",
)
def list_activities(
    request: HttpRequest,
    response: HttpResponse,
    filters: Query[ActivityFilters],
    paging: Query[PageParams],
) -> list[ActivityOut]:
    return [ActivityOut(**activity_row(a)) for a in paginate(request, response, filtered(request, filters), paging)]


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_lines(activities: QuerySet[Activity]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for activity in activities.iterator(chunk_size=500):
        row = activity_row(activity)
        row["created_at"] = activity.created_at.isoformat()
        row["data"] = json.dumps(row["data"], sort_keys=True, default=str)
        yield writer.writerow([_safe_cell(row[column]) for column in CSV_COLUMNS])


def _safe_cell(value: Any) -> Any:
    # Spreadsheets run cells starting with = + - @ as formulas; user-chosen names must not.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return "" if value is None else value


@router.get(
    "/activities.csv",
    response={ERRORS: Error},
    auth=OPTIONAL,
    summary="The activity log as CSV",
    openapi_extra={
        "responses": {
            "200": {
                "description": "CSV, one activity per line, with a header line.",
                "content": {"text/csv": {"schema": {"type": "string"}}},
            }
        }
    },
)
def export_activities(request: HttpRequest, filters: Query[ActivityFilters]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(_csv_lines(filtered(request, filters)), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="portus-activities.csv"'
    return response
