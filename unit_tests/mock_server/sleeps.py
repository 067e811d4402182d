"""A stand-in for ``time.sleep`` in the CDK's backoff code: records the waits, waits for none."""

from __future__ import annotations

import threading


class Sleeps:
    """Callable like ``time.sleep``; ``waits`` lists the seconds the connector asked to wait."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        with self._lock:
            self.waits.append(float(seconds))

    @property
    def total(self) -> float:
        """The seconds a real run would have spent backing off."""
        return sum(self.waits)
