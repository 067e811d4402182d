"""Sandbox-backed integration tests: fixtures, and helpers that run the installed connector.

Every test here runs the installed ``source-meta-conversations`` command in a subprocess,
exactly as an Airbyte platform runs a source container (``spec``, ``check --config``,
``discover --config``, ``read --config --catalog [--state]``), against the Graph API sandbox
serving on loopback. Nothing is mocked: the assertions are on the Airbyte messages the command
prints and on the sandbox's exact call counters.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from meta_graph_sandbox import Sandbox, SandboxOptions

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# The console script installed next to the interpreter running the tests (``.venv/bin``).
CONNECTOR_COMMAND = Path(sys.executable).with_name("source-meta-conversations")
STREAMS = ("conversations", "messages", "message_details")
PLATFORMS = ("messenger", "instagram")
CURSOR_FIELDS = {
    "conversations": "updated_time",
    "messages": "created_time",
    "message_details": "created_time",
}
# The seed of the sandbox the acceptance suite and ``abnormal_state.json`` are written for: the
# Page id (part of every state) is derived from it.
ACCEPTANCE_SEED = 7
# Small worlds keep the suite fast; 30 conversations per platform still make two conversations
# pages per platform and include conversations over 20 and over 100 messages.
SEED = 3
CONVERSATIONS = 30
# Graph's defaults that the connector asks for (manifest: conversations_page_size,
# nested_messages_limit, messages_page_size).
CONVERSATIONS_PAGE = 25
DETAILED_MESSAGES = 20
MESSAGES_PAGE = 100
RUN_TIMEOUT_SECONDS = 300


# ---------------------------------------------------------------------------------- messages
@dataclass
class ConnectorRun:
    """The outcome of one connector command: exit code, raw output and parsed messages."""

    args: list[str]
    returncode: int | None
    stdout: str
    stderr: str
    messages: list[dict[str, Any]]
    killed: bool = False

    def of_type(self, message_type: str) -> list[dict[str, Any]]:
        """Every message of one Airbyte type (``RECORD``, ``STATE``, ``TRACE``...)."""
        return [m for m in self.messages if m.get("type") == message_type]

    @property
    def records(self) -> list[dict[str, Any]]:
        """The ``record`` objects (stream, data, emitted_at) in output order."""
        return [m["record"] for m in self.of_type("RECORD")]

    def records_of(self, stream: str) -> list[dict[str, Any]]:
        """The data of one stream's records."""
        return [r["data"] for r in self.records if r["stream"] == stream]

    def ids_of(self, stream: str) -> list[str]:
        """The primary keys (``id``) of one stream's records, duplicates kept."""
        return [str(data["id"]) for data in self.records_of(stream)]

    def record_keys(self) -> set[tuple[str, str]]:
        """``(stream, id)`` of every record: what a destination deduplicates on."""
        return {(r["stream"], str(r["data"]["id"])) for r in self.records}

    def counts(self) -> dict[str, int]:
        """Records per stream, every configured stream included."""
        out = dict.fromkeys(STREAMS, 0)
        for record in self.records:
            out[record["stream"]] = out.get(record["stream"], 0) + 1
        return out

    @property
    def states(self) -> list[dict[str, Any]]:
        """The ``state`` objects of the STATE messages, in output order."""
        return [m["state"] for m in self.of_type("STATE")]

    def latest_state(self) -> list[dict[str, Any]]:
        """The state a platform would pass to the next run: the last STATE of each stream."""
        latest: dict[str, dict[str, Any]] = {}
        for state in self.states:
            name = state["stream"]["stream_descriptor"]["name"]
            latest[name] = {"type": state["type"], "stream": state["stream"]}
        return list(latest.values())

    @property
    def trace_errors(self) -> list[dict[str, Any]]:
        """The ``error`` objects of TRACE messages of type ERROR."""
        return [
            m["trace"]["error"] for m in self.of_type("TRACE") if m["trace"].get("type") == "ERROR"
        ]

    @property
    def connection_status(self) -> dict[str, Any]:
        """The one CONNECTION_STATUS of a ``check``."""
        statuses = self.of_type("CONNECTION_STATUS")
        assert len(statuses) == 1, f"expected one CONNECTION_STATUS, got {self.describe()}"
        return dict(statuses[0]["connectionStatus"])

    @property
    def catalog(self) -> dict[str, Any]:
        """The one CATALOG of a ``discover``."""
        catalogs = self.of_type("CATALOG")
        assert len(catalogs) == 1, f"expected one CATALOG, got {self.describe()}"
        return dict(catalogs[0]["catalog"])

    @property
    def spec(self) -> dict[str, Any]:
        """The one SPEC of a ``spec``."""
        specs = self.of_type("SPEC")
        assert len(specs) == 1, f"expected one SPEC, got {self.describe()}"
        return dict(specs[0]["spec"])

    def assert_succeeded(self) -> None:
        """Exit code 0 and no error trace."""
        assert self.returncode == 0, self.describe()
        assert not self.trace_errors, self.describe()

    def describe(self) -> str:
        """A short account of the run for assertion messages (never the raw records)."""
        kinds: dict[str, int] = {}
        for message in self.messages:
            kinds[str(message.get("type"))] = kinds.get(str(message.get("type")), 0) + 1
        errors = [e.get("message") for e in self.trace_errors]
        return (
            f"{' '.join(self.args[:1])}: exit {self.returncode}, messages {kinds}, "
            f"records {self.counts()}, errors {errors}, stderr tail {self.stderr[-1500:]!r}"
        )


def parse_messages(stdout: str) -> list[dict[str, Any]]:
    """Parse the command's stdout; every line must be one Airbyte message (JSON object).

    Lines end at "\n" only: a record's text may hold U+0085 or U+2028, which JSON leaves
    unescaped and ``str.splitlines()`` would take for line ends.
    """
    messages = []
    for line in stdout.split("\n"):
        if not line.strip():
            continue
        try:
            message = json.loads(line)
        except ValueError:
            raise AssertionError(f"stdout line is not an Airbyte message: {line[:300]!r}") from None
        assert isinstance(message, dict), line[:300]
        assert "type" in message, line[:300]
        messages.append(message)
    return messages


# ---------------------------------------------------------------------------------- catalogs
def load_json(name: str) -> Any:
    """A JSON file of ``integration_tests/``."""
    return json.loads((HERE / name).read_text())


def full_refresh_catalog(*streams: str) -> dict[str, Any]:
    """``configured_catalog.json``, restricted to ``streams`` when given."""
    return _only(load_json("configured_catalog.json"), streams)


def incremental_catalog(*streams: str) -> dict[str, Any]:
    """``configured_catalog_incremental.json``, restricted to ``streams`` when given."""
    return _only(load_json("configured_catalog_incremental.json"), streams)


def _only(catalog: dict[str, Any], streams: Sequence[str]) -> dict[str, Any]:
    if streams:
        catalog["streams"] = [s for s in catalog["streams"] if s["stream"]["name"] in streams]
    return catalog


# ---------------------------------------------------------------------------------- states
def stream_state(
    name: str, value: Mapping[str, Any] | None, *, state_type: str = "STREAM"
) -> dict[str, Any]:
    """One per-stream state message as the platform passes it back (``--state``)."""
    return {
        "type": state_type,
        "stream": {"stream_descriptor": {"name": name}, "stream_state": value},
    }


def conversations_state(page_id: str, cursors: Mapping[str, str]) -> dict[str, Any]:
    """The ``conversations`` state value: one ``updated_time`` per (platform, Page) partition."""
    return {
        "use_global_cursor": False,
        "states": [
            {
                "partition": {"page_id": page_id, "platform": platform},
                "cursor": {"updated_time": updated_time},
            }
            for platform, updated_time in cursors.items()
        ],
    }


def child_state(parent: Mapping[str, Any], created_time: str | None) -> dict[str, Any]:
    """A ``messages``/``message_details`` state: one watermark plus the parent's state."""
    value: dict[str, Any] = {"use_global_cursor": True, "parent_state": {"conversations": parent}}
    if created_time is not None:
        value["state"] = {"created_time": created_time}
    return value


def full_state(page_id: str, cursors: Mapping[str, str], created_time: str) -> list[dict[str, Any]]:
    """A state for all three streams, every partition and watermark at the given times."""
    parent = conversations_state(page_id, cursors)
    return [
        stream_state("conversations", parent),
        stream_state("messages", child_state(parent, created_time)),
        stream_state("message_details", child_state(parent, created_time)),
    ]


# ---------------------------------------------------------------------------------- runner
class Connector:
    """Runs the installed command with files in ``workdir``; checks every run for secrets."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._count = 0
        assert CONNECTOR_COMMAND.exists(), f"{CONNECTOR_COMMAND} is not installed (make install)"

    def _file(self, kind: str, content: Any) -> Path:
        self._count += 1
        path = self.workdir / f"{self._count:03d}-{kind}.json"
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        return path

    def _args(
        self,
        command: str,
        config: Mapping[str, Any] | None,
        catalog: Mapping[str, Any] | None,
        state: Any,
    ) -> list[str]:
        args = [command]
        if config is not None:
            args += ["--config", str(self._file("config", dict(config)))]
        if catalog is not None:
            args += ["--catalog", str(self._file("catalog", dict(catalog)))]
        if state is not None:
            args += ["--state", str(self._file("state", state))]
        return args

    @staticmethod
    def _env() -> dict[str, str]:
        env = dict(os.environ)
        # Each run keeps its HTTP cache in memory, as in a container: a cache file shared
        # between runs would answer a second run's calls and hide them from the counters.
        env.pop("REQUEST_CACHE_PATH", None)
        env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
        return env

    def run(
        self,
        command: str,
        config: Mapping[str, Any] | None = None,
        catalog: Mapping[str, Any] | None = None,
        state: Any = None,
    ) -> ConnectorRun:
        """Run one command to its end."""
        args = self._args(command, config, catalog, state)
        done = subprocess.run(
            [str(CONNECTOR_COMMAND), *args],
            capture_output=True,
            text=True,
            cwd=self.workdir,
            env=self._env(),
            timeout=RUN_TIMEOUT_SECONDS,
            check=False,
        )
        run = ConnectorRun(args, done.returncode, done.stdout, done.stderr, [])
        assert_no_secrets(run, config)
        run.messages = parse_messages(done.stdout)
        return run

    def spec(self) -> ConnectorRun:
        """``spec``."""
        return self.run("spec")

    def check(self, config: Mapping[str, Any]) -> ConnectorRun:
        """``check --config``."""
        return self.run("check", config)

    def discover(self, config: Mapping[str, Any]) -> ConnectorRun:
        """``discover --config``."""
        return self.run("discover", config)

    def read(
        self, config: Mapping[str, Any], catalog: Mapping[str, Any], state: Any = None
    ) -> ConnectorRun:
        """``read --config --catalog [--state]``."""
        return self.run("read", config, catalog, state)

    def read_killed_after_state(
        self,
        config: Mapping[str, Any],
        catalog: Mapping[str, Any],
        k: int,
        state: Any = None,
    ) -> ConnectorRun:
        """Start a read and SIGKILL it once its ``k``-th STATE message has been printed.

        The run keeps only the messages up to and including that STATE: what a platform has
        committed when the source dies (records after the last state are not checkpointed).
        ``killed`` is False when the read ended before printing ``k`` states.
        """
        args = self._args("read", config, catalog, state)
        stderr_path = self.workdir / f"{self._count:03d}-stderr.txt"
        lines: list[str] = []
        killed = False
        with (
            stderr_path.open("w") as stderr,
            subprocess.Popen(
                [str(CONNECTOR_COMMAND), *args],
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                cwd=self.workdir,
                env=self._env(),
            ) as process,
        ):
            assert process.stdout is not None
            seen = 0
            for line in process.stdout:
                lines.append(line)
                if line.strip() and json.loads(line).get("type") == "STATE":
                    seen += 1
                    if seen == k:
                        process.send_signal(signal.SIGKILL)
                        killed = True
                        break
            process.stdout.close()
            returncode = process.wait(timeout=RUN_TIMEOUT_SECONDS)
        stdout = "".join(lines)
        run = ConnectorRun(args, returncode, stdout, stderr_path.read_text(), [], killed)
        assert_no_secrets(run, config)
        run.messages = parse_messages(stdout)
        return run


def assert_no_secrets(run: ConnectorRun, config: Mapping[str, Any] | None) -> None:
    """The access token and app secret appear nowhere in stdout or stderr."""
    if not config:
        return
    for name in ("access_token", "app_secret"):
        secret = config.get(name)
        if isinstance(secret, str) and len(secret) >= 8:
            where = [
                s for s, text in (("stdout", run.stdout), ("stderr", run.stderr)) if secret in text
            ]
            assert not where, f"{name} printed to {where} by `{' '.join(run.args[:1])}`"


# ---------------------------------------------------------------------------------- the world
@dataclass
class ExpectedRead:
    """What a full read of a sandbox must emit, and the Graph calls it must make."""

    conversations: dict[str, str] = field(default_factory=dict)  # id -> platform
    messages: dict[str, str] = field(default_factory=dict)  # message id -> conversation id
    details: set[str] = field(default_factory=set)  # message ids with details
    conversations_calls: dict[str, int] = field(default_factory=dict)  # per platform
    edge_calls: dict[str, int] = field(default_factory=dict)  # per platform

    def counts(self) -> dict[str, int]:
        """Records per stream."""
        return {
            "conversations": len(self.conversations),
            "messages": len(self.messages),
            "message_details": len(self.details),
        }

    def keys(self) -> set[tuple[str, str]]:
        """``(stream, id)`` of every record."""
        return (
            {("conversations", c) for c in self.conversations}
            | {("messages", m) for m in self.messages}
            | {("message_details", m) for m in self.details}
        )


def expected_read(
    sandbox: Sandbox,
    platforms: Sequence[str] = PLATFORMS,
    keep: Callable[[Mapping[str, Any]], bool] = lambda conversation: True,
) -> ExpectedRead:
    """The records and calls of a full read, from the sandbox's world (not from the API).

    Calls: one conversations page per 25 conversations, and for a conversation with more than
    the 20 messages nested in that page, ``ceil((n - 20) / 100)`` calls to its messages edge.
    """
    expected = ExpectedRead()
    world = sandbox.world
    for platform in platforms:
        conversations = [c for c in world.conversations(platform) if keep(c)]
        listed = len(world.conversations(platform))
        expected.conversations_calls[platform] = max(1, math.ceil(listed / CONVERSATIONS_PAGE))
        expected.edge_calls[platform] = 0
        for conversation in conversations:
            expected.conversations[conversation["id"]] = platform
            messages = world.messages(conversation["id"])  # newest first
            for message in messages:
                expected.messages[message["id"]] = conversation["id"]
            expected.details.update(m["id"] for m in messages[:DETAILED_MESSAGES])
            extra = len(messages) - DETAILED_MESSAGES
            if extra > 0:
                expected.edge_calls[platform] += math.ceil(extra / MESSAGES_PAGE)
    return expected


# ---------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def start_sandbox() -> Iterator[Callable[..., Sandbox]]:
    """Start sandboxes on demand (``start_sandbox(seed=..., ...)``); all stop at session end."""
    with ExitStack() as stack:

        def start(**options: Any) -> Sandbox:
            settings = {"seed": SEED, "conversations": CONVERSATIONS, **options}
            return stack.enter_context(Sandbox(SandboxOptions(**settings)))

        yield start


@pytest.fixture(scope="session")
def sandbox(start_sandbox: Callable[..., Sandbox]) -> Sandbox:
    """A shared sandbox (both platforms, 30 conversations each). Tests must not change its world."""
    return start_sandbox()


@pytest.fixture(scope="session")
def connector_session(tmp_path_factory: pytest.TempPathFactory) -> Connector:
    """A runner for session- and module-scoped fixtures."""
    return Connector(tmp_path_factory.mktemp("connector"))


@pytest.fixture(scope="session")
def discovered(connector_session: Connector, sandbox: Sandbox) -> dict[str, Any]:
    """The catalog ``discover`` prints for the shared sandbox's config."""
    run = connector_session.discover(sandbox.connector_config())
    run.assert_succeeded()
    return run.catalog


@pytest.fixture
def connector(tmp_path: Path) -> Connector:
    """A runner whose config, catalog and state files live in the test's tmp_path."""
    return Connector(tmp_path)


def run_concurrently(jobs: Mapping[str, Callable[[], Any]], workers: int = 4) -> dict[str, Any]:
    """Run independent connector commands at the same time; results by job name.

    Each command is a subprocess that spends most of its life starting Python and the CDK, so
    a table of ``check`` runs finishes in a fraction of the time one after the other takes.
    """
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        return {name: future.result() for name, future in futures.items()}


@pytest.fixture(scope="session")
def fault_outcomes(tmp_path_factory: pytest.TempPathFactory) -> Mapping[str, Any]:
    """Every fault profile of ``fault_suite.PROFILES`` run once (faulted, and resumed where it
    failed), shared by the fault suite and the secret scan; by profile name."""
    from integration_tests.fault_suite import FaultSuite

    with FaultSuite(tmp_path_factory.mktemp("faults")) as suite:
        return suite.run_all()
