"""The facts the tests share with the manifest (field lists, page sizes), read from the manifest.

Tests must not keep their own copy of a field list: when the manifest changes what it asks Meta
for, the pinned requests change with it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import yaml

from source_meta_conversations.source import MANIFEST_PATH


@cache
def definitions() -> dict[str, Any]:
    with MANIFEST_PATH.open() as handle:
        manifest: dict[str, Any] = yaml.safe_load(handle)
    return dict(manifest["definitions"])


def _compact(value: str) -> str:
    return value.replace(" ", "").replace("\n", "")


def conversation_fields(platform: str) -> str:
    return _compact(definitions()["fields"]["conversation"][platform])


def message_detail_fields() -> str:
    return _compact(definitions()["fields"]["message_details"])


def message_fields() -> str:
    return _compact(definitions()["fields"]["message"])


def nested_messages_limit() -> int:
    return int(definitions()["nested_messages_limit"])


def conversations_page_size() -> int:
    return int(definitions()["conversations_page_size"])


def messages_page_size() -> int:
    return int(definitions()["messages_page_size"])


def conversations_fields_param(platform: str) -> str:
    """The `fields` the conversations request sends: conversation fields plus nested messages."""
    return (
        f"{conversation_fields(platform)},messages.limit({nested_messages_limit()})"
        f"{{{message_detail_fields()}}}"
    )
