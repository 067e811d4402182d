"""The few behaviours of the connector that the declarative manifest cannot express.

Each class is one small component referenced from ``manifest.yaml`` by ``class_name``.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import InitVar, dataclass, field
from typing import Any, Mapping

import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.interpolation import InterpolatedString
from airbyte_cdk.sources.declarative.requesters.paginators.strategies import (
    CursorPaginationStrategy,
)
from airbyte_cdk.sources.streams.http.error_handlers import BackoffStrategy
from airbyte_cdk.sources.declarative.transformations import RecordTransformation
from airbyte_cdk.sources.types import Config, Record, StreamSlice, StreamState
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

LOGGER = logging.getLogger("airbyte")


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
    """Graph cursor paging that fails loudly instead of looping when Meta repeats a page.

    Why a component: Graph's only end-of-list signal is a missing ``paging.next``. The manifest's
    ``stop_condition`` handles that, but a ``next`` that points at the page just read (seen with
    stale cursors) would make the CDK's ``CursorPagination`` ask for the same page forever, and a
    stop condition cannot see the previous token. This strategy compares the new cursor with the
    one that fetched the page and raises a transient error naming the loop.

    Example: a page fetched with ``after=QVFI`` answering ``paging.cursors.after == "QVFI"`` and a
    ``paging.next`` raises instead of requesting ``after=QVFI`` again.
    """

    def next_page_token(
        self,
        response: requests.Response,
        last_page_size: int,
        last_record: Record | None,
        last_page_token_value: Any | None = None,
        page_size_override: int | None = None,
        stream_slice: StreamSlice | None = None,
    ) -> Any | None:
        """The next cursor, or None at the end; raise if it is the cursor just followed."""
        token = super().next_page_token(
            response,
            last_page_size,
            last_record,
            last_page_token_value,
            page_size_override=page_size_override,
            stream_slice=stream_slice,
        )
        if token is not None and last_page_token_value is not None and token == last_page_token_value:
            raise AirbyteTracedException(
                message=(
                    "Meta's Graph API returned the same page again (its paging.next points back at "
                    "the page just read), so the connector stopped instead of looping. Run the "
                    "sync again; if it repeats, the conversation list changed while paging."
                ),
                internal_message=f"Repeated paging cursor at {_safe_url(response)}",
                failure_type=FailureType.transient_error,
            )
        return token


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
        float(entry.get("estimated_time_to_regain_access") or 0)
        for entries in (usage.values() if isinstance(usage, dict) else [])
        if isinstance(entries, list)
        for entry in entries
        if isinstance(entry, dict)
    ]
    longest = max(minutes, default=0.0)
    return longest * 60 if longest > 0 else None


@dataclass
class GraphUsageBackoff(BackoffStrategy):
    """Wait as long as Meta's usage header says, else back off exponentially; bound the total.

    Why a component: Meta gives the wait in ``X-Business-Use-Case-Usage`` as JSON, in minutes,
    per object (see ``regain_access_seconds``), which ``WaitTimeFromHeader`` cannot read; and the
    connector must stop, with a transient error and its last state, once the waits of one sync add
    up past ``max_total_wait_seconds`` rather than wait forever while a Page stays blocked.

    Example: a throttled answer with ``estimated_time_to_regain_access: 1`` waits 60 s; one with
    0 or no header waits ``base_seconds * 2 ** (attempt - 1)`` seconds, at most ``cap_seconds``.
    """

    config: Config
    parameters: InitVar[Mapping[str, Any]]
    max_total_wait_seconds: int | str = 1800
    base_seconds: float | str = 2
    cap_seconds: float | str = 300

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._bound = float(
            InterpolatedString.create(str(self.max_total_wait_seconds), parameters=parameters).eval(
                self.config
            )
        )
        self._base = float(self.base_seconds)
        self._cap = float(self.cap_seconds)
        self._waited = 0.0
        self._lock = threading.Lock()

    def backoff_time(
        self,
        response_or_exception: requests.Response | requests.RequestException | None,
        attempt_count: int,
    ) -> float | None:
        """Seconds to wait before retrying; raise once this sync's waits would pass the bound."""
        response = (
            response_or_exception if isinstance(response_or_exception, requests.Response) else None
        )
        told = regain_access_seconds(response)
        wait = told if told is not None else min(self._cap, self._base * 2 ** max(attempt_count - 1, 0))
        with self._lock:
            if self._waited + wait > self._bound:
                raise AirbyteTracedException(
                    message=(
                        f"Meta kept this Page throttled or unavailable: this sync already waited "
                        f"{self._waited:.0f} s and the next wait ({wait:.0f} s) would pass the "
                        f"limit of {self._bound:.0f} s. The next sync resumes from the last state; "
                        "lower \"Maximum calls per second\" if other apps share the Page."
                    ),
                    failure_type=FailureType.transient_error,
                )
            self._waited += wait
        source = "Meta's usage header" if told is not None else "backoff"
        LOGGER.info("Waiting %.1f s before retrying (%s, attempt %d).", wait, source, attempt_count)
        return wait
