"""One data set's outcome: the world, the connector's run and the reference's.

:func:`run_data_set` measures the connector, then the reference (or projects it from the world
when it would make more calls than allowed), and logs one line per run as it goes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bench.datasets import DataSet, WorldFacts
from bench.measure import Run, measure, projected_reference
from meta_graph_sandbox import Sandbox


@dataclass
class Result:
    """One data set: the world, the connector's run and the reference's (run or projected)."""

    data_set: DataSet
    facts: WorldFacts
    connector: Run
    reference: Run | None

    @property
    def expected(self) -> dict[str, int]:
        """Records a complete read delivers."""
        return self.facts.expected_records()


def run_data_set(
    data_set: DataSet,
    seed: int,
    timeout_s: float,
    reference_max_calls: int,
    log: Any,
) -> Result:
    """Measure the connector, then the reference (or its projection), on one data set."""
    facts = WorldFacts.of(Sandbox(data_set.options(seed)))  # the world only: never started
    log(f"{data_set.title}: {facts.describe()}")
    connector = measure(data_set, "connector", seed, timeout_s)
    log(f"  connector: {_run_line(connector, facts.expected_records())}")
    reference_calls = sum(facts.reference_calls().values())
    reference: Run | None
    if data_set.reference_allowed and 0 < reference_calls <= reference_max_calls:
        reference = measure(data_set, "reference", seed, timeout_s)
        log(f"  reference: {_run_line(reference, facts.expected_records())}")
        if reference.succeeded and reference.calls != reference_calls:
            log(
                f"  note: the reference made {reference.calls:,} calls, the world predicts "
                f"{reference_calls:,}"
            )
    else:
        reference = projected_reference(facts)
        log(f"  reference: {reference.calls:,} calls (computed from the world, not run)")
    return Result(data_set, facts, connector, reference)


def _run_line(run: Run, expected: dict[str, int]) -> str:
    status = "complete" if run.complete(expected) else "INCOMPLETE"
    if run.timed_out:
        status = "TIMED OUT"
    elif run.exit_code != 0 or run.error_messages:
        status = f"FAILED (exit {run.exit_code}: {'; '.join(run.error_messages)[:300]})"
    return (
        f"{run.calls:,} calls, {run.wall_s:.1f} s, {run.total_records:,} records "
        f"({run.records_per_s:,.0f}/s), CPU {run.cpu_s:.1f} s, peak RSS "
        f"{run.peak_rss_mb:.0f} MB, throttled {run.rate_limited}, {status}"
    )


def by_group(results: Iterable[Result], group: str) -> list[Result]:
    """The results of one data set group ("a", "b", "c" or "d"), in the order they ran."""
    return [r for r in results if r.data_set.group == group]
