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

from source_meta_conversations.components.rate_policies import (
    AnswerWindowCallRatePolicy,
    MessagesEdgeOf,
)
from source_meta_conversations.source import SourceMetaConversations
from source_meta_conversations.sync.conversation_platforms import CONVERSATION_PLATFORMS
from unit_tests.mock_server.config import ConfigBuilder

LISTING = "https://graph.facebook.com/v26.0/1234/conversations?platform=messenger"
INSTAGRAM_LISTING = "https://graph.facebook.com/v26.0/1234/conversations?platform=instagram"
# The messages edge of a Messenger, an Instagram and a never listed conversation.
MESSENGER_EDGE = "https://graph.facebook.com/v26.0/t_1/messages?fields=id,created_time&after=QVFI"
INSTAGRAM_EDGE = "https://graph.facebook.com/v26.0/aWdf_2/messages?fields=id,created_time"
UNLISTED_EDGE = "https://graph.facebook.com/v26.0/t_9/messages?fields=id,created_time"
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
    assert len(policies) == 3  # messenger, instagram, any other call
    assert all(isinstance(policy, AnswerWindowCallRatePolicy) for policy in policies)
    assert not any(isinstance(policy, MovingWindowCallRatePolicy) for policy in policies)
    assert {(p.limit, p.interval) for p in policies} == {(2, 1.0)}  # type: ignore[attr-defined]


def _note_listed_conversations() -> None:
    CONVERSATION_PLATFORMS.note("t_1", "messenger")
    CONVERSATION_PLATFORMS.note("aWdf_2", "instagram")


def test_given_listed_conversations_when_budget_matches_their_edge_then_platforms_policy() -> None:
    config = ConfigBuilder().with_platform("both").build()
    source = SourceMetaConversations(config=config)
    source.streams(config)
    _note_listed_conversations()

    budget = source._constructor._api_budget
    assert isinstance(budget, HttpAPIBudget)
    messenger, instagram, other = budget._policies
    assert budget.get_matching_policy(_request(LISTING)) is messenger
    assert budget.get_matching_policy(_request(MESSENGER_EDGE)) is messenger
    assert budget.get_matching_policy(_request(INSTAGRAM_LISTING)) is instagram
    assert budget.get_matching_policy(_request(INSTAGRAM_EDGE)) is instagram
    assert budget.get_matching_policy(_request(UNLISTED_EDGE)) is other


def test_given_edge_matchers_when_a_conversation_was_listed_then_only_its_platform_matches() -> (
    None
):
    _note_listed_conversations()
    messenger, instagram = MessagesEdgeOf("messenger"), MessagesEdgeOf("instagram")

    urls = (MESSENGER_EDGE, INSTAGRAM_EDGE, UNLISTED_EDGE)
    assert [messenger(_request(url)) for url in urls] == [True, False, False]
    assert [instagram(_request(url)) for url in urls] == [False, True, False]
    assert not messenger(_request(LISTING))
    assert not messenger(object())


class CallLog:
    """The calls a budget let go, as (fake answer time, URL), each answered at once."""

    def __init__(self, budget: HttpAPIBudget, clock: FakeClock) -> None:
        self.budget = budget
        self.clock = clock
        self.answered: list[tuple[float, str]] = []

    def call(self, url: str) -> bool:
        """Send ``url`` if the budget lets it go now; False if it would have to wait."""
        try:
            self.budget.acquire_call(_request(url), block=False)
        except CallRateLimitHit:
            return False
        self.budget.update_from_response(_request(url), requests.Response())
        self.answered.append((self.clock.now, url))
        return True


def _platform_budget(clock: FakeClock, platform: str) -> AnswerWindowCallRatePolicy:
    return AnswerWindowCallRatePolicy(
        rates=[Rate(limit=2, interval=timedelta(seconds=1))],
        matchers=[
            HttpRequestRegexMatcher(
                url_path_pattern="/conversations$", params={"platform": platform}
            ),
            MessagesEdgeOf(platform),
        ],
        clock=clock,
    )


def test_given_a_long_messenger_thread_when_paced_then_two_a_second_and_instagram_unslowed() -> (
    None
):
    clock = FakeClock()
    budget = HttpAPIBudget(
        policies=[_platform_budget(clock, "messenger"), _platform_budget(clock, "instagram")]
    )
    log = CallLog(budget, clock)
    _note_listed_conversations()
    # Every 0.25 s each reader tries its next call: Messenger's listing and its long
    # conversation's edge, and Instagram's listing.
    wanted = {"listing": 4, "edge": 4, "instagram": 4}
    urls = {"listing": LISTING, "edge": MESSENGER_EDGE, "instagram": INSTAGRAM_LISTING}
    while any(wanted.values()):
        for reader, url in urls.items():
            if wanted[reader] and log.call(url):
                wanted[reader] -= 1
        clock.now += 0.25

    messenger = [(at, url) for at, url in log.answered if url != INSTAGRAM_LISTING]
    instagram = [at for at, url in log.answered if url == INSTAGRAM_LISTING]
    # The edge waits for the listing's budget: one of each, two calls in each second.
    assert messenger == [
        (100.0, LISTING),
        (100.0, MESSENGER_EDGE),
        (101.0, LISTING),
        (101.0, MESSENGER_EDGE),
        (102.0, LISTING),
        (102.0, MESSENGER_EDGE),
        (103.0, LISTING),
        (103.0, MESSENGER_EDGE),
    ]
    # With one budget for both, Instagram's first call would wait for Messenger's second.
    assert instagram == [100.0, 100.25, 101.0, 101.25]
