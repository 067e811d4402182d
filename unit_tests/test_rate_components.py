"""Rate components: Meta's usage headers, the bounded backoff and the usage watcher.

Responses are built by hand (status, headers, body) the way Graph sends them; the watcher's
pauses go to a list that replaces its ``_sleep``, so nothing here really waits.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from typing import Any, SupportsIndex

import pytest
import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.http.error_handlers.response_models import SUCCESS_RESOLUTION
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from requests.structures import CaseInsensitiveDict
from requests_cache import CachedResponse

from source_meta_conversations.components.backoff_strategies import GraphUsageBackoff
from source_meta_conversations.components.error_handlers import GraphUsageWatcher
from source_meta_conversations.components.usage import regain_access_seconds, usage_percent
from source_meta_conversations.sync.waits import WaitLedger
from unit_tests.mock_server.config import PAGE_ID, ConfigBuilder

# The manifest's `max_total_wait_seconds`: the configured minutes (30 by default) in seconds.
MANIFEST_BOUND = "{{ (config.get('max_wait_minutes') or 30) * 60 }}"
BUSINESS_USAGE = "X-Business-Use-Case-Usage"
# A monotonic clock reading at which floats do not give a wait back its length:
# (1455.997 + 1800) - 1455.997 == 1800.0000000000002.
INEXACT_CLOCK = 1455.997
APP_USAGE = "X-App-Usage"


def _usage_entry(call_count: int = 10, regain_minutes: Any = 0, **extra: Any) -> dict[str, Any]:
    return {
        "type": "messenger",
        "call_count": call_count,
        "total_cputime": 1,
        "total_time": 1,
        "estimated_time_to_regain_access": regain_minutes,
        **extra,
    }


def _business_usage(*entries: dict[str, Any]) -> dict[str, str]:
    return {BUSINESS_USAGE: json.dumps({PAGE_ID: list(entries)})}


def _app_usage(call_count: int = 10, total_time: int = 1, total_cputime: int = 1) -> dict[str, str]:
    return {
        APP_USAGE: json.dumps(
            {"call_count": call_count, "total_time": total_time, "total_cputime": total_cputime}
        )
    }


def _response(status: int = 200, headers: dict[str, str] | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.headers.update(headers or {})
    response._content = b'{"data": []}'
    response.url = f"https://graph.facebook.com/v26.0/{PAGE_ID}/conversations"
    return response


def _cached_response(status: int = 200, headers: dict[str, str] | None = None) -> CachedResponse:
    """A page replayed by the CDK's HTTP cache (``from_cache`` is True)."""
    return CachedResponse(
        status_code=status,
        headers=CaseInsensitiveDict(headers or {}),
        content=b'{"data": []}',
    )


def _backoff(config: dict[str, Any] | None = None, **kwargs: Any) -> GraphUsageBackoff:
    return GraphUsageBackoff(
        config=config if config is not None else ConfigBuilder().build(),
        parameters={},
        max_total_wait_seconds=kwargs.pop("max_total_wait_seconds", MANIFEST_BOUND),
        **kwargs,
    )


def _watcher(sleeps: list[float], **kwargs: Any) -> GraphUsageWatcher:
    watcher = GraphUsageWatcher(config=ConfigBuilder().build(), parameters={}, **kwargs)

    def sleep(seconds: float | SupportsIndex) -> None:
        sleeps.append(float(seconds))

    watcher._sleep = sleep
    return watcher


class TestRegainAccessSeconds:
    @pytest.mark.parametrize(
        ("headers", "expected"),
        [
            ({}, None),
            ({BUSINESS_USAGE: ""}, None),
            ({BUSINESS_USAGE: "{not json"}, None),
            ({BUSINESS_USAGE: "[]"}, None),
            (_business_usage(_usage_entry(regain_minutes=0)), None),
            (_business_usage(_usage_entry(regain_minutes=None)), None),
            (_business_usage(_usage_entry(regain_minutes=2)), 120.0),
            (_business_usage(_usage_entry(regain_minutes=0.5)), 30.0),
            (
                {
                    BUSINESS_USAGE: json.dumps(
                        {
                            PAGE_ID: [
                                _usage_entry(regain_minutes=1),
                                _usage_entry(regain_minutes=3),
                            ],
                            "17841400000000000": [_usage_entry(regain_minutes=2)],
                        }
                    )
                },
                180.0,
            ),
            ({BUSINESS_USAGE: json.dumps({PAGE_ID: _usage_entry(regain_minutes=2)})}, None),
            ({BUSINESS_USAGE: json.dumps({PAGE_ID: ["x", _usage_entry(regain_minutes=1)]})}, 60.0),
            ({"x-business-use-case-usage": json.dumps({PAGE_ID: [_usage_entry(0, 1)]})}, 60.0),
            (_app_usage(call_count=100), None),
            (_business_usage(_usage_entry(regain_minutes="soon")), None),
        ],
        ids=[
            "no_header",
            "empty_header",
            "not_json",
            "not_an_object",
            "zero_minutes",
            "null_minutes",
            "two_minutes",
            "half_a_minute",
            "longest_over_objects_and_entries",
            "entries_not_a_list",
            "entry_not_an_object",
            "header_name_any_case",
            "app_usage_only",
            "non_numeric_minutes",
        ],
    )
    def test_given_usage_header_when_read_then_seconds_to_wait(
        self, headers: dict[str, str], expected: float | None
    ) -> None:
        assert regain_access_seconds(_response(headers=headers)) == expected

    def test_given_no_response_when_read_then_none(self) -> None:
        assert regain_access_seconds(None) is None


class TestUsagePercent:
    @pytest.mark.parametrize(
        ("headers", "expected"),
        [
            ({}, 0),
            (_app_usage(call_count=28, total_time=25, total_cputime=25), 28),
            (_app_usage(call_count=5, total_time=7, total_cputime=93), 93),
            (_business_usage(_usage_entry(call_count=97), _usage_entry(call_count=12)), 97),
            (
                {
                    BUSINESS_USAGE: json.dumps(
                        {PAGE_ID: [_usage_entry(call_count=40)], "1784": [_usage_entry(60)]}
                    )
                },
                60,
            ),
            ({**_business_usage(_usage_entry(call_count=30)), **_app_usage(call_count=81)}, 81),
            ({BUSINESS_USAGE: "{not json", **_app_usage(call_count=44)}, 44),
            ({APP_USAGE: "nope", **_business_usage(_usage_entry(call_count=55))}, 55),
            (_business_usage(_usage_entry(call_count=3, regain_minutes=500)), 3),
            ({APP_USAGE: json.dumps({"call_count": "97", "total_time": None})}, 0),
            ({APP_USAGE: "[1, 2]", BUSINESS_USAGE: "[]"}, 0),
        ],
        ids=[
            "no_headers",
            "app_usage",
            "app_cputime_highest",
            "business_entries",
            "business_objects",
            "both_headers",
            "business_not_json",
            "app_not_json",
            "minutes_are_not_a_percentage",
            "non_numeric_values",
            "headers_not_objects",
        ],
    )
    def test_given_usage_headers_when_read_then_highest_percentage(
        self, headers: dict[str, str], expected: int
    ) -> None:
        assert usage_percent(_response(headers=headers)) == expected


class TestGraphUsageBackoff:
    def test_given_usage_header_with_wait_when_backoff_then_waits_as_meta_says(self) -> None:
        backoff = _backoff()

        wait = backoff.backoff_time(
            _response(429, _business_usage(_usage_entry(100, regain_minutes=2))), attempt_count=1
        )

        assert wait == 120.0

    @pytest.mark.parametrize(
        ("attempt_count", "expected"),
        [(0, 2.0), (1, 2.0), (2, 4.0), (3, 8.0), (8, 256.0), (9, 300.0), (20, 300.0)],
        ids=["attempt_0", "attempt_1", "attempt_2", "attempt_3", "attempt_8", "capped", "far"],
    )
    def test_given_no_wait_in_headers_when_backoff_then_exponential_capped(
        self, attempt_count: int, expected: float
    ) -> None:
        backoff = _backoff(max_total_wait_seconds=10_000, max_retries=100)

        assert backoff.backoff_time(_response(500), attempt_count) == expected

    @pytest.mark.parametrize(
        "response_or_exception",
        [requests.ConnectionError("reset"), None, _response(429, _business_usage(_usage_entry()))],
        ids=["exception", "nothing", "zero_minutes_in_header"],
    )
    def test_given_no_named_wait_when_backoff_then_base_seconds(
        self, response_or_exception: requests.Response | requests.RequestException | None
    ) -> None:
        backoff = _backoff(base_seconds="3", cap_seconds="60")

        assert backoff.backoff_time(response_or_exception, attempt_count=2) == 6.0

    def test_given_waits_reaching_bound_exactly_when_backoff_then_waits(self) -> None:
        backoff = _backoff(max_total_wait_seconds=6)

        waits = [backoff.backoff_time(_response(500), attempt) for attempt in (1, 2)]

        assert waits == [2.0, 4.0]

    def test_given_waits_passing_bound_when_backoff_then_transient_error_naming_the_limit(
        self,
    ) -> None:
        backoff = _backoff(ConfigBuilder().with_field("max_wait_minutes", 1).build())
        for attempt in (1, 2, 3, 4):  # 2 + 4 + 8 + 16 = 30 s of the 60 s allowed
            backoff.backoff_time(_response(500), attempt)

        with pytest.raises(AirbyteTracedException) as raised:
            backoff.backoff_time(_response(500), 5)  # 32 s more would make 62 s

        assert raised.value.failure_type == FailureType.transient_error
        assert raised.value.message == (
            "Meta kept this Page throttled or unavailable: this sync already waited 30 s and the "
            "next wait (32 s) would pass the limit of 60 s. The next sync resumes from the last "
            'state; lower "Maximum calls per second" if other apps share the Page, or raise '
            '"Longest total wait for Meta\'s rate limits".'
        )

    def test_given_default_config_when_meta_asks_past_thirty_minutes_then_transient_error(
        self,
    ) -> None:
        backoff = _backoff()
        throttled = _response(400, _business_usage(_usage_entry(100, regain_minutes=30)))

        first = backoff.backoff_time(throttled, attempt_count=1)
        with pytest.raises(AirbyteTracedException) as raised:
            backoff.backoff_time(_response(400, _business_usage(_usage_entry(100, 1))), 1)

        assert first == 1800.0
        assert raised.value.failure_type == FailureType.transient_error
        assert "limit of 1800 s" in (raised.value.message or "")

    def test_given_refused_wait_when_backoff_again_then_refused_wait_not_counted(self) -> None:
        backoff = _backoff(max_total_wait_seconds=10)
        backoff.backoff_time(_response(500), 3)  # 8 s
        with pytest.raises(AirbyteTracedException):
            backoff.backoff_time(_response(500), 2)  # 4 s would make 12 s

        assert backoff.backoff_time(_response(500), 1) == 2.0

    def test_given_wait_when_backoff_then_logs_wait_its_source_and_what_failed(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        backoff = _backoff()

        with caplog.at_level(logging.INFO, logger="airbyte"):
            backoff.backoff_time(_response(429, _business_usage(_usage_entry(100, 2))), 1)
            backoff.backoff_time(_response(500), 3)
            backoff.backoff_time(
                requests.ReadTimeout(
                    "HTTPSConnectionPool(host='graph.facebook.com', port=443): Read timed out. "
                    "(read timeout=90)"
                ),
                1,
            )

        assert [record.getMessage() for record in caplog.records] == [
            "Waiting 120.0 s before retrying (Meta's usage header, attempt 1; last answer: "
            "HTTP 429).",
            "Waiting 8.0 s before retrying (backoff, attempt 3; last answer: HTTP 500).",
            "Waiting 2.0 s before retrying (backoff, attempt 1; last failure: Meta's server sent "
            "nothing for longer than the read timeout).",
        ]


class TestGraphUsageWatcher:
    def test_given_200_when_interpret_then_success(self) -> None:
        assert _watcher([]).interpret_response(_response(200)) is SUCCESS_RESOLUTION

    @pytest.mark.parametrize("status", [400, 429, 500, 503], ids=["400", "429", "500", "503"])
    def test_given_error_status_when_interpret_then_none_for_the_next_handler(
        self, status: int
    ) -> None:
        assert _watcher([]).interpret_response(_response(status)) is None

    def test_given_exception_when_interpret_then_none_for_the_next_handler(self) -> None:
        watcher = _watcher([])

        assert watcher.interpret_response(requests.ConnectionError("reset")) is None

    @pytest.mark.parametrize(
        ("headers", "expected_sleeps"),
        [
            ({}, []),
            (_app_usage(call_count=100), []),
            (_app_usage(call_count=101), [1.0]),
            (_business_usage(_usage_entry(call_count=120)), [1.0]),
            (_business_usage(_usage_entry(call_count=20, regain_minutes=2)), [120.0]),
            (_business_usage(_usage_entry(call_count=120, regain_minutes=1)), [60.0]),
        ],
        ids=[
            "no_usage",
            "at_threshold",
            "app_over_threshold",
            "business_over_threshold",
            "meta_names_a_wait",
            "named_wait_over_window",
        ],
    )
    def test_given_fresh_200_when_interpret_then_pauses_only_when_overspent(
        self, headers: dict[str, str], expected_sleeps: list[float]
    ) -> None:
        sleeps: list[float] = []

        resolution = _watcher(sleeps).interpret_response(_response(200, headers))

        assert resolution is SUCCESS_RESOLUTION
        assert sleeps == expected_sleeps

    def test_given_200_with_malformed_named_wait_when_interpret_then_success_without_pause(
        self,
    ) -> None:
        # A successful page must not fail the sync over a usage header the connector cannot read
        # (unparsable JSON there is already ignored).
        sleeps: list[float] = []
        headers = _business_usage(_usage_entry(call_count=20, regain_minutes="soon"))

        resolution = _watcher(sleeps).interpret_response(_response(200, headers))

        assert resolution is SUCCESS_RESOLUTION
        assert sleeps == []

    def test_given_custom_threshold_and_window_when_over_then_pauses_one_window(self) -> None:
        sleeps: list[float] = []
        watcher = _watcher(sleeps, threshold=80, window_seconds=2.5)

        watcher.interpret_response(_response(200, _app_usage(call_count=80)))
        watcher.interpret_response(_response(200, _app_usage(call_count=81)))

        assert sleeps == [2.5]

    @pytest.mark.parametrize("status", [400, 429, 500], ids=["400", "429", "500"])
    def test_given_throttled_error_when_interpret_then_no_pause(self, status: int) -> None:
        # Throttled answers are waited on by GraphUsageBackoff, not here.
        sleeps: list[float] = []
        headers = _business_usage(_usage_entry(call_count=150, regain_minutes=5))

        resolution = _watcher(sleeps).interpret_response(_response(status, headers))

        assert resolution is None
        assert sleeps == []

    @pytest.mark.parametrize(
        "headers",
        [
            _business_usage(_usage_entry(call_count=150, regain_minutes=5)),
            _app_usage(call_count=130),
        ],
        ids=["named_wait", "over_threshold"],
    )
    def test_given_cached_200_when_interpret_then_success_without_pause_or_log(
        self, headers: dict[str, str], caplog: pytest.LogCaptureFixture
    ) -> None:
        sleeps: list[float] = []
        watcher = _watcher(sleeps)

        with caplog.at_level(logging.INFO, logger="airbyte"):
            resolution = watcher.interpret_response(_cached_response(200, headers))

        assert resolution is SUCCESS_RESOLUTION
        assert sleeps == []
        assert caplog.records == []

    def test_given_cached_error_when_interpret_then_none_without_pause(self) -> None:
        sleeps: list[float] = []
        headers = _business_usage(_usage_entry(call_count=150, regain_minutes=5))

        resolution = _watcher(sleeps).interpret_response(_cached_response(500, headers))

        assert resolution is None
        assert sleeps == []

    def test_given_cached_high_usage_then_fresh_lower_when_interpret_then_fresh_rise_logged(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        # The cached figures are old: they must not count towards this sync's usage.
        watcher = _watcher([])

        with caplog.at_level(logging.INFO, logger="airbyte"):
            watcher.interpret_response(_cached_response(200, _app_usage(call_count=130)))
            watcher.interpret_response(_response(200, _app_usage(call_count=60)))

        assert [record.getMessage() for record in caplog.records] == [
            "Meta reports 60% of the Page's or app's call budget used."
        ]

    def test_given_rising_usage_when_interpret_then_logs_each_mark_once(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        watcher = _watcher([])

        with caplog.at_level(logging.INFO, logger="airbyte"):
            for percent in (10, 55, 60, 85, 70, 100, 100):
                watcher.interpret_response(_response(200, _app_usage(call_count=percent)))
            # Usage read on an error response counts too.
            watcher.interpret_response(_response(429, _app_usage(call_count=130)))

        assert [record.getMessage() for record in caplog.records] == [
            "Meta reports 55% of the Page's or app's call budget used.",
            "Meta reports 85% of the Page's or app's call budget used.",
            "Meta reports 100% of the Page's or app's call budget used.",
        ]

    def test_given_named_wait_longer_than_window_when_interpret_then_logs_the_pause(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        watcher = _watcher([])

        with caplog.at_level(logging.INFO, logger="airbyte"):
            watcher.interpret_response(_response(200, _business_usage(_usage_entry(20, 2))))

        assert [record.getMessage() for record in caplog.records] == [
            "Meta reports 20% of the call budget used and asks to wait; pausing 120 s before the "
            "next call."
        ]

    @pytest.mark.parametrize(
        ("max_retries_value", "expected"), [(8, 8), ("8", 8), ("3", 3)], ids=["int", "str", "other"]
    )
    def test_given_max_retries_value_when_read_then_int(
        self, max_retries_value: int | str, expected: int
    ) -> None:
        watcher = _watcher([], max_retries_value=max_retries_value)

        assert watcher.max_retries == expected


class TestGraphUsageBackoffRetryBound:
    def test_given_retries_used_up_when_backoff_then_transient_error_naming_the_last_answer(
        self,
    ) -> None:
        backoff = _backoff(max_retries=3)
        response = _response(400)
        response._content = b'{"error": {"code": 368, "message": "Temporarily blocked"}}'

        with pytest.raises(AirbyteTracedException) as raised:
            backoff.backoff_time(response, 4)

        assert raised.value.failure_type == FailureType.transient_error
        assert "after 3 retries" in str(raised.value.message)
        assert "error 368, Temporarily blocked" in str(raised.value.message)

    def test_given_retries_left_when_backoff_then_waits(self) -> None:
        backoff = _backoff(max_retries=3)

        assert backoff.backoff_time(_response(500), 3) == 8.0


class TestWaitLedger:
    """The bound on a sync's waits is wall time: waits of threads at the same time count once."""

    def test_given_a_clock_where_float_instants_err_when_a_wait_equals_the_bound_then_allowed(
        self,
    ) -> None:
        assert (INEXACT_CLOCK + 1800) - INEXACT_CLOCK != 1800  # the clock this test is about
        ledger = WaitLedger(clock=lambda: INEXACT_CLOCK)

        assert ledger.add(1800, bound=1800) == 1800
        assert ledger.waited == 1800

    def test_given_a_clock_where_float_instants_err_when_waits_add_up_to_the_bound_then_allowed(
        self,
    ) -> None:
        ledger = WaitLedger(clock=lambda: INEXACT_CLOCK)  # the second wait follows the first

        assert ledger.add(600, bound=1800) == 600
        assert ledger.add(1200, bound=1800) == 1800
        assert ledger.waited == 1800

    def test_given_a_clock_where_float_instants_err_when_a_wait_passes_the_bound_then_refused(
        self,
    ) -> None:
        ledger = WaitLedger(clock=lambda: INEXACT_CLOCK)
        just_above = math.nextafter(1800.0, math.inf)

        with pytest.raises(AirbyteTracedException) as raised:
            ledger.add(just_above, bound=1800)

        assert raised.value.failure_type == FailureType.transient_error
        assert ledger.waited == 0

    def test_given_a_wait_without_end_when_added_then_refused_as_past_the_bound(self) -> None:
        ledger = WaitLedger(clock=lambda: 100.0)

        with pytest.raises(AirbyteTracedException) as raised:
            ledger.add(math.inf, bound=1800)  # Meta's header may say Infinity minutes

        assert raised.value.failure_type == FailureType.transient_error
        assert "the next wait (inf s) would pass the limit of 1800 s" in str(raised.value.message)
        assert ledger.waited == 0

    def test_given_one_thread_when_it_waits_twice_then_both_waits_add_up(self) -> None:
        ledger = WaitLedger(clock=lambda: 100.0)  # no real sleep: the second wait follows the first

        assert ledger.add(10, bound=60) == 10
        assert ledger.add(20, bound=60) == 30
        assert ledger.waited == 30

    def test_given_a_clock_reading_that_rounds_when_a_wait_reaches_the_bound_then_accepted(
        self,
    ) -> None:
        # (248.27100000000002 + 1800) - 248.27100000000002 == 1800.0000000000002 in floats:
        # the span of a wait of exactly the bound measures a hair longer than the bound.
        ledger = WaitLedger(clock=lambda: 248.27100000000002)

        assert ledger.add(1800.0, bound=1800.0) == pytest.approx(1800.0)

    def test_given_two_threads_when_they_wait_at_once_then_the_time_counts_once(self) -> None:
        now = [100.0]
        ledger = WaitLedger(clock=lambda: now[0])
        ledger.add(10, bound=60)  # 100 -> 110
        # Two more threads, alive together (a finished thread's id can be reused).
        go = [threading.Event(), threading.Event()]
        done = [threading.Event(), threading.Event()]

        def wait_when_told(index: int) -> None:
            go[index].wait(5)
            ledger.add(10, bound=60)
            done[index].set()

        threads = [threading.Thread(target=wait_when_told, args=(i,)) for i in (0, 1)]
        for thread in threads:
            thread.start()
        go[0].set()
        assert done[0].wait(5)
        assert ledger.waited == 10  # 100 -> 110 again
        now[0] = 105.0
        go[1].set()
        assert done[1].wait(5)
        for thread in threads:
            thread.join()
        assert ledger.waited == 15  # 105 -> 115

    def test_given_waits_of_two_threads_when_the_union_passes_the_bound_then_transient_error(
        self,
    ) -> None:
        now = [0.0]
        ledger = WaitLedger(clock=lambda: now[0])
        ledger.add(40, bound=60)
        now[0] = 50.0
        with pytest.raises(AirbyteTracedException) as raised:
            ledger.add(30, bound=60)  # 0-40 and 50-80: 70 s of the sync's time
        assert raised.value.failure_type == FailureType.transient_error
        assert "already waited 40 s and the next wait (30 s)" in str(raised.value.message)
        assert ledger.waited == 40
