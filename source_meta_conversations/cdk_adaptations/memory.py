"""Keep the CDK from holding on to finished partitions, so a sync's memory stays flat as data grows.

Replaces, on each source (not process-wide): its ``ConcurrentSource``'s ``ThreadPoolManager`` and
the ``_cursor_per_partition`` map of its global-cursor streams. Written for: airbyte-cdk 7.39.1.
Applied by ``declarative_source.AdaptedDeclarativeSource``.

Why: every conversation is one partition of ``messages`` and one of ``message_details`` (their
SubstreamPartitionRouter), so 20,000 conversations are 40,000 partitions. Two structures of the
CDK (7.39) kept something for every partition already done, long after it could be used. On
3,000 conversations x 5 messages, tracemalloc counted, once ``messages`` was read, 4.8 MB in
the first and 4.1 MB in the second (peak RSS grew about 3.5 MB per 1,000 conversations, data set
(c) of docs/benchmarks.md):

- ``ThreadPoolManager._futures``: every submitted task's ``Future`` (about 1.6 kB with its
  ``Condition`` and locks), finished ones included, pruned only once 10,000 have piled up
  (``DEFAULT_MAX_QUEUE_SIZE``, which is also the backpressure on partition generation);
- ``ConcurrentPerPartitionCursor._cursor_per_partition``: one ``ConcurrentCursor`` per partition
  (about 1.4 kB with its state converter and slices), evicted only past 25,000 partitions.
  Both children use ``global_substream_cursor``, and with a global cursor no per-partition
  cursor is read once the partition's slices are made: ``observe``, ``close_partition``,
  ``should_be_synced`` and ``state`` all take the global path.

Neither fix changes records, state, calls or logs. The CDK's own limits are not lowered: a
smaller task limit would slow partition generation and warn ("list of futures is getting bigger
than expected") when the main thread drains a backlog, and fewer kept cursors would evict
partitions still running, with a warning each, whenever the destination is slow.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from concurrent.futures import Future
from typing import Any

from airbyte_cdk.sources.concurrent_source.concurrent_source import ConcurrentSource
from airbyte_cdk.sources.concurrent_source.thread_pool_manager import ThreadPoolManager
from airbyte_cdk.sources.declarative.incremental.concurrent_partition_cursor import (
    ConcurrentPerPartitionCursor,
)
from airbyte_cdk.sources.streams.concurrent.abstract_stream import AbstractStream
from airbyte_cdk.sources.streams.concurrent.cursor import ConcurrentCursor

from source_meta_conversations.cdk_adaptations.registry import PrivateName, check_parameters

_POOL = "airbyte_cdk.sources.concurrent_source.thread_pool_manager"
_PER_PARTITION = "airbyte_cdk.sources.declarative.incremental.concurrent_partition_cursor"
PRIVATE_NAMES = (
    PrivateName(
        "airbyte_cdk.sources.concurrent_source.concurrent_source",
        "ConcurrentSource",
        "_threadpool",
        used_by="memory: prune_finished_futures swaps the source's pool manager",
    ),
    PrivateName(
        _POOL,
        "ThreadPoolManager",
        "_prune_futures",
        used_by="memory: PromptlyPruningThreadPoolManager overrides it",
        parameters=("self", "futures"),
    ),
    *(
        PrivateName(_POOL, "ThreadPoolManager", name, used_by="memory: the pool manager's fields")
        for name in (
            "_lock",
            "_most_recently_seen_exception",
            "_threadpool",
            "_logger",
            "_max_concurrent_tasks",
        )
    ),
    PrivateName(
        _PER_PARTITION,
        "ConcurrentPerPartitionCursor",
        "_cursor_per_partition",
        used_by="memory: NoPartitionCursors replaces it on global-cursor streams",
    ),
)


def check() -> None:
    """Raise unless ``ThreadPoolManager`` is still built from ``(threadpool, logger, max...)``."""
    check_parameters(
        ThreadPoolManager.__init__,
        ("self", "threadpool", "logger", "max_concurrent_tasks"),
        "ThreadPoolManager.__init__",
    )


# Finished futures are dropped once this many futures are held (the CDK waits for 10,000).
PRUNE_FINISHED_FUTURES_AT = 100


class PromptlyPruningThreadPoolManager(ThreadPoolManager):
    """The CDK's ``ThreadPoolManager``, dropping finished futures every ``prune_at`` tasks.

    Only when finished futures are dropped changes: the limit on pending tasks (the backpressure
    on partition generation) and its warning threshold stay the CDK's. The pruning itself is the
    CDK's ``_prune_futures`` (same lock, same handling of a future that raised); only its
    ``len(futures) < max_concurrent_tasks`` shortcut uses ``prune_at`` instead.
    """

    def __init__(
        self, *args: Any, prune_at: int = PRUNE_FINISHED_FUTURES_AT, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._prune_at = prune_at

    def _prune_futures(self, futures: list[Future[Any]]) -> None:
        with self._lock:
            if len(futures) < self._prune_at:
                return
            for index in reversed(range(len(futures))):
                future = futures[index]
                if future.done():
                    # Only a done future's exception() does not block.
                    optional_exception = future.exception()
                    if optional_exception:
                        # As the CDK: the main thread raises it (check_for_errors_and_shutdown).
                        self._most_recently_seen_exception = RuntimeError(
                            f"Failed processing a future: {optional_exception}. Please contact "
                            "the Airbyte team."
                        )
                    futures.pop(index)


def prune_finished_futures(concurrent_source: ConcurrentSource) -> None:
    """Give ``concurrent_source`` a ``PromptlyPruningThreadPoolManager`` on the same executor.

    ``ConcurrentSource.create`` builds its manager itself; ``read`` hands ``_threadpool`` to the
    partition enqueuer and the read processor, so replacing it before ``read`` is enough.
    """
    current = concurrent_source._threadpool
    if type(current) is not ThreadPoolManager:  # pragma: no cover - a CDK change
        raise TypeError(f"Unexpected thread pool manager {type(current).__name__}")
    concurrent_source._threadpool = PromptlyPruningThreadPoolManager(
        current._threadpool, current._logger, max_concurrent_tasks=current._max_concurrent_tasks
    )


class NoPartitionCursors(OrderedDict[str, ConcurrentCursor]):
    """A ``_cursor_per_partition`` that keeps nothing, for a cursor that is global.

    ``ConcurrentPerPartitionCursor`` stores each partition's cursor here and makes the
    partition's slices from the one it has just built; with ``use_global_cursor`` nothing reads
    the stored cursors again (the per-partition paths of ``close_partition``, ``observe``,
    ``_get_cursor`` and ``state`` are all behind ``not self._use_global_cursor``, which never goes
    from true to false). Storing nothing also leaves the eviction loop nothing to evict.
    """

    def __setitem__(self, key: str, value: ConcurrentCursor) -> None:
        """Keep nothing: the cursor is used by the caller and dropped with it."""


def keep_no_partition_cursors(streams: Iterable[AbstractStream]) -> None:
    """Give each global-cursor stream's per-partition cursor a ``NoPartitionCursors``.

    Only a ``ConcurrentPerPartitionCursor`` whose state says ``use_global_cursor`` is changed:
    a per-partition cursor's state lists every partition's cursor (``conversations``, one
    partition per platform, keeps them all).
    """
    for stream in streams:
        cursor = stream.cursor
        if isinstance(cursor, ConcurrentPerPartitionCursor) and cursor.state.get(
            "use_global_cursor"
        ):
            cursor._cursor_per_partition = NoPartitionCursors()
