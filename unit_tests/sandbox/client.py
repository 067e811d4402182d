"""A thin Graph client for the sandbox tests: real HTTP through ``requests``, nothing mocked."""

from __future__ import annotations

import json
from typing import Any

import requests

from meta_graph_sandbox import Sandbox

_UNSET: Any = object()

DETAIL_FIELDS = (
    "id,created_time,from,to,message,reply_to,attachments,shares,sticker,story,tags,reactions,"
    "is_unsupported"
)
MESSENGER_CONVERSATION_FIELDS = (
    "id,updated_time,participants,is_owner,can_reply,folder,former_participants,is_subscribed,"
    "link,message_count,name,scoped_thread_key,senders,snippet,subject,unread_count,wallpaper"
)


class GraphClient:
    """Calls one sandbox; the main token goes in a header unless a test says otherwise."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.session = requests.Session()

    def url(self, path: str, version: str | None = "v26.0") -> str:
        prefix = f"/{version}" if version else ""
        return f"{self.sandbox.base_url}{prefix}/{path.lstrip('/')}"

    def get(
        self,
        path: str,
        *,
        token: str | None = _UNSET,
        in_query: bool = False,
        version: str | None = "v26.0",
        timeout: float = 10,
        **params: Any,
    ) -> requests.Response:
        token = self.sandbox.access_token if token is _UNSET else token
        headers = {}
        if token is not None:
            if in_query:
                params["access_token"] = token
            else:
                headers["Authorization"] = f"Bearer {token}"
        return self.session.get(
            self.url(path, version), params=params, headers=headers, timeout=timeout
        )

    def follow(self, url: str, *, header_token: bool = True) -> requests.Response:
        headers = {}
        if header_token:
            headers["Authorization"] = f"Bearer {self.sandbox.access_token}"
        return self.session.get(url, headers=headers, timeout=10)

    def conversations(self, platform: str = "messenger", **params: Any) -> requests.Response:
        return self.get(f"{self.sandbox.page_id}/conversations", platform=platform, **params)

    def batch(
        self, items: list[dict[str, Any]], *, token: str | None = _UNSET, **extra: Any
    ) -> requests.Response:
        token = self.sandbox.access_token if token is _UNSET else token
        data = {"batch": json.dumps(items), **extra}
        if token is not None:
            data["access_token"] = token
        return self.session.post(self.url(""), data=data, timeout=10)

    def admin(self, method: str, route: str, body: Any = None) -> requests.Response:
        return self.session.request(
            method, f"{self.sandbox.base_url}/_sandbox/{route}", json=body, timeout=10
        )

    def walk(self, first: requests.Response) -> list[dict[str, Any]]:
        """Follow ``paging.next`` to the end; return every page's JSON."""
        pages = [first.json()]
        while "next" in pages[-1].get("paging", {}):
            response = self.follow(pages[-1]["paging"]["next"])
            assert response.status_code == 200, response.text
            pages.append(response.json())
        return pages


def without_attachment_paging(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages as the world holds them: an answer's attachments lists also carry ``paging``,
    whose links depend on the request (host, version, query credentials)."""
    out = []
    for message in messages:
        attachments = message.get("attachments")
        if isinstance(attachments, dict) and "paging" in attachments:
            message = {**message, "attachments": {"data": attachments["data"]}}
        out.append(message)
    return out


def error_of(response: requests.Response) -> dict[str, Any]:
    """The ``error`` object of a Graph error answer."""
    body = response.json()
    assert "error" in body, body
    return body["error"]
