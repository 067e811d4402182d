"""The single flight on the CDK's cached session: one call per page however many read it at once.

Each reader has its own session on one SQLite cache, as the ``conversations`` stream and the
children's copies of it have (each requester builds its own ``HttpClient``). The transport is a
``requests_mock`` adapter whose answer can be held back, so that readers really overlap.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import requests_cache
import requests_mock
from airbyte_cdk.sources.streams.call_rate import APIBudget, CachedLimiterSession

from source_meta_conversations.cdk_adaptations import single_flight
from source_meta_conversations.source import SourceMetaConversations
from unit_tests.mock_server.config import ConfigBuilder

PAGE = "https://graph.example/v26.0/1/conversations?limit=25"
OTHER_PAGE = "https://graph.example/v26.0/1/conversations?limit=25&after=QVFI"


class CountingBudget(APIBudget):
    """An API budget that lets every call through and counts what it was asked for."""

    def __init__(self) -> None:
        super().__init__(policies=[])
        self.acquired = 0
        self._count_lock = threading.Lock()

    def acquire_call(self, request: Any, block: bool = True, timeout: float | None = None) -> None:
        with self._count_lock:
            self.acquired += 1


class Transport:
    """A mock transport that counts calls and answers once ``release`` is set."""

    def __init__(self) -> None:
        self.adapter = requests_mock.Adapter()
        self.release = threading.Event()
        self.arrived = threading.Semaphore(0)
        self.calls = 0
        self._lock = threading.Lock()

    def answer(
        self, url: str, status: int = 200, body: str = '{"data": []}', fail_first: bool = False
    ) -> None:
        def respond(request: Any, context: Any) -> str:
            with self._lock:
                self.calls += 1
                first = self.calls == 1
            self.arrived.release()
            self.release.wait(timeout=10)
            if fail_first and first:
                raise requests.ConnectionError("connection reset")
            context.status_code = status
            return body

        self.adapter.register_uri("GET", url, text=respond)


@pytest.fixture(autouse=True)
def installed() -> Iterator[None]:
    single_flight.install()
    yield
    assert single_flight.SINGLE_FLIGHT.in_flight() == 0


class Waiters:
    """Counts the readers that are waiting for another reader's flight."""

    def __init__(self) -> None:
        self._waiting = threading.Semaphore(0)

    def event(self) -> threading.Event:
        """A flight's ``done`` event that counts each reader waiting on it."""
        waiting = self._waiting

        class CountingEvent(threading.Event):
            def wait(self, timeout: float | None = None) -> bool:
                waiting.release()
                return super().wait(timeout)

        return CountingEvent()

    def wait_for(self, readers: int) -> None:
        for _ in range(readers):
            assert self._waiting.acquire(timeout=10), "a reader never waited for the flight"


@pytest.fixture
def waiters(monkeypatch: pytest.MonkeyPatch) -> Waiters:
    """The readers waiting for a flight, counted as they start to wait."""
    counted = Waiters()
    flight = single_flight._Flight
    monkeypatch.setattr(single_flight, "_Flight", lambda: flight(done=counted.event()))
    return counted


@pytest.fixture
def transport() -> Transport:
    return Transport()


@pytest.fixture
def budget() -> CountingBudget:
    return CountingBudget()


@pytest.fixture
def new_session(
    tmp_path: Path, transport: Transport, budget: CountingBudget
) -> Callable[[], CachedLimiterSession]:
    """A reader's own cached session on the one cache file, as ``HttpClient`` builds it."""
    path = str(tmp_path / "conversations.sqlite")

    def build() -> CachedLimiterSession:
        backend = requests_cache.SQLiteCache(path, fast_save=True, wal=True)
        session = CachedLimiterSession(
            cache_name=path, backend=backend, api_budget=budget, match_headers=True
        )
        session.mount("https://", transport.adapter)
        return session

    return build


def _send_from_threads(
    sessions: list[CachedLimiterSession],
    urls: list[str],
    transport: Transport,
    waiters: Waiters,
    arrivals: int,
) -> list[requests.Response | BaseException]:
    """Send ``urls[i]`` on ``sessions[i]`` at once; answer once ``arrivals`` calls arrived and
    every other reader waits for one of them."""
    results: list[requests.Response | BaseException] = [RuntimeError("not sent")] * len(sessions)
    started = threading.Barrier(len(sessions))

    def run(index: int) -> None:
        request = sessions[index].prepare_request(requests.Request("GET", urls[index]))
        started.wait()
        try:
            results[index] = sessions[index].send(request)
        except BaseException as error:  # handed back to the test
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(sessions))]
    for thread in threads:
        thread.start()
    for _ in range(arrivals):
        assert transport.arrived.acquire(timeout=10)
    # The other readers reached the page while its call is unanswered, however slow they were.
    waiters.wait_for(len(sessions) - arrivals)
    transport.release.set()
    for thread in threads:
        thread.join(timeout=10)
    return results


def test_given_three_readers_of_one_page_when_sent_at_once_then_one_call_and_two_cache_reads(
    new_session: Callable[[], CachedLimiterSession],
    transport: Transport,
    budget: CountingBudget,
    waiters: Waiters,
) -> None:
    transport.answer(PAGE, body='{"data": [{"id": "t_1"}]}')
    sessions = [new_session() for _ in range(3)]

    results = _send_from_threads(sessions, [PAGE] * 3, transport, waiters, arrivals=1)

    assert transport.calls == 1
    assert budget.acquired == 1  # a reader answered from the cache spends no call
    responses = [r for r in results if isinstance(r, requests.Response)]
    assert [r.json() for r in responses] == [{"data": [{"id": "t_1"}]}] * 3
    assert sorted(bool(getattr(r, "from_cache", False)) for r in responses) == [False, True, True]


def test_given_an_error_answer_when_readers_waited_for_it_then_they_get_it_without_a_call(
    new_session: Callable[[], CachedLimiterSession],
    transport: Transport,
    budget: CountingBudget,
    waiters: Waiters,
) -> None:
    transport.answer(PAGE, status=400, body='{"error": {"code": 1}}')
    sessions = [new_session() for _ in range(3)]

    results = _send_from_threads(sessions, [PAGE] * 3, transport, waiters, arrivals=1)

    assert transport.calls == 1
    assert budget.acquired == 1
    assert [r.status_code for r in results if isinstance(r, requests.Response)] == [400] * 3


def test_given_an_error_answer_when_a_reader_comes_after_it_then_it_calls_again(
    new_session: Callable[[], CachedLimiterSession], transport: Transport
) -> None:
    transport.answer(PAGE, status=400, body='{"error": {"code": 1}}')
    transport.release.set()
    first, later = new_session(), new_session()

    first.get(PAGE)
    answer = later.get(PAGE)

    assert answer.status_code == 400
    assert transport.calls == 2  # errors are not cached: only a reader that waited shares one


def test_given_a_cached_page_when_read_again_then_no_call(
    new_session: Callable[[], CachedLimiterSession], transport: Transport, budget: CountingBudget
) -> None:
    transport.answer(PAGE)
    transport.release.set()

    new_session().get(PAGE)
    again = new_session().get(PAGE)

    assert transport.calls == 1
    assert budget.acquired == 1
    assert getattr(again, "from_cache", False)


def test_given_two_different_pages_when_sent_at_once_then_both_calls_run_together(
    new_session: Callable[[], CachedLimiterSession], transport: Transport, waiters: Waiters
) -> None:
    transport.answer(PAGE)
    transport.answer(OTHER_PAGE)

    # Both calls must be in the transport at the same time for this to return.
    results = _send_from_threads(
        [new_session(), new_session()], [PAGE, OTHER_PAGE], transport, waiters, arrivals=2
    )

    assert transport.calls == 2
    assert all(isinstance(r, requests.Response) and r.status_code == 200 for r in results)


def test_given_the_first_call_fails_when_another_reader_waited_then_it_sends_its_own(
    new_session: Callable[[], CachedLimiterSession], transport: Transport, waiters: Waiters
) -> None:
    transport.answer(PAGE, fail_first=True)

    results = _send_from_threads(
        [new_session(), new_session()], [PAGE] * 2, transport, waiters, arrivals=1
    )

    assert transport.calls == 2
    assert sum(isinstance(r, requests.ConnectionError) for r in results) == 1
    assert sum(isinstance(r, requests.Response) and r.status_code == 200 for r in results) == 1


@pytest.mark.parametrize(
    ("rate", "together"),
    [(None, True), (2, True), (4, True), (5, False), (1000, False)],
    ids=["default", "metas_rate", "four", "five", "sandbox_unpaced"],
)
def test_given_a_rate_when_streams_are_built_then_they_read_together_only_when_paced(
    rate: int | None, together: bool
) -> None:
    config = (
        ConfigBuilder().with_platform("both").with_field("max_requests_per_second", rate).build()
    )
    if rate is None:  # the spec's default: Meta's 2 calls per second
        del config["max_requests_per_second"]
    source = SourceMetaConversations(config=config)

    streams = {stream.name: stream for stream in source.streams(config)}

    assert source.reads_together is together
    # Apart, the conversations stream is in a blocking group, and its children wait for it.
    workers = source._concurrent_source._threadpool._threadpool._max_workers
    # Together: both listings and both children's generators hold four, two read partitions.
    assert workers == (6 if together else 2)
    expected_group = "" if together else "conversations_api"
    assert streams["conversations"].block_simultaneous_read == expected_group
    assert streams["messages"].block_simultaneous_read == ""


def test_given_a_rate_that_is_not_a_number_when_deciding_then_no_traceback() -> None:
    # The spec's validation names the field; deciding how to read must not fail before it.
    config = ConfigBuilder().with_field("max_requests_per_second", "fast").build()
    source = SourceMetaConversations(config=config)

    assert source.reads_together is True
    assert source._concurrent_source._threadpool._threadpool._max_workers == 6
