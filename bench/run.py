"""`make bench`: the connector against the sandbox, side by side with the seed's three-step plan.

For each data set the bench starts a sandbox in this process, writes a config and a catalog (the
three streams, full refresh) to a temporary directory, runs the connector as a subprocess
(``source-meta-conversations read``) and measures it: API calls (exact, from the sandbox's
stats), wall time, records per stream (counted from stdout as it streams), CPU seconds and peak
RSS of the connector process (``os.wait4``'s rusage for that one child). It then runs the
reference (``bench/reference_manifest.yaml``: conversations, then one messages-edge walk per
conversation, then one call per message) on a fresh sandbox with the same seed, the same world,
and prints both side by side. When the reference would take too long to run, its call count is
computed from the sandbox's world (pages + conversations + messages) and shown as projected.

    python -m bench.run                 # the full bench, writes docs/benchmarks.md
    python -m bench.run --quick         # small data sets, prints only
    python -m bench.run --datasets a,d  # some data sets only
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform as platform_module
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from meta_graph_sandbox import Sandbox, SandboxOptions

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
STREAMS = ("conversations", "messages", "message_details")
PLATFORM_NAMES = ("messenger", "instagram")

# Meta's Conversations API budget, per Page (Messenger) and per Instagram account.
META_CALLS_PER_SECOND = 2.0
# The reference's own page size on both edges (bench/reference_manifest.yaml).
REFERENCE_PAGE_SIZE = 100
# The least pacing the reference gets at zero latency. It runs with the same config as the
# connector (``sb.connector_config()``), but never slower than this, so that its figures show what
# the CDK spends per call rather than a budget (at Meta's 2 calls/s its time is calls / 2 anyway).
REFERENCE_MIN_RPS = 1000
# Details exist for the 20 newest messages; the messages edge serves at most 100 per page.
DETAILS_PER_CONVERSATION = 20
EDGE_PAGE = 100

# Targets from the issue.
TARGET_A_CALLS = 50
TARGET_B_BASE = 50
TARGET_RECORDS_PER_SECOND = 5000.0
TARGET_RSS_MB = 150.0
FLAT_RSS_TOLERANCE = 0.10  # "flat": the largest data set's peak RSS within 10% of the smallest's
TARGET_PACED_MARGIN = 0.10

_STREAM_RE = re.compile(rb'"stream":"([^"]+)"')


# ---------------------------------------------------------------------------------- data sets
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


# ---------------------------------------------------------------------------------- the world
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

    def target_b(self) -> int:
        """50 + sum over conversations with more than 20 messages of ceil((n - 20) / 100)."""
        extra = sum(
            math.ceil((n - DETAILS_PER_CONVERSATION) / EDGE_PAGE)
            for numbers in self.counts.values()
            for n in numbers
            if n > DETAILS_PER_CONVERSATION
        )
        return TARGET_B_BASE + extra

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


# ---------------------------------------------------------------------------------- one run
@dataclass
class Run:
    """The measurements of one source run on one data set (or its projection)."""

    source: str  # "connector" | "reference"
    ran: bool
    budget: str
    rps: float | None = None  # the configured max_requests_per_second
    calls: int = 0
    calls_by_platform: dict[str, int] = field(default_factory=dict)
    by_route: dict[str, int] = field(default_factory=dict)
    rate_limited: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    records: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak_rss_mb: float = 0.0
    sandbox_cpu_s: float = 0.0
    exit_code: int | None = None
    timed_out: bool = False
    error_messages: list[str] = field(default_factory=list)
    stderr_tail: str = ""

    @property
    def total_records(self) -> int:
        """Records of the three streams together."""
        return sum(self.records.values())

    @property
    def records_per_s(self) -> float:
        """Records per wall-clock second."""
        return self.total_records / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def projected_s(self) -> float:
        """Time at Meta's 2 calls/s per platform, platforms in parallel."""
        busiest = max(self.calls_by_platform.values(), default=self.calls)
        return busiest / META_CALLS_PER_SECOND

    @property
    def succeeded(self) -> bool:
        """Ran to the end with exit code 0 and no error trace."""
        return self.ran and not self.timed_out and self.exit_code == 0 and not self.error_messages

    def complete(self, expected: dict[str, int]) -> bool:
        """Every stream delivered exactly what the world holds."""
        return self.succeeded and all(self.records.get(s, 0) == expected[s] for s in STREAMS)


@dataclass
class Measured:
    """What one subprocess did, seen from outside."""

    records: dict[str, int]
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    exit_code: int
    timed_out: bool
    error_messages: list[str]
    stderr_tail: str


def run_process(command: Sequence[str], workdir: Path, timeout_s: float) -> Measured:
    """Run one source, count its records from stdout as it streams, and measure it.

    CPU and peak RSS come from ``os.wait4`` on the child itself (``ru_maxrss`` is the high-water
    mark of its resident set, what ``/usr/bin/time -v`` reports), so one run's figures never mix
    with another's.
    """
    stderr_path = workdir / "stderr.txt"
    records = dict.fromkeys(STREAMS, 0)
    errors: list[str] = []
    timed_out = threading.Event()
    with open(stderr_path, "wb") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(
            list(command), cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, bufsize=1 << 20
        )

        def kill() -> None:
            timed_out.set()
            process.kill()

        watchdog = threading.Timer(timeout_s, kill)
        watchdog.daemon = True
        watchdog.start()
        assert process.stdout is not None
        try:
            for line in process.stdout:
                if line.startswith(b'{"type":"RECORD"'):
                    match = _STREAM_RE.search(line, 0, 200)
                    name = match.group(1).decode() if match else "?"
                    records[name] = records.get(name, 0) + 1
                elif line.startswith(b'{"type":"TRACE"') and b'"type":"ERROR"' in line:
                    message = json.loads(line)["trace"].get("error", {})
                    errors.append(str(message.get("message") or message)[:500])
        finally:
            process.stdout.close()
            _, status, usage = os.wait4(process.pid, 0)
            wall = time.perf_counter() - started
            watchdog.cancel()
            process.returncode = os.waitstatus_to_exitcode(status)
    tail = stderr_path.read_text(errors="replace")[-2000:]
    return Measured(
        records=records,
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=usage.ru_maxrss / 1024,  # kilobytes on Linux
        exit_code=process.returncode,
        timed_out=timed_out.is_set(),
        error_messages=errors,
        stderr_tail=tail,
    )


def _catalog() -> dict[str, Any]:
    return {
        "streams": [
            {
                "stream": {
                    "name": name,
                    "json_schema": {},
                    "supported_sync_modes": ["full_refresh", "incremental"],
                },
                "sync_mode": "full_refresh",
                "destination_sync_mode": "overwrite",
            }
            for name in STREAMS
        ]
    }


def _source_command(source: str, config: Path, catalog: Path) -> list[str]:
    tail = ["read", "--config", str(config), "--catalog", str(catalog)]
    if source == "connector":
        script = Path(sys.executable).parent / "source-meta-conversations"
        if script.exists():
            return [str(script), *tail]
        return [sys.executable, "-m", "source_meta_conversations.run", *tail]
    return [sys.executable, "-m", "bench.reference_source", *tail]


def _self_cpu() -> float:
    times = os.times()
    return times.user + times.system


def measure(data_set: DataSet, source: str, seed: int, timeout_s: float) -> Run:
    """Run ``source`` on a fresh sandbox of ``data_set`` and collect every figure."""
    with Sandbox(data_set.options(seed)) as sandbox, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        overrides = {}
        if data_set.connector_rps is not None:
            overrides["max_requests_per_second"] = data_set.connector_rps
        config = sandbox.connector_config(**overrides)
        if source == "reference":
            config["max_requests_per_second"] = max(
                int(config["max_requests_per_second"]), REFERENCE_MIN_RPS
            )
        budget = f"{config['max_requests_per_second']}/s"
        config_path = workdir / "config.json"
        catalog_path = workdir / "catalog.json"
        config_path.write_text(json.dumps(config))
        catalog_path.write_text(json.dumps(_catalog()))
        sandbox.reset_stats()
        cpu_before = _self_cpu()
        measured = run_process(
            _source_command(source, config_path, catalog_path), workdir, timeout_s
        )
        sandbox_cpu = _self_cpu() - cpu_before
        stats = sandbox.stats()
    return Run(
        source=source,
        ran=True,
        budget=budget,
        rps=float(config["max_requests_per_second"]),
        calls=int(stats["calls"]),
        calls_by_platform={k: int(v) for k, v in stats["by_platform"].items() if v},
        by_route={k: int(v) for k, v in stats["by_route"].items() if v},
        rate_limited=int(stats["rate_limited"]),
        errors={str(k): int(v) for k, v in stats.get("errors", {}).items()},
        records=measured.records,
        wall_s=measured.wall_s,
        cpu_s=measured.cpu_s,
        peak_rss_mb=measured.peak_rss_mb,
        sandbox_cpu_s=sandbox_cpu,
        exit_code=measured.exit_code,
        timed_out=measured.timed_out,
        error_messages=measured.error_messages,
        stderr_tail=measured.stderr_tail,
    )


def projected_reference(facts: WorldFacts) -> Run:
    """The reference's calls computed from the world, not run."""
    calls = facts.reference_calls()
    return Run(
        source="reference",
        ran=False,
        budget="projected",
        calls=sum(calls.values()),
        calls_by_platform=calls,
    )


# ---------------------------------------------------------------------------------- results
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


# ---------------------------------------------------------------------------------- targets
@dataclass
class Target:
    """One of the issue's targets and whether the measured figures meet it."""

    name: str
    requirement: str
    measured: str
    met: bool


def _by_group(results: Iterable[Result], group: str) -> list[Result]:
    return [r for r in results if r.data_set.group == group]


def evaluate(results: list[Result]) -> list[Target]:
    """Check each target that the data sets run make checkable."""
    targets: list[Target] = []
    for result in _by_group(results, "a"):
        run = result.connector
        targets.append(
            Target(
                "(a) calls",
                f"all three streams in at most {TARGET_A_CALLS} calls",
                f"{run.calls:,} calls, records complete: {_yes(run.complete(result.expected))}",
                run.calls <= TARGET_A_CALLS and run.complete(result.expected),
            )
        )
    for result in _by_group(results, "b"):
        run = result.connector
        bound = result.facts.target_b()
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
    memory = _by_group(results, "c")
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
    for result in _by_group(results, "d"):
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


def _predicted(result: Result) -> str:
    """Whether the reference made the calls the world predicts (when it ran)."""
    reference = result.reference
    if reference is None or not reference.ran:
        return ""
    predicted = sum(result.facts.reference_calls().values())
    verdict = "as predicted" if reference.calls == predicted else "NOT as predicted"
    return (
        f" The reference made {reference.calls:,} calls; the world predicts {predicted:,} "
        f"({verdict})."
    )


def _pacing_floor(run: Run) -> float:
    """The least time the configured ``max_requests_per_second`` allows for the run's calls."""
    return run.calls / run.rps if run.rps else 0.0


def _yes(value: bool) -> str:
    return "yes" if value else "no"


# ---------------------------------------------------------------------------------- rendering
def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes = seconds / 60
    if minutes < 60:
        return f"{minutes:.1f} min"
    hours, rest = divmod(round(minutes), 60)
    return f"{hours} h {rest:02d} min"


def _ratio(reference: float, connector: float) -> str:
    if connector <= 0 or reference <= 0:
        return ""
    return f"{reference / connector:,.1f}x"


HEADER = (
    "data set",
    "run",
    "pacing",
    "API calls",
    "wall time",
    "records",
    "records/s",
    "CPU s",
    "peak RSS MB",
    "at 2 calls/s",
    "throttled",
    "complete",
)


def table_rows(results: list[Result]) -> list[tuple[str, ...]]:
    """Rows of the side-by-side table: connector, reference, ratio, per data set."""
    rows: list[tuple[str, ...]] = []
    for result in results:
        expected = result.expected
        title = result.data_set.short
        for run in (result.connector, result.reference):
            if run is None:
                continue
            if run.ran:
                rows.append(
                    (
                        title,
                        run.source,
                        run.budget,
                        f"{run.calls:,}",
                        _duration(run.wall_s),
                        f"{run.total_records:,}",
                        f"{run.records_per_s:,.0f}",
                        f"{run.cpu_s:.1f}",
                        f"{run.peak_rss_mb:.0f}",
                        _duration(run.projected_s),
                        str(run.rate_limited),
                        "yes" if run.complete(expected) else _failure(run),
                    )
                )
            else:
                rows.append(
                    (
                        title,
                        run.source,
                        "projected, not run",
                        f"{run.calls:,}",
                        "",
                        f"{sum(expected.values()):,}",
                        "",
                        "",
                        "",
                        _duration(run.projected_s),
                        "",
                        "",
                    )
                )
            title = ""
        reference = result.reference
        if reference is not None:
            connector = result.connector
            rows.append(
                (
                    "",
                    "reference / connector",
                    "",
                    _ratio(reference.calls, connector.calls),
                    _ratio(reference.wall_s, connector.wall_s) if reference.ran else "",
                    "",
                    "",
                    _ratio(reference.cpu_s, connector.cpu_s) if reference.ran else "",
                    _ratio(reference.peak_rss_mb, connector.peak_rss_mb) if reference.ran else "",
                    _ratio(reference.projected_s, connector.projected_s),
                    "",
                    "",
                )
            )
    return rows


def _failure(run: Run) -> str:
    if run.timed_out:
        return "TIMED OUT"
    if run.exit_code != 0 or run.error_messages:
        return f"FAILED (exit {run.exit_code})"
    return "NO (record counts differ)"


def text_table(rows: list[tuple[str, ...]]) -> str:
    """A fixed-width table for the terminal."""
    widths = [max(len(HEADER[i]), *(len(r[i]) for r in rows)) for i in range(len(HEADER))]
    numeric = set(range(3, len(HEADER) - 1))

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i])
            for i, cell in enumerate(cells)
        ).rstrip()

    out = [line(HEADER), line(["-" * w for w in widths])]
    out.extend(line(row) for row in rows)
    return "\n".join(out)


def markdown_table(rows: list[tuple[str, ...]]) -> str:
    """The same table in Markdown."""
    out = [
        "| " + " | ".join(HEADER) + " |",
        "|"
        + "|".join("---:" if 3 <= i < len(HEADER) - 1 else "---" for i in range(len(HEADER)))
        + "|",
    ]
    out.extend("| " + " | ".join(row) + " |" for row in rows)
    return "\n".join(out)


def targets_text(targets: list[Target]) -> str:
    """Targets for the terminal."""
    return "\n".join(
        f"  [{'MET' if t.met else 'NOT MET'}] {t.name}: {t.requirement} -> {t.measured}"
        for t in targets
    )


# ---------------------------------------------------------------------------------- machine
def machine() -> dict[str, str]:
    """What the figures were measured on."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        cdk = metadata.version("airbyte-cdk")
    except metadata.PackageNotFoundError:
        cdk = "unknown"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "cpus": str(os.cpu_count()),
        "cpu": cpu or platform_module.processor() or "unknown",
        "python": platform_module.python_version(),
        "cdk": cdk,
        "os": f"{platform_module.system()} {platform_module.release()}",
        "load": load,
        "commit": _git_commit(),
    }


def _git_commit() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}{' with uncommitted changes' if dirty else ''}"


def startup_seconds(timeout_s: float) -> float:
    """Wall time of ``source-meta-conversations spec``: interpreter, CDK import, manifest."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(sys.executable).parent / "source-meta-conversations"
        command = (
            [str(script), "spec"]
            if script.exists()
            else [
                sys.executable,
                "-m",
                "source_meta_conversations.run",
                "spec",
            ]
        )
        return run_process(command, Path(tmp), timeout_s).wall_s


# ---------------------------------------------------------------------------------- the report
def markdown_report(
    results: list[Result],
    targets: list[Target],
    info: dict[str, str],
    startup_s: float,
    started: dt.datetime,
    elapsed_s: float,
    argv: Sequence[str],
    seed: int,
) -> str:
    """docs/benchmarks.md: every figure in it comes from this run."""
    command = "make bench" if not argv else "python -m bench.run " + " ".join(argv)
    worlds = "\n".join(
        f"- **{r.data_set.key}** {r.data_set.title}: {r.facts.describe()}.{_predicted(r)}"
        for r in results
    )
    target_rows = "\n".join(
        f"| {t.name} | {t.requirement} | {t.measured} | {'met' if t.met else '**not met**'} |"
        for t in targets
    )
    b_results = _by_group(results, "b")
    b_note = ""
    if b_results and b_results[0].reference is not None and not b_results[0].reference.ran:
        b_note = (
            "\nOn (b) the reference is projected too: its one call per message would take longer"
            "\nthan the whole bench may (a larger `--reference-max-calls` runs it anyway)."
        )
    return f"""# Benchmarks

Written by `{command}` on {started.strftime("%Y-%m-%d %H:%M UTC")} ({_duration(elapsed_s)} for the
whole bench). Every figure below was measured by that run; nothing in this file is typed by hand.
Run it again to refresh it.

## Machine

- {info["cpus"]} CPUs ({info["cpu"]}), {info["os"]}; load average {info["load"]} when the bench
  started (other processes share this machine, so wall times carry some noise).
- Python {info["python"]}, airbyte-cdk {info["cdk"]}, connector at commit {info["commit"]}.
- Start-up of the connector (`source-meta-conversations spec`: interpreter, CDK import, manifest):
  {startup_s:.1f} s. It is part of every wall time below.

## Results

{markdown_table(table_rows(results))}

Columns: **API calls** are HTTP calls to the Graph API, exact, from the sandbox's counters.
**wall time** runs from starting the process to its exit. **records** are the three streams
together, counted from the process's stdout. **CPU s** is user + system time of the source process
alone and **peak RSS MB** its resident-set high-water mark (both from `os.wait4`; the sandbox runs
in the bench's own process and is not counted). **at 2 calls/s** is the time Meta's budget alone
would impose: the busiest platform's calls / 2 (Messenger and Instagram budgets are separate and
run in parallel). **throttled** are calls the sandbox refused with a rate-limit error.
**complete** says whether every stream delivered exactly what the sandbox's world holds.
**pacing** is the `max_requests_per_second` each run was configured with: at zero latency the
sandbox's `connector_config()` default, 2 in (d). The reference gets the same config, but never
less than {REFERENCE_MIN_RPS}/s, so that its figures show what the CDK spends per call rather than
a budget.

The worlds (seed {seed}):

{worlds}

## Targets (issue: "Call economy, pacing and `make bench`")

| target | requirement | measured | |
|---|---|---|---|
{target_rows}

## Method

For each data set the bench starts the sandbox (`meta_graph_sandbox`) inside the
bench's own process, on a loopback port, writes a config (`sb.connector_config()`) and a catalog
of the three streams in full refresh to a temporary directory, and runs the connector's console
script `source-meta-conversations read` as a subprocess. It reads stdout line by line as it comes,
counting RECORD messages per stream and collecting error traces, then takes the sandbox's stats.
The reference then runs on a fresh sandbox with the same seed, hence the same world, and the same
config (its pacing never below the figure above).

**The reference** is `bench/reference_manifest.yaml`, run by airbyte-cdk's
`YamlDeclarativeSource` through `python -m bench.reference_source`: the seed guide's three steps
as stock declarative components: `GET /{{page-id}}/conversations` (limit 100), then for every
conversation the messages edge `GET /{{conversation-id}}/messages?fields=id,created_time` paged
at 100, then `GET /{{message-id}}?fields=...details...` for every message. It keeps the
connector's config keys, `Authorization: OAuth` header, record shapes and schemas; error 9000001
(details of a message older than the 20 newest) is ignored rather than fatal; the CDK's HTTP
cache serves the parent streams, so nothing is fetched twice. Its calls are therefore
`pages + conversations' edge pages + messages` (about 1 + N + M), and the bench checks that the
run made exactly the number the world predicts. On (c) and (d) it is not run (at 2 calls/s it
would take hours; (c) is about the connector's memory): its calls are computed from the world
and its time projected at 2 calls/s, marked "projected, not run".{b_note}

**The targets**:
- (a) all three streams in at most 50 calls: conversations come in pages with their newest 20
  messages and details nested, so 1,000 conversations cost their pages and nothing else.
- (b) at most 50 + the sum over conversations with more than 20 messages of
  ceil((n - 20) / 100) calls: the nested page covers the 20 newest, the messages edge (at most
  100 per page) the rest; and at least 5,000 records/s at zero latency, wall time including
  start-up.
- (c) peak RSS at most 150 MB, and flat as the data grows (5,000 / 10,000 / 20,000
  conversations; "flat" here: the largest within 10% of the smallest).
- (d) with the sandbox enforcing 2 calls/s per platform on both platforms and the connector's
  `max_requests_per_second` at 2: zero throttled calls, and wall time within 10% of the
  busiest platform's calls / 2.
"""


# ---------------------------------------------------------------------------------- main
def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Benchmark the connector against the sandbox, side by side with the "
        "seed guide's three-step plan.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="small data sets (a smoke run, under 2 minutes)"
    )
    parser.add_argument(
        "--datasets",
        default="a,b,c,d",
        help="comma list of data sets among a, b, c, d (default: all)",
    )
    parser.add_argument("--seed", type=int, default=7, help="sandbox seed (default 7)")
    parser.add_argument(
        "--reference-max-calls",
        type=int,
        default=None,
        help="run the reference only where it makes at most this many calls, else project it "
        "(default 120000: the reference runs on (a) and (b); quick 5000; 0 never runs it)",
    )
    parser.add_argument(
        "--timeout", type=float, default=None, help="seconds allowed per run (default 1200)"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="Markdown report to write (default: docs/benchmarks.md for a full run, "
        "none for --quick)",
    )
    parser.add_argument("--no-write", action="store_true", help="print only, write no report")
    parser.add_argument("--json", type=Path, default=None, help="also write raw results as JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the bench; exit 0 when every run completed (targets met or not), 1 otherwise."""
    args_list = sys.argv[1:] if argv is None else argv
    args = parse_args(args_list)
    chosen = {x.strip().lower() for x in args.datasets.split(",") if x.strip()}
    unknown = chosen - {"a", "b", "c", "d"}
    if unknown:
        print(f"unknown data sets: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    max_calls = args.reference_max_calls
    if max_calls is None:
        max_calls = 5000 if args.quick else 120_000
    timeout_s = args.timeout or (300.0 if args.quick else 1200.0)
    output: Path | None = None if args.no_write else args.output
    if output is None and not args.quick and not args.no_write:
        output = DOCS

    def log(message: str) -> None:
        print(message, flush=True)

    started = dt.datetime.now(dt.UTC)
    clock = time.perf_counter()
    info = machine()
    log(
        f"bench: {info['cpus']} CPUs, Python {info['python']}, airbyte-cdk {info['cdk']}, "
        f"load {info['load']}, commit {info['commit']}"
    )
    startup = startup_seconds(timeout_s)
    log(f"connector start-up (spec): {startup:.1f} s")
    results = [
        run_data_set(data_set, args.seed, timeout_s, max_calls, log)
        for data_set in data_sets(args.quick)
        if data_set.group in chosen
    ]
    elapsed = time.perf_counter() - clock
    targets = evaluate(results)
    print()
    print(text_table(table_rows(results)))
    print()
    print("Targets:")
    print(targets_text(targets))
    print(f"\nbench took {_duration(elapsed)}")
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(
            markdown_report(results, targets, info, startup, started, elapsed, args_list, args.seed)
        )
        print(f"wrote {output}")
    if args.json is not None:
        args.json.write_text(json.dumps(_raw(results, targets, info), indent=2))
    failed = [
        r
        for r in results
        for run in (r.connector, r.reference)
        if run and run.ran
        if not run.complete(r.expected)
    ]
    for result in failed:
        for run in (result.connector, result.reference):
            if run and run.ran and not run.complete(result.expected):
                print(
                    f"\n{result.data_set.key} {run.source} did not complete: "
                    f"{_failure(run)}; records {run.records}, expected {result.expected}; "
                    f"errors {run.error_messages[:3]}\nstderr tail:\n{run.stderr_tail}",
                    file=sys.stderr,
                )
    return 1 if failed else 0


def _raw(results: list[Result], targets: list[Target], info: dict[str, str]) -> dict[str, Any]:
    def run_dict(run: Run | None) -> dict[str, Any] | None:
        if run is None:
            return None
        data = {k: v for k, v in vars(run).items() if k != "stderr_tail"}
        data["records_per_s"] = run.records_per_s
        data["projected_s"] = run.projected_s
        return data

    return {
        "machine": info,
        "results": [
            {
                "data_set": vars(r.data_set),
                "expected": r.expected,
                "target_b": r.facts.target_b() if r.data_set.group == "b" else None,
                "connector": run_dict(r.connector),
                "reference": run_dict(r.reference),
            }
            for r in results
        ],
        "targets": [vars(t) for t in targets],
    }


if __name__ == "__main__":
    raise SystemExit(main())
