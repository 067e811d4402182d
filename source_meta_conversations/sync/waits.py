"""The time one sync has spent waiting on Meta, bounded by ``max_wait_minutes``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

# Far below any wait, far above a float's rounding of clock readings in seconds.
ROUNDING_SECONDS = 1e-6


class WaitLedger:
    """The time this sync has spent waiting on Meta, shared by every stream's backoff.

    The CDK builds one backoff strategy per requester (each stream, and the parent inside each
    child), but the bound is per sync: they all add to this one ledger, which the source resets
    when it is built (one source is one sync). Waits of different threads at the same time (both
    platforms, or streams that read the same refused page together) count once: the ledger keeps
    the wall time covered by the waits, each lasting from its start (now, or the end of the same
    thread's previous wait) for its length.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._spans: list[tuple[float, float]] = []  # disjoint (start, end) of waits, sorted
        self._thread_until: dict[int, float] = {}

    def reset(self) -> None:
        """Forget the waits of a previous sync."""
        with self._lock:
            self._spans = []
            self._thread_until = {}

    @property
    def waited(self) -> float:
        """Seconds of wall time covered by this sync's waits."""
        with self._lock:
            return sum(end - start for start, end in self._spans)

    def add(self, wait: float, bound: float) -> float:
        """Record ``wait`` and return the total; raise if it would pass ``bound``."""
        thread = threading.get_ident()
        with self._lock:
            start = max(self._clock(), self._thread_until.get(thread, 0.0))
            spans = _merge(self._spans, (start, start + wait))
            waited = sum(end - begin for begin, end in self._spans)
            total = sum(end - begin for begin, end in spans)
            # Spans are clock readings plus waits: their lengths carry the float's rounding, so
            # a wait that exactly reaches the bound can come out a hair above it.
            if total > bound + ROUNDING_SECONDS:
                raise AirbyteTracedException(
                    message=(
                        f"Meta kept this Page throttled or unavailable: this sync already waited "
                        f"{waited:.0f} s and the next wait ({wait:.0f} s) would pass the "
                        f"limit of {bound:.0f} s. The next sync resumes from the last state; "
                        'lower "Maximum calls per second" if other apps share the Page, or raise '
                        '"Longest total wait for Meta\'s rate limits".'
                    ),
                    failure_type=FailureType.transient_error,
                )
            self._spans = spans
            self._thread_until[thread] = start + wait
            return total


def _merge(spans: list[tuple[float, float]], new: tuple[float, float]) -> list[tuple[float, float]]:
    """``spans`` (disjoint, sorted) with ``new`` added, overlapping ones joined."""
    merged: list[tuple[float, float]] = []
    start, end = new
    for begin, finish in spans:
        if finish < start or begin > end:
            merged.append((begin, finish))
        else:
            start, end = min(start, begin), max(end, finish)
    merged.append((start, end))
    merged.sort()
    return merged


SYNC_WAITS = WaitLedger()
