"""The time one sync has spent waiting on Meta, bounded by ``max_wait_minutes``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException


class WaitLedger:
    """The time this sync has spent waiting on Meta, shared by every stream's backoff and pause.

    The CDK builds one backoff strategy per requester (each stream, and the parent inside each
    child), but the bound is per sync: they all add to this one ledger, which the source resets
    when it is built (one source is one sync). Waits of different threads at the same time (both
    platforms, or streams that read the same refused page together) count once: the ledger keeps
    the wall time covered by the waits, each lasting from its start (now, or the end of the same
    thread's previous wait) for its length.

    The total is a sum of durations, each wait adding what it does not share with the waits
    already counted: ``(t + 1800) - t`` is not 1800 in floating point for every ``t``, so a sum
    of span lengths could refuse a wait exactly as long as the bound.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._spans: list[tuple[float, float]] = []  # disjoint (start, end) of waits, sorted
        self._thread_until: dict[int, float] = {}
        self._waited = 0.0

    def reset(self) -> None:
        """Forget the waits of a previous sync."""
        with self._lock:
            self._spans = []
            self._thread_until = {}
            self._waited = 0.0

    @property
    def waited(self) -> float:
        """Seconds of wall time covered by this sync's waits."""
        with self._lock:
            return self._waited

    def add(self, wait: float, bound: float) -> float:
        """Record ``wait`` and return the total; raise if it would pass ``bound``."""
        thread = threading.get_ident()
        with self._lock:
            start = max(self._clock(), self._thread_until.get(thread, 0.0))
            new = (start, start + wait)
            shared = _overlap(self._spans, new)
            total = self._waited + (wait - shared if shared else wait)
            if total > bound:
                raise AirbyteTracedException(
                    message=(
                        f"Meta kept this Page throttled or unavailable: this sync already waited "
                        f"{self._waited:.0f} s and the next wait ({wait:.0f} s) would pass the "
                        f"limit of {bound:.0f} s. The next sync resumes from the last state; "
                        'lower "Maximum calls per second" if other apps share the Page, or raise '
                        '"Longest total wait for Meta\'s rate limits".'
                    ),
                    failure_type=FailureType.transient_error,
                )
            self._spans = _merge(self._spans, new)
            self._thread_until[thread] = start + wait
            self._waited = total
            return total


def _overlap(spans: list[tuple[float, float]], new: tuple[float, float]) -> float:
    """Seconds of ``new`` that ``spans`` (disjoint) already cover."""
    start, end = new
    return sum(max(0.0, min(end, finish) - max(start, begin)) for begin, finish in spans)


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
