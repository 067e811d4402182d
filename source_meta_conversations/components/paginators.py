"""Graph cursor paging: follow ``paging.next`` to the end, never loop, never end a list early."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.interpolation.interpolated_boolean import InterpolatedBoolean
from airbyte_cdk.sources.declarative.requesters.paginators.strategies import (
    CursorPaginationStrategy,
)
from airbyte_cdk.sources.types import Record, StreamSlice
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_meta_conversations.sync.listings import report_page


@dataclass
class GraphCursorPagination(CursorPaginationStrategy):
    """Graph cursor paging that follows ``paging.next`` to the end and never loops.

    Why a component: Graph's only end-of-list signal is a missing ``paging.next``; the manifest's
    ``stop_condition`` says that and ``cursor_value`` reads ``paging.cursors.after``. Three cases
    need more than those two templates, because they need the previous cursors or the body:

    - a cursor already followed in this partition (a ``next`` pointing back, seen with stale
      cursors) would make the CDK page forever: it raises a transient error instead;
    - a page that has ``next`` but no ``cursors`` (an empty page can come that way) continues
      with the ``after`` of the ``next`` URL instead of ending the list;
    - a 200 whose body is not a Graph page has no ``next`` to read: it raises rather than end
      the list early (checked only at the end, so a page is not parsed again on every call).

    Example: pages fetched with ``after=A`` then ``after=B`` answering ``cursors.after == "A"``
    with a ``next`` raise instead of requesting ``after=A`` again.
    """

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        super().__post_init__(parameters)
        # The manifest's stop condition, evaluated again where the CDK's answer is ambiguous
        # (built from the public field, as the CDK builds its own).
        self._graph_stop: InterpolatedBoolean | None = (
            InterpolatedBoolean(condition=self.stop_condition, parameters=parameters)
            if isinstance(self.stop_condition, str)
            else self.stop_condition
        )
        # The CDK reads every partition of a stream through one paginator, from worker threads.
        self._followed: dict[str, set[str]] = {}
        self._followed_lock = threading.Lock()

    def next_page_token(
        self,
        response: requests.Response,
        last_page_size: int,
        last_record: Record | None,
        last_page_token_value: Any | None = None,
        page_size_override: int | None = None,
        stream_slice: StreamSlice | None = None,
    ) -> Any | None:
        """The next cursor, or None at the end of the list."""
        token = super().next_page_token(
            response,
            last_page_size,
            last_record,
            last_page_token_value,
            page_size_override=page_size_override,
            stream_slice=stream_slice,
        )
        key = _partition_key(stream_slice)
        if token is None:
            body = _json_body(response)
            token = _after_from_next(body, response)
            # ``super()`` answers None when the stop condition holds or when there is no
            # ``cursors.after``: follow ``next`` only in the second case, never past a stop.
            if token is not None and (
                _has_after_cursor(body)
                or self._stops(
                    response, last_page_size, last_record, page_size_override, stream_slice
                )
            ):
                token = None
        if token is None:
            with self._followed_lock:
                self._followed.pop(key, None)
            return None
        with self._followed_lock:
            followed = self._followed.setdefault(key, set())
            if last_page_token_value is None:
                followed.clear()
            else:
                followed.add(str(last_page_token_value))
            repeated = str(token) in followed
            if repeated:
                self._followed.pop(key, None)
        if repeated:
            raise AirbyteTracedException(
                message=(
                    "Meta's Graph API sent the connector to the same page again (its paging.next "
                    "repeats a cursor already followed), so it stopped instead of looping. Run "
                    "the sync again; if it repeats, the list changed while paging."
                ),
                internal_message=f"Repeated paging cursor at {_safe_url(response)}",
                failure_type=FailureType.transient_error,
            )
        # Every record of this page is delivered by now: a listing checkpoints here.
        report_page(stream_slice, token)
        return token

    def _stops(
        self,
        response: requests.Response,
        last_page_size: int,
        last_record: Record | None,
        page_size_override: int | None,
        stream_slice: StreamSlice | None,
    ) -> bool:
        """Whether the manifest's ``stop_condition`` holds for this page, as the CDK says it."""
        if not self._graph_stop:
            return False
        headers: dict[str, Any] = dict(response.headers)
        headers["link"] = response.links
        return bool(
            self._graph_stop.eval(
                self.config,
                response=next(self.decoder.decode(response)),
                headers=headers,
                last_record=last_record,
                last_page_size=last_page_size,
                page_size=(
                    page_size_override if page_size_override is not None else self.get_page_size()
                ),
                stream_slice=stream_slice,
            )
        )


def _json_body(response: requests.Response) -> Any:
    """The page's JSON body, or None when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None


def _has_after_cursor(body: Any) -> bool:
    """Whether the page names ``paging.cursors.after`` (what ``cursor_value`` reads)."""
    paging = body.get("paging") if isinstance(body, dict) else None
    cursors = paging.get("cursors") if isinstance(paging, dict) else None
    return isinstance(cursors, dict) and bool(cursors.get("after"))


def _partition_key(stream_slice: StreamSlice | None) -> str:
    """A stable key for the partition a page belongs to."""
    if stream_slice is None:
        return ""
    return json.dumps(stream_slice.partition, sort_keys=True, default=str)


def _after_from_next(body: Any, response: requests.Response) -> str | None:
    """The ``after`` cursor of the page's ``paging.next`` URL; None when there is no next page.

    Raises when the body is not a Graph page, or when ``next`` exists but names no cursor
    (``response`` only names the page in the error).
    """
    if body == []:
        return None
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise AirbyteTracedException(
            message=(
                "Meta's Graph API answered a page whose body is not a Graph list (no JSON "
                "`data`), so the connector stopped rather than end the list early. Run the "
                "sync again; it resumes from the last state."
            ),
            internal_message=f"Not a Graph page at {_safe_url(response)}",
            failure_type=FailureType.transient_error,
        )
    paging = body.get("paging")
    next_url = paging.get("next") if isinstance(paging, dict) else None
    if not next_url:
        return None
    after = parse_qs(urlsplit(str(next_url)).query).get("after")
    if not after:
        raise AirbyteTracedException(
            message=(
                "Meta's Graph API said more pages follow but gave no cursor to ask for them, so "
                "the connector stopped rather than end the list early. Run the sync again."
            ),
            internal_message=f"paging.next without a cursor at {_safe_url(response)}",
            failure_type=FailureType.transient_error,
        )
    return after[0]


def _safe_url(response: requests.Response) -> str:
    """The response's URL without its query string (which may carry credentials)."""
    return str(response.url).split("?", 1)[0] if response is not None else ""
