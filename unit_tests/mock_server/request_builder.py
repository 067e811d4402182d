"""RequestBuilder: the exact Graph requests the connector is expected to make.

The field lists and page sizes are written out here, not read from ``manifest.yaml``: they are
what the tests expect the connector to ask Meta for, so a manifest that asks for something else
fails the tests instead of changing what they expect.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from airbyte_cdk.test.mock_http import HttpRequest
from airbyte_cdk.test.mock_http.request import ANY_QUERY_PARAMS

from unit_tests.mock_server.config import ACCESS_TOKEN, API_VERSION, BASE_URL, PAGE_ID

# The fields of a message that has details: only the 20 most recent messages of a conversation
# have them, so they are asked for in the conversations page, nested, 20 messages at most.
MESSAGE_DETAIL_FIELDS = (
    "id,created_time,from,to,message,reply_to,attachments,shares,sticker,story,tags,reactions,"
    "is_unsupported"
)
# What the messages edge is asked for: every message has these, details or not.
MESSAGE_FIELDS = "id,created_time"
# The conversations request's `fields`, per platform: the conversation's own fields, then its 20
# newest messages with their details. Instagram is not asked the Messenger-only fields
# (can_reply, folder, former_participants, is_subscribed, link, message_count, name,
# scoped_thread_key, senders, snippet, subject, unread_count, wallpaper).
CONVERSATIONS_FIELDS = {
    "messenger": (
        "id,updated_time,participants,is_owner,can_reply,folder,former_participants,"
        "is_subscribed,link,message_count,name,scoped_thread_key,senders,snippet,subject,"
        "unread_count,wallpaper,"
        "messages.limit(20){id,created_time,from,to,message,reply_to,attachments,shares,"
        "sticker,story,tags,reactions,is_unsupported}"
    ),
    "instagram": (
        "id,updated_time,participants,is_owner,"
        "messages.limit(20){id,created_time,from,to,message,reply_to,attachments,shares,"
        "sticker,story,tags,reactions,is_unsupported}"
    ),
}
CONVERSATIONS_PAGE_SIZE = 25
# The largest page the messages edge gives, for conversations with more than 20 new messages.
MESSAGES_PAGE_SIZE = 100


class RequestBuilder:
    """One classmethod per Graph endpoint, fluent ``with_*`` for the query parameters."""

    def __init__(self, resource: str) -> None:
        self._resource = resource
        self._query: dict[str, Any] = {}
        self._token = ACCESS_TOKEN
        self._base_url = BASE_URL
        self._api_version = API_VERSION
        self._any_query = False

    @classmethod
    def conversations(cls, platform: str = "messenger", page_id: str = PAGE_ID) -> RequestBuilder:
        return (
            cls(f"{page_id}/conversations")
            .with_query("platform", platform)
            .with_query("fields", CONVERSATIONS_FIELDS[platform])
            .with_limit(CONVERSATIONS_PAGE_SIZE)
        )

    @classmethod
    def conversation_messages(cls, conversation_id: str) -> RequestBuilder:
        return (
            cls(f"{conversation_id}/messages")
            .with_query("fields", MESSAGE_FIELDS)
            .with_limit(MESSAGES_PAGE_SIZE)
        )

    def with_fields(self, fields: str) -> RequestBuilder:
        return self.with_query("fields", fields)

    def with_query(self, key: str, value: Any) -> RequestBuilder:
        self._query[key] = value
        return self

    def with_limit(self, limit: int) -> RequestBuilder:
        return self.with_query("limit", str(limit))

    def with_after(self, cursor: str) -> RequestBuilder:
        return self.with_query("after", cursor)

    def with_user_id(self, user_id: str) -> RequestBuilder:
        return self.with_query("user_id", user_id)

    def with_appsecret_proof(self, app_secret: str) -> RequestBuilder:
        proof = hmac.new(app_secret.encode(), ACCESS_TOKEN.encode(), hashlib.sha256).hexdigest()
        return self.with_query("appsecret_proof", proof)

    def with_any_query(self) -> RequestBuilder:
        """Match the resource whatever its query string (for requests a test cannot predict)."""
        self._any_query = True
        return self

    def with_token(self, token: str) -> RequestBuilder:
        self._token = token
        return self

    def with_api_version(self, api_version: str) -> RequestBuilder:
        self._api_version = api_version
        return self

    def with_base_url(self, base_url: str) -> RequestBuilder:
        self._base_url = base_url.rstrip("/")
        return self

    def build(self) -> HttpRequest:
        return HttpRequest(
            url=f"{self._base_url}/{self._api_version}/{self._resource}",
            query_params=ANY_QUERY_PARAMS if self._any_query else self._query,
            headers={"Authorization": f"OAuth {self._token}"},
        )
