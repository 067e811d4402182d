"""States for tests: the state a clean sync leaves, and the last state a read emitted."""

from __future__ import annotations

from typing import Any

from airbyte_cdk.models import AirbyteStateMessage
from airbyte_cdk.test.state_builder import StateBuilder

from unit_tests.mock_server.config import PAGE_ID

CHILDREN = ("messages", "message_details")


def clean_sync_state(listing: str, watermark: str) -> list[Any]:
    """What a clean Messenger sync leaves: conversations listed to ``listing``, both child
    streams at the global watermark ``watermark`` with that listing as their parent state."""
    parent = {
        "use_global_cursor": False,
        "states": [
            {
                "partition": {"platform": "messenger", "page_id": PAGE_ID},
                "cursor": {"updated_time": listing},
            }
        ],
    }
    builder = StateBuilder().with_stream_state("conversations", parent)
    for stream in CHILDREN:
        builder = builder.with_stream_state(
            stream,
            {
                "use_global_cursor": True,
                "state": {"created_time": watermark},
                "lookback_window": 0,
                "parent_state": {"conversations": parent},
            },
        )
    return builder.build()


def final_state(output: Any, stream: str) -> dict[str, Any]:
    """The last state ``output`` emitted for ``stream`` (fails when it emitted none)."""
    states = [
        message.state
        for message in output.state_messages
        if message.state is not None
        and message.state.stream is not None
        and message.state.stream.stream_descriptor.name == stream
    ]
    assert states, f"no state for {stream}"
    final: AirbyteStateMessage = states[-1]
    assert final.stream is not None
    assert final.stream.stream_state is not None
    return dict(final.stream.stream_state.__dict__)
