"""The process-wide patches, and whether they are installed.

``install`` checks every adaptation of the package against the installed CDK (``ADAPTATIONS`` in
``__init__``) and then installs the process-wide patches below. Only the entrypoint (run.py) and
the test harness call it: importing the connector changes nothing outside it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from source_meta_conversations.cdk_adaptations import (
    cache_redaction,
    fast_dpath,
    page_size,
    single_flight,
)
from source_meta_conversations.cdk_adaptations.registry import ProcessPatch

# Every change this package makes to an object the whole process shares.
PROCESS_PATCHES: tuple[ProcessPatch, ...] = (
    fast_dpath.PATCH,
    page_size.PATCH,
    single_flight.PATCH,
    cache_redaction.PATCH,
)

_lock = threading.Lock()
_installed = False


def install(checks: Iterable[Callable[[], None]]) -> None:
    """Run ``checks`` (each raises ``CdkAdaptationError``), then install every patch once."""
    global _installed
    with _lock:
        if _installed:
            return
        for check in checks:
            check()
        for patch in PROCESS_PATCHES:
            patch.install()
        _installed = True


def installed() -> bool:
    """Whether ``install`` has run in this process."""
    return _installed


def require_installed() -> None:
    """Raise a ``RuntimeError`` that says what to call when the patches are not installed."""
    if not _installed:
        raise RuntimeError(
            "source-meta-conversations needs its CDK adaptations installed before a source is "
            "built: call source_meta_conversations.cdk_adaptations.install() first (the "
            "source-meta-conversations command does)."
        )
