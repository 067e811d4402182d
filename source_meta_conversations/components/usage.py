"""Meta's usage headers (``X-Business-Use-Case-Usage``, ``X-App-Usage``), read as numbers."""

from __future__ import annotations

import json
from typing import Any

import requests


def regain_access_seconds(response: requests.Response | None) -> float | None:
    """Seconds Meta says to wait, from ``X-Business-Use-Case-Usage``; None when it says nothing.

    The header maps each object id to a list of usage entries whose
    ``estimated_time_to_regain_access`` is in minutes, e.g.
    ``{"104839588217347": [{"type": "messenger", "call_count": 100,
    "estimated_time_to_regain_access": 2}]}`` gives 120.0.
    """
    if response is None:
        return None
    raw = response.headers.get("X-Business-Use-Case-Usage")
    if not raw:
        return None
    try:
        usage = json.loads(raw)
    except ValueError:
        return None
    minutes = [
        float(value)
        for entries in (usage.values() if isinstance(usage, dict) else [])
        if isinstance(entries, list)
        for entry in entries
        if isinstance(entry, dict)
        for value in [entry.get("estimated_time_to_regain_access")]
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    ]
    longest = max(minutes, default=0.0)
    return longest * 60 if longest > 0 else None


def usage_percent(response: requests.Response) -> int:
    """The highest percentage in Meta's usage headers (0 when there are none).

    Reads ``X-Business-Use-Case-Usage`` (per object, per type) and ``X-App-Usage``; throttling
    may start when any ``call_count``, ``total_time`` or ``total_cputime`` reaches 100.
    """
    values: list[float] = []
    for header in ("X-Business-Use-Case-Usage", "X-App-Usage"):
        raw = response.headers.get(header)
        if not raw:
            continue
        try:
            usage = json.loads(raw)
        except ValueError:
            continue
        entries: list[Any] = [usage] if header == "X-App-Usage" else []
        if header == "X-Business-Use-Case-Usage" and isinstance(usage, dict):
            entries = [
                entry for group in usage.values() if isinstance(group, list) for entry in group
            ]
        for entry in entries:
            if isinstance(entry, dict):
                for key in ("call_count", "total_time", "total_cputime"):
                    value = entry.get(key)
                    if isinstance(value, (int, float)):
                        values.append(float(value))
    return int(max(values, default=0))
