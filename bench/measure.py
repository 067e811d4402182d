"""One source run on one data set, measured from outside the process.

For a data set the bench starts a sandbox in this process, writes a config and a catalog (the
three streams, full refresh) to a temporary directory, runs the source as a subprocess
(``source-meta-conversations read``, or ``python -m bench.reference_source read`` for the
reference) and measures it: API calls (exact, from the sandbox's stats), wall time, records per
stream (counted from stdout as it streams), CPU seconds and peak RSS of the source process
(``os.wait4``'s rusage for that one child). When the reference would take too long to run, its
call count is computed from the sandbox's world instead (:func:`projected_reference`).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.datasets import META_CALLS_PER_SECOND, STREAMS, DataSet, WorldFacts
from meta_graph_sandbox import Sandbox

ROOT = Path(__file__).resolve().parent.parent
# The least pacing the reference gets at zero latency. It runs with the same config as the
# connector (``sb.connector_config()``), but never slower than this, so that its figures show what
# the CDK spends per call rather than a budget (at Meta's 2 calls/s its time is calls / 2 anyway).
REFERENCE_MIN_RPS = 1000

_STREAM_RE = re.compile(rb'"stream":"([^"]+)"')


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
