"""A checkpoint after every page of conversations, for the conversations stream and its children.

Replaces, on each source (not process-wide): the class of the ``ConcurrentPerPartitionCursor``s the
CDK builds for the three streams (``adopt``), overriding private methods of it. Written for:
airbyte-cdk 7.39.1. Applied by ``factory.GraphComponentFactory``.

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
  the end of the sync (messages of later conversations are older), and only when the listing was
  read to its end: a sync that fails mid-listing keeps the watermark it started with.
- A saved cursor Meta no longer accepts (items were deleted) is refused with code 100;
  ``ResumeCursorRefusal`` then lists the platform from the top again, down to the same watermark.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Iterable, Mapping, MutableMapping
from datetime import datetime
from typing import Any

from airbyte_cdk.sources.declarative.incremental.concurrent_partition_cursor import (
    ConcurrentPerPartitionCursor,
)
from airbyte_cdk.sources.streams.concurrent.partitions.partition import Partition
from airbyte_cdk.sources.types import Record, StreamSlice

from source_meta_conversations.cdk_adaptations.registry import PrivateName
from source_meta_conversations.state import LISTING
from source_meta_conversations.sync.listings import RESUME_CURSORS, ListingProgress

LOGGER = logging.getLogger("airbyte")

_CURSOR = "airbyte_cdk.sources.declarative.incremental.concurrent_partition_cursor"
_OVERRIDDEN = {
    "_generate_slices_from_partition": ("self", "partition", "parent_state"),
    "_emit_state_message": ("self", "throttle"),
    "_throttle_state_message": ("self",),
}
PRIVATE_NAMES = (
    *(
        PrivateName(
            _CURSOR,
            "ConcurrentPerPartitionCursor",
            name,
            used_by="checkpoint_cursors: overridden",
            parameters=parameters,
        )
        for name, parameters in _OVERRIDDEN.items()
    ),
    PrivateName(
        _CURSOR,
        "ConcurrentPerPartitionCursor",
        "_to_partition_key",
        used_by="checkpoint_cursors: a platform's key in the cursor's maps",
        parameters=("self", "partition"),
    ),
    *(
        PrivateName(
            _CURSOR, "ConcurrentPerPartitionCursor", name, used_by="checkpoint_cursors: read"
        )
        for name in (
            "_lock",
            "_cursor_per_partition",
            "_connector_state_converter",
            "_stream_name",
            "_parent_state",
        )
    ),
)


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
    """A child's cursor: a state each time its parent's state moves, its watermark kept on failure.

    The CDK moves a child's ``parent_state`` once every child partition of the parent records
    read so far is closed, and with ``ListingCheckpoints`` that state moves every page of
    conversations; the CDK itself then emits at most every 10 minutes.

    The ``created_time`` watermark is one for the stream (``global_substream_cursor``), and the
    CDK moves it when the stream ends (``ensure_at_least_one_state_emitted``) to the newest
    message seen, and the parent state to where the parent's listing got to, as soon as no
    partition is left open: also when the listing itself failed (an expired token on the next
    conversations page). The resumed sync then continued the listing after the saved cursor,
    where conversations are older than that newest message, and filtered out their messages: a
    two-platform sync whose token expired after two or three calls, resumed with a valid token,
    never delivered 131 to 151 of its 759 message details. And the parent state it took was the
    listing's, which is past the last conversations of the page: the CDK fetches parent records
    ahead of making them partitions (two, through its two generators), so when the next page
    failed those were never read, and the resumed sync started after them.

    So the watermark moves only when the listing was read to its end (``stream_slices``
    exhausted, every partition made); otherwise the stream ends with the watermark it started
    with and the parent state of the pages whose conversations were all read.
    """

    _checkpointed_parent_state: Any
    _listed_to_the_end: bool

    @classmethod
    def adopt(cls, cursor: ConcurrentPerPartitionCursor) -> ParentPageCheckpoints:
        """``cursor``, checkpointing at every move of its parent's state."""
        cursor.__class__ = cls
        adopted: ParentPageCheckpoints = cursor  # type: ignore[assignment]
        adopted._checkpointed_parent_state = copy.deepcopy(adopted._parent_state)
        adopted._listed_to_the_end = False
        return adopted

    def stream_slices(self) -> Iterable[StreamSlice]:
        """The CDK's slices; remembers whether the parent's listing was read to its end."""
        yield from super().stream_slices()
        self._listed_to_the_end = True

    def ensure_at_least_one_state_emitted(self) -> None:
        """The CDK's final state when the listing ended; else the last safe one, again.

        With the listing unfinished, the watermark, lookback and parent state stay what the
        partitions closed so far made them (the parent state moves only past pages whose
        conversations were all read): a resumed sync goes on from there with the old watermark.
        """
        if self._listed_to_the_end:
            super().ensure_at_least_one_state_emitted()
            return
        with self._lock:
            self._emit_state_message(throttle=False)

    def _throttle_state_message(self) -> float | None:
        if self._parent_state and self._parent_state != self._checkpointed_parent_state:
            self._checkpointed_parent_state = copy.deepcopy(self._parent_state)
            return time.time()
        return super()._throttle_state_message()
