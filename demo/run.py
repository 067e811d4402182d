"""``make demo``: the connector end to end against the local Graph API sandbox.

Starts the sandbox (the default data set, Messenger and Instagram), then runs the installed
``source-meta-conversations`` command exactly as an Airbyte platform runs a source container:
``spec``, ``check --config``, ``discover --config`` and ``read --config --catalog`` with a catalog
built from the discovered streams. Then it loads the records into DuckDB (``.demo/demo.duckdb``,
tables as a destination writes them) and prints the answers a support lead asks for first
(demo/answers.py); ``--html PATH`` also writes them as a self-contained page with charts. Raw
outputs go to ``.demo/``; the exit code is non-zero when any command failed.

The demo is not part of the connector's package: run it from the repository root, where the
sandbox (``meta_graph_sandbox``) is importable.

    python -m demo [--seed 7] [--conversations 30] [--out .demo] [--html .demo/answers.html]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from demo.answers import ask, render
from demo.page import page
from demo.warehouse import load, open_warehouse
from meta_graph_sandbox import Sandbox, SandboxOptions

COMMAND = "source-meta-conversations"
TIMEOUT_SECONDS = 600


@dataclass
class Step:
    """One connector command: what ran, how it ended, and what it printed."""

    name: str
    ok: bool = False
    detail: str = ""
    seconds: float = 0.0
    messages: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    def of_type(self, message_type: str) -> list[dict[str, Any]]:
        """The messages of one Airbyte type."""
        return [m for m in self.messages if m.get("type") == message_type]


def find_command() -> str:
    """The installed console script: next to this interpreter (the venv), else on PATH."""
    beside = Path(sys.executable).with_name(COMMAND)
    if beside.exists():
        return str(beside)
    found = shutil.which(COMMAND)
    if found is None:
        raise SystemExit(f"{COMMAND} is not installed: run `make install` first.")
    return found


def parse_messages(stdout: str) -> list[dict[str, Any]]:
    """The Airbyte messages of a command's stdout (a line that is not one is kept as a note)."""
    messages: list[dict[str, Any]] = []
    for line in stdout.splitlines():
        if not line.strip():
            continue
        try:
            message = json.loads(line)
        except ValueError:
            message = {"type": "NOT_A_MESSAGE", "line": line[:200]}
        messages.append(message if isinstance(message, dict) else {"type": "NOT_A_MESSAGE"})
    return messages


class Demo:
    """Runs the four commands against one sandbox and keeps their outputs in ``out``."""

    def __init__(self, sandbox: Sandbox, out: Path) -> None:
        self.sandbox = sandbox
        self.out = out
        self.command = find_command()
        self.steps: list[Step] = []
        self.streams: list[dict[str, Any]] = []  # the discovered streams

    def _write(self, name: str, content: Any, *, private: bool = False) -> Path:
        path = self.out / name
        path.write_text(content if isinstance(content, str) else json.dumps(content, indent=2))
        if private:
            path.chmod(0o600)
        return path

    def run(self, name: str, args: Sequence[str]) -> Step:
        """Run ``source-meta-conversations <args>``; keep stdout and stderr in ``out``."""
        env = dict(os.environ)
        env.pop("REQUEST_CACHE_PATH", None)  # a fresh in-memory HTTP cache, as in a container
        self.sandbox.reset_stats()
        started = time.perf_counter()
        try:
            done = subprocess.run(  # noqa: S603 (our own console script, fixed arguments)
                [self.command, *args],
                capture_output=True,
                text=True,
                cwd=self.out,
                env=env,
                timeout=TIMEOUT_SECONDS,
                check=False,
            )
            stdout, stderr, code = done.stdout, done.stderr, done.returncode
        except subprocess.TimeoutExpired:
            stdout, stderr, code = "", f"timed out after {TIMEOUT_SECONDS} s", -1
        step = Step(name, seconds=time.perf_counter() - started, stats=self.sandbox.stats())
        self._write(f"{name}.jsonl", stdout)
        self._write(f"{name}.stderr.txt", stderr)
        step.messages = parse_messages(stdout)
        errors = [
            m["trace"]["error"].get("message", "")
            for m in step.of_type("TRACE")
            if m["trace"].get("type") == "ERROR"
        ]
        step.ok = code == 0 and not errors
        step.detail = errors[0] if errors else (f"exit code {code}" if code else "")
        self.steps.append(step)
        return step

    def spec(self) -> Step:
        """``spec``: one SPEC message."""
        step = self.run("spec", ["spec"])
        if step.ok and len(step.of_type("SPEC")) != 1:
            step.ok, step.detail = False, "no SPEC message"
        return step

    def check(self, config: Path) -> Step:
        """``check``: a CONNECTION_STATUS that says SUCCEEDED."""
        step = self.run("check", ["check", "--config", str(config)])
        statuses = [m["connectionStatus"] for m in step.of_type("CONNECTION_STATUS")]
        if not statuses or statuses[-1].get("status") != "SUCCEEDED":
            step.ok = False
            step.detail = statuses[-1].get("message", "") if statuses else "no CONNECTION_STATUS"
        return step

    def discover(self, config: Path) -> tuple[Step, list[dict[str, Any]]]:
        """``discover``: the streams of its CATALOG."""
        step = self.run("discover", ["discover", "--config", str(config)])
        catalogs = step.of_type("CATALOG")
        streams: list[dict[str, Any]] = catalogs[0]["catalog"]["streams"] if catalogs else []
        if step.ok and not streams:
            step.ok, step.detail = False, "no streams discovered"
        return step, streams

    def read(self, config: Path, streams: list[dict[str, Any]]) -> Step:
        """``read`` of every discovered stream, incremental where the stream supports it."""
        configured = []
        for stream in streams:
            incremental = "incremental" in stream.get("supported_sync_modes", [])
            entry: dict[str, Any] = {
                "stream": stream,
                "sync_mode": "incremental" if incremental else "full_refresh",
                "destination_sync_mode": "append_dedup" if incremental else "overwrite",
            }
            if incremental:
                entry["cursor_field"] = stream.get("default_cursor_field", [])
                entry["primary_key"] = stream.get("source_defined_primary_key", [])
            configured.append(entry)
        catalog = self._write("configured_catalog.json", {"streams": configured})
        step = self.run("read", ["read", "--config", str(config), "--catalog", str(catalog)])
        if step.ok and not step.of_type("RECORD"):
            step.ok, step.detail = False, "no records"
        return step

    def all(self) -> bool:
        """spec, check, discover, read; True when every one succeeded."""
        config = self._write(
            "config.json", self.sandbox.connector_config(platform="both"), private=True
        )
        self.spec()
        self.check(config)
        discover, streams = self.discover(config)
        self.streams = streams
        if discover.ok:
            self.read(config, streams)
        return all(step.ok for step in self.steps) and len(self.steps) == 4


def summary(demo: Demo, wall: float) -> str:
    """The readable report: each command, records per stream, API calls, time, raw output."""
    lines = ["", "source-meta-conversations demo (Graph API sandbox, Messenger + Instagram)", ""]
    for step in demo.steps:
        verdict = "ok" if step.ok else "FAILED"
        note = f"  {step.detail[:300]}" if step.detail else ""
        lines.append(f"  {step.name:<9} {verdict:<7} {step.seconds:6.1f} s{note}")
    read = next((s for s in demo.steps if s.name == "read"), None)
    if read is not None:
        world = demo.sandbox.world.summary()
        counts: dict[str, int] = {}
        for message in read.of_type("RECORD"):
            stream = message["record"]["stream"]
            counts[stream] = counts.get(stream, 0) + 1
        lines += ["", "  Records per stream:"]
        lines += [f"    {name:<16} {count:>6}" for name, count in sorted(counts.items())]
        lines.append(f"    {'(state messages)':<16} {len(read.of_type('STATE')):>6}")
        lines += ["", "  The sandbox holds:"]
        lines += [
            f"    {platform:<16} {held['conversations']:>6} conversations, "
            f"{held['messages']} messages"
            for platform, held in world.items()
        ]
        stats = read.stats
        routes = ", ".join(f"{r} {n}" for r, n in stats.get("by_route", {}).items() if n)
        platforms = ", ".join(f"{p} {n}" for p, n in stats.get("by_platform", {}).items())
        lines += [
            "",
            f"  Graph API calls of the read: {stats.get('calls', 0)}",
            f"    by route:    {routes or 'none'}",
            f"    by platform: {platforms}",
        ]
        if stats.get("errors") or stats.get("rate_limited"):
            errors, limited = stats.get("errors"), stats.get("rate_limited")
            lines.append(f"    errors by code {errors}, rate limited {limited}")
    lines += [
        "",
        f"  Wall time: {wall:.1f} s",
        f"  Raw output (Airbyte messages, stderr, config, catalog): {demo.out}/",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seed", type=int, default=SandboxOptions.seed)
    parser.add_argument("--conversations", type=int, default=SandboxOptions.conversations)
    parser.add_argument("--out", type=Path, default=Path(".demo"))
    parser.add_argument(
        "--html", type=Path, default=None, help="also write the answers as a page (with charts)"
    )
    args = parser.parse_args(argv)

    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    options = SandboxOptions(seed=args.seed, conversations=args.conversations)
    print(
        f"Starting the Graph API sandbox (seed {args.seed}, {args.conversations} conversations "
        "per platform) and running spec, check, discover, read...",
        flush=True,
    )
    with Sandbox(options) as sandbox:
        demo = Demo(sandbox, out)
        succeeded = demo.all()
        report = summary(demo, time.perf_counter() - started)
    read = next((step for step in demo.steps if step.name == "read" and step.ok), None)
    if read is not None:
        report += answers(demo.streams, read, out, args.html)
    print(report)
    (out / "summary.txt").write_text(report)
    if not succeeded:
        print("The demo FAILED: see the lines above and the raw output.", file=sys.stderr)
    return 0 if succeeded else 1


def answers(streams: list[dict[str, Any]], read: Step, out: Path, html: Path | None) -> str:
    """Load the read's records into DuckDB, ask the questions; the text, and the page if asked."""
    database = out / "demo.duckdb"
    with open_warehouse(database) as connection:
        rows = load(connection, streams, [m["record"] for m in read.of_type("RECORD")])
        found = ask(connection)
    text = render(found)
    tables = ", ".join(f"{name} {count}" for name, count in rows.items())
    text += (
        f"\n\n  DuckDB: {database} ({tables} rows)."
        "\n  The SQL: docs/meta-conversations.md, 'Answers in SQL', for your own warehouse.\n"
    )
    if html is not None:
        html.parent.mkdir(parents=True, exist_ok=True)
        subtitle = (
            f"{sum(rows.values())} records synced from the Graph API sandbox "
            f"(conversations {rows.get('conversations', 0)}, messages "
            f"{rows.get('messages', 0)}, message details {rows.get('message_details', 0)})."
        )
        html.write_text(page(found, subtitle), encoding="utf-8")
        text += f"  The same as a page: {html}\n"
    return text


if __name__ == "__main__":
    sys.exit(main())
