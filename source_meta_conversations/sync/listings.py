"""How far each platform's listing of conversations got, for the per-page checkpoint.

``ListingProgress`` travels in a conversations slice (``extra_fields["listing"]``): the paginator
reports each finished page (``report_page``), the conversations cursor
(``cdk_adaptations.checkpoint_cursors``) writes it into the state, and a resumed sync starts
after the saved cursor. ``RESUME_CURSORS`` recognises Meta refusing a saved cursor
(``ResumeCursorRefusal``). Both are per sync: the source resets them when it is built.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from airbyte_cdk.sources.types import StreamSlice

from source_meta_conversations.state import LISTING

# Meta's message for a cursor it no longer accepts (graph-api-notes.md, "Paging").
STALE_CURSOR_TEXT = "Cursor specified exceeds"


class ListingProgress:
    """How far one platform's listing got: where a resumed sync continues, and what it saw.

    ``first_after`` is the cursor the listing's first request starts after (a resumed listing;
    the manifest reads it), ``after`` the cursor after the last finished page, ``newest`` the
    newest ``updated_time`` delivered by this listing, the interrupted run's included.
    """

    def __init__(
        self, after: str | None, newest: datetime | None, on_page: Callable[[], None]
    ) -> None:
        self.first_after = after
        self.after = after
        self.newest = newest
        self._on_page = on_page

    def page_done(self, after: str) -> None:
        """Every record of a page is delivered and the next page is ``after``: checkpoint."""
        self.after = str(after)
        self._on_page()

    def seen(self, value: datetime) -> None:
        """A delivered conversation's ``updated_time``."""
        if self.newest is None or value > self.newest:
            self.newest = value

    def restart(self) -> None:
        """Meta refused the saved cursor: list from the newest again, down to the same watermark."""
        self.first_after = None
        self.after = None


class _ResumeCursors:
    """The saved cursors this sync starts listings after, to recognise Meta refusing one.

    Several readers can start after the same saved cursor: the conversations stream and the
    children's copies of it, which read the listing at the same time at Meta's rate. Meta
    refusing it for one refuses it for all, so every listing started after it restarts, and each
    reader's own refusal (the same answer, shared or not) resets that reader's paging once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_cursor: dict[str, list[ListingProgress]] = {}
        self._refusals: dict[str, int] = {}

    def reset(self) -> None:
        with self._lock:
            self._by_cursor.clear()
            self._refusals.clear()

    def register(self, progress: ListingProgress) -> None:
        if progress.first_after:
            with self._lock:
                self._by_cursor.setdefault(progress.first_after, []).append(progress)

    def refuse(self, cursor: str) -> bool:
        """Restart every listing started after ``cursor``; False if it is not a saved cursor.

        Also False once it was refused as many times as listings started after it, so that no
        reader resets its paging twice for one cursor.
        """
        with self._lock:
            listings = self._by_cursor.get(cursor, [])
            refusals = self._refusals.get(cursor, 0)
            if refusals >= len(listings):
                return False
            self._refusals[cursor] = refusals + 1
        for progress in listings:
            if progress.first_after == cursor:
                progress.restart()
        return True


RESUME_CURSORS = _ResumeCursors()


def report_page(stream_slice: StreamSlice | None, next_after: Any) -> None:
    """Tell the slice's listing (if it is one) that a page ended and the next is ``next_after``.

    Called by the paginator: the CDK asks it for the next page only once the worker thread has
    queued (and the cursor observed) every record of the page.
    """
    if stream_slice is None:
        return
    progress = stream_slice.extra_fields.get(LISTING)
    if isinstance(progress, ListingProgress):
        progress.page_done(next_after)
