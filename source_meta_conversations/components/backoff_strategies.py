"""Backoff: as long as Meta says, else exponential; the sync's total wait bounded."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import InitVar, dataclass
from typing import Any

import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.interpolation import InterpolatedString
from airbyte_cdk.sources.streams.http.error_handlers import BackoffStrategy
from airbyte_cdk.sources.types import Config
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

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
