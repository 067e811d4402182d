"""Which platform each conversation whose messages edge will be called belongs to, in one sync.

Meta counts a call to a conversation's messages edge (``GET /{conversation-id}/messages``)
against the Page (Messenger) or the Instagram account the conversation belongs to, as it counts
that platform's listing (graph-api-notes.md, "Rate limiting"). The edge's URL does not name
the platform, so the API budget asks this registry: the conversations page that lists a
conversation notes it here (``transformations.NoteEdgePlatform``) before the child streams can
call its edge, and ``rate_policies.MessagesEdgeOf`` counts the call against that platform.

Only conversations whose nested messages page says more follow are noted: the messages edge is
called for those only (the lazy children read the rest from the page), which keeps the registry
to the long conversations, one dict entry each (100 to 200 bytes with its id). The source
resets it when it is built (one source is one sync).
"""

from __future__ import annotations

import threading


class _ConversationPlatforms:
    """Conversation id -> platform, noted from the listing, read by the API budget."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._platforms: dict[str, str] = {}

    def reset(self) -> None:
        """Forget the conversations of a previous sync."""
        with self._lock:
            self._platforms.clear()

    def note(self, conversation_id: str, platform: str) -> None:
        """``conversation_id`` was listed on ``platform``."""
        with self._lock:
            self._platforms[conversation_id] = platform

    def platform_of(self, conversation_id: str) -> str | None:
        """The platform the conversation was listed on, or None if it was not noted."""
        with self._lock:
            return self._platforms.get(conversation_id)


CONVERSATION_PLATFORMS = _ConversationPlatforms()
