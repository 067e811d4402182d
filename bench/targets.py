"""The issue's targets for (a)-(d), checked against the measured figures.

Each data set group has its own check (:func:`target_a` ... :func:`target_d`); :func:`evaluate`
runs those the chosen data sets make checkable, in the order (a), (b), (c), (d).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.datasets import DETAILS_PER_CONVERSATION, EDGE_PAGE, WorldFacts
from bench.measure import Run
from bench.results import Result, by_group

# Targets from the issue.
TARGET_A_CALLS = 50
TARGET_B_BASE = 50
TARGET_RECORDS_PER_SECOND = 5000.0
TARGET_RSS_MB = 150.0
FLAT_RSS_TOLERANCE = 0.10  # "flat": the largest data set's peak RSS within 10% of the smallest's
TARGET_PACED_MARGIN = 0.10


@dataclass
class Target:
    """One of the issue's targets and whether the measured figures meet it."""

    name: str
    requirement: str
    measured: str
    met: bool


def calls_bound_b(facts: WorldFacts) -> int:
    """(b)'s bound: 50 + sum over conversations with n > 20 messages of ceil((n - 20) / 100)."""
    extra = sum(
        math.ceil((n - DETAILS_PER_CONVERSATION) / EDGE_PAGE)
        for numbers in facts.counts.values()
        for n in numbers
        if n > DETAILS_PER_CONVERSATION
    )
    return TARGET_B_BASE + extra


def evaluate(results: list[Result]) -> list[Target]:
    """Check each target that the data sets run make checkable."""
    return [*target_a(results), *target_b(results), *target_c(results), *target_d(results)]


def target_a(results: list[Result]) -> list[Target]:
    """(a): all three streams in at most 50 calls, every record delivered."""
    targets: list[Target] = []
    for result in by_group(results, "a"):
        run = result.connector
        targets.append(
            Target(
                "(a) calls",
                f"all three streams in at most {TARGET_A_CALLS} calls",
                f"{run.calls:,} calls, records complete: {_yes(run.complete(result.expected))}",
                run.calls <= TARGET_A_CALLS and run.complete(result.expected),
            )
        )
    return targets


def target_b(results: list[Result]) -> list[Target]:
    """(b): calls within the world's bound, and at least 5,000 records/s at zero latency."""
    targets: list[Target] = []
    for result in by_group(results, "b"):
        run = result.connector
        bound = calls_bound_b(result.facts)
        targets.append(
            Target(
                "(b) calls",
                f"at most 50 + sum over conversations with more than 20 messages of "
                f"ceil((n - 20) / 100) = {bound:,} calls for this world",
                f"{run.calls:,} calls, records complete: {_yes(run.complete(result.expected))}",
                run.calls <= bound and run.complete(result.expected),
            )
        )
        targets.append(
            Target(
                "(b) throughput",
                f"at least {TARGET_RECORDS_PER_SECOND:,.0f} records/s at zero latency",
                f"{run.records_per_s:,.0f} records/s ({run.total_records:,} records in "
                f"{run.wall_s:.1f} s, CPU {run.cpu_s:.1f} s; pacing {run.budget}: "
                f"{run.calls:,} calls / {run.budget} = {_pacing_floor(run):.1f} s at least)",
                run.records_per_s >= TARGET_RECORDS_PER_SECOND and run.succeeded,
            )
        )
    return targets


def target_c(results: list[Result]) -> list[Target]:
    """(c): peak RSS at most 150 MB at the largest data set, and flat as the data grows."""
    targets: list[Target] = []
    memory = by_group(results, "c")
    if memory:
        largest = max(memory, key=lambda r: r.data_set.conversations)
        smallest = min(memory, key=lambda r: r.data_set.conversations)
        rss = ", ".join(
            f"{r.data_set.conversations:,}: {r.connector.peak_rss_mb:.0f} MB" for r in memory
        )
        targets.append(
            Target(
                "(c) peak RSS",
                f"at most {TARGET_RSS_MB:.0f} MB at {largest.data_set.conversations:,} "
                "conversations",
                f"{largest.connector.peak_rss_mb:.0f} MB",
                largest.connector.peak_rss_mb <= TARGET_RSS_MB and largest.connector.succeeded,
            )
        )
        if len(memory) > 1:
            low = smallest.connector.peak_rss_mb
            growth = (largest.connector.peak_rss_mb - low) / low if low else math.inf
            targets.append(
                Target(
                    "(c) flat RSS",
                    f"peak RSS of the largest data set within {FLAT_RSS_TOLERANCE:.0%} of the "
                    "smallest's",
                    f"{rss} ({growth:+.0%} from {smallest.data_set.conversations:,} to "
                    f"{largest.data_set.conversations:,})",
                    growth <= FLAT_RSS_TOLERANCE and all(r.connector.succeeded for r in memory),
                )
            )
    return targets


def target_d(results: list[Result]) -> list[Target]:
    """(d): at Meta's 2 calls/s per platform, nothing throttled and the time calls / 2 allow."""
    targets: list[Target] = []
    for result in by_group(results, "d"):
        run = result.connector
        ideal = run.projected_s
        targets.append(
            Target(
                "(d) throttled",
                "zero calls throttled by the sandbox's 2 calls/s per platform",
                f"{run.rate_limited} throttled of {run.calls:,} calls",
                run.rate_limited == 0 and run.succeeded,
            )
        )
        targets.append(
            Target(
                "(d) paced time",
                f"wall time within {TARGET_PACED_MARGIN:.0%} of calls / 2 per platform",
                f"{run.wall_s:.1f} s against {ideal:.1f} s "
                f"({(run.wall_s / ideal - 1) if ideal else math.inf:+.0%})",
                ideal > 0 and run.wall_s <= ideal * (1 + TARGET_PACED_MARGIN),
            )
        )
    return targets


def _pacing_floor(run: Run) -> float:
    """The least time the configured ``max_requests_per_second`` allows for the run's calls."""
    return run.calls / run.rps if run.rps else 0.0


def _yes(value: bool) -> str:
    return "yes" if value else "no"
