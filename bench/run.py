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

The parts: ``datasets`` (the data sets and their worlds), ``measure`` (one source process,
measured), ``results`` (one data set: connector and reference), ``targets`` (the issue's
targets), ``tables`` and ``report`` (the terminal table, ``docs/benchmarks.md``, the raw JSON),
``sandbox_cost`` (one line: how long the sandbox itself takes per answer).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

from bench.datasets import data_sets
from bench.measure import ROOT, startup_seconds
from bench.report import machine, markdown_report, raw_results
from bench.results import run_data_set
from bench.sandbox_cost import sandbox_cost
from bench.tables import duration, failure, table_rows, targets_text, text_table
from bench.targets import evaluate

DOCS = ROOT / "docs" / "benchmarks.md"


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
    log(sandbox_cost())
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
    print(f"\nbench took {duration(elapsed)}")
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(
            markdown_report(results, targets, info, startup, started, elapsed, args_list, args.seed)
        )
        print(f"wrote {output}")
    if args.json is not None:
        args.json.write_text(json.dumps(raw_results(results, targets, info), indent=2))
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
                    f"{failure(run)}; records {run.records}, expected {result.expected}; "
                    f"errors {run.error_messages[:3]}\nstderr tail:\n{run.stderr_tail}",
                    file=sys.stderr,
                )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
