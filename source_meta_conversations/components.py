"""The few behaviours of the connector that the declarative manifest cannot express.

Each class is one small component referenced from ``manifest.yaml`` by ``class_name``.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Generator, Iterable, Mapping, MutableMapping
from dataclasses import InitVar, dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.decoders import JsonDecoder
from airbyte_cdk.sources.declarative.extractors.record_filter import RecordFilter
from airbyte_cdk.sources.declarative.interpolation import InterpolatedString
from airbyte_cdk.sources.declarative.requesters.paginators.strategies import (
    CursorPaginationStrategy,
)
from airbyte_cdk.sources.declarative.transformations import RecordTransformation
from airbyte_cdk.sources.streams.http.error_handlers import BackoffStrategy, ErrorHandler
from airbyte_cdk.sources.streams.http.error_handlers.response_models import (
    SUCCESS_RESOLUTION,
    ErrorResolution,
)
from airbyte_cdk.sources.types import Config, Record, StreamSlice, StreamState
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_meta_conversations.checkpoint import report_page

LOGGER = logging.getLogger("airbyte")


_COLONLESS_OFFSET = re.compile(r"([+-]\d{2})(\d{2})$")


def rfc3339(graph_timestamp: str) -> str:
    """Graph's ``2022-07-12T19:11:07+0000`` as RFC 3339: ``2022-07-12T19:11:07+00:00``.

    A value that already has a colon in its offset (or none) is returned unchanged.
    """
    return _COLONLESS_OFFSET.sub(r"\1:\2", graph_timestamp)


@dataclass
class GraphRecordContext(RecordTransformation):
    """Stamp a record with where it came from and write its timestamps as RFC 3339.

    Adds ``page_id`` (from the config), ``platform`` (from the slice, or its parent slice for
    children) and, for children, ``conversation_id``; rewrites ``timestamp_fields`` from Graph's
    colon-less offsets to RFC 3339, which destinations read as timestamps with time zone.

    Why a component: ``AddFields`` does this with one Jinja render per field per record; on
    1,000 conversations x 20 messages those renders were a third of the sync's CPU
    (docs/benchmarks.md), and every field here is a plain copy.

    Example: ``{"id": "m_1", "created_time": "2022-07-12T19:11:07+0000"}`` in slice
    ``{"conversation_id": "t_1", "parent_slice": {"platform": "messenger"}}`` becomes
    ``{"id": "m_1", "created_time": "2022-07-12T19:11:07+00:00", "conversation_id": "t_1",
    "page_id": "<page>", "platform": "messenger"}``.
    """

    config: Config
    parameters: InitVar[Mapping[str, Any]]
    timestamp_fields: list[str] = field(default_factory=list)

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._page_id = str(self.config.get("page_id", ""))

    def transform(
        self,
        record: dict[str, Any],
        config: Config | None = None,
        stream_state: StreamState | None = None,
        stream_slice: StreamSlice | None = None,
    ) -> None:
        """Add page_id, platform and conversation_id; normalise the timestamp fields in place."""
        partition: Mapping[str, Any] = stream_slice.partition if stream_slice is not None else {}
        parent = partition.get("parent_slice") or {}
        conversation_id = partition.get("conversation_id")
        if conversation_id is not None:
            record["conversation_id"] = str(conversation_id)
        record["page_id"] = self._page_id
        record["platform"] = partition.get("platform") or parent.get("platform")
        for name in self.timestamp_fields:
            value = record.get(name)
            if isinstance(value, str):
                record[name] = rfc3339(value)


_GRAPH_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%z"


@functools.lru_cache(maxsize=64)
def _as_utc(timestamp: str) -> str:
    """``timestamp`` (``%Y-%m-%dT%H:%M:%S%z``, any offset) as Graph's UTC form ``...+0000``."""
    moment = datetime.strptime(timestamp, _GRAPH_TIME_FORMAT).astimezone(UTC)
    return moment.strftime(_GRAPH_TIME_FORMAT)


def _created_utc(record: Mapping[str, Any]) -> str:
    """A record's ``created_time`` in Graph's UTC form (parsed only when not already UTC)."""
    created = str(record.get("created_time", ""))
    return created if created.endswith("+0000") or not created else _as_utc(created)


@dataclass
class NewMessagesFilter(RecordFilter):
    """Keep the messages created at or after the slice's start (the stream's watermark).

    Optionally keep only messages that carry details: Graph returns a message older than its
    conversation's 20 most recent as ``id`` and ``created_time`` only.

    Why a component: a ``RecordFilter`` condition renders Jinja for every message (about 20 us
    each, a tenth of the sync's CPU on 1,000 conversations x 20 messages), and the CDK's own
    client-side incremental filter builds a new cursor per record when the cursor is global.
    Both sides are brought to Graph's UTC form (``+0000``; the slice's start keeps the offset of
    ``start_date``), where the strings compare in time order.

    Example: with slice start ``2026-03-01T00:00:00+0000``, a message created
    ``2026-02-28T23:59:59+0000`` is dropped and one created ``2026-03-01T00:00:00+0000`` kept.
    """

    require_details: bool = False

    def filter_records(
        self,
        records: Iterable[Mapping[str, Any]],
        stream_state: StreamState,
        stream_slice: StreamSlice | None = None,
        next_page_token: Mapping[str, Any] | None = None,
    ) -> Iterable[Mapping[str, Any]]:
        """Yield the records new since the slice's start (with details, if required)."""
        raw_start = (
            stream_slice.cursor_slice.get("start_time") if stream_slice is not None else None
        )
        start = _as_utc(str(raw_start)) if raw_start else None
        for record in records:
            if self.require_details and len(record) <= 2:
                continue
            if start is not None and _created_utc(record) < start:
                continue
            yield record


class MemoJsonDecoder(JsonDecoder):
    """``JsonDecoder`` that parses a response's body once however many times it is decoded.

    Why a component: the record extractor and the paginator each decode every page, and a
    conversations page with 20 nested messages per conversation is hundreds of kB; parsing it
    twice was a fifth of the sync's CPU. The parsed body is kept on the response object, which
    lives only as long as that page.

    Example: ``decode(response)`` twice on the same response parses its body once and yields
    the same object both times.
    """

    _ATTRIBUTE = "_meta_conversations_decoded"

    def __init__(self, parameters: Mapping[str, Any] | None = None, **_: Any) -> None:
        super().__init__(parameters=parameters or {})

    def decode(
        self, response: requests.Response
    ) -> Generator[MutableMapping[str, Any], None, None]:
        """Yield the decoded body, parsing it on the first call only."""
        decoded: list[MutableMapping[str, Any]] | None = getattr(response, self._ATTRIBUTE, None)
        if decoded is None:
            decoded = list(super().decode(response))
            setattr(response, self._ATTRIBUTE, decoded)
        yield from decoded


@dataclass
class DropFields(RecordTransformation):
    """Delete the named top-level fields of a record.

    Why a component: ``RemoveFields`` deletes through ``dpath.delete``, which walks every node of
    the record; a conversation record still carries its nested messages page when its
    ``messages`` field is dropped, so that walk costs more than the rest of the record's
    processing. A top-level key needs no walk.

    Example: with ``fields=["messages"]``, ``{"id": "t_1", "messages": {...}}`` becomes
    ``{"id": "t_1"}``.
    """

    parameters: InitVar[Mapping[str, Any]]
    fields: list[str] = field(default_factory=list)

    def transform(
        self,
        record: dict[str, Any],
        config: Config | None = None,
        stream_state: StreamState | None = None,
        stream_slice: StreamSlice | None = None,
    ) -> None:
        """Delete, in place, the named top-level keys that are present."""
        for name in self.fields:
            record.pop(name, None)


@dataclass
class KeepFields(RecordTransformation):
    """Keep only the named top-level fields of a record and drop every other one.

    Why a component: the ``messages`` stream reads the same nested Graph page as
    ``message_details`` (one call feeds both), so its records arrive with every detail field.
    ``RemoveFields`` would need a second copy of the detail field list; keeping the two fields
    the stream is about reads the one list the manifest already has (``fields.message``).

    Example: with ``fields="id,created_time"``,
    ``{"id": "m_1", "created_time": "2022-07-12T19:11:07+0000", "message": "Hi"}`` becomes
    ``{"id": "m_1", "created_time": "2022-07-12T19:11:07+0000"}``.
    """

    parameters: InitVar[Mapping[str, Any]]
    fields: str | list[str] = field(default_factory=list)

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        names = self.fields.split(",") if isinstance(self.fields, str) else self.fields
        self._keep = frozenset(name.strip() for name in names if name.strip())
        if not self._keep:
            raise ValueError("KeepFields needs at least one field name to keep.")

    def transform(
        self,
        record: dict[str, Any],
        config: Config | None = None,
        stream_state: StreamState | None = None,
        stream_slice: StreamSlice | None = None,
    ) -> None:
        """Delete, in place, every top-level key of ``record`` that is not kept."""
        for key in [key for key in record if key not in self._keep]:
            del record[key]


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
        if not self._stop_condition:
            return False
        headers: dict[str, Any] = dict(response.headers)
        headers["link"] = response.links
        return bool(
            self._stop_condition.eval(
                self.config,
                response=next(self.decoder.decode(response)),
                headers=headers,
                last_record=last_record,
                last_page_size=last_page_size,
                page_size=page_size_override if page_size_override is not None else self._page_size,
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


def regain_access_seconds(response: requests.Response | None) -> float | None:
    """Seconds Meta says to wait, from ``X-Business-Use-Case-Usage``; None when it says nothing.

    The header maps each object id to a list of usage entries whose
    ``estimated_time_to_regain_access`` is in minutes, e.g.
    ``{"104839588217347": [{"type": "messenger", "call_count": 100,
    "estimated_time_to_regain_access": 2}]}`` gives 120.0.
    """
    if response is None:
        return None
    raw = response.headers.get("X-Business-Use-Case-Usage")
    if not raw:
        return None
    try:
        usage = json.loads(raw)
    except ValueError:
        return None
    minutes = [
        float(value)
        for entries in (usage.values() if isinstance(usage, dict) else [])
        if isinstance(entries, list)
        for entry in entries
        if isinstance(entry, dict)
        for value in [entry.get("estimated_time_to_regain_access")]
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    ]
    longest = max(minutes, default=0.0)
    return longest * 60 if longest > 0 else None


class WaitLedger:
    """The time this sync has spent waiting on Meta, shared by every stream's backoff.

    The CDK builds one backoff strategy per requester (each stream, and the parent inside each
    child), but the bound is per sync: they all add to this one ledger, which the source resets
    when it is built (one source is one sync). Waits of different threads at the same time (both
    platforms, or streams that read the same refused page together) count once: the ledger keeps
    the wall time covered by the waits, each lasting from its start (now, or the end of the same
    thread's previous wait) for its length.

    Instants and lengths are kept as exact fractions: in floats, ``(t + 1800) - t`` is
    1800.0000000000005 for some clock values ``t``, so a wait of exactly the bound was refused
    or allowed depending on the clock. Exactly, a wait covers its length, and waits that do not
    overlap add up to the sum of their lengths.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._spans: list[tuple[Fraction, Fraction]] = []  # disjoint (start, end) of waits, sorted
        self._thread_until: dict[int, Fraction] = {}

    def reset(self) -> None:
        """Forget the waits of a previous sync."""
        with self._lock:
            self._spans = []
            self._thread_until = {}

    @property
    def waited(self) -> float:
        """Seconds of wall time covered by this sync's waits."""
        with self._lock:
            return float(_covered(self._spans))

    def add(self, wait: float, bound: float) -> float:
        """Record ``wait`` and return the total; raise if it would pass ``bound``."""
        thread = threading.get_ident()
        with self._lock:
            waited = _covered(self._spans)
            if not math.isfinite(wait):  # no fraction for it, and it would pass any bound
                raise _past_the_bound(waited, wait, bound)
            start = max(Fraction(self._clock()), self._thread_until.get(thread, Fraction(0)))
            end = start + Fraction(wait)
            spans = _merge(self._spans, (start, end))
            total = _covered(spans)
            if total > bound:  # exact: a float bound is compared as the number it is
                raise _past_the_bound(waited, wait, bound)
            self._spans = spans
            self._thread_until[thread] = end
            return float(total)


def _past_the_bound(waited: Fraction, wait: float, bound: float) -> AirbyteTracedException:
    return AirbyteTracedException(
        message=(
            f"Meta kept this Page throttled or unavailable: this sync already waited "
            f"{float(waited):.0f} s and the next wait ({wait:.0f} s) would pass the "
            f"limit of {bound:.0f} s. The next sync resumes from the last state; "
            'lower "Maximum calls per second" if other apps share the Page, or raise '
            '"Longest total wait for Meta\'s rate limits".'
        ),
        failure_type=FailureType.transient_error,
    )


def _covered(spans: list[tuple[Fraction, Fraction]]) -> Fraction:
    """The time ``spans`` (disjoint) cover, exactly."""
    return sum((end - start for start, end in spans), Fraction(0))


def _merge(
    spans: list[tuple[Fraction, Fraction]], new: tuple[Fraction, Fraction]
) -> list[tuple[Fraction, Fraction]]:
    """``spans`` (disjoint, sorted) with ``new`` added, overlapping ones joined."""
    merged: list[tuple[Fraction, Fraction]] = []
    start, end = new
    for begin, finish in spans:
        if finish < start or begin > end:
            merged.append((begin, finish))
        else:
            start, end = min(start, begin), max(end, finish)
    merged.append((start, end))
    merged.sort()
    return merged


SYNC_WAITS = WaitLedger()

_VERSION_SEGMENT = re.compile(r"^v[0-9]+\.[0-9]+$")


class _VersionFallbacks:
    """The Graph versions Meta answered with instead of the one asked for, in this sync.

    Meta answers a call to an expired version with the oldest version it still serves, silently,
    saying so only in the ``facebook-api-version`` header; fields may then differ from what the
    connector was built for. Each (asked, answered) pair is logged once as a warning, and
    ``check`` fails on it (source.py). The source resets it when it is built (one source is one
    sync).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, str] = {}

    def reset(self) -> None:
        """Forget the answers of a previous sync."""
        with self._lock:
            self._seen.clear()

    def observe(self, response: requests.Response) -> None:
        """Note, and warn once about, an answer in another version than the one asked for."""
        answered = response.headers.get("facebook-api-version")
        request = getattr(response, "request", None)
        url = getattr(request, "url", None)
        if not answered or not url:
            return
        segments = [segment for segment in urlsplit(str(url)).path.split("/") if segment]
        asked = segments[0] if segments and _VERSION_SEGMENT.match(segments[0]) else None
        if asked is None or asked == answered:
            return
        with self._lock:
            if self._seen.get(asked) == answered:
                return
            self._seen[asked] = answered
        LOGGER.warning(self._message(asked, answered))

    def describe(self) -> str | None:
        """What to tell the user, or None when every answer came in the version asked for."""
        with self._lock:
            pairs = sorted(self._seen.items())
        return self._message(*pairs[0]) if pairs else None

    @staticmethod
    def _message(asked: str, answered: str) -> str:
        return (
            f"Meta answered with Graph API {answered}, not the {asked} the connector asked for: "
            f'{asked} is no longer served. Set "Graph API version" (api_version) to a version '
            "Meta still serves, or remove it to use the connector's default."
        )


VERSION_FALLBACKS = _VersionFallbacks()


@dataclass
class GraphUsageBackoff(BackoffStrategy):
    """Wait as long as Meta's usage header says, else back off exponentially; bound the total.

    Why a component: Meta gives the wait in ``X-Business-Use-Case-Usage`` as JSON, in minutes,
    per object (see ``regain_access_seconds``), which ``WaitTimeFromHeader`` cannot read; the
    connector must stop, with a transient error and its last state, once the waits of one sync add
    up past ``max_total_wait_seconds`` (across all streams: ``SYNC_WAITS``) rather than wait
    forever while a Page stays blocked; and a request still refused after ``max_retries`` retries
    ends as a transient error naming Meta's last answer. (Left to the CDK, running out of retries
    takes the failure type of the HTTP status, and Graph sends its "retry later" codes 2 and 368
    with HTTP 400 too: the sync would end as a system_error. The error table's ``max_retries`` is
    one more than this one's, so this bound is the one reached.)

    Example: a throttled answer with ``estimated_time_to_regain_access: 1`` waits 60 s; one with
    0 or no header waits ``base_seconds * 2 ** (attempt - 1)`` seconds, at most ``cap_seconds``.
    """

    config: Config
    parameters: InitVar[Mapping[str, Any]]
    max_total_wait_seconds: int | str = 1800
    base_seconds: float | str = 2
    cap_seconds: float | str = 300
    max_retries: int | str = 8

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._bound = float(
            InterpolatedString.create(str(self.max_total_wait_seconds), parameters=parameters).eval(
                self.config
            )
        )
        self._base = float(self.base_seconds)
        self._cap = float(self.cap_seconds)
        self._max_retries = int(self.max_retries)

    def backoff_time(
        self,
        response_or_exception: requests.Response | requests.RequestException | None,
        attempt_count: int,
    ) -> float | None:
        """Seconds to wait before retrying; raise once this sync's waits would pass the bound."""
        response = (
            response_or_exception if isinstance(response_or_exception, requests.Response) else None
        )
        if attempt_count > self._max_retries:
            raise AirbyteTracedException(
                message=(
                    f"Meta's Graph API still refused a request after {self._max_retries} retries "
                    f"({_describe_failure(response_or_exception)}). It is a temporary condition "
                    "on Meta's side: the next sync resumes from the last state."
                ),
                failure_type=FailureType.transient_error,
            )
        told = regain_access_seconds(response)
        wait = (
            told
            if told is not None
            else min(self._cap, self._base * 2 ** max(attempt_count - 1, 0))
        )
        SYNC_WAITS.add(wait, self._bound)
        source = "Meta's usage header" if told is not None else "backoff"
        LOGGER.info("Waiting %.1f s before retrying (%s, attempt %d).", wait, source, attempt_count)
        return wait


def _describe_failure(
    response_or_exception: requests.Response | requests.RequestException | None,
) -> str:
    """Meta's last answer in a few words: the Graph error code and message, or the exception."""
    if isinstance(response_or_exception, requests.Response):
        try:
            error = response_or_exception.json().get("error") or {}
        except (ValueError, AttributeError):
            error = {}
        if isinstance(error, dict) and error.get("code") is not None:
            return f"last answer: error {error.get('code')}, {error.get('message', '')!s}".strip()
        return f"last answer: HTTP {response_or_exception.status_code}"
    if response_or_exception is not None:
        return f"last failure: {type(response_or_exception).__name__}: {response_or_exception}"
    return "no answer"


def usage_percent(response: requests.Response) -> int:
    """The highest percentage in Meta's usage headers (0 when there are none).

    Reads ``X-Business-Use-Case-Usage`` (per object, per type) and ``X-App-Usage``; throttling
    may start when any ``call_count``, ``total_time`` or ``total_cputime`` reaches 100.
    """
    values: list[float] = []
    for header in ("X-Business-Use-Case-Usage", "X-App-Usage"):
        raw = response.headers.get(header)
        if not raw:
            continue
        try:
            usage = json.loads(raw)
        except ValueError:
            continue
        entries: list[Any] = [usage] if header == "X-App-Usage" else []
        if header == "X-Business-Use-Case-Usage" and isinstance(usage, dict):
            entries = [
                entry for group in usage.values() if isinstance(group, list) for entry in group
            ]
        for entry in entries:
            if isinstance(entry, dict):
                for key in ("call_count", "total_time", "total_cputime"):
                    value = entry.get(key)
                    if isinstance(value, (int, float)):
                        values.append(float(value))
    return int(max(values, default=0))


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
