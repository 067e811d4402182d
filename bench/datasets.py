"""The bench's data sets and what their sandbox worlds hold.

A :class:`DataSet` is one row group of the bench's table: a sandbox world (conversations,
messages per conversation, platforms, the sandbox's rate limit) and how the connector is paced
on it; :func:`data_sets` lists the issue's (a)-(d), or small ones for ``--quick``.
:class:`WorldFacts` reads a world's message counts: what a complete read emits, and the calls the
reference (the seed guide's three-step plan) makes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from meta_graph_sandbox import Sandbox, SandboxOptions

STREAMS = ("conversations", "messages", "message_details")
PLATFORM_NAMES = ("messenger", "instagram")

# Meta's Conversations API budget, per Page (Messenger) and per Instagram account.
META_CALLS_PER_SECOND = 2.0
# The reference's own page size on both edges (bench/reference_manifest.yaml).
REFERENCE_PAGE_SIZE = 100
# Details exist for the 20 newest messages; the messages edge serves at most 100 per page.
DETAILS_PER_CONVERSATION = 20
EDGE_PAGE = 100


@dataclass(frozen=True)
class DataSet:
    """One row group of the table: a sandbox world and how the connector is paced on it."""

    key: str
    group: str
    title: str
    short: str
    conversations: int
    messages: str
    platforms: tuple[str, ...] = ("messenger",)
    rate_limit: float = 0.0
    connector_rps: int | None = None  # None: the sandbox's default (50, the spec's maximum)
    reference_allowed: bool = True  # False: the reference is always projected, never run

    def options(self, seed: int) -> SandboxOptions:
        """The sandbox for this data set."""
        return SandboxOptions(
            seed=seed,
            conversations=self.conversations,
            messages=self.messages,
            platforms=self.platforms,
            rate_limit=self.rate_limit,
        )


def data_sets(quick: bool) -> list[DataSet]:
    """The issue's data sets (a)-(d), or small ones for ``--quick``."""
    scale = 10 if quick else 1
    a = 1000 // scale
    c_sizes = (1000, 2000, 4000) if quick else (5000, 10000, 20000)
    d = 200 if quick else 1000
    sets = [
        DataSet(
            "a",
            "a",
            f"(a) {a:,} conversations x 20 messages, 1 platform",
            f"(a) {a:,} x 20",
            a,
            "fixed:20",
        ),
        DataSet(
            "b",
            "b",
            f"(b) {a:,} conversations, long tail of message counts, 1 platform",
            f"(b) {a:,} long tail",
            a,
            "longtail",
        ),
    ]
    for size in c_sizes:
        sets.append(
            DataSet(
                f"c{size // 1000}k",
                "c",
                f"(c) {size:,} conversations x 5 messages, 1 platform",
                f"(c) {size:,} x 5",
                size,
                "fixed:5",
                reference_allowed=False,
            )
        )
    sets.append(
        DataSet(
            "d",
            "d",
            f"(d) {d:,} conversations x 20 messages per platform, 2 platforms, "
            "sandbox limit 2 calls/s per platform",
            f"(d) 2 x {d:,} x 20 at 2/s",
            d,
            "fixed:20",
            platforms=PLATFORM_NAMES,
            rate_limit=META_CALLS_PER_SECOND,
            connector_rps=int(META_CALLS_PER_SECOND),
            reference_allowed=False,
        )
    )
    return sets


@dataclass
class WorldFacts:
    """Message counts per conversation, per platform, read from the sandbox's world."""

    counts: dict[str, list[int]]

    @classmethod
    def of(cls, sandbox: Sandbox) -> WorldFacts:
        """Read the world through ``world.summary()`` and ``world.get_conversation()``."""
        summary: dict[str, Any] = sandbox.world.summary()
        per_platform: dict[str, Any] = summary.get("platforms", summary)
        counts: dict[str, list[int]] = {}
        for name in PLATFORM_NAMES:
            info = per_platform.get(name)
            if not isinstance(info, dict):
                continue
            numbers = []
            for conversation_id in info["conversation_ids"]:
                conversation = sandbox.world.get_conversation(conversation_id)
                if conversation is None:  # pragma: no cover - the summary lists existing ones
                    raise RuntimeError(f"the world has no conversation {conversation_id}")
                numbers.append(len(conversation.times))
            if sum(numbers) != info["messages"]:
                raise RuntimeError(f"{name}: the message counts do not add up to the summary's")
            counts[name] = numbers
        return cls(counts)

    def expected_records(self) -> dict[str, int]:
        """What a complete full refresh emits per stream."""
        numbers = [n for per in self.counts.values() for n in per]
        return {
            "conversations": len(numbers),
            "messages": sum(numbers),
            "message_details": sum(min(n, DETAILS_PER_CONVERSATION) for n in numbers),
        }

    def reference_calls(self) -> dict[str, int]:
        """The three-step plan's calls per platform: list pages + edge pages + one per message."""
        out = {}
        for name, numbers in self.counts.items():
            pages = max(1, math.ceil(len(numbers) / REFERENCE_PAGE_SIZE))
            edge = sum(max(1, math.ceil(n / REFERENCE_PAGE_SIZE)) for n in numbers)
            out[name] = pages + edge + sum(numbers)
        return out

    def describe(self) -> str:
        """A one-line summary of the world."""
        parts = []
        for name, numbers in self.counts.items():
            over = sum(1 for n in numbers if n > DETAILS_PER_CONVERSATION)
            parts.append(
                f"{name}: {len(numbers):,} conversations, {sum(numbers):,} messages "
                f"(max {max(numbers, default=0):,} in one, {over:,} with more than 20)"
            )
        return "; ".join(parts)
