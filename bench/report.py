"""``docs/benchmarks.md`` and the raw JSON: what a full bench writes, and the machine it ran on."""

from __future__ import annotations

import datetime as dt
import os
import platform as platform_module
import subprocess
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.measure import REFERENCE_MIN_RPS, ROOT, Run
from bench.results import Result, by_group
from bench.tables import duration, markdown_table, table_rows
from bench.targets import Target, calls_bound_b


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
    b_results = by_group(results, "b")
    b_note = ""
    if b_results and b_results[0].reference is not None and not b_results[0].reference.ran:
        b_note = (
            "\nOn (b) the reference is projected too: its one call per message would take longer"
            "\nthan the whole bench may (a larger `--reference-max-calls` runs it anyway)."
        )
    return f"""# Benchmarks

Written by `{command}` on {started.strftime("%Y-%m-%d %H:%M UTC")} ({duration(elapsed_s)} for the
whole bench). Every figure below was measured by that run; nothing in this file is typed by hand.
Run it again to refresh it. What a change cost, before and after, measured side by side:
[benchmark-comparisons.md](benchmark-comparisons.md).

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


def raw_results(
    results: list[Result], targets: list[Target], info: dict[str, str]
) -> dict[str, Any]:
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
                "target_b": calls_bound_b(r.facts) if r.data_set.group == "b" else None,
                "connector": run_dict(r.connector),
                "reference": run_dict(r.reference),
            }
            for r in results
        ],
        "targets": [vars(t) for t in targets],
    }
