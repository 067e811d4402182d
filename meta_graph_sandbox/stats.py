"""Exact call counting for tests and the benchmark.

The benchmark compares connectors by the number of Graph calls they make, so every count here
is exact and taken under one lock. ``calls`` counts HTTP calls (a batch is one call) and
``by_route`` splits them by route; ``batch_items`` and ``batch_items_by_route`` count what the
batches carried; ``by_platform`` counts operations (batch items individually) by the platform
of the object they touched, ``/me`` counting as Messenger.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

ROUTES = ("conversations", "conversation", "conversation_messages", "message", "me", "batch")
# Calls whose path names no known object (unknown ids, bad paths) are counted as "other".
OTHER = "other"


class Stats:
    """Thread-safe counters, rendered as the ``GET /_sandbox/stats`` JSON."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: dict[str, Any] = {}
        self.reset()

    def reset(self) -> None:
        """Zero every counter."""
        with self._lock:
            self._data = {
                "calls": 0,
                "by_route": dict.fromkeys((*ROUTES, OTHER), 0),
                "batch_items": 0,
                "batch_items_by_route": dict.fromkeys((*ROUTES[:-1], OTHER), 0),
                "by_platform": {"messenger": 0, "instagram": 0},
                "rate_limited": 0,
                "faults": {},
                "errors": {},
            }

    def call(self, route: str) -> None:
        """One HTTP call to the Graph API (not an admin route)."""
        with self._lock:
            self._data["calls"] += 1
            by_route = self._data["by_route"]
            by_route[route] = by_route.get(route, 0) + 1

    def batch_item(self, route: str) -> None:
        """One operation carried by a batch."""
        with self._lock:
            self._data["batch_items"] += 1
            by_route = self._data["batch_items_by_route"]
            by_route[route] = by_route.get(route, 0) + 1

    def platform(self, platform: str) -> None:
        """One operation on an object of ``platform``."""
        with self._lock:
            self._data["by_platform"][platform] += 1

    def rate_limited(self) -> None:
        """One call refused by the rate limiter."""
        with self._lock:
            self._data["rate_limited"] += 1

    def fault(self, name: str) -> None:
        """One fault served."""
        with self._lock:
            faults = self._data["faults"]
            faults[name] = faults.get(name, 0) + 1

    def error(self, code: int) -> None:
        """One Graph error answer (batch items counted one by one)."""
        with self._lock:
            errors = self._data["errors"]
            key = str(code)
            errors[key] = errors.get(key, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        """A deep copy of the counters."""
        with self._lock:
            return copy.deepcopy(self._data)
