"""A checkpoint after every page of conversations, for the conversations stream and its children.

Why: the conversations edge lists the most recently updated first and has no ``since``, so the
CDK's cursor (a data feed) can only move its watermark once a platform's listing is done: a
sync killed in the middle of a long listing had to list it again from the top. The CDK's cursor
has no state for "listed down to here" and its children checkpoint at most every 10 minutes.

What is added to the state, only while a listing is unfinished (docs/meta-conversations.md,
"Incremental sync and state"): the platform's entry gets ``listing``, the Graph cursor after
the last page whose conversations were all delivered and the newest ``updated_time`` delivered so
far. The watermark itself does not move until the listing ends: it is still the stop condition
of the resumed listing, and only then does it become the newest ``updated_time`` of both runs.

- ``conversations``: ``ListingCheckpoints`` writes a state message after each page (the
  paginator reports the page, ``GraphCursorPagination``, once the page's records are all
  queued) and starts a resumed listing after the saved cursor (the manifest's ``after``
  parameter reads it from the slice).
- ``messages`` and ``message_details``: their parent's state (the conversations state, listing
  included) is the CDK's, and moves once every conversation of a page was read.
  ``ParentPageCheckpoints`` writes a state message each time it moves, instead of at most every
  10 minutes. Their ``created_time`` watermark stays the CDK's global cursor, which moves only at
  the end of the sync (messages of later conversations are older).
- A saved cursor Meta no longer accepts (items were deleted) is refused with code 100;
  ``ResumeCursorRefusal`` then lists the platform from the top again, down to the same watermark.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import InitVar, dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from airbyte_cdk.sources.declarative.incremental.concurrent_partition_cursor import (
    ConcurrentPerPartitionCursor,
)
from airbyte_cdk.sources.streams.concurrent.partitions.partition import Partition
from airbyte_cdk.sources.streams.http.error_handlers import ErrorHandler
from airbyte_cdk.sources.streams.http.error_handlers.response_models import (
    ErrorResolution,
    ResponseAction,
)
from airbyte_cdk.sources.types import Config, Record, StreamSlice

from source_meta_conversations.state import LISTING

LOGGER = logging.getLogger("airbyte")

# Meta's message for a cursor it no longer accepts (graph-api-notes.md, "Paging").
STALE_CURSOR_TEXT = "Cursor specified exceeds"


class ListingProgress:
    """How far one platform's listing got: where a resumed sync continues, and what it saw.

    ``first_after`` is the cursor the listing's first request starts after (a resumed listing;
    the manifest reads it), ``after`` the cursor after the last finished page, ``newest`` the
    newest ``updated_time`` delivered by this listing, the interrupted run's included.
    """

    def __init__(
        self, after: str | None, newest: datetime | None, on_page: Callable[[], None]
    ) -> None:
        self.first_after = after
        self.after = after
        self.newest = newest
        self._on_page = on_page

    def page_done(self, after: str) -> None:
        """Every record of a page is delivered and the next page is ``after``: checkpoint."""
        self.after = str(after)
        self._on_page()

    def seen(self, value: datetime) -> None:
        """A delivered conversation's ``updated_time``."""
        if self.newest is None or value > self.newest:
            self.newest = value

    def restart(self) -> None:
        """Meta refused the saved cursor: list from the newest again, down to the same watermark."""
        self.first_after = None
        self.after = None


class _ResumeCursors:
    """The saved cursors this sync starts listings after, to recognise Meta refusing one.

    Several readers can start after the same saved cursor: the conversations stream and the
    children's copies of it, which read the listing at the same time at Meta's rate. Meta
    refusing it for one refuses it for all, so every listing started after it restarts, and each
    reader's own refusal (the same answer, shared or not) resets that reader's paging once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_cursor: dict[str, list[ListingProgress]] = {}
        self._refusals: dict[str, int] = {}

    def reset(self) -> None:
        with self._lock:
            self._by_cursor.clear()
            self._refusals.clear()

    def register(self, progress: ListingProgress) -> None:
        if progress.first_after:
            with self._lock:
                self._by_cursor.setdefault(progress.first_after, []).append(progress)

    def refuse(self, cursor: str) -> bool:
        """Restart every listing started after ``cursor``; False if it is not a saved cursor.

        Also False once it was refused as many times as listings started after it, so that no
        reader resets its paging twice for one cursor.
        """
        with self._lock:
            listings = self._by_cursor.get(cursor, [])
            refusals = self._refusals.get(cursor, 0)
            if refusals >= len(listings):
                return False
            self._refusals[cursor] = refusals + 1
        for progress in listings:
            if progress.first_after == cursor:
                progress.restart()
        return True


RESUME_CURSORS = _ResumeCursors()


def report_page(stream_slice: StreamSlice | None, next_after: Any) -> None:
    """Tell the slice's listing (if it is one) that a page ended and the next is ``next_after``.

    Called by the paginator: the CDK asks it for the next page only once the worker thread has
    queued (and the cursor observed) every record of the page.
    """
    if stream_slice is None:
        return
    progress = stream_slice.extra_fields.get(LISTING)
    if isinstance(progress, ListingProgress):
        progress.page_done(next_after)


class ListingCheckpoints(ConcurrentPerPartitionCursor):
    """The conversations cursor (one partition per platform) with a checkpoint per page.

    Built by the CDK's factory as a ``ConcurrentPerPartitionCursor`` and adopted (``adopt``) so
    that everything else stays the CDK's: watermarks, stop condition, state format.
    """

    _progress: dict[str, ListingProgress]
    _resumed: dict[str, Mapping[str, Any]]
    _done: set[str]

    @classmethod
    def adopt(
        cls, cursor: ConcurrentPerPartitionCursor, stream_state: Mapping[str, Any] | None
    ) -> ListingCheckpoints:
        """``cursor``, checkpointing each page and resuming the listings ``stream_state`` saved."""
        cursor.__class__ = cls
        adopted: ListingCheckpoints = cursor  # type: ignore[assignment]
        adopted._progress = {}
        adopted._done = set()
        adopted._resumed = {}
        for entry in (stream_state or {}).get("states", []) or []:
            listing = (entry.get("cursor") or {}).get(LISTING)
            if isinstance(listing, Mapping):
                key = adopted._to_partition_key(entry["partition"])
                adopted._resumed[key] = dict(listing)
        return adopted

    # -- reading --------------------------------------------------------------------------------
    def _generate_slices_from_partition(
        self, partition: StreamSlice, parent_state: Mapping[str, Any]
    ) -> Iterable[StreamSlice]:
        key = self._to_partition_key(partition.partition)
        saved = self._resumed.get(key, {})
        progress = ListingProgress(
            after=saved.get("after"),
            newest=self._parse(saved.get(self.cursor_field.cursor_field_key)),
            on_page=self._checkpoint,
        )
        RESUME_CURSORS.register(progress)
        with self._lock:
            self._progress[key] = progress
        if progress.first_after:
            LOGGER.info(
                "Stream %s: resuming the %s listing after the last page the previous sync "
                "checkpointed.",
                self._stream_name,
                partition.partition.get("platform", key),
            )
        for stream_slice in super()._generate_slices_from_partition(partition, parent_state):
            yield StreamSlice(
                partition=stream_slice.partition,
                cursor_slice=stream_slice.cursor_slice,
                extra_fields={**stream_slice.extra_fields, LISTING: progress},
            )

    def observe(self, record: Record) -> None:
        """The CDK's observation, plus the newest ``updated_time`` of the listing."""
        super().observe(record)
        stream_slice = record.associated_slice
        progress = stream_slice.extra_fields.get(LISTING) if stream_slice else None
        if not isinstance(progress, ListingProgress):
            return
        try:
            value = self._parse(self.cursor_field.extract_value(record))
        except ValueError:
            return
        if value is not None:
            progress.seen(value)

    def close_partition(self, partition: Partition) -> None:
        """The listing ended: the watermark becomes the newest of this and the interrupted run."""
        stream_slice = partition.to_slice()
        if isinstance(stream_slice, StreamSlice):
            key = self._to_partition_key(stream_slice.partition)
            progress = self._progress.get(key)
            inner = self._cursor_per_partition.get(key)
            if progress is not None and progress.newest is not None and inner is not None:
                # What the interrupted run delivered counts as observed by this one.
                inner.observe(
                    Record(
                        data={self.cursor_field.cursor_field_key: self._format(progress.newest)},
                        stream_name=self._stream_name,
                        associated_slice=stream_slice,
                    )
                )
            with self._lock:
                self._done.add(key)
        super().close_partition(partition)

    # -- state ----------------------------------------------------------------------------------
    @property
    def state(self) -> MutableMapping[str, Any]:
        """The CDK's per-platform state, with ``listing`` on each unfinished listing."""
        state = super().state
        listings = self._listings()
        for entry in state.get("states", []):
            # The CDK's per-platform cursors echo the listing of the state they were built from.
            entry["cursor"].pop(LISTING, None)
            listing = listings.get(self._to_partition_key(entry["partition"]))
            if listing:
                # Every started platform has an entry: the CDK writes at least its start.
                entry["cursor"][LISTING] = listing
        return state

    def _listings(self) -> dict[str, dict[str, Any]]:
        """Each unfinished listing, by partition key.

        Takes no lock: the CDK calls ``state`` with the cursor's lock held.
        """
        field = self.cursor_field.cursor_field_key
        progress_by_key = dict(self._progress)
        listings: dict[str, dict[str, Any]] = {
            key: dict(saved)
            for key, saved in self._resumed.items()
            if key not in progress_by_key  # not started yet in this sync: as it was saved
        }
        for key, progress in progress_by_key.items():
            if key in self._done or (progress.after is None and progress.newest is None):
                continue
            listing: dict[str, Any] = {}
            if progress.after is not None:
                listing["after"] = progress.after
            if progress.newest is not None:
                listing[field] = self._format(progress.newest)
            listings[key] = listing
        return listings

    def _checkpoint(self) -> None:
        with self._lock:
            self._emit_state_message(throttle=False)

    def _emit_state_message(self, throttle: bool = True) -> None:
        """Never throttled: at most one state per page, and a page is worth a checkpoint."""
        super()._emit_state_message(throttle=False)

    def _parse(self, value: Any) -> datetime | None:
        if value is None:
            return None
        parsed = self._connector_state_converter.parse_value(value)
        return parsed if isinstance(parsed, datetime) else None

    def _format(self, value: datetime) -> str:
        return str(self._connector_state_converter.output_format(value))


class ParentPageCheckpoints(ConcurrentPerPartitionCursor):
    """A child's cursor that writes a state each time its parent's state moves.

    The CDK moves a child's ``parent_state`` once every child partition of the parent records
    read so far is closed, and with ``ListingCheckpoints`` that state moves every page of
    conversations; the CDK itself then emits at most every 10 minutes.
    """

    _checkpointed_parent_state: Any

    @classmethod
    def adopt(cls, cursor: ConcurrentPerPartitionCursor) -> ParentPageCheckpoints:
        """``cursor``, checkpointing at every move of its parent's state."""
        cursor.__class__ = cls
        adopted: ParentPageCheckpoints = cursor  # type: ignore[assignment]
        adopted._checkpointed_parent_state = copy.deepcopy(adopted._parent_state)
        return adopted

    def _throttle_state_message(self) -> float | None:
        if self._parent_state and self._parent_state != self._checkpointed_parent_state:
            self._checkpointed_parent_state = copy.deepcopy(self._parent_state)
            return time.time()
        return super()._throttle_state_message()


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
