"""Loaded by the connector's subprocess when the fault suite puts this folder on PYTHONPATH.

A fault profile makes the connector back off and pause for seconds to minutes (2, 4, 8 s...,
Meta's usage headers in minutes): slept for real, the suite would take far longer than the
faults it tests. With ``CONNECTOR_SLEEP_LOG`` set, every ``time.sleep`` of at least
``CONNECTOR_SLEEP_THRESHOLD`` seconds (default 1: the connector's shortest wait is one rate
window) is written to that file (``<thread id> <seconds>``, one line each) and slept for 10 ms
instead. Shorter sleeps (pacing, the CDK's polling loops) are slept as asked, so the
connector's threads behave as in production. The recorded seconds are what the connector chose
to wait: the suite asserts on them instead of on the clock.

Nothing here is imported by the connector or shipped with it; without the environment variable
it does nothing.
"""

from __future__ import annotations

import os
import threading
import time
from typing import SupportsIndex

_LOG = os.environ.get("CONNECTOR_SLEEP_LOG")
_THRESHOLD = float(os.environ.get("CONNECTOR_SLEEP_THRESHOLD") or 1.0)
_SHORT = 0.01

if _LOG:
    _path: str = _LOG
    _real_sleep = time.sleep
    _lock = threading.Lock()

    def _recorded_sleep(seconds: float | SupportsIndex) -> None:
        seconds = float(seconds)
        if seconds < _THRESHOLD:
            _real_sleep(seconds)
            return
        with _lock, open(_path, "a", encoding="utf-8") as log:
            log.write(f"{threading.get_ident()} {float(seconds)!r}\n")
        _real_sleep(_SHORT)

    time.sleep = _recorded_sleep
