"""What a Graph request is for, read from its URL: the one reading the progress lines, the
errors and the API budget share.

The connector makes two kinds of calls: a platform's conversations listing
(``/{version}/{page-id}/conversations?platform=...``) and a conversation's messages edge
(``/{version}/{conversation-id}/messages``). Only the path's last two segments and the
``platform`` parameter are read; nothing else of the URL (its credentials) is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

CONVERSATIONS_EDGE = "conversations"
MESSAGES_EDGE = "messages"


@dataclass(frozen=True)
class GraphCall:
    """The edge a request asks for (None for any other call), the object it asks it of, and
    the ``platform`` it names (None when it names none).

    Example: ``.../v26.0/104839588217347/conversations?platform=instagram&limit=25`` is
    ``GraphCall("conversations", "104839588217347", "instagram")``; ``.../v26.0/t_1/messages``
    is ``GraphCall("messages", "t_1", None)``.
    """

    edge: str | None
    object_id: str | None
    platform: str | None


def graph_call(url: str | None) -> GraphCall:
    """What the request to ``url`` is for (see ``GraphCall``)."""
    parts = urlsplit(url or "")
    segments = [unquote(segment) for segment in parts.path.split("/") if segment]
    if len(segments) < 2 or segments[-1] not in (CONVERSATIONS_EDGE, MESSAGES_EDGE):
        return GraphCall(None, None, None)
    platform = parse_qs(parts.query).get("platform", [""])[0].lower() or None
    return GraphCall(segments[-1], segments[-2], platform)
