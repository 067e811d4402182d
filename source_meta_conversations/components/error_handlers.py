"""Error handlers that run before the manifest's error table."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import InitVar, dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.interpolation import InterpolatedString
from airbyte_cdk.sources.declarative.requesters.error_handlers import HttpResponseFilter
from airbyte_cdk.sources.streams.http.error_handlers import ErrorHandler
from airbyte_cdk.sources.streams.http.error_handlers.response_models import (
    SUCCESS_RESOLUTION,
    ErrorResolution,
    ResponseAction,
)
from airbyte_cdk.sources.types import Config
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_meta_conversations.components.decoders import graph_page_problem, parsed_body
from source_meta_conversations.components.graph_calls import (
    CONVERSATIONS_EDGE,
    MESSAGES_EDGE,
    graph_call,
)
from source_meta_conversations.components.usage import regain_access_seconds, usage_percent
from source_meta_conversations.sync.listings import RESUME_CURSORS, STALE_CURSOR_TEXT
from source_meta_conversations.sync.progress import CALLS
from source_meta_conversations.sync.versions import VERSION_FALLBACKS
from source_meta_conversations.sync.waits import SYNC_WAITS

LOGGER = logging.getLogger("airbyte")
# What ``GraphUsageWatcher.max_time`` allows one request's attempts beyond the sync's wait bound:
# the time the attempts themselves take, 10 of at most the manifest's connect (10 s) and read
# (90 s, per silent gap) timeouts, with room.
ATTEMPTS_ALLOWANCE_SECONDS = 3600


@dataclass
class GraphUsageWatcher(ErrorHandler):
    """Read Meta's usage headers on every response, pause when asked, and check every 200.

    Runs first in a ``CompositeErrorHandler``. It decides the 200s; for anything else it returns
    None and the next handler (the error table) decides.

    - A 200 is a success only once its body is a Graph list page (``{"data": [...]}``). A 200
      whose body is cut short, is not JSON, or is JSON without a ``data`` list (a dropped
      connection behind a proxy, an HTML error page) is retried like a 5xx: with backoff,
      counted against ``max_wait_minutes``, at most ``max_retries`` times, after which
      ``GraphUsageBackoff`` ends the sync with a transient error naming that answer. A 200 with
      Graph's ``error`` envelope goes to the error table. The body is parsed once for every
      reader of the page (``components.decoders.parsed_body``).
    - On a fresh (not cached) successful answer it pauses the calling thread for
      ``estimated_time_to_regain_access`` when Meta reports one, or for one rate window
      (``window_seconds``) once any usage value passes ``threshold`` percent: more than the
      window's budget is spent, so someone besides this sync is calling for the Page. Up to 100%
      is this sync's own pacing at ``max_requests_per_second`` (the API budget keeps it there),
      which needs no pause. Each pause counts against the sync's wait bound
      (``max_total_wait_seconds``, shared with the backoff in ``SYNC_WAITS``); a pause that would
      pass it ends the sync with a transient error instead (the page that asked for the pause is
      read again by the next sync). Throttled answers are waited on by ``GraphUsageBackoff``;
      here they are only read and logged.

    Why a component: the CDK's API budget only understands plain numeric rate-limit headers, and
    Meta's are JSON per object (source-facebook-marketing misses the throttled answer's headers
    this way: airbytehq/airbyte #86316); and no manifest filter can tell a 200 whose body is broken
    from a good one without parsing every page again in each filter.

    Example: a 200 carrying ``X-App-Usage: {"call_count": 120, ...}`` pauses one window; one
    with ``estimated_time_to_regain_access: 2`` pauses 120 s; one at 100% does not pause; a 200
    whose body is ``{"data": [{"id": "t_1"`` is retried.
    """

    config: Config
    parameters: InitVar[Mapping[str, Any]]
    threshold: int = 100
    window_seconds: float = 1.0
    max_retries_value: int | str = 8
    max_total_wait_seconds: int | str = 1800

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._max_retries = int(self.max_retries_value)
        self._bound = float(
            InterpolatedString.create(str(self.max_total_wait_seconds), parameters=parameters).eval(
                self.config
            )
        )
        self._sleep = time.sleep
        self._high_water = 0
        self._lock = threading.Lock()

    @property
    def max_retries(self) -> int | None:
        """The retries of the handlers composed after this one (the composite reads the first)."""
        return self._max_retries

    @property
    def max_time(self) -> int | None:
        """Seconds the CDK allows one request's retries, from its first attempt: never the limit.

        The CDK gives up on a request once this long passed since its first attempt (600 s
        unless a handler says more; the composite takes the largest), with a message that is
        neither clear nor Meta's: waits Meta asks for (minutes each) reach it long before
        ``max_wait_minutes`` (30 by default). The sync's wait bound and the retry count must
        decide first, so this is the wait bound plus an hour for the attempts themselves.
        """
        return int(self._bound) + ATTEMPTS_ALLOWANCE_SECONDS

    def interpret_response(self, response: requests.Response | Exception | None) -> ErrorResolution:
        """Pause if the budget is overspent; a 200 is a success when its body is a Graph page."""
        if not isinstance(response, requests.Response):
            return None  # type: ignore[return-value]  # an exception: the next handler decides
        fresh = not getattr(response, "from_cache", False)
        percent = 0
        # A response replayed from the HTTP cache cost no call and carries old usage figures.
        if fresh:
            CALLS.answered(response)
            VERSION_FALLBACKS.observe(response)
            percent = usage_percent(response)
            self._log_rise(percent)
        if response.status_code != 200:
            return None  # type: ignore[return-value]  # None lets the composite ask the next handler
        if _is_error_envelope(response):
            return None  # type: ignore[return-value]  # a Graph error sent with 200: the table
        problem = graph_page_problem(response)
        if problem is not None and problem.retryable:
            return ErrorResolution(
                response_action=ResponseAction.RETRY,
                failure_type=FailureType.transient_error,
                error_message=(
                    f"Meta's Graph API answered 200 with a body that {problem.description}; "
                    "asking again."
                ),
            )
        if problem is not None:
            # Raised, not answered as FAIL: a composite handler goes on to the next handler
            # after a FAIL, and the error table answers every 200 with SUCCESS.
            raise AirbyteTracedException(
                message=(
                    f"Meta's Graph API answered {_edge_of(response)} with a page that "
                    f"{problem.description}. Such a page comes the same way when asked again, "
                    "so the connector stopped rather than guess at its records; the records and "
                    "state before this page were delivered. This comes from Meta's answer, not "
                    "from your configuration: run the sync again later, and if it stops on the "
                    "same page, report it to Meta's developer support."
                ),
                internal_message=f"A page not in Graph's shape: {problem.description}",
                failure_type=FailureType.system_error,
            )
        if fresh:
            self._pause_if_overspent(response, percent)
        return SUCCESS_RESOLUTION

    def _pause_if_overspent(self, response: requests.Response, percent: int) -> None:
        """Sleep for Meta's named wait, or one window once usage passed the threshold.

        The pause counts against the sync's wait bound; one that would pass it raises instead.
        """
        wait = regain_access_seconds(response)
        if wait is None and percent > self.threshold:
            wait = self.window_seconds
        if not wait:
            return
        SYNC_WAITS.add(wait, self._bound)
        if wait > self.window_seconds:
            LOGGER.info(
                "Meta reports %d%% of the call budget used and asks to wait; pausing %.0f s "
                "before the next call.",
                percent,
                wait,
            )
        self._sleep(wait)

    def _log_rise(self, percent: int) -> None:
        """Log each time usage first passes 50, 80 and 100 percent in this sync."""
        with self._lock:
            level = max((mark for mark in (50, 80, 100) if percent >= mark), default=0)
            if level <= self._high_water:
                return
            self._high_water = level
        LOGGER.info("Meta reports %d%% of the Page's or app's call budget used.", percent)


def _edge_of(response: requests.Response) -> str:
    """Which list a response answers, in a user's words (no URL: it may carry credentials).

    Example: ``.../v26.0/104839588217347/conversations?platform=instagram&...`` gives "the
    Instagram conversations of Page 104839588217347"; ``.../v26.0/t_1/messages?...`` gives "the
    messages of conversation t_1".
    """
    call = graph_call(response.request.url if response.request is not None else None)
    if call.edge == CONVERSATIONS_EDGE:
        platform = f"{call.platform.capitalize()} " if call.platform else ""
        return f"the {platform}conversations of Page {call.object_id}"
    if call.edge == MESSAGES_EDGE:
        return f"the messages of conversation {call.object_id}"
    return "a call"


def _is_error_envelope(response: requests.Response) -> bool:
    """Whether the (parsed) body is Graph's ``{"error": ...}`` envelope."""
    body = parsed_body(response)
    return isinstance(body, dict) and "error" in body


@dataclass
class ResumeCursorRefusal(ErrorHandler):
    """List a platform from the newest again when Meta refuses the cursor a sync resumes after.

    Runs before the error table of the conversations requester. Meta refuses a cursor when items
    were deleted since it was given (code 100, "Cursor specified exceeds..."). For the saved
    cursor of a resumed listing this resets the paging (the listing restarts at its newest page
    and stops at the same watermark); any other refused cursor is left to the table, which ends
    the sync with a transient error.
    """

    config: Config
    parameters: InitVar[Mapping[str, Any]]

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        pass

    @property
    def max_retries(self) -> int | None:
        return None

    @property
    def max_time(self) -> int | None:
        return None

    def interpret_response(self, response: requests.Response | Exception | None) -> ErrorResolution:
        if not isinstance(response, requests.Response) or response.status_code == 200:
            return None  # type: ignore[return-value]  # the next handler decides
        cursor = _after_param(response)
        if cursor is None or not _is_stale_cursor_error(response):
            return None  # type: ignore[return-value]
        if not RESUME_CURSORS.refuse(cursor):
            return None  # type: ignore[return-value]
        LOGGER.warning(
            "Meta no longer accepts the paging cursor the previous sync saved (conversations were "
            "deleted since); listing this platform again from the newest conversation, down to "
            "the same saved state."
        )
        return ErrorResolution(
            response_action=ResponseAction.RESET_PAGINATION,
            error_message="Meta refused the saved paging cursor; listing again from the newest.",
        )


def _after_param(response: requests.Response) -> str | None:
    url = response.request.url if response.request is not None else None
    if not url:
        return None
    values = parse_qs(urlsplit(str(url)).query).get("after")
    return values[0] if values else None


def _is_stale_cursor_error(response: requests.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    error = body.get("error") if isinstance(body, dict) else None
    return (
        isinstance(error, dict)
        and error.get("code") == 100
        and STALE_CURSOR_TEXT in str(error.get("message") or "")
    )


@dataclass
class MatchingFilterOnly(ErrorHandler):
    """One response filter that decides only the answers it matches; the next handler the rest.

    Why a component: in a ``CompositeErrorHandler`` a ``DefaultErrorHandler`` answers every
    response (what its filters do not match, it maps from the HTTP status, 5xx to a retry), so it
    cannot put one filter in front of the shared error table; this handler lets a requester change
    one line of the table (the conversations page shrinks on code 1) without a copy of the table.

    Example: with the table's ``reduce_data`` filter and ``action: REDUCE_PAGE_SIZE``, a 500 with
    ``{"error": {"code": 1, "message": "Please reduce the amount of data..."}}`` resolves to
    REDUCE_PAGE_SIZE; a 400 with code 190 resolves to None, and the table decides.
    """

    config: Config
    parameters: InitVar[Mapping[str, Any]]
    response_filter: HttpResponseFilter

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        pass

    @property
    def max_retries(self) -> int | None:
        """No retry count of its own: the composite reads the first handler's."""
        return None

    @property
    def max_time(self) -> int | None:
        """No time limit of its own."""
        return None

    def interpret_response(self, response: requests.Response | Exception | None) -> ErrorResolution:
        """The filter's resolution when it matches, else None (the next handler decides)."""
        return self.response_filter.matches(response)  # type: ignore[return-value]
