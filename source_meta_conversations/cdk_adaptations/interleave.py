"""The child streams read the platforms' conversations pages side by side, not one after the other.

Replaces, on each source (not process-wide): the parent streams in the children's
``SubstreamPartitionRouter`` (its public ``parent_stream_configs``), with wrappers. Written for:
airbyte-cdk 7.39.1. Applied by ``declarative_source.AdaptedDeclarativeSource``.

``messages`` and ``message_details`` get their partitions from a ``SubstreamPartitionRouter``
over the conversations stream, whose partitions are the platforms. The router reads the parent's
partitions one after the other: with ``platform: both`` a child sees no Instagram conversation
before the last Messenger page was listed. Listing is paced per platform (Meta's 2 calls/s each),
both platforms are listed at the same time by the ``conversations`` stream, and the children
read those pages from the HTTP cache; yet a child can only start on Instagram's pages once
Messenger's are done, so half of the children's work waits for the end of the listing instead
of running while it is paced.

``interleave_parents`` makes each child's router see the parent as one partition whose records
alternate between the platforms' partitions (one record of each in turn, each platform read as
its pages come). No thread is added: a platform's next page is waited for in the reading thread,
as before, and both platforms are listed at the same pace. The parent's cursor still observes
every record and closes each platform's partition right after observing its last record, as
the router does for a partition of its own, so the parent state the children checkpoint is the
same as with the router's order.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from airbyte_cdk.sources.declarative.partition_routers.substream_partition_router import (
    SubstreamPartitionRouter,
)
from airbyte_cdk.sources.streams.concurrent.abstract_stream import AbstractStream
from airbyte_cdk.sources.streams.concurrent.default_stream import DefaultStream
from airbyte_cdk.sources.streams.concurrent.partitions.partition import Partition
from airbyte_cdk.sources.types import Record


class _ClosingCursor:
    """The parent's cursor, which also closes a partition once its last record was observed.

    The router closes the partition it read after observing that partition's last record; with
    the partitions merged into one, it would close only the merged one, at the very end.
    """

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor
        self._lock = threading.Lock()
        # id(record) -> record, for the records handed to the router and not observed yet
        self._unobserved: dict[int, Record] = {}
        # id(record) -> its partition, for each partition's last record not observed yet
        self._close_after: dict[int, Partition] = {}

    def handed_out(self, record: Record) -> None:
        """``record`` goes to the router, which will observe it."""
        with self._lock:
            self._unobserved[id(record)] = record

    def close_after_observing(self, record: Record, partition: Partition) -> None:
        """Close ``partition`` once ``record`` (its last) has been observed, or now if it was."""
        with self._lock:
            if id(record) in self._unobserved:
                self._close_after[id(record)] = partition
                return
        self._cursor.close_partition(partition)

    def observe(self, record: Record) -> None:
        """Observe ``record``; close its partition if it was that partition's last record."""
        self._cursor.observe(record)
        with self._lock:
            self._unobserved.pop(id(record), None)
            partition = self._close_after.pop(id(record), None)
        if partition is not None:
            self._cursor.close_partition(partition)

    def close_partition(self, partition: Partition) -> None:
        """Close a partition of the parent; the merged one has nothing left to close."""
        if not isinstance(partition, _MergedPartition):
            self._cursor.close_partition(partition)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


class _MergedPartition(Partition):
    """The parent's partitions read in turn, one record of each, as one partition.

    A platform's next record is taken only once its previous one was handed to the router: taking
    it can fetch that platform's next page, which checkpoints the page before (``report_page``),
    and the router attaches the parent's state to the child slice of the record it holds. Taken
    any earlier (a look-ahead), the state saying "page k is done" could go with the slice of a
    record that comes before page k's last one, and a sync stopped then would resume after a
    conversation whose messages were never read.
    """

    def __init__(self, partitions: list[Partition], cursor: _ClosingCursor, stream: str) -> None:
        self._partitions = partitions
        self._cursor = cursor
        self._stream = stream

    def read(self) -> Iterable[Record]:
        """Yield one record of each partition in turn until every partition is exhausted."""
        readers: deque[tuple[Partition, Iterator[Record]]] = deque(
            (partition, iter(partition.read())) for partition in self._partitions
        )
        last: dict[int, Record] = {}  # id(partition) -> its last record handed out
        while readers:
            partition, records = readers.popleft()
            record = next(records, None)
            if record is None:  # exhausted: closed once its last record was observed
                previous = last.pop(id(partition), None)
                if previous is None:
                    self._cursor.close_partition(partition)
                else:
                    self._cursor.close_after_observing(previous, partition)
                continue
            last[id(partition)] = record
            readers.append((partition, records))
            self._cursor.handed_out(record)
            yield record

    def to_slice(self) -> Mapping[str, Any] | None:
        """Not a slice of its own: the records carry their partition's slice."""
        return None

    def stream_name(self) -> str:
        """The parent stream's name."""
        return self._stream

    def __hash__(self) -> int:
        return hash((self._stream, id(self)))


class InterleavedParent:
    """A parent stream as a child's router sees it: its partitions merged into one.

    Example: a parent with partitions ``messenger`` (records m1, m2) and ``instagram`` (i1)
    gives the router one partition reading m1, i1, m2; ``messenger`` is closed once m2 was
    observed and ``instagram`` once i1 was.
    """

    def __init__(self, stream: AbstractStream) -> None:
        self._stream = stream
        self._cursor = _ClosingCursor(stream.cursor)

    @property
    def name(self) -> str:
        """The parent stream's name."""
        return self._stream.name

    @property
    def cursor(self) -> Any:
        """The parent's cursor, closing each partition after its last record."""
        return self._cursor

    def generate_partitions(self) -> Iterable[Partition]:
        """The parent's partitions as one, or as they are when there is only one."""
        partitions = list(self._stream.generate_partitions())
        if len(partitions) <= 1:
            yield from partitions
        else:
            yield _MergedPartition(partitions, self._cursor, self._stream.name)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def interleave_parents(streams: Iterable[AbstractStream]) -> None:
    """Give every substream's router its parents as ``InterleavedParent`` (idempotent)."""
    for stream in streams:
        router = stream.get_partition_router() if isinstance(stream, DefaultStream) else None
        if not isinstance(router, SubstreamPartitionRouter):
            continue
        for parent in router.parent_stream_configs:
            if not isinstance(parent.stream, InterleavedParent):
                parent.stream = InterleavedParent(parent.stream)  # type: ignore[assignment]
