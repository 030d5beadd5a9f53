"""Log records as one JSON object a line, and the filter that keeps credentials out of every log line."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from typing import Any

REDACTED = "[redacted]"
# What a credential looks like when some library writes one into a message: an Authorization value,
# a password or token query parameter or form field, a URL with a password in it.
SECRET_PATTERNS = (
    re.compile(r"(?i)\b(authorization['\"]?\s*[:=]\s*\[?['\"]?(?:basic|bearer|token)\s+)[^\s'\",\]]+"),
    re.compile(r"(?i)\b((?:basic|bearer)\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"(?i)([?&;\s]\w*(?:password|passwd|secret|token)\w*=)[^&\s'\"]+"),
    re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)[^@\s/]+(@)"),
)

# The fields a record of the request log carries besides its message (portus.server.request_log).
REQUEST_FIELDS = ("method", "path", "route", "status", "duration_ms", "client")


def hide_secrets(text: str) -> str:
    for pattern in SECRET_PATTERNS:
        text = pattern.sub(
            lambda found: found.group(1) + REDACTED + (found.group(2) if found.lastindex == 2 else ""), text
        )
    return text


class HideSecrets(logging.Filter):
    """Rewrites a record's message with every credential-looking value replaced, whoever logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        hidden = hide_secrets(message)
        if hidden != message:
            record.msg, record.args = hidden, None
        if record.exc_info and not record.exc_text:
            record.exc_text = hide_secrets(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = hide_secrets(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, and a request's fields when it is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in REQUEST_FIELDS:
            if field in record.__dict__:
                entry[field] = record.__dict__[field]
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)
