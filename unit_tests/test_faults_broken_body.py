"""A 200 whose body is broken (cut short, HTML, JSON that is not a Graph list) is transient.

A dropped connection behind a proxy delivers a 200 with half its body. Such an answer is asked
for again in place, with backoff counted against ``max_wait_minutes``, as a 5xx is; only a body
that stays broken ends the sync, with a transient error that says so. The conversations pages
are also kept in the CDK's HTTP cache, which the children read: a broken page must not stay
there, or the retry (and the children) would read it back.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import requests_cache
import requests_mock
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.call_rate import APIBudget, CachedLimiterSession
from airbyte_cdk.test.mock_http import HttpMocker, HttpResponse

from source_meta_conversations.cdk_adaptations import single_flight
from source_meta_conversations.sync.waits import SYNC_WAITS
from unit_tests.mock_server.config import ConfigBuilder
from unit_tests.mock_server.request_builder import RequestBuilder
from unit_tests.mock_server.response_builder import ConversationBuilder, message, page
from unit_tests.mock_server.sleeps import Sleeps
from unit_tests.mock_server.source_runner import (
    ALL_STREAMS,
    read_streams,
    records_of,
    stream_error,
)

MAX_RETRIES = 8  # the manifest's definitions.max_retries
# GraphUsageBackoff's first exponential wait (its ``base_seconds``).
FIRST_BACKOFF_SECONDS = 2.0
GOOD_BODY = json.dumps(
    {
        "data": [ConversationBuilder("t_1", 100).with_messages([message("m_1", 100)]).build()],
        "paging": {"cursors": {"before": "QVFIUb", "after": "QVFIUlast"}},
    }
)
BROKEN_BODIES = {
    "cut_in_half": GOOD_BODY[: len(GOOD_BODY) // 2],
    "html_page": "<!DOCTYPE html><html><body>Sorry, something went wrong.</body></html>",
    "empty": "",
    "json_null": "null",
    "json_without_data": '{"id": "104839588217347"}',
    "json_list": "[]",
}


def _broken(name: str) -> HttpResponse:
    return HttpResponse(BROKEN_BODIES[name], 200)


def _good() -> HttpResponse:
    return HttpResponse(GOOD_BODY, 200)


class TestConversationsPage:
    @pytest.mark.parametrize("broken", list(BROKEN_BODIES), ids=list(BROKEN_BODIES))
    def test_given_broken_200_once_when_read_then_asked_again_and_every_record(
        self, http_mocker: HttpMocker, sleeps: Sleeps, broken: str
    ) -> None:
        request = RequestBuilder.conversations().build()
        http_mocker.get(request, [_broken(broken), _good()])

        output = read_streams(ConfigBuilder().build(), ["conversations"])

        assert not output.errors
        assert [r["id"] for r in records_of(output, "conversations")] == ["t_1"]
        http_mocker.assert_number_of_calls(request, 2)
        # One backoff (the strategy's first, 2 s), counted against the sync's wait bound.
        assert SYNC_WAITS.waited == FIRST_BACKOFF_SECONDS
        assert sleeps.total >= FIRST_BACKOFF_SECONDS

    def test_given_broken_200_once_when_three_streams_read_then_children_read_the_good_page(
        self, http_mocker: HttpMocker
    ) -> None:
        # The broken answer was stored by the HTTP cache before any error handler saw it: were
        # its entry kept, the retry would read it back, and so would the children.
        request = RequestBuilder.conversations().build()
        http_mocker.get(request, [_broken("cut_in_half"), _good()])

        output = read_streams(ConfigBuilder().build(), ALL_STREAMS)

        assert not output.errors
        assert [r["id"] for r in records_of(output, "conversations")] == ["t_1"]
        assert [r["id"] for r in records_of(output, "messages")] == ["m_1"]
        assert [r["id"] for r in records_of(output, "message_details")] == ["m_1"]
        http_mocker.assert_number_of_calls(request, 2)

    def test_given_broken_200_on_every_attempt_when_read_then_transient_error_naming_it(
        self, http_mocker: HttpMocker
    ) -> None:
        request = RequestBuilder.conversations().build()
        http_mocker.get(request, _broken("cut_in_half"))

        output = read_streams(ConfigBuilder().build(), ["conversations"], expecting_exception=True)

        error = stream_error(output, "conversations")
        assert error.failure_type == FailureType.transient_error
        assert f"after {MAX_RETRIES} retries" in error.message
        assert "HTTP 200 with a body that is not JSON" in error.message
        assert "http" not in error.message.replace("HTTP 200", "")  # no URL
        http_mocker.assert_number_of_calls(request, MAX_RETRIES + 1)
        assert records_of(output, "conversations") == []

    def test_given_graph_error_envelope_on_200_when_read_then_the_error_table_decides(
        self, http_mocker: HttpMocker
    ) -> None:
        request = RequestBuilder.conversations().build()
        body = {"error": {"code": 190, "error_subcode": 463, "message": "Session has expired"}}
        http_mocker.get(request, HttpResponse(json.dumps(body), 200))

        output = read_streams(ConfigBuilder().build(), ["conversations"], expecting_exception=True)

        error = stream_error(output, "conversations")
        assert error.failure_type == FailureType.config_error
        assert "Generate a new Page access token" in " ".join(error.message.split())
        http_mocker.assert_number_of_calls(request, 1)


class TestMessagesEdge:
    def test_given_edge_page_broken_once_when_read_then_asked_again_and_every_message(
        self, http_mocker: HttpMocker, sleeps: Sleeps
    ) -> None:
        newest = [message(f"m_{i:02d}", 1000 - i) for i in range(20)]
        older = [message("m_20", 900, details=False), message("m_21", 899, details=False)]
        conversation = ConversationBuilder("t_1", 1000).with_messages(newest, more_after="QVFIUn")
        http_mocker.get(RequestBuilder.conversations().build(), page([conversation.build()]))
        edge = RequestBuilder.conversation_messages("t_1").with_after("QVFIUn").build()
        edge_body = json.dumps({"data": older, "paging": {"cursors": {"after": "QVFIUe"}}})
        http_mocker.get(
            edge, [HttpResponse(edge_body[: len(edge_body) // 2], 200), HttpResponse(edge_body)]
        )

        output = read_streams(ConfigBuilder().build(), ["messages"])

        assert not output.errors
        ids = [r["id"] for r in records_of(output, "messages")]
        assert ids == [m["id"] for m in newest + older]
        http_mocker.assert_number_of_calls(edge, 2)
        assert SYNC_WAITS.waited == FIRST_BACKOFF_SECONDS
        assert sleeps.total >= FIRST_BACKOFF_SECONDS


# ------------------------------------------------------------------ the single flight
PAGE = "https://graph.example/v26.0/1/conversations?limit=25"


class _Transport:
    """A mock transport answering ``bodies`` in turn (the last one again), counting calls.

    The first answer waits for ``release``, so that readers sent at the same time overlap.
    """

    def __init__(self, *bodies: str) -> None:
        self.adapter = requests_mock.Adapter()
        self.release = threading.Event()
        self.arrived = threading.Semaphore(0)
        self.calls = 0
        self._bodies = list(bodies)
        self._lock = threading.Lock()
        self.adapter.register_uri("GET", PAGE, text=self._respond)

    def _respond(self, request: Any, context: Any) -> str:
        with self._lock:
            index = min(self.calls, len(self._bodies) - 1)
            self.calls += 1
        self.arrived.release()
        if index == 0:
            self.release.wait(timeout=10)
        context.status_code = 200
        return self._bodies[index]


@pytest.fixture
def installed() -> Iterator[None]:
    single_flight.install()
    yield
    assert single_flight.SINGLE_FLIGHT.in_flight() == 0


def _session(path: Path, transport: _Transport) -> CachedLimiterSession:
    """A reader's own cached session on one cache file, as the CDK's ``HttpClient`` builds it."""
    backend = requests_cache.SQLiteCache(str(path), fast_save=True, wal=True)
    session = CachedLimiterSession(
        cache_name=str(path), backend=backend, api_budget=APIBudget(policies=[]), match_headers=True
    )
    session.mount("https://", transport.adapter)
    return session


@pytest.mark.usefixtures("installed")
class TestSingleFlight:
    def test_given_broken_200_when_sent_then_it_is_not_kept_and_the_next_send_calls_again(
        self, tmp_path: Path
    ) -> None:
        transport = _Transport(GOOD_BODY[:40], GOOD_BODY)
        transport.release.set()
        session = _session(tmp_path / "c.sqlite", transport)

        broken = session.get(PAGE)
        again = session.get(PAGE)
        cached = session.get(PAGE)

        assert (broken.status_code, broken.text) == (200, GOOD_BODY[:40])
        assert (again.text, getattr(again, "from_cache", False)) == (GOOD_BODY, False)
        assert (cached.text, getattr(cached, "from_cache", False)) == (GOOD_BODY, True)
        assert transport.calls == 2

    def test_given_broken_200_when_readers_waited_for_it_then_each_gets_it_without_a_call(
        self, tmp_path: Path
    ) -> None:
        transport = _Transport(GOOD_BODY[:40], GOOD_BODY)
        sessions = [_session(tmp_path / "c.sqlite", transport) for _ in range(3)]
        results: list[requests.Response | None] = [None] * 3
        started = threading.Barrier(3)

        def read(index: int) -> None:
            request = sessions[index].prepare_request(requests.Request("GET", PAGE))
            started.wait()
            results[index] = sessions[index].send(request)

        threads = [threading.Thread(target=read, args=(i,)) for i in range(3)]
        for thread in threads:
            thread.start()
        assert transport.arrived.acquire(timeout=10)
        threading.Event().wait(0.2)  # the two other readers reach the page meanwhile
        transport.release.set()
        for thread in threads:
            thread.join(timeout=10)

        assert transport.calls == 1
        assert [r.text if r is not None else None for r in results] == [GOOD_BODY[:40]] * 3
        assert sessions[0].get(PAGE).text == GOOD_BODY  # not cached: the next send calls Meta
        assert transport.calls == 2
