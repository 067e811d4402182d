"""Pacing that counts each call from its answer: never more than Meta's rate, whatever the latency.

Why: Meta allows the Conversations API 2 calls in any second per Page and per Instagram account
(graph-api-notes.md, "Rate limiting"), counted when a call reaches Meta. The CDK's
``MovingWindowCallRatePolicy`` counts a call from the moment it lets it go. Between that moment
and Meta's count lies the request's way there (the network, a busy interpreter), which varies
from call to call: when a call is delayed on its way by more than the next-but-one, Meta sees
three calls in one second although the client spaced them by a second, and throttles. A margin
on the window only makes that rarer (dataset d of ``make bench``: one throttled call in a few
runs at 50 ms of margin) and is paid on every call.

A call has certainly been counted by the time its answer arrives. ``AnswerWindowCallRatePolicy``
lets a call go only when fewer than ``limit`` calls were answered in the last ``interval`` or
are still on their way, so no ``interval`` of Meta's ever holds more than ``limit`` of them, with
no margin: a sequential listing waits one latency more per ``limit`` calls (16-31 ms on
average here), instead of a fixed margin on each.

The manifest keeps stating the rate as the CDK's ``MovingWindowCallRatePolicy`` (Meta's figures,
matched per platform); ``GraphComponentFactory`` (cdk_adaptations/factory.py) builds this policy
from it, because the manifest's ``HTTPAPIBudget`` accepts no custom policy. The CDK's budget tells
the policy when an answer arrives: its session calls ``HttpAPIBudget.update_from_response`` after
every answer (error answers included), which calls the policy's public ``update``.

Each platform has one policy, and every call it makes counts against it: its listing (matched in
the manifest) and the messages edge of its conversations (``MessagesEdgeOf``, which the factory
adds to each platform's policy). The edge's URL names a conversation, not a platform: the
conversation's platform is the one its listing noted (sync/conversation_platforms.py).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from airbyte_cdk.sources.streams.call_rate import (
    BaseCallRatePolicy,
    CallRateLimitHit,
    Rate,
    RequestMatcher,
)

from source_meta_conversations.components.graph_calls import MESSAGES_EDGE, graph_call
from source_meta_conversations.sync.conversation_platforms import CONVERSATION_PLATFORMS

# How often a caller looks again while every call of the window is still on its way.
IN_FLIGHT_POLL_SECONDS = 0.01
# A call that never got an answer (its request raised) stops counting after this long, in case
# its thread makes no other call (a thread's next call ends its previous one at once).
UNANSWERED_CALL_SECONDS = 120.0


class AnswerWindowCallRatePolicy(BaseCallRatePolicy):
    """At most ``limit`` calls per ``interval``, each counting until ``interval`` after its answer.

    Example: with 2 per second, calls A and B leave at t=0 and are answered at 0.03 and 0.06; a
    third call may leave at 1.03 (A's answer plus one second), whatever the moments Meta counted
    A and B at, since both were before their answers.

    Each thread has at most one call on its way (the CDK sends synchronously); a thread's new call
    ends its previous one if that one never got an answer (its request raised).
    """

    def __init__(
        self,
        rates: list[Rate],
        matchers: list[RequestMatcher],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if len(rates) != 1:
            raise ValueError(f"Meta's call rate is one rate per object, not {len(rates)}")
        super().__init__(matchers=matchers)
        rate = rates[0]
        self.limit = int(rate.limit)
        self.interval = rate.interval.total_seconds()
        if self.limit < 1 or self.interval <= 0:
            raise ValueError(f"A call rate needs a limit >= 1 and a positive interval: {rate}")
        self._clock = clock
        self._lock = threading.Lock()
        self._answered: deque[float] = deque()  # answer times, oldest first
        # thread id -> (when its call left, its weight)
        self._on_the_way: dict[int, tuple[float, int]] = {}

    def try_acquire(self, request: Any, weight: int) -> None:
        """Let the call go, or raise ``CallRateLimitHit`` with how long to wait."""
        if not self.matches(request):
            raise ValueError("Request does not match the policy")
        if weight > self.limit:
            raise ValueError(f"Weight can not exceed the rate's limit ({self.limit})")
        thread = threading.get_ident()
        with self._lock:
            now = self._clock()
            unanswered = self._on_the_way.pop(thread, None)
            if unanswered is not None:  # its last call raised instead of being answered
                self._answered.extend([now] * unanswered[1])
            self._forget(now)
            if self._used() + weight <= self.limit:
                self._on_the_way[thread] = (now, weight)
                return
            wait = (
                self._answered[0] + self.interval - now
                if self._answered
                else IN_FLIGHT_POLL_SECONDS
            )
        raise CallRateLimitHit(
            error="Meta's call budget for this object is spent for now",
            item=request,
            weight=weight,
            rate=f"{self.limit} per {self.interval:g} s, counted from each answer",
            time_to_wait=timedelta(seconds=max(wait, 0.0)),
        )

    def answered(self) -> None:
        """The calling thread's call got its answer: it counts for ``interval`` from now."""
        thread = threading.get_ident()
        with self._lock:
            call = self._on_the_way.pop(thread, None)
            if call is not None:
                self._answered.extend([self._clock()] * call[1])

    def update(self, available_calls: int | None, call_reset_ts: datetime | None) -> None:
        """The CDK's budget got an answer for a call of this policy: the call counts from now.

        The CDK calls this after every answer of a matching request, in the thread that sent it.
        Generic rate-limit headers mean nothing here: Meta sends its own (the usage watcher).
        """
        self.answered()

    def _forget(self, now: float) -> None:
        while self._answered and self._answered[0] <= now - self.interval:
            self._answered.popleft()
        for thread, (left, _) in list(self._on_the_way.items()):
            if left <= now - UNANSWERED_CALL_SECONDS:
                del self._on_the_way[thread]

    def _used(self) -> int:
        return len(self._answered) + sum(weight for _, weight in self._on_the_way.values())


class MessagesEdgeOf(RequestMatcher):
    """Matches a call to the messages edge of a conversation listed on ``platform``.

    Example: once the Messenger listing noted ``t_1`` (transformations.NoteEdgePlatform),
    ``MessagesEdgeOf("messenger")`` matches ``GET .../v26.0/t_1/messages?fields=...`` and
    ``MessagesEdgeOf("instagram")`` does not. A conversation no listing noted matches neither:
    that call falls to the budget's last policy, which takes any call.
    """

    def __init__(self, platform: str) -> None:
        self.platform = platform

    def __call__(self, request: Any) -> bool:
        """Whether ``request`` is the messages edge of one of this platform's conversations."""
        call = graph_call(getattr(request, "url", None))
        return (
            call.edge == MESSAGES_EDGE
            and call.object_id is not None
            and CONVERSATION_PLATFORMS.platform_of(call.object_id) == self.platform
        )

    def __str__(self) -> str:
        return f"MessagesEdgeOf({self.platform})"
