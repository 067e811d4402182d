"""One call per conversations page when the three streams read it at the same time (process-wide).

Replaces: ``CachedLimiterSession.send`` (airbyte_cdk.sources.streams.call_rate), wrapped. Written
for: airbyte-cdk 7.39.1 (requests-cache 1.3). Installed by ``cdk_adaptations.install()``.

The ``messages`` and ``message_details`` streams read the conversations pages again, through
their own copy of the parent stream, and get them from the CDK's HTTP cache (``requests_cache``)
that the ``conversations`` stream fills. The cache alone only helps a reader that comes after the
page was saved: two readers asking for the same page at the same time both miss it and both call
Meta. ``install()`` makes the CDK's cached session send each request once at a time per cache
key: the first reader sends it, the others wait for it and then read it from the cache.

Why at the session: the cache key and the cache lookup live there (``CacheMixin.send``), and
the budget is spent below it (``LimiterMixin.send``, only on a cache miss), so a waiter answered
from the cache spends no call of the API budget. The CDK builds the session itself
(``HttpClient._request_session``) and a ``CustomRequester`` would lose what the factory gives
``HttpRequester`` (message repository, request options, the REDUCE_PAGE_SIZE check), so the
class's ``send`` is wrapped, once per process. Only sessions with a cache (the parent streams'
requesters) are concerned.

An answer the cache does not keep (an error: only 200s are cached) is handed to the readers
that waited for it, so that each goes through its own error handler (retry, backoff, smaller
page) with the same answer instead of calling Meta again for the page. A reader that comes after
such an answer was handed out sends its own request.

A 200 whose body is no Graph list (cut short by a dropped connection, an HTML error page) is
not kept either: requests-cache stores every 200 as it arrives, before any error handler sees
it, so the retry ``GraphUsageWatcher`` asks for would read the same broken body back from the
cache until the retries ran out. Its entry is deleted here, where the session, its cache and
the key are at hand, and the answer is handed to the waiting readers like an error. (A complete
page in another shape than Graph documents is kept: it is not retried, and the streams that
read it fail on the same answer.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from airbyte_cdk.sources.streams.call_rate import CachedLimiterSession

from source_meta_conversations.cdk_adaptations.registry import (
    CdkAdaptationError,
    ProcessPatch,
    check_parameters,
    named_in_methods,
)
from source_meta_conversations.components.decoders import graph_page_problem

Send = Callable[..., requests.Response]


@dataclass
class _Flight:
    """One request being sent: its waiters learn its outcome when ``done`` is set."""

    done: threading.Event = field(default_factory=threading.Event)
    response: requests.Response | None = None
    cached: bool = False


class SingleFlight:
    """Send one request per key at a time; those who ask for the same key meanwhile wait.

    Example: three threads send the same page request at once; ``send`` calls the wrapped send
    for the first, and for the two others once the first returned (a cache hit), or gives them
    the first one's response when the cache did not keep it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[tuple[str, str], _Flight] = {}

    def send(
        self,
        wrapped: Send,
        session: CachedLimiterSession,
        request: requests.PreparedRequest,
        **kwargs: Any,
    ) -> requests.Response:
        """``wrapped(session, request, **kwargs)``, once at a time per cache key."""
        cache = session.cache
        key = (str(cache.cache_name), str(cache.create_key(request, **kwargs)))
        with self._lock:
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
        if leader:
            try:
                flight.response = wrapped(session, request, **kwargs)
                flight.cached = _keep_only_readable(session, flight.response)
                return flight.response
            finally:
                with self._lock:
                    del self._flights[key]
                flight.done.set()
        flight.done.wait()
        response = flight.response
        if response is not None and not flight.cached:
            return response  # not cached: the same answer, not a second call for it
        return wrapped(session, request, **kwargs)  # from the cache (or, if it failed, our own)

    def in_flight(self) -> int:
        """How many requests are being sent now (for tests)."""
        with self._lock:
            return len(self._flights)


def _keep_only_readable(session: CachedLimiterSession, response: requests.Response) -> bool:
    """Whether ``response`` is (still) in the cache; a 200 worth asking again for is dropped.

    A body cut short is dropped, so that the next reader asks Meta again; a complete page in
    another shape than Graph documents is kept: it is not retried (``PageProblem``), and every
    stream reading it fails on the same answer without another call.
    """
    if response.status_code not in session.settings.allowable_codes:
        return False
    if getattr(response, "from_cache", False):
        return True
    problem = graph_page_problem(response)
    if problem is None or not problem.retryable:
        return True
    key = getattr(response, "cache_key", None)
    if key:
        session.cache.delete(key)
    return False


SINGLE_FLIGHT = SingleFlight()
_ORIGINAL_SEND: Send = CachedLimiterSession.send


def _send(
    self: CachedLimiterSession, request: requests.PreparedRequest, **kwargs: Any
) -> requests.Response:
    return SINGLE_FLIGHT.send(_ORIGINAL_SEND, self, request, **kwargs)


def check() -> None:
    """Raise unless ``CachedLimiterSession.send`` takes what ``_send`` passes through."""
    check_parameters(
        _ORIGINAL_SEND,
        (
            "self",
            "request",
            "expire_after",
            "only_if_cached",
            "refresh",
            "force_refresh",
            "kwargs",
        ),
        "CachedLimiterSession.send",
    )
    for name in ("cache", "settings"):
        if not hasattr(CachedLimiterSession, name) and not named_in_methods(
            CachedLimiterSession, name
        ):
            raise CdkAdaptationError(
                f"CachedLimiterSession no longer has {name!r}: the single-flight send "
                "(cdk_adaptations/single_flight.py) reads the cache key and allowable codes there."
            )


def install() -> None:
    """Make every cached CDK session single-flight (idempotent)."""
    CachedLimiterSession.send = _send  # type: ignore[method-assign,assignment]


PATCH = ProcessPatch(
    target="airbyte_cdk.sources.streams.call_rate.CachedLimiterSession.send",
    why="streams reading the same conversations page at once make one call for it, not three",
    check=check,
    install=install,
)
