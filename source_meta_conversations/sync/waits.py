"""The time one sync has spent waiting on Meta, bounded by ``max_wait_minutes``."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from fractions import Fraction

from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException


class WaitLedger:
    """The time this sync has spent waiting on Meta, shared by every stream's backoff.

    The CDK builds one backoff strategy per requester (each stream, and the parent inside each
    child), but the bound is per sync: they all add to this one ledger, which the source resets
    when it is built (one source is one sync). Waits of different threads at the same time (both
    platforms, or streams that read the same refused page together) count once: the ledger keeps
    the wall time covered by the waits, each lasting from its start (now, or the end of the same
    thread's previous wait) for its length.

    Instants and lengths are kept as exact fractions: in floats, ``(t + 1800) - t`` is
    1800.0000000000005 for some clock values ``t``, so a wait of exactly the bound was refused
    or allowed depending on the clock. Exactly, a wait covers its length, and waits that do not
    overlap add up to the sum of their lengths.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._spans: list[tuple[Fraction, Fraction]] = []  # disjoint (start, end) of waits, sorted
        self._thread_until: dict[int, Fraction] = {}

    def reset(self) -> None:
        """Forget the waits of a previous sync."""
        with self._lock:
            self._spans = []
            self._thread_until = {}

    @property
    def waited(self) -> float:
        """Seconds of wall time covered by this sync's waits."""
        with self._lock:
            return float(_covered(self._spans))

    def add(self, wait: float, bound: float) -> float:
        """Record ``wait`` and return the total; raise if it would pass ``bound``."""
        thread = threading.get_ident()
        with self._lock:
            waited = _covered(self._spans)
            if not math.isfinite(wait):  # no fraction for it, and it would pass any bound
                raise _past_the_bound(waited, wait, bound)
            start = max(Fraction(self._clock()), self._thread_until.get(thread, Fraction(0)))
            end = start + Fraction(wait)
            spans = _merge(self._spans, (start, end))
            total = _covered(spans)
            if total > bound:  # exact: a float bound is compared as the number it is
                raise _past_the_bound(waited, wait, bound)
            self._spans = spans
            self._thread_until[thread] = end
            return float(total)


def _past_the_bound(waited: Fraction, wait: float, bound: float) -> AirbyteTracedException:
    return AirbyteTracedException(
        message=(
            f"Meta kept this Page throttled or unavailable: this sync already waited "
            f"{float(waited):.0f} s and the next wait ({wait:.0f} s) would pass the "
            f"limit of {bound:.0f} s. The next sync resumes from the last state; "
            'lower "Maximum calls per second" if other apps share the Page, or raise '
            '"Longest total wait for Meta\'s rate limits".'
        ),
        failure_type=FailureType.transient_error,
    )


def _covered(spans: list[tuple[Fraction, Fraction]]) -> Fraction:
    """The time ``spans`` (disjoint) cover, exactly."""
    return sum((end - start for start, end in spans), Fraction(0))


def _merge(
    spans: list[tuple[Fraction, Fraction]], new: tuple[Fraction, Fraction]
) -> list[tuple[Fraction, Fraction]]:
    """``spans`` (disjoint, sorted) with ``new`` added, overlapping ones joined."""
    merged: list[tuple[Fraction, Fraction]] = []
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
