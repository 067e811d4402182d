"""Graph response builders: conversations pages with nested messages, message pages, errors."""

from __future__ import annotations

import json
from copy import deepcopy
from pathlib import Path
from typing import Any

from airbyte_cdk.test.mock_http import HttpResponse

from unit_tests.mock_server.config import API_VERSION, BASE_URL, PAGE_ID

RESPONSE_TEMPLATES = Path(__file__).parent.parent / "resource" / "http" / "response"


def template(name: str) -> Any:
    """A response template from ``resource/http/response/<name>.json`` (a fresh copy)."""
    return json.loads((RESPONSE_TEMPLATES / f"{name}.json").read_text())


def graph_time(second: int) -> str:
    """A Graph timestamp (colon-less offset), ``second`` seconds after a fixed moment."""
    minutes, seconds = divmod(second, 60)
    hours, minutes = divmod(minutes, 60)
    return f"2026-03-01T{hours:02d}:{minutes:02d}:{seconds:02d}+0000"


def rfc3339(graph_timestamp: str) -> str:
    """The RFC 3339 form the connector emits for a Graph timestamp."""
    return graph_timestamp[:-2] + ":" + graph_timestamp[-2:]


def message(message_id: str, second: int, *, details: bool = True) -> dict[str, Any]:
    """A message as Graph nests it: details only when it is among the 20 most recent."""
    record: dict[str, Any] = {"id": message_id, "created_time": graph_time(second)}
    if details:
        record.update(
            {
                "from": {
                    "id": "5563492337028372",
                    "name": "Ada Lovelace",
                    "email": "a@example.com",
                },
                "to": {"data": [{"id": PAGE_ID, "name": "Kitty Shop"}]},
                "message": f"text of {message_id}",
            }
        )
    return record


def paging(*, after: str | None, next_url: str | None) -> dict[str, Any]:
    """Graph's paging object: cursors on every non-empty page, `next` only while more remain."""
    block: dict[str, Any] = {}
    if after is not None:
        block["cursors"] = {"before": "QVFIUbefore", "after": after}
    if next_url is not None:
        block["next"] = next_url
    return block


def edge_url(resource: str, after: str) -> str:
    return f"{BASE_URL}/{API_VERSION}/{resource}?limit=25&after={after}"


class ConversationBuilder:
    """A conversation as the conversations edge returns it, with its nested messages page."""

    def __init__(self, conversation_id: str, updated_second: int) -> None:
        self._record: dict[str, Any] = {
            "id": conversation_id,
            "updated_time": graph_time(updated_second),
            "participants": {"data": [{"id": "5563492337028372", "name": "Ada Lovelace"}]},
            "message_count": 1,
        }
        self._messages: list[dict[str, Any]] = []
        self._messages_paging: dict[str, Any] = {}

    def with_field(self, key: str, value: Any) -> ConversationBuilder:
        self._record[key] = value
        return self

    def with_messages(
        self, messages: list[dict[str, Any]], *, more_after: str | None = None
    ) -> ConversationBuilder:
        """Nest ``messages``; ``more_after`` makes the nested page say that more remain."""
        self._messages = messages
        conversation_id = self._record["id"]
        self._messages_paging = paging(
            after=more_after or "QVFIUnestedlast",
            next_url=edge_url(f"{conversation_id}/messages", more_after) if more_after else None,
        )
        self._record["message_count"] = len(messages)
        return self

    def build(self) -> dict[str, Any]:
        record = deepcopy(self._record)
        if self._messages:
            record["messages"] = {"data": deepcopy(self._messages), "paging": self._messages_paging}
        return record


def page(
    records: list[dict[str, Any]],
    *,
    after: str = "QVFIUlast",
    next_after: str | None = None,
    resource: str = f"{PAGE_ID}/conversations",
) -> HttpResponse:
    """A Graph list page; ``next_after`` makes it say that another page follows."""
    body = {
        "data": records,
        "paging": paging(
            after=(next_after or after) if records else None,
            next_url=edge_url(resource, next_after) if next_after else None,
        ),
    }
    return HttpResponse(json.dumps(body), 200)


def empty_page(*, next_after: str, with_cursors: bool = True) -> HttpResponse:
    """An empty Graph page that still says another page follows (Graph documents these)."""
    body: dict[str, Any] = {
        "data": [],
        "paging": paging(
            after=next_after if with_cursors else None,
            next_url=edge_url(f"{PAGE_ID}/conversations", next_after),
        ),
    }
    return HttpResponse(json.dumps(body), 200)


def not_json(
    status: int = 502, body: str = "<html><body>Bad Gateway</body></html>"
) -> HttpResponse:
    """What a proxy in front of Graph answers: not the JSON envelope."""
    return HttpResponse(body, status)


def graph_error(
    code: int,
    *,
    subcode: int | None = None,
    message: str = "An error",
    status: int = 400,
    error_type: str = "OAuthException",
    transient: bool | None = None,
    headers: dict[str, str] | None = None,
) -> HttpResponse:
    """Graph's error envelope."""
    error: dict[str, Any] = {
        "message": message,
        "type": error_type,
        "code": code,
        "fbtrace_id": "AbCdEf123",
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    if transient is not None:
        error["is_transient"] = transient
    return HttpResponse(json.dumps({"error": error}), status, headers or {})
