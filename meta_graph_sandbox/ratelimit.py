"""The Conversations API rate limit: N calls in a rolling window per Page and platform.

Meta allows 2 calls per second per Page (Messenger) and per Instagram professional account.
Above the limit the sandbox answers what Graph answers (80006 Messenger, 80002 Instagram) with
the usage headers; below it, the same headers appear once usage passes half the window, with
percentages computed from the calls actually in the window, so a client that reads them sees
them rise as it speeds up.

Throttled calls are recorded in the window too: the notes say that calling while throttled
extends the block, and a client that retries at once must see that.

Every call is also kept in a log (``calls``): which window it counted against and when, so a
test can count the calls of any second of a Page or an Instagram account, the ones refused
included.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

# The calls the log keeps, newest last: enough for the largest read a test makes.
LOG_SIZE = 100_000
USAGE_THRESHOLD = 50  # percent of the window after which normal answers carry usage headers
TIME_BUDGET_PER_CALL = 0.1  # seconds of server time one allowed call may use (total_time 100%)


@dataclass
class Entry:
    """One call in a window; its server time is filled in once the call is answered."""

    at: float
    wall: float = 0.0
    cpu: float = 0.0


@dataclass(frozen=True)
class LoggedCall:
    """One call as the limiter counted it: its window's key, when, and whether it was allowed."""

    key: tuple[str, str]
    at: float
    allowed: bool


@dataclass(frozen=True)
class Usage:
    """Percentages of the window's budget, as the usage headers report them."""

    call_count: int
    total_time: int
    total_cputime: int

    @property
    def peak(self) -> int:
        """The highest of the three: throttling may start when any reaches 100."""
        return max(self.call_count, self.total_time, self.total_cputime)


class RateLimiter:
    """Rolling-window limiter keyed by (object id, platform); ``calls_per_second`` 0 = off."""

    def __init__(
        self, calls_per_second: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.enabled = calls_per_second > 0
        # A rate under 1/s gets a longer window so that its capacity is a whole call.
        self.window = max(1.0, 1.0 / calls_per_second) if self.enabled else 1.0
        self.capacity = calls_per_second * self.window if self.enabled else 0.0
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str], deque[Entry]] = {}
        self._log: deque[LoggedCall] = deque(maxlen=LOG_SIZE)

    def _prune(self, entries: deque[Entry], now: float) -> None:
        while entries and entries[0].at <= now - self.window:
            entries.popleft()

    def admit(self, key: tuple[str, str]) -> tuple[bool, Entry]:
        """Record a call; say whether it is within the limit."""
        now = self._clock()
        with self._lock:
            entries = self._windows.setdefault(key, deque())
            self._prune(entries, now)
            allowed = len(entries) < self.capacity
            entry = Entry(now)
            entries.append(entry)
            self._log.append(LoggedCall(key, now, allowed))
        return allowed, entry

    def calls(self) -> list[LoggedCall]:
        """Every call counted since the start (or the last ``reset``), oldest first."""
        with self._lock:
            return list(self._log)

    def _usage(self, entries: list[Entry], capacity: float) -> Usage:
        if capacity <= 0:
            return Usage(0, 0, 0)
        budget = capacity * TIME_BUDGET_PER_CALL
        return Usage(
            call_count=round(100 * len(entries) / capacity),
            total_time=round(100 * sum(e.wall for e in entries) / budget),
            total_cputime=round(100 * sum(e.cpu for e in entries) / budget),
        )

    def usage(self, key: tuple[str, str]) -> Usage:
        """Current usage of one (object, platform) window."""
        now = self._clock()
        with self._lock:
            entries = self._windows.get(key, deque())
            self._prune(entries, now)
            snapshot = list(entries)
        return self._usage(snapshot, self.capacity)

    def app_usage(self) -> Usage:
        """Usage over every window together: what ``X-App-Usage`` reports."""
        now = self._clock()
        with self._lock:
            snapshot: list[Entry] = []
            for entries in self._windows.values():
                self._prune(entries, now)
                snapshot.extend(entries)
            windows = max(len(self._windows), 1)
        return self._usage(snapshot, self.capacity * windows)

    def reset(self) -> None:
        """Forget every call (used when stats are reset between benchmark runs)."""
        with self._lock:
            self._windows.clear()
            self._log.clear()


def usage_headers(
    object_id: str, platform: str, usage: Usage, app: Usage, *, regain_minutes: int = 0
) -> dict[str, str]:
    """``X-Business-Use-Case-Usage`` and ``X-App-Usage`` as Graph writes them."""
    buc = {
        object_id: [
            {
                "type": platform,
                "call_count": usage.call_count,
                "total_cputime": usage.total_cputime,
                "total_time": usage.total_time,
                "estimated_time_to_regain_access": regain_minutes,
            }
        ]
    }
    app_usage = {
        "call_count": app.call_count,
        "total_time": app.total_time,
        "total_cputime": app.total_cputime,
    }
    return {
        "X-Business-Use-Case-Usage": json.dumps(buc, separators=(",", ":")),
        "X-App-Usage": json.dumps(app_usage, separators=(",", ":")),
    }
