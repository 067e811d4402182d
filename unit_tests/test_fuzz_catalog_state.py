"""Fuzzed catalogs and states: a clear error, or the read goes on; never a traceback.

Each example runs ``read`` through the connector's own entrypoint (``run.py``), as a platform
does, against a small Graph API sandbox (any call the read makes gets a real Graph answer).
Catalogs: unknown streams, unsupported sync modes, odd cursor fields and primary keys, and
files that are no catalog at all. States: anything at all, states of unknown streams, legacy
and global ones, and the connector's own shapes with a part changed (another Page, an unknown
platform, dates that are no dates or at the ends of time, cursors Graph never gave).

What a clear outcome is: the read completes, or every error trace it prints carries a failure
type and a message of the connector's (or the CDK's plain "stream not found"): not the CDK's
"An unexpected error occurred" wrapper around a Python exception, not a Python traceback.
Refusing a catalog or a state the connector cannot use is a config_error.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from meta_graph_sandbox import Sandbox, SandboxOptions
from source_meta_conversations.run import run
from unit_tests.conftest import one_page_budget

STREAMS = ("conversations", "messages", "message_details")
JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=12)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)
NAMES = st.one_of(st.sampled_from(STREAMS), st.text(min_size=1, max_size=16))
RAW_EXCEPTION = re.compile(r"\b\w+(Exception|Error)\(")


@pytest.fixture(autouse=True)
def page_budget() -> None:
    """Replaces conftest's budget, which counts pages per test: here it is per example."""


WORLD = SandboxOptions(seed=11, conversations=4, messages="fixed:3")
PAGE_ID = Sandbox(WORLD).page_id  # the same for every sandbox of this seed; none started here


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    """A small world: any call a fuzzed read makes gets a Graph answer."""
    with Sandbox(WORLD) as sandbox:
        yield sandbox


def _config(sandbox: Sandbox) -> dict[str, Any]:
    return sandbox.connector_config(max_requests_per_second=1000)


# ---------------------------------------------------------------------------------- catalogs
def _configured_stream(
    name: str, sync_mode: Any, destination: Any, cursor: Any, key: Any
) -> dict[str, Any]:
    return {
        "stream": {
            "name": name,
            "json_schema": {},
            "supported_sync_modes": ["full_refresh", "incremental"],
        },
        "sync_mode": sync_mode,
        "destination_sync_mode": destination,
        "cursor_field": cursor,
        "primary_key": key,
    }


CATALOGS = st.one_of(
    st.builds(
        lambda streams: {"streams": streams},
        st.lists(
            st.builds(
                _configured_stream,
                NAMES,
                st.one_of(st.sampled_from(["full_refresh", "incremental"]), st.text(max_size=8)),
                st.one_of(
                    st.sampled_from(["append", "overwrite", "append_dedup"]), st.text(max_size=8)
                ),
                st.one_of(st.lists(st.text(max_size=12), max_size=2), JSON_SCALARS),
                st.one_of(
                    st.lists(st.lists(st.text(max_size=8), max_size=2), max_size=2), JSON_SCALARS
                ),
            ),
            max_size=4,
        ),
    ),
    JSON_VALUES,
)


# ---------------------------------------------------------------------------------- states
DATES = st.one_of(
    st.sampled_from(
        [
            "2026-03-01T00:01:40+0000",
            "0001-01-01T00:00:00+0000",
            "9999-12-31T23:59:59+0000",
            "2026-03-01T00:01:40+1400",
            "2026-03-01T00:01:40-1200",
            "2026-03-01T00:01:40+00:00",
            "2026-03-01",
            "",
        ]
    ),
    JSON_SCALARS,
)
CURSORS = st.one_of(st.text(max_size=40), JSON_SCALARS)


def _conversations_state(page_id: str, platform: Any, updated: Any, listing: Any) -> dict[str, Any]:
    cursor: dict[str, Any] = {"updated_time": updated}
    if listing is not None:
        cursor["listing"] = listing
    return {
        "use_global_cursor": False,
        "states": [{"partition": {"page_id": page_id, "platform": platform}, "cursor": cursor}],
    }


def _stream_state(name: str, value: Any, state_type: str = "STREAM") -> dict[str, Any]:
    return {
        "type": state_type,
        "stream": {"stream_descriptor": {"name": name}, "stream_state": value},
    }


@st.composite
def states(draw: st.DrawFn, page_id: str) -> Any:
    """A state file's content: the connector's shapes with a part changed, or anything."""
    owned = draw(st.sampled_from([page_id, page_id, "100000000000001", 12, None]))
    platform = draw(st.one_of(st.sampled_from(["messenger", "instagram"]), JSON_SCALARS))
    listing = draw(
        st.one_of(
            st.none(),
            st.builds(lambda a, u: {"after": a, "updated_time": u}, CURSORS, DATES),
            JSON_VALUES,
        )
    )
    parent: Any = _conversations_state(str(owned), platform, draw(DATES), listing)
    if draw(st.booleans()):
        parent = draw(JSON_VALUES)  # the conversations state itself replaced
    child = {
        "use_global_cursor": draw(st.one_of(st.booleans(), JSON_SCALARS)),
        "state": draw(st.one_of(st.builds(lambda d: {"created_time": d}, DATES), JSON_VALUES)),
        "lookback_window": draw(st.one_of(st.integers(), JSON_SCALARS)),
        "parent_state": draw(st.one_of(st.just({"conversations": parent}), JSON_VALUES)),
    }
    shaped = [
        _stream_state("conversations", parent),
        _stream_state(draw(st.sampled_from(["messages", "message_details"])), child),
    ]
    return draw(
        st.one_of(
            st.just(shaped),
            st.just(shaped[:1]),
            st.lists(st.builds(_stream_state, NAMES, JSON_VALUES), max_size=3),
            st.just({"conversations": parent}),  # legacy: one object for every stream
            st.just([{"type": "GLOBAL", "global": {"shared_state": parent, "stream_states": []}}]),
            st.just([{"type": "LEGACY", "data": {"conversations": parent}}]),
            JSON_VALUES,
        )
    )


# ---------------------------------------------------------------------------------- the read
def _read(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    config: dict[str, Any],
    catalog: Any,
    state: Any = None,
) -> list[dict[str, Any]]:
    """``read`` through run.py; its Airbyte messages (a non-JSON line fails the test)."""
    args = ["read"]
    for name, content in (("config", config), ("catalog", catalog), ("state", state)):
        if content is None and name == "state":
            continue
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(content))
        args += [f"--{name}", str(path)]
    capsys.readouterr()
    # A trace ends run() with exit 1.
    with one_page_budget(), contextlib.suppress(SystemExit):
        run(args)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    # One message a line, split on "\n" only: a JSON string may hold U+0085 or U+2028, which
    # str.splitlines() would take for line ends.
    return [json.loads(line) for line in captured.out.split("\n") if line.strip()]


def _assert_clear(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every error trace is one of the connector's (or the CDK's named ones); returns them."""
    errors = [
        m["trace"]["error"]
        for m in messages
        if m["type"] == "TRACE" and m["trace"].get("type") == "ERROR"
    ]
    for error in errors:
        assert error.get("failure_type"), error
        if error["message"].startswith("During the sync, the following streams"):
            continue  # the CDK's summary of the errors above (issue 13 tracks its wording)
        assert not error["message"].startswith("An unexpected error occurred"), error["message"]
        assert not RAW_EXCEPTION.search(error["message"]), error["message"]
    return errors


def _incremental_catalog() -> dict[str, Any]:
    return {
        "streams": [
            _configured_stream(name, "incremental", "append_dedup", [], [["id"]])
            for name in STREAMS
        ]
    }


@given(catalog=CATALOGS)
@example(catalog=None)
@example(catalog={"streams": [_configured_stream("messages", "\x85", "", None, None)]})
@example(catalog={"streams": [_configured_stream("threads", "incremental", "append", [], [])]})
def test_given_a_fuzzed_catalog_when_read_then_a_clear_error_or_only_the_known_streams(
    catalog: Any, sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    messages = _read(tmp_path, capsys, _config(sandbox), catalog)

    errors = _assert_clear(messages)
    if errors:
        assert {e["failure_type"] for e in errors} == {"config_error"}, errors
    records = {m["record"]["stream"] for m in messages if m["type"] == "RECORD"}
    assert records <= set(STREAMS)


@given(state=states(PAGE_ID))
@example(state=[{"type": "GLOBAL", "global": {"shared_state": {}, "stream_states": []}}])
@example(state=[{"type": "LEGACY", "data": {"conversations": {}}}])
@example(state={"conversations": {"updated_time": "2026-03-01T00:01:40+0000"}})
@example(state=[_stream_state("conversations", {})])
@example(state=[_stream_state("messages", {"parent_state": {"conversations": None}})])
@example(
    state=[
        _stream_state(
            "conversations",
            _conversations_state(PAGE_ID, "messenger", "9999-12-31T23:59:59+0000", None),
        )
    ]
)
@example(
    state=[
        _stream_state(
            "conversations",
            _conversations_state(
                PAGE_ID, "messenger", "0001-01-01T00:00:00+0000", {"after": "not-a-graph-cursor"}
            ),
        )
    ]
)
def test_given_a_fuzzed_state_when_read_then_a_clear_error_or_the_read_goes_on(
    state: Any, sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    messages = _read(tmp_path, capsys, _config(sandbox), _incremental_catalog(), state)

    _assert_clear(messages)
