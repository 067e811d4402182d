"""Progress a user can follow during a read: a line per stream now and then, and a summary.

At Meta's 2 calls per second a first sync of a large inbox takes minutes to hours (docs,
"Performance considerations"); the Airbyte log should say how far it got. Two sources feed it:

- ``CALLS`` counts the calls this sync made to Meta, by route: a conversations page (per
  platform) or a page of a conversation's messages edge. ``GraphUsageWatcher`` reports every
  answer that did not come from the HTTP cache (one call each; an error answer handed to several
  readers of the same page counts once).
- ``ReadProgress`` sees every message the read emits (the entrypoint hands them over): records per
  stream, streams finishing, and Messenger's ``message_count`` of the conversations listed so far,
  from which the messages still to come can be estimated when the read starts from nothing.

Lines name streams, counts and rates only: never a token, a URL or a query.

    Progress of messages: 12,345 records so far; 80 calls to Meta's messages edge (1.9 calls/s);
    about 3,200 Messenger messages left in the conversations listed so far.
"""

from __future__ import annotations

import functools
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
from airbyte_cdk.models import (
    AirbyteLogMessage,
    AirbyteMessage,
    AirbyteStreamStatus,
    Level,
    SyncMode,
    Type,
)

from source_meta_conversations.components.graph_calls import (
    CONVERSATIONS_EDGE,
    MESSAGES_EDGE,
    graph_call,
)

# How often a stream's progress line is logged while it runs.
PROGRESS_EVERY_SECONDS = 30.0
# Meta gives details for the 20 newest messages of a conversation.
DETAILED_MESSAGES = 20
CONVERSATIONS, MESSAGES, DETAILS = "conversations", "messages", "message_details"
LISTING, EDGE, OTHER = "conversations pages", "messages edge pages", "other calls"


class CallCounter:
    """The calls this sync made to Meta, by route; reset when a source is built (one sync)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        # The answers counted and still alive, by identity (the cache's responses are not
        # hashable): an answer handed to several readers is one call.
        self._seen: dict[int, weakref.ref[requests.Response]] = {}

    def reset(self) -> None:
        """Forget a previous sync's calls."""
        with self._lock:
            self._calls.clear()
            self._seen.clear()

    def answered(self, response: requests.Response) -> None:
        """One answer from Meta (not from the HTTP cache): count its call once."""
        route = route_of(getattr(response.request, "url", None))
        key = id(response)
        with self._lock:
            known = self._seen.get(key)
            if known is not None and known() is response:
                return
            self._seen[key] = weakref.ref(response, functools.partial(self._forget, key))
            self._calls[route] += 1

    def _forget(self, key: int, _gone: object) -> None:
        self._seen.pop(key, None)

    def counts(self) -> dict[str, int]:
        """Calls by route: ``"conversations pages (messenger)"``, ``"messages edge pages"``..."""
        with self._lock:
            return dict(self._calls)


def route_of(url: str | None) -> str:
    """What a call was for, from its URL's path and ``platform`` parameter (nothing else kept).

    ``.../v26.0/104839588217347/conversations?platform=instagram&...`` gives
    ``"conversations pages (instagram)"``; ``.../v26.0/t_123/messages?...`` gives
    ``"messages edge pages"``.
    """
    call = graph_call(url)
    if call.edge == CONVERSATIONS_EDGE:
        return f"{LISTING} ({call.platform})" if call.platform else LISTING
    if call.edge == MESSAGES_EDGE:
        return EDGE
    return OTHER


CALLS = CallCounter()


@dataclass
class StreamProgress:
    """One stream of the read: records so far, when it started and finished."""

    name: str
    records: int = 0
    messenger_records: int = 0
    started: float | None = None
    finished: float | None = None
    last_logged: float = 0.0


@dataclass
class ReadProgress:
    """Follows one read's messages and says, now and then, how far each stream got.

    ``estimate`` names the child streams whose remaining records can be estimated: those read
    from nothing (full refresh, or incremental without a saved state and without a start date),
    where every message of a listed conversation is still to come.
    """

    streams: list[str]
    estimate: set[str] = field(default_factory=set)
    every: float = PROGRESS_EVERY_SECONDS
    clock: Callable[[], float] = time.monotonic
    calls: Callable[[], Mapping[str, int]] = CALLS.counts
    messenger_messages_listed: int = 0
    messenger_details_listed: int = 0

    def __post_init__(self) -> None:
        self.started = self.clock()
        self.progress = {name: StreamProgress(name) for name in self.streams}

    @classmethod
    def for_read(
        cls, config: Mapping[str, Any], catalog: Any, state: Iterable[Any]
    ) -> ReadProgress:
        """The progress of a read of ``catalog`` from ``state`` with ``config``."""
        configured = {s.stream.name: s.sync_mode for s in catalog.streams}
        saved = {
            message.stream.stream_descriptor.name
            for message in state or []
            if getattr(message, "stream", None) is not None
            and _holds_state(message.stream.stream_state)
        }
        estimate = {
            name
            for name, mode in configured.items()
            if name in (MESSAGES, DETAILS)
            and (
                mode == SyncMode.full_refresh
                or (name not in saved and not config.get("start_date"))
            )
        }
        return cls(list(configured), estimate)

    def first_line(self, rate: Any) -> AirbyteMessage:
        """What the read is about to do, before its first record."""
        return _log(
            f"Reading {', '.join(self.streams)} at up to {float(rate):g} calls/s per Page and per "
            f"Instagram account (Meta allows 2); progress every {self.every:.0f} s."
        )

    def observe(self, message: AirbyteMessage) -> list[AirbyteMessage]:
        """Take one message of the read; the progress lines due now (usually none)."""
        now = self.clock()
        lines: list[AirbyteMessage] = []
        if message.type == Type.RECORD and message.record is not None:
            stream = self.progress.get(message.record.stream)
            if stream is not None:
                if stream.started is None:
                    stream.started = stream.last_logged = now
                stream.records += 1
                self._listed(stream.name, message.record.data)
        elif message.type == Type.TRACE and message.trace is not None:
            status = message.trace.stream_status
            if status is not None and status.status == AirbyteStreamStatus.COMPLETE:
                stream = self.progress.get(status.stream_descriptor.name)
                if stream is not None and stream.finished is None:
                    stream.finished = now
                    lines.append(self._done(stream, now))
        for stream in self.progress.values():
            running = stream.started is not None and stream.finished is None
            if running and now - stream.last_logged >= self.every:
                stream.last_logged = now
                lines.append(self._line(stream, now))
        return lines

    def _listed(self, stream: str, data: Mapping[str, Any]) -> None:
        if data.get("platform") != "messenger":
            return
        if stream == CONVERSATIONS:
            count = data.get("message_count")
            if isinstance(count, int) and not isinstance(count, bool):
                self.messenger_messages_listed += count
                self.messenger_details_listed += min(count, DETAILED_MESSAGES)
        elif stream in (MESSAGES, DETAILS):
            self.progress[stream].messenger_records += 1

    def _own_calls(self, stream: str) -> str:
        """The calls a stream makes itself (the listing feeds all three streams)."""
        calls = self.calls()
        if stream == CONVERSATIONS:
            listed = sum(n for route, n in calls.items() if route.startswith(LISTING))
            return f"{listed:,} calls for conversations pages"
        if stream == MESSAGES:
            return f"{calls.get(EDGE, 0):,} calls to Meta's messages edge"
        return "no calls of its own (read from the conversations pages)"

    def _rate(self, now: float) -> str:
        counts = self.calls()
        calls = sum(counts.values())
        elapsed = max(now - self.started, 1e-9)
        platforms = sum(1 for route in counts if route.startswith(f"{LISTING} ("))
        over = f" over {platforms} platforms" if platforms > 1 else ""
        return f"{calls:,} calls to Meta in all ({calls / elapsed:.1f} calls/s{over})"

    def _left(self, stream: StreamProgress) -> str:
        if stream.name == CONVERSATIONS:
            return "how many are left is not known (Meta gives no total)"
        if stream.name not in self.estimate or not self.messenger_messages_listed:
            return "how many are left is not known"
        listed = (
            self.messenger_messages_listed
            if stream.name == MESSAGES
            else self.messenger_details_listed
        )
        left = max(listed - stream.messenger_records, 0)
        return f"about {left:,} Messenger records left in the conversations listed so far"

    def _line(self, stream: StreamProgress, now: float) -> AirbyteMessage:
        return _log(
            f"Progress of {stream.name}: {stream.records:,} records so far; "
            f"{self._own_calls(stream.name)}; {self._rate(now)}; {self._left(stream)}."
        )

    def _done(self, stream: StreamProgress, now: float) -> AirbyteMessage:
        return _log(
            f"Finished {stream.name}: {stream.records:,} records, {now - self.started:.1f} s "
            f"into the read; {self._own_calls(stream.name)}."
        )

    def summary(self, waited: float, failed: bool = False) -> AirbyteMessage:
        """The last line of a read: records per stream, calls by route, rate and waits."""
        now = self.clock()
        elapsed = now - self.started
        records = ", ".join(f"{s.name} {s.records:,}" for s in self.progress.values())
        calls = self.calls()
        total = sum(calls.values())
        routes = ", ".join(f"{n:,} {route}" for route, n in sorted(calls.items()))
        verdict = "stopped after" if failed else "done in"
        return _log(
            f"Read {verdict} {elapsed:.1f} s: records: {records}; {total:,} calls to Meta "
            f"({total / max(elapsed, 1e-9):.1f} calls/s){': ' + routes if routes else ''}; "
            f"{waited:.0f} s spent waiting on Meta's rate limits or errors."
        )


def _holds_state(blob: Any) -> bool:
    """Whether a stream's saved state says anything (the CDK's blob keeps it as attributes)."""
    if blob is None:
        return False
    if isinstance(blob, Mapping):
        return bool(blob)
    return bool(getattr(blob, "__dict__", True))


def _log(text: str) -> AirbyteMessage:
    return AirbyteMessage(type=Type.LOG, log=AirbyteLogMessage(level=Level.INFO, message=text))
