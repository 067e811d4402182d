"""Checks and prepares an incoming Airbyte state before the CDK reads it.

The CDK trusts the state it is given: a state written for another Page silently skips this
Page's history, an unparsable date ends in a traceback, and a platform added to the config
starts from the other platform's watermark (the CDK's per-partition cursor starts new
partitions at the stream's global cursor). This module refuses the first two with a message
that says how to reset, and makes the third safe.

The state this connector writes (see docs/meta-conversations.md#incremental-sync-and-state):

- ``conversations``: one entry per (platform, Page), ``{"partition": {"platform": "messenger",
  "page_id": "1"}, "cursor": {"updated_time": "2026-03-01T00:01:40+0000"}}``; while a listing is
  unfinished the cursor also holds ``"listing": {"after": "<Graph cursor>", "updated_time":
  "<newest delivered>"}`` (cdk_adaptations/checkpoint_cursors.py).
- ``messages`` and ``message_details``: one ``created_time`` watermark for the stream plus, under
  ``parent_state.conversations``, the same per-platform shape as ``conversations``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from airbyte_cdk.models import AirbyteStateBlob, AirbyteStateMessage, AirbyteStateType, FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

CONVERSATIONS = "conversations"
# A conversations cursor's unfinished listing (cdk_adaptations/checkpoint_cursors.py writes it).
LISTING = "listing"
CHILD_STREAMS = ("messages", "message_details")
PLATFORMS = ("messenger", "instagram")
_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"


def chosen_platforms(config: Mapping[str, Any]) -> tuple[str, ...]:
    """The platforms a config syncs."""
    platform = config.get("platform")
    return PLATFORMS if platform == "both" else (str(platform),)


def _reset_hint(stream: str) -> str:
    return (
        f'Clear the "{stream}" stream\'s data (Airbyte: Connection > Settings > Clear data, or '
        "run read without --state) and sync again."
    )


def _refuse(stream: str, problem: str) -> AirbyteTracedException:
    message = (
        f'The saved state of stream "{stream}" cannot be used: {problem}. {_reset_hint(stream)}'
    )
    return AirbyteTracedException(
        message=message, internal_message=message, failure_type=FailureType.config_error
    )


def _check_date(stream: str, value: Any, field: str) -> None:
    if not isinstance(value, str):
        raise _refuse(stream, f"its {field} is {value!r}, not a date")
    try:
        datetime.strptime(value, _DATE_FORMAT)
    except ValueError:
        raise _refuse(
            stream, f"its {field} {value!r} is not a date like 2026-03-01T00:01:40+0000"
        ) from None


def _check_listing(stream: str, listing: Any) -> None:
    """An unfinished listing: the Graph cursor to resume after and the newest time delivered."""
    if listing is None:
        return
    if not isinstance(listing, dict):
        raise _refuse(stream, f"its {LISTING} is {listing!r}, not a JSON object")
    after = listing.get("after")
    if after is not None and (not isinstance(after, str) or not after):
        raise _refuse(stream, f"its {LISTING}.after is {after!r}, not a paging cursor")
    if "updated_time" in listing:
        _check_date(stream, listing["updated_time"], f"{LISTING}.updated_time")


def _prepare_conversations_state(
    stream: str, state: Any, config: Mapping[str, Any]
) -> dict[str, Any]:
    """Validate a per-platform conversations state and drop its global cursor.

    Without the global cursor a platform that has no entry yet starts at the start date instead
    of at the other platform's watermark.
    """
    if not isinstance(state, dict):
        raise _refuse(stream, "it is not a JSON object")
    entries = state.get("states", [])
    if not isinstance(entries, list):
        raise _refuse(stream, "its 'states' is not a list")
    page_id = str(config.get("page_id"))
    for entry in entries:
        partition = entry.get("partition") if isinstance(entry, dict) else None
        cursor = entry.get("cursor") if isinstance(entry, dict) else None
        if not isinstance(partition, dict) or not isinstance(cursor, dict):
            raise _refuse(stream, "an entry has no partition or cursor")
        if partition.get("platform") not in PLATFORMS:
            raise _refuse(stream, f"it names an unknown platform {partition.get('platform')!r}")
        if str(partition.get("page_id")) != page_id:
            raise _refuse(
                stream,
                f"it was written for Page {partition.get('page_id')}, not Page {page_id}",
            )
        _check_date(stream, cursor.get("updated_time"), "updated_time")
        _check_listing(stream, cursor.get(LISTING))
    prepared = {
        key: value for key, value in state.items() if key not in ("state", "lookback_window")
    }
    prepared["use_global_cursor"] = False
    return prepared


def _prepare_child_state(stream: str, state: Any, config: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a messages/message_details state; forget its watermark when a platform is new.

    The stream's one ``created_time`` watermark is only safe for platforms its parent state
    already covers: a platform added since would have its older messages filtered out.
    """
    if not isinstance(state, dict):
        raise _refuse(stream, "it is not a JSON object")
    prepared = copy.deepcopy(state)
    watermark = prepared.get("state")
    if watermark is not None:
        if not isinstance(watermark, dict):
            raise _refuse(stream, "its 'state' is not a JSON object")
        _check_date(stream, watermark.get("created_time"), "created_time")
    parents = prepared.get("parent_state", {})
    if not isinstance(parents, dict):
        raise _refuse(stream, "its 'parent_state' is not a JSON object")
    covered: set[str] = set()
    if CONVERSATIONS in parents:  # null too: the CDK would fail on it with a TypeError
        parents[CONVERSATIONS] = _prepare_conversations_state(
            stream, parents[CONVERSATIONS], config
        )
        covered = {
            entry["partition"]["platform"] for entry in parents[CONVERSATIONS].get("states", [])
        }
    if not set(chosen_platforms(config)) <= covered:
        prepared.pop("state", None)
        prepared.pop("lookback_window", None)
    return prepared


def prepare_state(
    config: Mapping[str, Any], messages: Iterable[AirbyteStateMessage]
) -> list[AirbyteStateMessage]:
    """The state messages to hand to the CDK; raise a config_error saying how to reset."""
    prepared: list[AirbyteStateMessage] = []
    for message in messages:
        if message.type == AirbyteStateType.LEGACY or message.type is None:
            message_text = (
                "The saved state is a legacy (pre per-stream) Airbyte state, which this "
                "connector never writes. Clear the connection's data (Airbyte: Connection > "
                "Settings > Clear data, or run read without --state) and sync again."
            )
            raise AirbyteTracedException(
                message=message_text,
                internal_message=message_text,
                failure_type=FailureType.config_error,
            )
        if message.type == AirbyteStateType.GLOBAL:
            # The CDK refuses a global state with a ValueError (a traceback) when it reads it.
            message_text = (
                "The saved state is a global Airbyte state (one state shared by every stream), "
                "which this connector never writes: it keeps one state per stream. Clear the "
                "connection's data (Airbyte: Connection > Settings > Clear data, or run read "
                "without --state) and sync again."
            )
            raise AirbyteTracedException(
                message=message_text,
                internal_message=message_text,
                failure_type=FailureType.config_error,
            )
        stream_state = message.stream
        if message.type != AirbyteStateType.STREAM or stream_state is None:
            prepared.append(message)
            continue
        name = stream_state.stream_descriptor.name
        raw = stream_state.stream_state
        value: Any = raw.__dict__ if raw is not None and hasattr(raw, "__dict__") else raw
        if not value:
            prepared.append(message)
            continue
        if name == CONVERSATIONS:
            new_value = _prepare_conversations_state(name, value, config)
        elif name in CHILD_STREAMS:
            new_value = _prepare_child_state(name, value, config)
        else:
            prepared.append(message)
            continue
        updated = copy.deepcopy(message)
        assert updated.stream is not None
        updated.stream.stream_state = AirbyteStateBlob(**new_value)
        prepared.append(updated)
    return prepared
