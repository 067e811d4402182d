"""Every pause Meta asks for counts against ``max_wait_minutes``; the pacing between calls does not.

Meta asks for pauses two ways: in the usage headers of a good answer
(``estimated_time_to_regain_access``, waited on by ``GraphUsageWatcher`` before the next call)
and by throttling a call (waited on by ``GraphUsageBackoff``). Both add to one ledger per sync;
a pause that would pass the bound stops the sync with a transient error naming the setting,
after what was read was emitted and checkpointed. The API budget's pacing at
``max_requests_per_second`` is the connector's own rhythm, not a wait on Meta.
"""

from __future__ import annotations

import json
import time
from types import SimpleNamespace
from typing import Any

import pytest
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams import call_rate
from airbyte_cdk.test.mock_http import HttpMocker, HttpResponse

from source_meta_conversations.components.error_handlers import GraphUsageWatcher
from source_meta_conversations.sync.waits import SYNC_WAITS, WaitLedger
from unit_tests.mock_server.config import PAGE_ID, ConfigBuilder
from unit_tests.mock_server.request_builder import RequestBuilder
from unit_tests.mock_server.response_builder import (
    ConversationBuilder,
    graph_error,
    message,
    page,
)
from unit_tests.mock_server.sleeps import Sleeps
from unit_tests.mock_server.source_runner import read_streams, records_of, stream_error

STREAM = "conversations"
SETTING_TITLE = "Longest total wait for Meta's rate limits"
# The longest a call may take (the read timeout is per silent gap: a generous figure).
READ_TIMEOUT_SECONDS = 300


def _asks_to_wait(minutes: int) -> dict[str, str]:
    """Meta's usage header naming a wait (in minutes) before the next call."""
    usage = {
        PAGE_ID: [
            {
                "type": "messenger",
                "call_count": 95,
                "total_cputime": 20,
                "total_time": 20,
                "estimated_time_to_regain_access": minutes,
            }
        ]
    }
    return {"X-Business-Use-Case-Usage": json.dumps(usage)}


def _page(conversation_id: str, *, next_after: str | None, headers: dict[str, str]) -> HttpResponse:
    conversation = ConversationBuilder(conversation_id, 100).with_messages(
        [message(f"{conversation_id}_m", 100)]
    )
    response = page([conversation.build()], next_after=next_after)
    return HttpResponse(response.body, 200, headers)


def _listing_after(state_message: Any) -> Any:
    """The ``listing.after`` of the conversations state of the one platform."""
    blob = state_message.state.stream.stream_state.__dict__
    return blob["states"][0]["cursor"].get("listing", {}).get("after")


class TestUsageHeaderPauses:
    def test_given_two_minute_pauses_and_three_allowed_when_read_then_error_naming_the_setting(
        self, http_mocker: HttpMocker, sleeps: Sleeps
    ) -> None:
        first = RequestBuilder.conversations().build()
        second = RequestBuilder.conversations().with_after("QVFIUpage2").build()
        http_mocker.get(first, _page("t_1", next_after="QVFIUpage2", headers=_asks_to_wait(2)))
        http_mocker.get(second, _page("t_2", next_after="QVFIUpage3", headers=_asks_to_wait(2)))
        config = ConfigBuilder().with_field("max_wait_minutes", 3).build()

        output = read_streams(config, [STREAM], expecting_exception=True)

        error = stream_error(output, STREAM)
        assert error.failure_type == FailureType.transient_error
        assert SETTING_TITLE in error.message
        assert "limit of 180 s" in error.message
        # The first pause was waited; the second would have made 240 s of the 180 s allowed.
        assert 120.0 in sleeps.waits
        assert SYNC_WAITS.waited == 120.0
        # What was read is emitted and checkpointed: the first page, and the cursor after it.
        assert [r["id"] for r in records_of(output, STREAM)] == ["t_1"]
        assert _listing_after(output.state_messages[-1]) == "QVFIUpage2"
        http_mocker.assert_number_of_calls(first, 1)
        http_mocker.assert_number_of_calls(second, 1)

    def test_given_pauses_within_the_bound_when_read_then_every_page_and_the_pauses_counted(
        self, http_mocker: HttpMocker, sleeps: Sleeps
    ) -> None:
        first = RequestBuilder.conversations().build()
        second = RequestBuilder.conversations().with_after("QVFIUpage2").build()
        http_mocker.get(first, _page("t_1", next_after="QVFIUpage2", headers=_asks_to_wait(1)))
        http_mocker.get(second, _page("t_2", next_after=None, headers=_asks_to_wait(1)))
        config = ConfigBuilder().with_field("max_wait_minutes", 3).build()

        output = read_streams(config, [STREAM])

        assert not output.errors
        assert [r["id"] for r in records_of(output, STREAM)] == ["t_1", "t_2"]
        assert [wait for wait in sleeps.waits if wait >= 60] == [60.0, 60.0]
        assert SYNC_WAITS.waited == 120.0

    def test_given_a_throttled_call_then_a_pause_when_both_pass_the_bound_then_transient_error(
        self, http_mocker: HttpMocker
    ) -> None:
        # The backoff on a throttled call and the pause asked by a good answer share one bound.
        first = RequestBuilder.conversations().build()
        throttled = graph_error(
            80006, message="(#80006) Too many calls", headers=_asks_to_wait(2), transient=True
        )
        http_mocker.get(
            first,
            [throttled, _page("t_1", next_after="QVFIUpage2", headers=_asks_to_wait(2))],
        )
        config = ConfigBuilder().with_field("max_wait_minutes", 3).build()

        output = read_streams(config, [STREAM], expecting_exception=True)

        error = stream_error(output, STREAM)
        assert error.failure_type == FailureType.transient_error
        assert SETTING_TITLE in error.message
        assert SYNC_WAITS.waited == 120.0
        assert records_of(output, STREAM) == []  # the second page was never asked for
        http_mocker.assert_number_of_calls(first, 2)


class TestPacing:
    def test_given_paced_calls_when_read_then_pacing_is_not_counted_as_a_wait_on_meta(
        self, http_mocker: HttpMocker, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        paced: list[float] = []

        def sleep(seconds: float) -> None:  # the API budget's own wait, really waited
            paced.append(seconds)
            time.sleep(seconds)

        monkeypatch.setattr(call_rate, "time", SimpleNamespace(sleep=sleep))
        requests = [
            RequestBuilder.conversations().build(),
            RequestBuilder.conversations().with_after("QVFIUpage2").build(),
            RequestBuilder.conversations().with_after("QVFIUpage3").build(),
        ]
        nexts: list[str | None] = ["QVFIUpage2", "QVFIUpage3", None]
        for index, (request, next_after) in enumerate(zip(requests, nexts, strict=True)):
            http_mocker.get(request, _page(f"t_{index}", next_after=next_after, headers={}))
        config = (
            ConfigBuilder()
            .with_field("max_requests_per_second", 1)
            .with_field("max_wait_minutes", 1)
            .build()
        )

        output = read_streams(config, [STREAM])

        assert not output.errors
        assert len(records_of(output, STREAM)) == 3
        assert paced, "the calls were paced at one per second"
        assert SYNC_WAITS.waited == 0


class TestRetryWindow:
    @pytest.mark.parametrize("minutes", [1, 30, 1440], ids=["least", "default", "most"])
    def test_given_max_wait_minutes_when_the_cdk_bounds_a_request_then_its_window_is_longer(
        self, minutes: int
    ) -> None:
        # The CDK gives up on a request once its retries took this long (600 s by default), with
        # a message that is not Meta's: the wait bound and the retry count must decide first.
        watcher = GraphUsageWatcher(
            config=ConfigBuilder().with_field("max_wait_minutes", minutes).build(),
            parameters={},
            max_total_wait_seconds="{{ (config.get('max_wait_minutes') or 30) * 60 }}",
        )

        assert watcher.max_time is not None
        assert watcher.max_time > minutes * 60 + 10 * READ_TIMEOUT_SECONDS


class TestWaitLedger:
    def test_given_a_wait_as_long_as_the_bound_when_added_then_accepted_whatever_the_clock(
        self,
    ) -> None:
        # At this instant (t + 1800) - t is 1800.0000000000146 in floating point.
        ledger = WaitLedger(clock=lambda: 130201.53534647937)

        assert ledger.add(1800.0, 1800.0) == 1800.0
        assert ledger.waited == 1800.0

    def test_given_waits_adding_up_to_the_bound_when_added_then_the_sum_of_durations(
        self,
    ) -> None:
        now = [130201.53534647937]
        ledger = WaitLedger(clock=lambda: now[0])

        for _ in range(3):
            ledger.add(600.0, 1800.0)
            now[0] += 600.0

        assert ledger.waited == 1800.0
