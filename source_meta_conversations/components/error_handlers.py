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
from airbyte_cdk.sources.declarative.requesters.error_handlers import HttpResponseFilter
from airbyte_cdk.sources.streams.http.error_handlers import ErrorHandler
from airbyte_cdk.sources.streams.http.error_handlers.response_models import (
    SUCCESS_RESOLUTION,
    ErrorResolution,
    ResponseAction,
)
from airbyte_cdk.sources.types import Config

from source_meta_conversations.components.usage import regain_access_seconds, usage_percent
from source_meta_conversations.sync.listings import RESUME_CURSORS, STALE_CURSOR_TEXT
from source_meta_conversations.sync.progress import CALLS
from source_meta_conversations.sync.versions import VERSION_FALLBACKS

LOGGER = logging.getLogger("airbyte")


@dataclass
class GraphUsageWatcher(ErrorHandler):
    """Read Meta's usage headers on every response and pause before the budget runs out.

    Runs first in a ``CompositeErrorHandler``. It decides only that a 200 is a success, so
    the error table after it (each of whose filters would parse the body again, and a Graph
    page can be hundreds of kB) runs for errors alone; for anything else it returns None and
    the next handler decides. Graph answers errors with 4xx/5xx; a 200 whose body is not a
    Graph page is refused by ``GraphCursorPagination``, never read as the end of a list.
    On a fresh (not cached) successful answer it pauses the
    calling thread for ``estimated_time_to_regain_access`` when Meta reports one, or for one
    rate window (``window_seconds``) once any usage value passes ``threshold`` percent: more
    than the window's budget is spent, so someone besides this sync is calling for the Page.
    Up to 100% is this sync's own pacing at ``max_requests_per_second`` (the API budget keeps
    it there), which needs no pause. Throttled answers are waited on by ``GraphUsageBackoff``;
    here they are only read and logged.

    Why a component: the CDK's API budget only understands plain numeric rate-limit headers, and
    Meta's are JSON per object (source-facebook-marketing misses the throttled answer's headers
    this way: airbytehq/airbyte #86316).

    Example: a 200 carrying ``X-App-Usage: {"call_count": 120, ...}`` pauses one window; one
    with ``estimated_time_to_regain_access: 2`` pauses 120 s; one at 100% does not pause.
    """

    config: Config
    parameters: InitVar[Mapping[str, Any]]
    threshold: int = 100
    window_seconds: float = 1.0
    max_retries_value: int | str = 8

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._max_retries = int(self.max_retries_value)
        self._sleep = time.sleep
        self._high_water = 0
        self._lock = threading.Lock()

    @property
    def max_retries(self) -> int | None:
        """The retries of the handlers composed after this one (the composite reads the first)."""
        return self._max_retries

    @property
    def max_time(self) -> int | None:
        """No time limit of its own."""
        return None

    def interpret_response(self, response: requests.Response | Exception | None) -> ErrorResolution:
        """Read the usage and pause if the budget is overspent; a 200 is a success."""
        if not isinstance(response, requests.Response):
            return None  # type: ignore[return-value]  # an exception: the next handler decides
        # A response replayed from the HTTP cache cost no call and carries old usage figures.
        if not getattr(response, "from_cache", False):
            CALLS.answered(response)
            VERSION_FALLBACKS.observe(response)
            percent = usage_percent(response)
            self._log_rise(percent)
            if response.status_code == 200:
                self._pause_if_overspent(response, percent)
        if response.status_code == 200:
            return SUCCESS_RESOLUTION
        return None  # type: ignore[return-value]  # None lets the composite ask the next handler

    def _pause_if_overspent(self, response: requests.Response, percent: int) -> None:
        """Sleep for Meta's named wait, or one window once usage passed the threshold."""
        wait = regain_access_seconds(response)
        if wait is None and percent > self.threshold:
            wait = self.window_seconds
        if not wait:
            return
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
