"""Parameter and body types shared by the resources: bounded ids, strict flags, ISO dates."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from typing import Annotated, Any, TypeVar

from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import Path, Schema
from pydantic import AfterValidator, BeforeValidator, StrictBool, model_validator

M = TypeVar("M", bound=Model)

# Ids fit a 64-bit signed column on every database backend.
ObjectId = Annotated[int, Path(..., ge=1, le=2**63 - 1, description="Numeric id.")]
# A name, or "id:N" for the object whose id is N. Never both readings of one text: user names may
# be all digits, so "5" read as an id would pick user 5 for the user named "5".
Key = Annotated[
    str,
    Path(
        ...,
        min_length=1,
        max_length=150,
        description='A name (user name, team name, namespace name), or "id:N" for the object whose id is N.',
        examples=["alice", "id:5"],
    ),
]
ID_PREFIX = "id:"


def key_for(obj: Model) -> str:
    """The explicit key of OBJ: "id:N"."""
    return f"{ID_PREFIX}{obj.pk}"


def key_id(key: str) -> int | None:
    """N when KEY is "id:N" (a bounded, plain decimal id), else None."""
    if not key.startswith(ID_PREFIX):
        return None
    digits = key.removeprefix(ID_PREFIX)
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 18):
        return None
    return int(digits)


def find_by_key(queryset: QuerySet[M], key: str, name_field: str = "name") -> M | None:
    """The object named KEY, or for "id:N" the one whose id is N; a bare number is a name."""
    if key.startswith(ID_PREFIX):
        object_id = key_id(key)
        return None if object_id is None else queryset.filter(pk=object_id).first()
    # A bare name: never read as an id.
    return queryset.filter(**{name_field: key}).first()


def _iso_datetime_only(value: Any) -> Any:
    # pydantic reads bare numbers as Unix timestamps; a script passing "5" almost surely meant
    # something else, so only ISO 8601 text (or a datetime) is taken.
    if isinstance(value, bool) or isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.match(value)):
        raise ValueError("use an ISO 8601 date and time, such as 2025-01-31T12:00:00Z")
    return value


def _in_utc(value: datetime) -> datetime:
    # Stored and compared in UTC: databases refuse odd offsets (PostgreSQL: beyond +-15:59).
    try:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the date is out of range") from None
    if not 1900 <= value.year <= 9999:
        raise ValueError("use a date between the years 1900 and 9999")
    return value


_NUMBER = re.compile(r"\A\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*\Z")
IsoDatetime = Annotated[datetime, BeforeValidator(_iso_datetime_only), AfterValidator(_in_utc)]
# JSON true/false only: 0, 1 and "yes" are refused rather than guessed at.
Flag = StrictBool


class Body(Schema):
    """Base of every request body: a JSON object, never a list or a bare value (django-ninja's
    schemas would otherwise read a list as an object without attributes, all fields unset)."""

    @model_validator(mode="wrap")
    @classmethod
    def _object_only(cls, value: Any, handler: Any) -> Any:
        if not isinstance(value, dict | Body):
            raise ValueError("the request body must be a JSON object")
        return handler(value)


TOO_DEEP = "The JSON body nests too deeply; send flat objects, as the schema shows."


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def refuse_nul_characters(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """No text Portus stores or searches may hold a NUL character: PostgreSQL refuses it in any
    text value (the query would fail, and with it the transaction). Checked before validation."""

    @wraps(view)
    def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        values: list[Any] = [*kwargs.values(), *(v for _, vs in request.GET.lists() for v in vs)]
        try:
            if request.body and request.content_type == "application/json":
                try:
                    values.append(json.loads(request.body))
                except ValueError:
                    pass  # django-ninja answers malformed JSON itself
            has_nul = any(_has_nul(v) for v in values)
        except RecursionError:
            return JsonResponse({"message": TOO_DEEP}, status=400)
        if has_nul:
            return JsonResponse({"message": "Text must not contain NUL (\\u0000) characters."}, status=400)
        return view(request, *args, **kwargs)

    return checked
