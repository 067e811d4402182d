"""Keep the CDK's per-partition bookkeeping bounded, so a sync's memory stays flat as data grows.

Why: every conversation is one partition of ``messages`` and one of ``message_details`` (their
SubstreamPartitionRouter), so 20,000 conversations are 40,000 partitions. Two structures of the
CDK (7.39) kept something for every partition already done, long after it could be used; on
3,000 conversations x 5 messages, tracemalloc counted, once ``messages`` was read:

- ``ThreadPoolManager._futures``: every submitted task's ``Future`` (about 1.6 kB with its
  ``Condition`` and locks), finished ones included: they are pruned only once 10,000 have piled
  up (``DEFAULT_MAX_QUEUE_SIZE``), up to 16 MB of finished futures;
- ``ConcurrentPerPartitionCursor._cursor_per_partition``: one ``ConcurrentCursor`` per partition
  (about 1.4 kB with its state converter and slices), dropped only past 25,000 partitions
  (``DEFAULT_MAX_PARTITIONS_NUMBER``). Both children use ``global_substream_cursor``, and with a
  global cursor the per-partition cursors are read only while the partition's slices are made:
  ``observe``, ``close_partition``, ``should_be_synced`` and ``state`` use the global cursor.

Peak RSS grew about 3.5 MB per 1,000 conversations (docs/benchmarks.md, data set c). Both limits
below are the CDK's own knobs, set lower; neither changes records, state or calls:

- the thread pool prunes finished futures at ``PENDING_TASKS_LIMIT`` instead of 10,000 (the same
  number is the CDK's backpressure on partition generation: at most that many tasks not done);
- a global-cursor stream keeps the cursors of its ``GLOBAL_CURSOR_PARTITIONS_KEPT`` newest
  partitions instead of 25,000. The CDK asks that limit to stay above the tasks that can be
  pending (a partition evicted while running is logged as a warning), hence twice the first.
"""

from __future__ import annotations

from collections.abc import Iterable

from airbyte_cdk.sources.concurrent_source.concurrent_source import ConcurrentSource
from airbyte_cdk.sources.concurrent_source.thread_pool_manager import ThreadPoolManager
from airbyte_cdk.sources.declarative.incremental.concurrent_partition_cursor import (
    ConcurrentPerPartitionCursor,
)
from airbyte_cdk.sources.streams.concurrent.abstract_stream import AbstractStream

# Finished futures are pruned, and partition generation waits, once this many tasks are pending.
PENDING_TASKS_LIMIT = 500
# Per-partition cursors a global-cursor stream keeps (the newest partitions).
GLOBAL_CURSOR_PARTITIONS_KEPT = 2 * PENDING_TASKS_LIMIT


def bound_pending_tasks(
    concurrent_source: ConcurrentSource, limit: int = PENDING_TASKS_LIMIT
) -> None:
    """Give ``concurrent_source`` a thread pool manager that prunes finished futures at ``limit``.

    ``ConcurrentSource.create`` builds its ``ThreadPoolManager`` with the default limit and no
    way to pass one; this wraps the same executor and logger in a manager built with ``limit``
    (its public constructor argument). Called before ``read``, which hands the manager to the
    partition enqueuer and the read processor.
    """
    current = concurrent_source._threadpool
    if not isinstance(current, ThreadPoolManager):  # pragma: no cover - a CDK change
        raise TypeError(f"Unexpected thread pool manager {type(current).__name__}")
    concurrent_source._threadpool = ThreadPoolManager(
        current._threadpool, current._logger, max_concurrent_tasks=limit
    )


def bound_global_cursor_partitions(
    streams: Iterable[AbstractStream], kept: int = GLOBAL_CURSOR_PARTITIONS_KEPT
) -> None:
    """Make each global-cursor stream keep the cursors of its ``kept`` newest partitions only.

    Only a ``ConcurrentPerPartitionCursor`` whose state says ``use_global_cursor`` is changed:
    a per-partition cursor's state lists every partition's cursor, so dropping one would drop its
    state (the ``conversations`` stream, one partition per platform, keeps the CDK's limit).
    """
    for stream in streams:
        cursor = stream.cursor
        if isinstance(cursor, ConcurrentPerPartitionCursor) and cursor.state.get(
            "use_global_cursor"
        ):
            cursor.DEFAULT_MAX_PARTITIONS_NUMBER = kept
