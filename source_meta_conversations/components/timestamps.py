"""Graph's timestamps (``2022-07-12T19:11:07+0000``): RFC 3339 for records, UTC for comparing."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

_COLONLESS_OFFSET = re.compile(r"([+-]\d{2})(\d{2})$")


def rfc3339(graph_timestamp: str) -> str:
    """Graph's ``2022-07-12T19:11:07+0000`` as RFC 3339: ``2022-07-12T19:11:07+00:00``.

    A value that already has a colon in its offset (or none) is returned unchanged.
    """
    return _COLONLESS_OFFSET.sub(r"\1:\2", graph_timestamp)


_GRAPH_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%z"


@functools.lru_cache(maxsize=64)
def as_utc(timestamp: str) -> str:
    """``timestamp`` (``%Y-%m-%dT%H:%M:%S%z``, any offset) as Graph's UTC form ``...+0000``."""
    moment = datetime.strptime(timestamp, _GRAPH_TIME_FORMAT).astimezone(UTC)
    return moment.strftime(_GRAPH_TIME_FORMAT)


def created_utc(record: Mapping[str, Any]) -> str:
    """A record's ``created_time`` in Graph's UTC form (parsed only when not already UTC)."""
    created = str(record.get("created_time", ""))
    return created if created.endswith("+0000") or not created else as_utc(created)
