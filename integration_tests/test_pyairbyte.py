"""PyAirbyte runs the connector into its default DuckDB cache, and incremental syncs merge.

``make pyairbyte-test`` (part of ``make test``) runs this module in ``.venv-pyairbyte`` (PyAirbyte
from requirements-pyairbyte.lock: its pins clash with the connector's lock, see setup.py). The
connector is the one installed from requirements.lock in ``.venv``, given to PyAirbyte as a
local executable, as a user with PyAirbyte in a notebook would (README). PyAirbyte downloads its
connector registry unless ``AIRBYTE_OFFLINE_MODE=1``, and sends telemetry unless told not to:
both are off here, nothing leaves the machine.

Not in the main pytest run (marker ``pyairbyte``): the main venv has no PyAirbyte.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from demo.answers import ask
from demo.warehouse import load
from integration_tests.conftest import (
    DETAILED_MESSAGES,
    ROOT,
    STREAMS,
    ExpectedRead,
    expected_read,
    full_refresh_catalog,
    parse_messages,
)
from meta_graph_sandbox import Sandbox

pytestmark = pytest.mark.pyairbyte

# The connector as installed from its own lock (make install); make pyairbyte-test names it.
EXECUTABLE = Path(
    os.environ.get("CONNECTOR_EXECUTABLE") or ROOT / ".venv" / "bin" / "source-meta-conversations"
)
SEED = 13


@dataclass
class Synced:
    """What the default cache holds after a sync, read back with SQL."""

    ids: dict[str, list[str]]  # stream -> every id, duplicates kept
    conversations: dict[str, dict[str, Any]]  # id -> updated_time, message_count
    joined: int  # message_details rows whose conversation_id is a conversations row
    details_per_conversation: dict[str, int]
    records_read: int  # what PyAirbyte's read result counted, all streams
    answers: dict[str, list[tuple[Any, ...]]]  # the demo's questions, asked of the cache


@dataclass
class Story:
    """A first sync, new messages and a new conversation, then an incremental sync."""

    sandbox: Sandbox
    first: Synced
    second: Synced
    first_world: ExpectedRead  # the records a full read of the world before the change gives
    demo_answers: dict[str, list[tuple[Any, ...]]]  # the demo's, from a read of that world
    new_message_ids: set[str]
    changed_conversations: set[str]


@pytest.fixture(scope="module")
def pyairbyte(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """PyAirbyte, imported offline with its project (and default cache) in a temporary folder."""
    project = tmp_path_factory.mktemp("pyairbyte")
    settings = {
        "AIRBYTE_OFFLINE_MODE": "1",
        "DO_NOT_TRACK": "1",
        "AIRBYTE_PROJECT_DIR": str(project),
        "AIRBYTE_LOGGING_ROOT": str(project / "logs"),
    }
    before = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)  # read by PyAirbyte when it is imported
    import airbyte

    assert EXECUTABLE.exists(), f"{EXECUTABLE} is not installed (make install)"
    yield airbyte
    for name, value in before.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def sync(ab: Any, config: dict[str, Any]) -> Synced:
    """One ``source.read()`` into the default cache, then what the cache holds."""
    source = ab.get_source(
        "source-meta-conversations",
        local_executable=str(EXECUTABLE),
        config=config,
        streams="*",
    )
    result = source.read()  # the default DuckDB cache; incremental from the state it keeps
    cache = ab.get_default_cache()
    ids = {
        stream: [str(row[0]) for row in _rows(cache, f"SELECT id FROM {stream}")]  # noqa: S608
        for stream in STREAMS
    }
    conversations = {
        str(row[0]): {"updated_time": row[1], "message_count": row[2]}
        for row in _rows(cache, "SELECT id, updated_time, message_count FROM conversations")
    }
    [(joined,)] = _rows(
        cache,
        "SELECT count(*) FROM message_details AS d "
        "JOIN conversations AS c ON d.conversation_id = c.id",
    )
    per_conversation = {
        str(row[0]): int(row[1])
        for row in _rows(
            cache,
            "SELECT c.id, count(d.id) FROM conversations AS c "
            "LEFT JOIN message_details AS d ON d.conversation_id = c.id GROUP BY c.id",
        )
    }
    raw = cache.get_sql_engine().raw_connection()
    try:
        answers = {key: answer.rows for key, answer in ask(raw).items()}
    finally:
        raw.close()
    return Synced(
        ids, conversations, int(joined), per_conversation, result.processed_records, answers
    )


def _rows(cache: Any, sql: str) -> list[Any]:
    import sqlalchemy

    with cache.get_sql_engine().connect() as connection:
        return list(connection.execute(sqlalchemy.text(sql)).fetchall())


@pytest.fixture(scope="module")
def story(
    pyairbyte: Any,
    start_sandbox: Callable[..., Sandbox],
    tmp_path_factory: pytest.TempPathFactory,
) -> Story:
    """Sync, change the sandbox's world through its admin API, sync again."""
    sandbox = start_sandbox(seed=SEED)
    config = sandbox.connector_config(platform="both")
    first_world = expected_read(sandbox)
    first = sync(pyairbyte, config)
    demo_answers = answers_as_the_demo_loads(config, tmp_path_factory.mktemp("demo"))

    summary = sandbox.world.summary()
    new_ids: list[str] = []
    changed: set[str] = set()
    for platform, position, count in (
        ("messenger", 4, 2),
        ("messenger", 12, 30),
        ("instagram", 7, 3),
    ):
        conversation_id = summary[platform]["conversation_ids"][position]
        new_ids += _admin(
            sandbox, "messages", {"conversation_id": conversation_id, "count": count}
        )["ids"]
        changed.add(conversation_id)
    created = _admin(sandbox, "conversations", {"platform": "instagram", "messages": 2})["id"]
    changed.add(created)
    new_ids += [m["id"] for m in sandbox.world.messages(created)]

    second = sync(pyairbyte, config)
    return Story(sandbox, first, second, first_world, demo_answers, set(new_ids), changed)


def answers_as_the_demo_loads(config: dict[str, Any], workdir: Path) -> dict[str, list[Any]]:
    """The demo's answers from a read of the installed command, loaded as ``make demo`` loads it."""
    import duckdb

    (workdir / "config.json").write_text(json.dumps(config))
    (workdir / "catalog.json").write_text(json.dumps(full_refresh_catalog()))

    def run(*args: str) -> list[dict[str, Any]]:
        done = subprocess.run(
            [str(EXECUTABLE), *args, "--config", str(workdir / "config.json")],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        return parse_messages(done.stdout)

    [catalog] = [m["catalog"] for m in run("discover") if m["type"] == "CATALOG"]
    records = [
        m["record"]
        for m in run("read", "--catalog", str(workdir / "catalog.json"))
        if m["type"] == "RECORD"
    ]
    with duckdb.connect() as connection:
        load(connection, catalog["streams"], records)
        return {key: answer.rows for key, answer in ask(connection).items()}


def _admin(sandbox: Sandbox, route: str, body: dict[str, Any]) -> dict[str, Any]:
    """``POST /_sandbox/<route>``: how docs/sandbox.md changes the world between syncs."""
    import urllib.request

    request = urllib.request.Request(  # noqa: S310 (the sandbox on loopback)
        f"{sandbox.base_url}/_sandbox/{route}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
        return dict(json.loads(answer.read()))


def _graph_time(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z").astimezone(UTC).replace(tzinfo=None)


class TestFirstSync:
    def test_given_the_sandbox_when_synced_then_rows_per_stream_equal_its_data(
        self, story: Story
    ) -> None:
        world = story.first_world

        assert sorted(story.first.ids["conversations"]) == sorted(world.conversations)
        assert sorted(story.first.ids["messages"]) == sorted(world.messages)
        assert sorted(story.first.ids["message_details"]) == sorted(world.details)
        assert story.first.records_read == sum(world.counts().values())

    def test_given_the_synced_tables_when_details_join_conversations_then_every_detail_has_one(
        self, story: Story
    ) -> None:
        first = story.first

        assert first.joined == len(first.ids["message_details"])
        assert all(0 < n <= DETAILED_MESSAGES for n in first.details_per_conversation.values())

    def test_given_the_synced_tables_when_counted_then_no_key_is_duplicated(
        self, story: Story
    ) -> None:
        assert {n: len(ids) - len(set(ids)) for n, ids in story.first.ids.items()} == dict.fromkeys(
            STREAMS, 0
        )

    def test_given_the_pyairbyte_cache_when_the_demo_questions_are_asked_then_the_demos_answers(
        self, story: Story
    ) -> None:
        # The SQL the docs show runs on PyAirbyte's cache as on the demo's tables.
        assert story.first.answers == story.demo_answers
        assert story.first.answers["first_reply"]


class TestIncrementalSync:
    def test_given_new_messages_when_synced_again_then_messages_equal_the_new_world(
        self, story: Story
    ) -> None:
        world = expected_read(story.sandbox)

        assert sorted(story.second.ids["messages"]) == sorted(world.messages)
        assert story.new_message_ids <= set(story.second.ids["messages"])

    def test_given_updated_conversations_when_synced_again_then_each_row_replaced_once(
        self, story: Story
    ) -> None:
        world = {
            c["id"]: c
            for platform in ("messenger", "instagram")
            for c in story.sandbox.world.conversations(platform)
        }
        rows = story.second.conversations

        assert sorted(story.second.ids["conversations"]) == sorted(world)
        assert {i: rows[i]["updated_time"] for i in world} == {
            i: _graph_time(c["updated_time"]) for i, c in world.items()
        }
        assert {i: rows[i]["message_count"] for i in world if "message_count" in world[i]} == {
            i: c["message_count"] for i, c in world.items() if "message_count" in c
        }
        assert all(
            rows[i]["updated_time"] > story.first.conversations[i]["updated_time"]
            for i in story.changed_conversations
            if i in story.first.conversations
        )

    def test_given_new_messages_when_synced_again_then_details_of_the_newest_added_none_lost(
        self, story: Story
    ) -> None:
        # Messages pushed out of a conversation's 20 newest lose their details at Meta; the
        # rows the cache already had stay.
        world = expected_read(story.sandbox)

        assert set(story.second.ids["message_details"]) == story.first_world.details | world.details
        assert story.second.joined == len(story.second.ids["message_details"])

    def test_given_the_incremental_sync_when_counted_then_nothing_is_duplicated(
        self, story: Story
    ) -> None:
        assert {n: len(i) - len(set(i)) for n, i in story.second.ids.items()} == dict.fromkeys(
            STREAMS, 0
        )

    def test_given_the_incremental_sync_when_records_counted_then_only_the_changes_were_read(
        self, story: Story
    ) -> None:
        # The changed conversations, their new messages and those of them among their
        # conversation's 20 newest (details); the watermark's lookback may read a few again.
        world = expected_read(story.sandbox)
        changes = (
            len(story.changed_conversations)
            + len(story.new_message_ids)
            + len(story.new_message_ids & world.details)
        )

        assert changes <= story.second.records_read < story.first.records_read / 4
