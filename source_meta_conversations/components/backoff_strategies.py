"""Backoff: as long as Meta says, else exponential; the sync's total wait bounded."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import InitVar, dataclass
from typing import Any

import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.interpolation import InterpolatedString
from airbyte_cdk.sources.streams.http.error_handlers import BackoffStrategy
from airbyte_cdk.sources.types import Config
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_meta_conversations.components.decoders import graph_page_problem, parsed_body
from source_meta_conversations.components.usage import regain_access_seconds
from source_meta_conversations.sync.waits import SYNC_WAITS

LOGGER = logging.getLogger("airbyte")


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
        # What failed, in the log too: a call that timed out shows only as a silent gap before
        # this line otherwise (the CDK's own line says "Rate limit exceeded" for every retry).
        LOGGER.info(
            "Waiting %.1f s before retrying (%s, attempt %d; %s).",
            wait,
            source,
            attempt_count,
            _describe_failure(response_or_exception),
        )
        return wait


def _describe_failure(
    response_or_exception: requests.Response | requests.RequestException | None,
) -> str:
    """Meta's last answer in a few words: the Graph error, the broken body, or what failed.

    Never the exception's own text: requests writes the request's URL into it (query string
    included).
    """
    if isinstance(response_or_exception, requests.Response):
        body = parsed_body(response_or_exception)
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict) and error.get("code") is not None:
            return f"last answer: error {error.get('code')}, {error.get('message', '')!s}".strip()
        status = response_or_exception.status_code
        problem = graph_page_problem(response_or_exception) if status == 200 else None
        if problem is not None:
            return f"last answer: HTTP 200 with a body that {problem.description}"
        return f"last answer: HTTP {status}"
    if response_or_exception is not None:
        return f"last failure: {_describe_exception(response_or_exception)}"
    return "no answer"


def _describe_exception(exception: BaseException) -> str:
    """What a transport failure means, with the system's reason when it gives one; no URL.

    Example: ``ConnectionError("HTTPSConnectionPool(host='graph.facebook.com', port=443): Max
    retries exceeded with url: /v26.0/1/conversations?... (Caused by NewConnectionError('...:
    Failed to establish a new connection: [Errno -2] Name or service not known'))")`` gives "the
    connection to Meta's server failed or was dropped ([Errno -2] Name or service not known)".
    """
    meaning = next(
        (text for kind, text in _TRANSPORT_FAILURES if isinstance(exception, kind)),
        f"{type(exception).__name__} while calling Meta",
    )
    reason = _ERRNO.search(str(exception))
    return f"{meaning} ({reason.group(0).strip()})" if reason else meaning


# The operating system's reason inside requests' text, e.g. "[Errno 111] Connection refused".
_ERRNO = re.compile(r"\[Errno [^\]]*\][^'\")(]*")
# Most specific first: the timeouts are ConnectionErrors too.
_TRANSPORT_FAILURES: tuple[tuple[type[BaseException], str], ...] = (
    (requests.ConnectTimeout, "Meta's server did not accept the connection in time"),
    (requests.ReadTimeout, "Meta's server sent nothing for longer than the read timeout"),
    (requests.exceptions.ChunkedEncodingError, "the connection dropped while the answer came in"),
    (requests.ConnectionError, "the connection to Meta's server failed or was dropped"),
)
