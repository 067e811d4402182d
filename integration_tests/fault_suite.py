"""The fault profiles and how one runs: what ``test_faults.py`` asserts, ``make faults`` prints.

A profile is a sandbox fault (``meta_graph_sandbox.faults``) with the data it meets and what the
connector must make of it. Running one takes three kinds of runs of the installed command:

- the clean run: the same world (same seed) without the fault, once per world: the reference,
  by primary key;
- the faulted run: an incremental first sync against a sandbox serving the fault;
- where it failed (or hung and was killed), the resumed run: the same sync again from the last
  state the faulted run emitted, against a sandbox of the same world with the fault gone.

Waits: the connector's subprocess gets ``sleep_recorder/sitecustomize.py``, which records every
sleep of a second or more instead of sleeping it (see there), so a retry storm costs no wall time
and the suite asserts the waits the connector chose, not the clock. Every run has a timeout: a
run that passes it is killed and reported as hung, so no fault can hang the suite.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from integration_tests.conftest import (
    CONNECTOR_COMMAND,
    PLATFORMS,
    STREAMS,
    Connector,
    ConnectorRun,
    incremental_catalog,
    parse_messages,
)
from meta_graph_sandbox import Sandbox, SandboxOptions

HERE = Path(__file__).resolve().parent
SLEEP_RECORDER = HERE / "sleep_recorder"
# No faulted run may take longer (wall time; waits are recorded, not slept). A clean run of these
# worlds takes 2-3 s; a run that passes this is killed and reported as hung.
RUN_TIMEOUT_SECONDS = 60.0
# The connector's read timeout (manifest.yaml, requester.read_timeout_in_seconds, pinned by
# unit_tests/test_faults_transport.py): how long a call waits on an answer that never comes.
READ_TIMEOUT_SECONDS = 90.0
# A run meeting one answer that never comes: it waits the read timeout once, really (a socket
# timeout is not a sleep the recorder can skip), then has the bound of any other run.
HANG_TIMEOUT_SECONDS = READ_TIMEOUT_SECONDS + RUN_TIMEOUT_SECONDS

# The app secret of every sandbox of the suite (a 32-hex-digit secret, like Meta's).
APP_SECRET = "5f0c8e1d2b7a4c6e9f3a1d8b0e2c4f6a"

TRANSIENT = "transient_error"
CONFIG = "config_error"
COMPLETE = "complete"

_RETRY_LOG = re.compile(r"before retrying|then retrying", re.IGNORECASE)


# ---------------------------------------------------------------------------------- profiles
@dataclass(frozen=True)
class World:
    """The sandbox data a profile meets: small enough for ``make test``."""

    seed: int = 3
    conversations: int = 30
    platforms: tuple[str, ...] = ("messenger",)
    messages: str = "mixed"
    # Conversations started after the sandbox is up (newest of all, 5 messages each): between
    # a killed sync and its resumption, they move every page boundary of the listing.
    new_conversations: int = 0

    def options(self, faults: Sequence[str] = (), **extra: Any) -> SandboxOptions:
        """The sandbox options of this world, with ``faults`` served.

        Every call needs an appsecret_proof: the connector then holds all three secrets.
        """
        return SandboxOptions(
            seed=self.seed,
            conversations=self.conversations,
            platforms=self.platforms,
            messages=self.messages,
            faults=tuple(faults),
            app_secret=APP_SECRET,
            **extra,
        )

    def start(self, stack: ExitStack, faults: Sequence[str] = (), **extra: Any) -> Sandbox:
        """A sandbox of this world serving ``faults``, closed with ``stack``."""
        sandbox = stack.enter_context(Sandbox(self.options(faults, **extra)))
        for _ in range(self.new_conversations):
            sandbox.world.add_conversation(self.platforms[0], 5)
        return sandbox


# 30 conversations (2 listing pages), some over 20 and 100 messages (messages-edge calls).
MESSENGER = World()
# The two-platform sync of the issue: the children read both platforms' listings together.
BOTH = World(platforms=PLATFORMS)
# 60 conversations of 5 messages: 3 listing pages and no messages-edge call, so the only calls
# with an ``after`` cursor are the listing's (what stale-cursor meets first is a listing page).
FLAT = World(conversations=60, messages="fixed:5")
# The same, once 3 conversations arrived: a cursor saved on FLAT is not one a new walk gives.
FLAT_THEN_3_NEW = World(conversations=60, messages="fixed:5", new_conversations=3)


@dataclass(frozen=True)
class FaultProfile:
    """One row of the table: a fault, the world it meets, and what the connector must do.

    ``expect``: ``complete`` (the run rides the fault out: records equal to the clean run's), or
    the failure type every stream's error trace must carry. ``start_killed_after``: the run
    starts from the state a clean run of ``start_world`` had when killed after that many STATE
    messages (a listing left unfinished), not from nothing.
    """

    name: str
    faults: tuple[str, ...]
    expect: str
    what: str
    world: World = MESSENGER
    config: Mapping[str, Any] = field(default_factory=dict)
    timeout: float = RUN_TIMEOUT_SECONDS
    start_killed_after: int | None = None
    start_world: World | None = None
    links_elsewhere: bool = False


# max_wait_minutes at its minimum: a fault that stays must end the run at that bound.
SHORT_WAIT = {"max_wait_minutes": 1}

PROFILES: tuple[FaultProfile, ...] = (
    FaultProfile("clean", (), COMPLETE, "no fault: the reference run"),
    FaultProfile("transient@once", ("transient:30@once",), COMPLETE, "one HTTP 5xx, code 2"),
    FaultProfile(
        "transient@always",
        ("transient@always",),
        TRANSIENT,
        "every call answers HTTP 5xx, code 2",
        config=SHORT_WAIT,
    ),
    FaultProfile(
        "rate-limit-storm@once",
        ("rate-limit-storm:3@once",),
        COMPLETE,
        "3 throttled answers in a row (codes 4, 17, 32, 613, 80001)",
    ),
    FaultProfile(
        "rate-limit-storm@always",
        ("rate-limit-storm@always",),
        TRANSIENT,
        "throttled from call 3-8 on, usage headers at 100%",
        config=SHORT_WAIT,
    ),
    FaultProfile(
        "usage-high@once",
        ("usage-high:1@once",),
        COMPLETE,
        "one 200 whose usage headers ask for a 1-minute pause",
    ),
    FaultProfile(
        "usage-high@always",
        ("usage-high:1@always",),
        TRANSIENT,
        "every 200 asks for a 1-minute pause (max_wait_minutes 1)",
        config=SHORT_WAIT,
    ),
    FaultProfile("slow@once", ("slow:1500@once",), COMPLETE, "one answer 1.5 s late"),
    FaultProfile(
        "hang@once",
        ("hang:600@once",),
        COMPLETE,
        "one answer never comes (held until the client's 90 s read timeout hangs up)",
        timeout=HANG_TIMEOUT_SECONDS,
    ),
    FaultProfile(
        "malformed@once", ("malformed:30@once",), COMPLETE, "one 200 with a truncated/HTML body"
    ),
    FaultProfile(
        "malformed@always",
        ("malformed@always",),
        TRANSIENT,
        "every 200 truncated or HTML",
        config=SHORT_WAIT,
    ),
    FaultProfile("reset@once", ("reset:30@once",), COMPLETE, "one connection dropped mid-body"),
    FaultProfile(
        "reset@always",
        ("reset@always",),
        TRANSIENT,
        "every connection dropped mid-body",
        config=SHORT_WAIT,
    ),
    FaultProfile(
        "reduce-data", ("reduce-data:200",), COMPLETE, "code 1 above 200 objects an answer"
    ),
    FaultProfile("empty-page", ("empty-page:2",), COMPLETE, "every 2nd page empty but with next"),
    FaultProfile(
        "stale-cursor mid-listing",
        ("stale-cursor@once",),
        TRANSIENT,
        "Meta refuses the listing's page-2 cursor (code 100)",
        world=FLAT,
    ),
    FaultProfile(
        "stale-cursor on resume",
        ("stale-cursor@once",),
        COMPLETE,
        "Meta refuses the cursor a killed sync saved (code 100)",
        world=FLAT_THEN_3_NEW,
        start_killed_after=2,
        start_world=FLAT,
    ),
    FaultProfile(
        "repeat-cursor",
        ("repeat-cursor@once",),
        TRANSIENT,
        "the listing's page 2 hands back the cursor it was asked after (a loop)",
        world=FLAT,
    ),
    FaultProfile(
        "token-in-links",
        ("token-in-links",),
        COMPLETE,
        "every next link carries the token and proof, though the token came in a header",
    ),
    FaultProfile(
        "links elsewhere",
        (),
        COMPLETE,
        "every next link points at another host",
        links_elsewhere=True,
    ),
    FaultProfile(
        "token-expiry",
        ("token-expiry:3",),
        CONFIG,
        "the token expires after 3 calls (190/463), both platforms",
        world=BOTH,
    ),
    FaultProfile(
        "permission-revoked",
        ("permission-revoked:3",),
        CONFIG,
        "a permission is revoked after 3 calls (code 200 or 10), both platforms",
        world=BOTH,
    ),
)

BY_NAME = {profile.name: profile for profile in PROFILES}


# ---------------------------------------------------------------------------------- runs
@dataclass
class FaultRun:
    """One run of the command: its messages, the waits it chose, whether it had to be killed.

    ``waits``: (thread, seconds) of every sleep of a second or more, in order; ``hung``: killed
    at its timeout.
    """

    run: ConnectorRun
    waits: list[tuple[int, float]]
    hung: bool
    files: list[Path] = field(default_factory=list)  # what the run left in its folder and TMPDIR
    config: Mapping[str, Any] | None = None  # the config it ran with

    @property
    def waited(self) -> float:
        """Seconds of waits, all threads together (two threads waiting at once count twice)."""
        return sum(seconds for _, seconds in self.waits)

    @property
    def longest_thread_wait(self) -> float:
        """The most one thread waited: what the wall time of the waits is at least."""
        per_thread: Counter[int] = Counter()
        for thread, seconds in self.waits:
            per_thread[thread] += seconds  # type: ignore[assignment]
        return max(per_thread.values(), default=0.0)

    @property
    def succeeded(self) -> bool:
        """Exit 0, no error trace, not killed."""
        return not self.hung and self.run.returncode == 0 and not self.run.trace_errors

    @property
    def stream_failure_types(self) -> set[str]:
        """The failure types of the streams' own error traces (the CDK's summary left out)."""
        return {
            str(error.get("failure_type"))
            for error in self.run.trace_errors
            if error.get("stream_descriptor")
        }

    @property
    def last_error(self) -> dict[str, Any]:
        """The last error trace: what a platform shows for the sync."""
        errors = self.run.trace_errors
        assert errors, self.run.describe()
        return errors[-1]

    @property
    def status(self) -> str:
        """``complete``, ``hung``, or the streams' failure types and the last trace's."""
        if self.hung:
            return "hung (killed)"
        if self.succeeded:
            return COMPLETE
        if not self.run.trace_errors:
            return f"exit {self.run.returncode}"
        streams = ", ".join(sorted(self.stream_failure_types)) or "-"
        return f"{streams} (last trace: {self.last_error.get('failure_type')})"

    @property
    def retries(self) -> int:
        """Requests the connector retried, from its log lines (its backoff's and the CDK's)."""
        return sum(
            1 for m in self.run.of_type("LOG") if _RETRY_LOG.search(str(m["log"]["message"]))
        )


class RecordingConnector(Connector):
    """The installed command as the fault suite runs it.

    With the most verbose logging the CDK offers (``--debug`` and ``LOG_LEVEL=debug``: every
    request and response is logged), its long sleeps recorded, in a working directory and a
    ``TMPDIR`` of its own (so every file it leaves is its own: ``FaultRun.files``), and killed
    at ``timeout`` or after its ``kill_after_states``-th STATE instead of raising.
    """

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self._files_lock = threading.Lock()

    def run_recorded(
        self,
        config: Mapping[str, Any] | None,
        catalog: Mapping[str, Any] | None = None,
        state: Any = None,
        *,
        command: str = "read",
        timeout: float = RUN_TIMEOUT_SECONDS,
        kill_after_states: int | None = None,
    ) -> FaultRun:
        """Run one command to its end, or kill it (threads may share one runner)."""
        with self._files_lock:  # the files of one run are numbered together
            args = [*self._args(command, config, catalog, state), "--debug"]
            number = self._count
        folder = self.workdir / f"{number:03d}-{command}-run"
        tmp = folder / "tmp"
        tmp.mkdir(parents=True)
        sleeps = self.workdir / f"{number:03d}-sleeps.txt"
        stderr_path = self.workdir / f"{number:03d}-stderr.txt"
        env = self._env()
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(SLEEP_RECORDER), env.get("PYTHONPATH", "")) if p
        )
        env.update(CONNECTOR_SLEEP_LOG=str(sleeps), LOG_LEVEL="debug", TMPDIR=str(tmp))
        lines: list[str] = []
        timed_out = threading.Event()
        killed = False
        with (
            stderr_path.open("w") as stderr,
            subprocess.Popen(
                [str(CONNECTOR_COMMAND), *args],
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                cwd=folder,
                env=env,
            ) as process,
        ):

            def on_timeout() -> None:
                timed_out.set()
                process.kill()

            watchdog = threading.Timer(timeout, on_timeout)
            watchdog.start()
            try:
                assert process.stdout is not None
                states = 0
                for line in process.stdout:
                    lines.append(line)
                    if kill_after_states and '"type":"STATE"' in line.replace(" ", ""):
                        states += 1
                        if states == kill_after_states:
                            process.kill()
                            killed = True
                            break
                process.stdout.close()
                process.wait()
            finally:
                watchdog.cancel()
        stdout = "".join(lines)
        hung = timed_out.is_set()
        run = ConnectorRun(
            args, process.returncode, stdout, stderr_path.read_text(), [], killed or hung
        )
        # No secret check here: test_secrets_scan.py checks every run of the suite, by secret.
        run.messages = _parse(stdout, partial=killed or hung)
        waits = []
        if sleeps.exists():
            for entry in sleeps.read_text().splitlines():
                thread, seconds = entry.split()
                waits.append((int(thread), float(seconds)))
        files = sorted(path for path in folder.rglob("*") if path.is_file())
        return FaultRun(run, waits, hung, files, config)


def _parse(stdout: str, *, partial: bool) -> list[dict[str, Any]]:
    """The Airbyte messages of a run; a killed run's last line may be cut."""
    if partial and stdout and not stdout.endswith("\n"):
        stdout = stdout.rsplit("\n", 1)[0] if "\n" in stdout else ""
    return parse_messages(stdout)


# ---------------------------------------------------------------------------------- outcomes
@dataclass
class Outcome:
    """Everything one profile did, and the checks the suite makes on it."""

    profile: FaultProfile
    clean: ConnectorRun
    before: FaultRun | None  # the killed clean run a profile starts from, if any
    faulted: FaultRun
    stats: dict[str, Any]
    resumed: FaultRun | None
    foreign_calls: int = 0  # calls that reached the other host links pointed to

    def runs(self) -> list[FaultRun]:
        """Every run of this profile, in order."""
        return [r for r in (self.before, self.faulted, self.resumed) if r is not None]

    def delivered(self) -> set[tuple[str, str]]:
        """(stream, id) of every record of the runs of this profile, resumed run included."""
        keys: set[tuple[str, str]] = set()
        for run in self.runs():
            keys |= run.run.record_keys()
        return keys

    def missing(self) -> set[tuple[str, str]]:
        """Records of the clean run that none of this profile's runs delivered."""
        return self.clean.record_keys() - self.delivered()

    def unexpected(self) -> set[tuple[str, str]]:
        """Records this profile's runs delivered that the clean run does not have."""
        return self.delivered() - self.clean.record_keys()

    def duplicates(self) -> dict[tuple[str, str], int]:
        """Records the faulted run emitted more than once."""
        counts = Counter((r["stream"], str(r["data"]["id"])) for r in self.faulted.run.records)
        return {key: n for key, n in counts.items() if n > 1}

    def records_after_last_state(self) -> dict[str, int]:
        """Per stream, records the faulted run emitted after that stream's last STATE."""
        after: dict[str, int] = {}
        for message in self.faulted.run.messages:
            if message["type"] == "RECORD":
                stream = message["record"]["stream"]
                after[stream] = after.get(stream, 0) + 1
            elif message["type"] == "STATE":
                after[message["state"]["stream"]["stream_descriptor"]["name"]] = 0
        return {stream: n for stream, n in after.items() if n}

    def row(self) -> dict[str, str]:
        """This profile's line of the table."""
        clean = len(self.clean.record_keys())
        faulted = self.faulted
        resumed = "-"
        if self.resumed is not None:
            missing = len(self.missing())
            resumed = f"{self.resumed.status}, {missing} missing"
        return {
            "profile": self.profile.name,
            "what Meta does": self.profile.what,
            "records": f"{len(faulted.run.record_keys())} / {clean}",
            "calls": str(self.stats.get("calls", 0)),
            "faults": str(sum(self.stats.get("faults", {}).values())),
            "retries": str(faulted.retries),
            "waits (s)": f"{faulted.waited:.0f}",
            "status": faulted.status,
            "resumed run": resumed,
        }


class FaultSuite:
    """Runs profiles: one clean sandbox and run per world, fresh sandboxes for each profile.

    Threads may share it: each world's clean run is made once, by whichever profile asks first.
    """

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._stack = ExitStack()
        self._clean: dict[World, ConnectorRun] = {}
        self._locks_lock = threading.Lock()
        self._clean_locks: dict[World, threading.Lock] = {}

    def __enter__(self) -> FaultSuite:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stack.close()

    def _connector(self, name: str) -> RecordingConnector:
        folder = self.workdir / re.sub(r"[^a-z0-9]+", "-", name.lower())
        folder.mkdir(parents=True, exist_ok=True)
        return RecordingConnector(folder)

    def clean_run(self, world: World) -> ConnectorRun:
        """The reference: a first incremental sync of ``world`` without faults (made once)."""
        with self._locks_lock:
            lock = self._clean_locks.setdefault(world, threading.Lock())
        with lock:
            if world not in self._clean:
                sandbox = world.start(self._stack)
                run = self._connector(f"clean-{world}").run_recorded(
                    sandbox.connector_config(), incremental_catalog()
                )
                assert run.succeeded, run.run.describe()
                self._clean[world] = run.run
            return self._clean[world]

    def run(self, profile: FaultProfile) -> Outcome:
        """The faulted run of ``profile``, and the resumed run where it did not complete.

        The clean run of its world comes last: a profile that starts waiting on a hung answer
        does not wait for a clean run first.
        """
        connector = self._connector(profile.name)
        before = None
        state: Any = None
        if profile.start_killed_after is not None:
            sandbox = (profile.start_world or profile.world).start(self._stack)
            before = connector.run_recorded(
                sandbox.connector_config(),
                incremental_catalog(),
                kill_after_states=profile.start_killed_after,
            )
            assert before.run.killed, before.run.describe()
            assert not before.hung, before.run.describe()
            state = before.run.latest_state()
        foreign = None
        extra: dict[str, Any] = {}
        if profile.links_elsewhere:
            foreign = World(conversations=1).start(self._stack)
            extra["link_base"] = foreign.base_url
        faulty = profile.world.start(self._stack, profile.faults, **extra)
        faulted = connector.run_recorded(
            faulty.connector_config(**profile.config),
            incremental_catalog(),
            state,
            timeout=profile.timeout,
        )
        stats = faulty.stats()
        resumed = None
        if not faulted.succeeded:
            healthy = profile.world.start(self._stack)
            resumed = connector.run_recorded(
                healthy.connector_config(**profile.config),
                incremental_catalog(),
                faulted.run.latest_state() or state,
            )
        foreign_calls = foreign.stats()["calls"] if foreign is not None else 0
        clean = self.clean_run(profile.world)
        return Outcome(profile, clean, before, faulted, stats, resumed, foreign_calls)

    def run_all(
        self, profiles: Sequence[FaultProfile] = PROFILES, workers: int = 3
    ) -> dict[str, Outcome]:
        """Every profile, ``workers`` at a time (each run is a subprocess); by profile name.

        The profiles with the longest bound start first: hang@once spends a read timeout idle,
        and the other profiles (and the clean runs) run beside it rather than after it.
        """
        longest_first = sorted(profiles, key=lambda p: p.timeout, reverse=True)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {p.name: pool.submit(self.run, p) for p in longest_first}
            return {p.name: futures[p.name].result() for p in profiles}


# ---------------------------------------------------------------------------------- table
COLUMNS = (
    "profile",
    "what Meta does",
    "records",
    "calls",
    "faults",
    "retries",
    "waits (s)",
    "status",
    "resumed run",
)


def table(outcomes: Mapping[str, Outcome]) -> str:
    """The profiles x outcome table, in Markdown."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for outcome in outcomes.values():
        row = outcome.row()
        lines.append("| " + " | ".join(row[c] for c in COLUMNS) + " |")
    return "\n".join(lines)


def streams_of(keys: set[tuple[str, str]]) -> dict[str, int]:
    """How many of ``keys`` each stream has (for assertion messages)."""
    counts = Counter(stream for stream, _ in keys)
    return {stream: counts.get(stream, 0) for stream in STREAMS}
