"""``make faults``: run every fault profile against the sandbox and print the outcome table.

    python -m integration_tests.faults_table [--workers N] [PROFILE ...]

The same profiles and runs as ``test_faults.py`` (integration_tests/fault_suite.py): for each,
the records the faulted sync delivered (of the clean run's), the Graph calls it made, the faults
the sandbox served, the requests it retried, the seconds it chose to wait (recorded, not slept),
its final status, and, where it did not complete, how the sync resumed from its last state with
the fault gone. docs/reliability.md holds the table this printed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from integration_tests.fault_suite import BY_NAME, PROFILES, FaultSuite, table


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen profiles (all by default) and print the Markdown table."""
    parser = argparse.ArgumentParser(prog="python -m integration_tests.faults_table")
    parser.add_argument("profiles", nargs="*", help=f"profiles (default: all): {list(BY_NAME)}")
    parser.add_argument("--workers", type=int, default=3, help="profiles run at once (3)")
    args = parser.parse_args(argv)
    unknown = [name for name in args.profiles if name not in BY_NAME]
    if unknown:
        parser.error(f"unknown profiles {unknown}")
    profiles = [BY_NAME[name] for name in args.profiles] or list(PROFILES)
    with tempfile.TemporaryDirectory() as tmp, FaultSuite(Path(tmp)) as suite:
        outcomes = suite.run_all(profiles, workers=args.workers)
    print(table(outcomes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
