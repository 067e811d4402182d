"""Pacing counted from answers (rate_policies.py): never above Meta's rate, whatever the latency.

The policy runs on a fake clock; "threads" are real threads only where a test needs two callers,
since the policy keeps one call on its way per thread.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
import requests
from airbyte_cdk.sources.streams.call_rate import (
    CallRateLimitHit,
    HttpAPIBudget,
    HttpRequestRegexMatcher,
    MovingWindowCallRatePolicy,
    Rate,
)

from source_meta_conversations.components.rate_policies import AnswerWindowCallRatePolicy
from source_meta_conversations.source import SourceMetaConversations
from unit_tests.mock_server.config import ConfigBuilder

LISTING = "https://graph.facebook.com/v26.0/1234/conversations?platform=messenger"
# How long a caller waits before looking again while every call of the window is on its way.
IN_FLIGHT_POLL_SECONDS = 0.01
# How long a call that never got an answer (its request raised) keeps counting.
UNANSWERED_CALL_SECONDS = 120.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _request(url: str = LISTING) -> requests.PreparedRequest:
    return requests.Request("GET", url).prepare()


def _policy(clock: FakeClock, limit: int = 2, seconds: float = 1.0) -> AnswerWindowCallRatePolicy:
    return AnswerWindowCallRatePolicy(
        rates=[Rate(limit=limit, interval=timedelta(seconds=seconds))], matchers=[], clock=clock
    )


class OtherThreads:
    """Threads that each send one call and stay alive (a thread id can be reused once it ends)."""

    def __init__(self) -> None:
        self._release = threading.Event()
        self._threads: list[threading.Thread] = []

    def send(self, policy: AnswerWindowCallRatePolicy, weight: int = 1) -> None:
        sent = threading.Event()

        def call() -> None:
            policy.try_acquire(_request(), weight=weight)
            sent.set()
            self._release.wait()

        thread = threading.Thread(target=call)
        thread.start()
        self._threads.append(thread)
        assert sent.wait(5)

    def end(self) -> None:
        self._release.set()
        for thread in self._threads:
            thread.join()


@pytest.fixture
def others() -> Iterator[OtherThreads]:
    threads = OtherThreads()
    yield threads
    threads.end()


def _wait_of(policy: AnswerWindowCallRatePolicy) -> float:
    with pytest.raises(CallRateLimitHit) as refused:
        policy.try_acquire(_request(), weight=1)
    return refused.value.time_to_wait.total_seconds()


def test_given_two_calls_answered_when_a_third_asks_then_it_waits_a_second_from_the_answer() -> (
    None
):
    clock = FakeClock()
    policy = _policy(clock)
    policy.try_acquire(_request(), weight=1)  # leaves at 100.0
    clock.now = 100.3  # Meta counted it some time before this
    policy.answered()
    policy.try_acquire(_request(), weight=1)  # leaves at 100.3
    clock.now = 100.5
    policy.answered()

    clock.now = 101.2  # a second after it left, but not after its answer
    assert _wait_of(policy) == pytest.approx(0.1)
    clock.now = 101.3
    policy.try_acquire(_request(), weight=1)


def test_given_calls_still_on_their_way_when_the_limit_is_reached_then_it_polls_until_an_answer(
    others: OtherThreads,
) -> None:
    clock = FakeClock()
    policy = _policy(clock)
    others.send(policy)
    others.send(policy)

    clock.now = 130.0  # unanswered calls count however long they take
    assert _wait_of(policy) == IN_FLIGHT_POLL_SECONDS


def test_given_a_call_that_raised_when_its_thread_calls_again_then_it_counts_from_then() -> None:
    clock = FakeClock()
    policy = _policy(clock, limit=1)
    policy.try_acquire(_request(), weight=1)  # its request raises: no answer
    clock.now = 105.0
    # The same thread's next call ends the one that raised, as if answered now.
    assert _wait_of(policy) == pytest.approx(1.0)
    clock.now = 106.0
    policy.try_acquire(_request(), weight=1)


def test_given_a_call_never_answered_when_its_thread_makes_no_other_then_it_stops_counting(
    others: OtherThreads,
) -> None:
    clock = FakeClock()
    policy = _policy(clock, limit=1)
    others.send(policy)
    clock.now += UNANSWERED_CALL_SECONDS - 1
    assert _wait_of(policy) == IN_FLIGHT_POLL_SECONDS
    clock.now += 1
    policy.try_acquire(_request(), weight=1)


def test_given_a_weighted_call_when_answered_then_it_takes_its_weight_of_the_window(
    others: OtherThreads,
) -> None:
    clock = FakeClock()
    policy = _policy(clock, limit=3)
    policy.try_acquire(_request(), weight=2)
    policy.answered()
    others.send(policy)
    assert _wait_of(policy) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="can not exceed"):
        policy.try_acquire(_request(), weight=4)


def test_given_more_than_one_rate_or_none_when_built_then_refused() -> None:
    with pytest.raises(ValueError, match="one rate"):
        AnswerWindowCallRatePolicy(rates=[], matchers=[])
    second = Rate(limit=2, interval=timedelta(seconds=1))
    with pytest.raises(ValueError, match="one rate"):
        AnswerWindowCallRatePolicy(rates=[second, second], matchers=[])


def test_given_the_cdk_budget_when_an_answer_comes_then_the_policy_counts_from_it() -> None:
    clock = FakeClock()
    messenger = AnswerWindowCallRatePolicy(
        rates=[Rate(limit=1, interval=timedelta(seconds=1))],
        matchers=[HttpRequestRegexMatcher(url_path_pattern="/conversations$")],
        clock=clock,
    )
    budget = HttpAPIBudget(policies=[messenger])  # the CDK's own budget, as the manifest builds
    budget.acquire_call(_request(), block=False)
    clock.now = 100.4
    budget.update_from_response(_request(), requests.Response())
    clock.now = 101.3
    with pytest.raises(CallRateLimitHit):
        budget.acquire_call(_request(), block=False)
    clock.now = 101.4
    budget.acquire_call(_request(), block=False)


def test_given_the_manifest_when_streams_are_built_then_every_rate_counts_from_answers() -> None:
    config = ConfigBuilder().with_platform("both").with_field("max_requests_per_second", 2).build()
    source = SourceMetaConversations(config=config)
    source.streams(config)

    budget = source._constructor._api_budget
    assert isinstance(budget, HttpAPIBudget)
    policies = budget._policies
    assert len(policies) == 3  # messenger listing, instagram listing, the rest
    assert all(isinstance(policy, AnswerWindowCallRatePolicy) for policy in policies)
    assert not any(isinstance(policy, MovingWindowCallRatePolicy) for policy in policies)
    assert {(p.limit, p.interval) for p in policies} == {(2, 1.0)}  # type: ignore[attr-defined]
