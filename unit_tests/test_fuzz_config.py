"""Fuzzed configs: one clear config error naming the field, never a traceback; extra keys ignored.

Each example breaks one or two fields of a valid config (wrong types, missing required keys,
empty, huge and unicode strings, Page ids with letters, zero or negative rates, malformed dates
and versions, base URLs with other schemes, credentials, queries, fragments or bad ports), adds
keys a platform might add, and runs ``check`` through the connector's own entrypoint
(``run.py``), as a platform does. No request may leave: a config that must be refused is
refused before any call (the ``HttpMocker`` has no mock, so a call would fail the check with
another message). Examples are the same on every run (unit_tests/conftest.py).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from airbyte_cdk.test.mock_http import HttpMocker
from hypothesis import given
from hypothesis import strategies as st

from source_meta_conversations.entrypoint import MetaConversationsEntrypoint
from source_meta_conversations.run import run
from source_meta_conversations.source import MANIFEST_PATH, SourceMetaConversations
from unit_tests.mock_server.config import ConfigBuilder

LOGGER = logging.getLogger("airbyte")
# Read from the manifest at import (building a source needs the CDK adaptations installed,
# which the session fixture does later): the fields to break are the spec's own.
SPEC = yaml.safe_load(MANIFEST_PATH.read_text())["spec"]["connection_specification"]
FIELDS = tuple(SPEC["properties"])
REQUIRED = tuple(SPEC["required"])

JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
NOT_STRINGS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.lists(JSON_SCALARS, max_size=3),
    st.dictionaries(st.text(max_size=8), JSON_SCALARS, max_size=3),
)
# Huge strings are built, not drawn character by character (which would be slow).
HUGE = st.builds(lambda c, n: c * n, st.characters(), st.integers(5_000, 200_000))
TEXT = st.one_of(st.text(max_size=40), HUGE)
# What a careless edit leaves around a valid value: whitespace, a newline, a letter, a
# non-ASCII digit.
JUNK = st.sampled_from(["\n", " ", "\t", "x", "\u0663", "\u00a0", "/"])


def _digits_with_junk() -> st.SearchStrategy[str]:
    digits = st.from_regex(r"[0-9]{1,15}", fullmatch=True)
    return st.one_of(
        st.builds(lambda d, j: d + j, digits, JUNK), st.builds(lambda d, j: j + d, digits, JUNK)
    )


def _not_digits() -> st.SearchStrategy[Any]:
    text = TEXT.filter(lambda s: not re.fullmatch(r"[0-9]+", s))
    return st.one_of(text, _digits_with_junk(), NOT_STRINGS)


def _bad_dates() -> st.SearchStrategy[Any]:
    def stamp(y: int, mo: int, d: int, h: int, mi: int, s: int, off: str) -> str:
        return f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{off}"

    valid = st.builds(
        stamp,
        st.integers(1971, 2030),
        st.integers(1, 12),
        st.integers(1, 28),
        st.integers(0, 23),
        st.integers(0, 59),
        st.integers(0, 59),
        st.just("Z"),
    )
    impossible = st.one_of(
        st.builds(
            stamp,
            st.just(2025),
            st.integers(13, 99),
            st.just(1),
            st.just(0),
            st.just(0),
            st.just(0),
            st.just("Z"),
        ),
        st.builds(
            stamp,
            st.just(2025),
            st.just(2),
            st.integers(30, 99),
            st.just(0),
            st.just(0),
            st.just(0),
            st.just("Z"),
        ),
        st.builds(
            stamp,
            st.just(2025),
            st.just(1),
            st.just(1),
            st.integers(24, 99),
            st.just(0),
            st.just(0),
            st.just("Z"),
        ),
        st.builds(
            stamp,
            st.just(2025),
            st.just(1),
            st.just(1),
            st.just(0),
            st.integers(60, 99),
            st.integers(61, 99),
            st.just("Z"),
        ),
        st.builds(
            stamp,
            st.just(2025),
            st.just(0),
            st.just(0),
            st.just(0),
            st.just(0),
            st.just(0),
            st.just("Z"),
        ),
        st.builds(
            stamp,
            st.just(2025),
            st.just(1),
            st.just(1),
            st.just(0),
            st.just(0),
            st.just(0),
            st.sampled_from(["+24:00", "-99:99", "+05:60"]),
        ),
    )
    malformed = st.one_of(
        st.sampled_from(
            [
                "2025-01-01",
                "2025-01-01 00:00:00",
                "01/02/2025",
                "yesterday",
                "",
                "2025-01-01T00:00Z",
            ]
        ),
        TEXT.filter(
            lambda s: not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)", s)
        ),
        st.builds(lambda v, j: v + j, valid, JUNK),
    )
    return st.one_of(impossible, malformed, NOT_STRINGS)


def _bad_versions() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(["26.0", "v26", "V26.0", "v26.0.1", "latest", "", "v26,0"]),
        st.builds(lambda j: "v26.0" + j, JUNK),
        TEXT.filter(lambda s: not re.fullmatch(r"v[0-9]+\.[0-9]+", s)),
        NOT_STRINGS,
    )


def _bad_base_urls() -> st.SearchStrategy[Any]:
    host = "graph.facebook.com"
    return st.one_of(
        st.sampled_from(
            [
                f"ftp://{host}",
                f"ws://{host}",
                "file:///etc/passwd",
                "javascript:alert(1)",
                f"http://{host}",  # plain http off loopback
                "http://10.0.0.5:8080",
                "http://127.0.0.1.example.com",
                f"https://user:secret@{host}",  # credentials
                f"https://EAAtoken@{host}",
                "http://user:pw@127.0.0.1:8765",
                f"https://{host}?access_token=x",  # queries
                f"https://{host}/?x=1",
                f"https://{host}#fragment",
                f"https://{host}/v26.0",  # a path
                f"https://{host}:99999",  # ports that are not ports
                f"https://{host}:0",
                f"https://{host}:https",
                "https://:443",
                "https://",
                "",
                f" https://{host}",
            ]
        ),
        # Whitespace after the host (a letter or a slash would make another valid URL).
        st.builds(lambda j: f"https://{host}" + j, st.sampled_from(["\n", " ", "\t", "\u00a0"])),
        NOT_STRINGS,
    )


def _bad_rates(maximum: int) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.integers(max_value=0),
        st.integers(min_value=maximum + 1),
        st.floats(allow_nan=False).filter(lambda f: not f.is_integer()),
        st.text(max_size=10),
        st.booleans(),
        st.none(),
        st.lists(st.integers(), max_size=2),
    )


BAD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "page_id": _not_digits(),
    "access_token": st.one_of(st.text(max_size=19), NOT_STRINGS),
    "platform": st.one_of(
        TEXT.filter(lambda s: s not in ("messenger", "instagram", "both")),
        st.sampled_from(["Messenger", "INSTAGRAM", "whatsapp", "messenger\n", "both "]),
        NOT_STRINGS,
    ),
    "start_date": _bad_dates(),
    "user_id": _not_digits(),
    "only_owned_conversations": st.one_of(
        st.text(max_size=10), st.integers(), st.none(), st.lists(st.booleans(), max_size=2)
    ),
    "api_version": _bad_versions(),
    "app_secret": NOT_STRINGS,
    "max_requests_per_second": _bad_rates(1000),
    "max_wait_minutes": _bad_rates(1440),
    "base_url": _bad_base_urls(),
}
assert set(BAD_VALUES) == set(FIELDS), "a field of the spec has no bad values to fuzz"

EXTRA_KEYS = st.dictionaries(
    st.text(min_size=1, max_size=20).filter(lambda key: key not in FIELDS), JSON_VALUES, max_size=4
)


@st.composite
def broken_configs(draw: st.DrawFn) -> tuple[dict[str, Any], set[str]]:
    """A valid config with one or two fields broken (or a required one missing), plus extras."""
    config: dict[str, Any] = {
        **ConfigBuilder().with_app_secret().build(),
        "start_date": "2025-01-01T00:00:00Z",
        "api_version": "v26.0",
        "base_url": "https://graph.facebook.com",
        "max_wait_minutes": 30,
    }
    broken = set(draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=2, unique=True)))
    for field in sorted(broken):
        if field in REQUIRED and draw(st.booleans()):
            del config[field]
        else:
            config[field] = draw(BAD_VALUES[field])
    config.update(draw(EXTRA_KEYS))
    return config, broken


def _messages(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@given(example=broken_configs())
def test_given_a_broken_config_when_checked_then_one_failed_status_naming_a_broken_field(
    example: tuple[dict[str, Any], set[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, broken = example
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    capsys.readouterr()

    # No mock: a config that must be refused makes no call. A trace ends run() with exit 1.
    with HttpMocker(), contextlib.suppress(SystemExit):
        run(["check", "--config", str(path)])

    captured = capsys.readouterr()
    messages = _messages(captured.out)
    statuses = [m["connectionStatus"] for m in messages if m["type"] == "CONNECTION_STATUS"]
    traces = [m["trace"]["error"] for m in messages if m["type"] == "TRACE"]
    outcomes = [s["message"] for s in statuses if s["status"] == "FAILED"] + [
        t["message"] for t in traces if t.get("failure_type") == "config_error"
    ]
    assert len(statuses) + len(traces) == 1, messages
    assert len(outcomes) == 1, messages
    assert any(f"({field})" in outcomes[0] for field in broken), (outcomes[0][:300], broken)
    assert "Traceback" not in captured.out
    assert "Traceback" not in captured.err


@given(extra=EXTRA_KEYS)
def test_given_a_valid_config_with_keys_a_platform_added_when_validated_then_accepted(
    extra: dict[str, Any],
) -> None:
    config = {**ConfigBuilder().with_app_secret().build(), **extra}
    spec = SourceMetaConversations().spec(LOGGER)

    MetaConversationsEntrypoint.validate_connection(spec, config)
    source = SourceMetaConversations(config=config)

    assert [stream.name for stream in source.streams(config)] == [
        "conversations",
        "messages",
        "message_details",
    ]
