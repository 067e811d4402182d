"""What one sync shares across its streams and threads: waits, version answers, listings, calls,
fields of unexpected types, the platform of each long conversation.

Each registry is module-level, since the CDK builds the components that use it (each stream's
backoff, each requester's error handlers) without a way to pass them a shared object; the source
starts them afresh when it is built (one source is one sync): ``start_sync``.
"""

from __future__ import annotations

from source_meta_conversations.sync.conversation_platforms import CONVERSATION_PLATFORMS
from source_meta_conversations.sync.listings import RESUME_CURSORS
from source_meta_conversations.sync.progress import CALLS
from source_meta_conversations.sync.unexpected_types import UNEXPECTED_TYPES
from source_meta_conversations.sync.versions import VERSION_FALLBACKS
from source_meta_conversations.sync.waits import SYNC_WAITS


def start_sync() -> None:
    """Forget what a previous sync noted: waits, versions, cursors, calls, fields, conversations."""
    SYNC_WAITS.reset()
    CALLS.reset()
    VERSION_FALLBACKS.reset()
    RESUME_CURSORS.reset()
    UNEXPECTED_TYPES.reset()
    CONVERSATION_PLATFORMS.reset()
