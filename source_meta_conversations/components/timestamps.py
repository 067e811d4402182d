"""Graph's timestamps (``2022-07-12T19:11:07+0000``): RFC 3339 for records, UTC for comparing."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

# What the cursors parse (``%Y-%m-%dT%H:%M:%S%z``, manifest): a time to the second with an
# offset, Graph's colon-less ``+0000`` or RFC 3339's ``+00:00`` or ``Z``. ASCII digits only
# (``\d`` would take any script's); offset minutes under 60 (``fromisoformat`` would carry them
# into the hours, ``strptime`` refuses them).
_READABLE_TIME = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(?:([+-][0-9]{2}):?([0-5][0-9])|Z)"
)


def rfc3339(timestamp: Any) -> str | None:
    """``timestamp`` as RFC 3339 (``2022-07-12T19:11:07+00:00``), or None when it is no time.

    Graph writes ``2022-07-12T19:11:07+0000``; destinations read RFC 3339 as a timestamp with
    time zone. None for anything the cursors could not parse: not a string, another shape
    (a date alone, fractions of a second, no offset) or no real moment (February 30).

    Example: ``"2022-07-12T11:11:07-0800"`` gives ``"2022-07-12T11:11:07-08:00"``, ``"Z"``
    becomes ``+00:00``; ``"yesterday"`` and ``1657653067`` give None.
    """
    if type(timestamp) is not str:
        return None
    match = _READABLE_TIME.fullmatch(timestamp)
    if match is None:
        return None
    moment, hours, minutes = match.groups()
    text = f"{moment}{hours}:{minutes}" if hours else f"{moment}+00:00"
    try:
        datetime.fromisoformat(text)  # the calendar: month 13, February 30, hour 24
    except ValueError:
        return None
    return text


_GRAPH_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%z"


@functools.lru_cache(maxsize=64)
def as_utc(timestamp: str) -> str:
    """``timestamp`` (``%Y-%m-%dT%H:%M:%S%z``, any offset) as Graph's UTC form ``...+0000``."""
    moment = datetime.strptime(timestamp, _GRAPH_TIME_FORMAT).astimezone(UTC)
    return moment.strftime(_GRAPH_TIME_FORMAT)


def created_utc(record: Mapping[str, Any]) -> str | None:
    """A record's ``created_time`` in Graph's UTC form; None when it is not a readable time.

    Parsed only when its offset is not UTC. Example: ``2026-03-01T01:00:00+0100`` gives
    ``2026-03-01T00:00:00+0000``; a missing or null ``created_time``, or ``"yesterday"``, None.
    """
    readable = rfc3339(record.get("created_time"))
    if readable is None:
        return None
    if readable.endswith("+00:00"):
        return readable[:-6] + "+0000"
    return as_utc(readable)
