"""Cursor paging as the Graph notes describe it.

- Cursors are opaque: base64url of ``AQH`` + a position (so they look like Graph's ``QVFI...``).
  A position is a sort key, not an offset, so a page boundary stays put when a conversation moves
  to the top between two requests (it is then seen again on the next sync, as on Meta's side).
- ``cursors.before`` and ``cursors.after`` are on every non-empty page, the last one included:
  a client that pages on ``after`` alone loops forever, which is the bug the sandbox must expose.
- ``next`` only while more items remain; ``previous`` when items newer than the page exist.
- With the ``empty-page`` profile, every K-th page of a walk is an empty page that still carries
  ``next`` (the notes: "A page can be empty and still carry next"). The page number travels in
  the cursor, so the empty page is a property of the walk, not of wall-clock or call counts.
"""

from __future__ import annotations

import base64
import binascii
import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from meta_graph_sandbox.errors import GraphError, invalid_parameter

K = TypeVar("K", tuple[int, str], int)

_PREFIX = b"AQH"
KIND_CONVERSATIONS = "c"
KIND_MESSAGES = "m"
KIND_ATTACHMENTS = "a"


@dataclass(frozen=True)
class Cursor:
    """A decoded cursor: which list (kind + scope), the position, the page number, a gap flag."""

    kind: str
    scope: str
    key: tuple[int, str] | int
    page: int
    gap: bool = False

    def encode(self) -> str:
        """The opaque form clients see."""
        key = f"{self.key[0]}|{self.key[1]}" if isinstance(self.key, tuple) else str(self.key)
        text = f"{self.kind}|{self.scope}|{key}|{self.page}|{int(self.gap)}"
        return base64.urlsafe_b64encode(_PREFIX + text.encode("utf-8")).decode("ascii").rstrip("=")


def _bad_cursor(name: str) -> GraphError:
    return invalid_parameter(f"The {name} cursor is invalid, or belongs to another edge")


def decode_cursor(text: str, name: str, kind: str, scope: str) -> Cursor:
    """Decode a cursor given as ``after``/``before``; error 100 when it is not one of this edge's.

    A nested ``messages`` cursor names its conversation, so it also works on the edge URL
    ``/{conversation-id}/messages`` (that is what the nested ``paging.next`` points at).
    """
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        if not raw.startswith(_PREFIX):
            raise _bad_cursor(name)
        parts = raw[len(_PREFIX) :].decode("utf-8").split("|")
        if parts[0] != kind or parts[1] != scope:
            raise _bad_cursor(name)
        key: tuple[int, str] | int
        if kind == KIND_CONVERSATIONS:
            if len(parts) != 6:
                raise _bad_cursor(name)
            key = (int(parts[2]), parts[3])
            page, gap = int(parts[4]), parts[5] == "1"
        else:
            if len(parts) != 5:
                raise _bad_cursor(name)
            key = int(parts[2])
            page, gap = int(parts[3]), parts[4] == "1"
    except (binascii.Error, ValueError, UnicodeDecodeError, IndexError) as exc:
        raise _bad_cursor(name) from exc
    return Cursor(kind, scope, key, page, gap)


@dataclass
class Window(Generic[K]):
    """One page of keys, newest first, and whether older / newer keys exist around it."""

    keys: list[K]
    page: int
    has_older: bool
    has_newer: bool
    empty_gap: Cursor | None = None  # set when this is an inserted empty page


def _walk(
    keys: Sequence[K],
    start: int,
    step: int,
    limit: int,
    predicate: Callable[[K], bool] | None,
) -> tuple[list[K], bool]:
    """Collect up to ``limit`` matching keys from ``start`` going ``step``; say if more match."""
    found: list[K] = []
    index = start
    while 0 <= index < len(keys):
        key = keys[index]
        if predicate is None or predicate(key):
            if len(found) == limit:
                return found, True
            found.append(key)
        index += step
    return found, False


def window(
    keys: Sequence[K],
    *,
    limit: int,
    after: Cursor | None,
    before: Cursor | None,
    predicate: Callable[[K], bool] | None = None,
    empty_page_every: int = 0,
) -> Window[K]:
    """Slice a page out of ascending ``keys``, served newest first."""
    if before is not None and after is None:
        start = bisect.bisect_right(keys, before.key)
        found, has_newer = _walk(keys, start, 1, limit, predicate)
        _, has_older = _walk(keys, start - 1, -1, 0, predicate)
        found.reverse()
        return Window(found, max(before.page - 1, 0), has_older, has_newer)
    if after is not None:
        start = bisect.bisect_left(keys, after.key) - 1
        page = after.page + 1
    else:
        start = len(keys) - 1
        page = 0
    found, has_older = _walk(keys, start, -1, limit, predicate)
    _, has_newer = _walk(keys, start + 1, 1, 0, predicate)
    if (
        after is not None
        and empty_page_every >= 2
        and page % empty_page_every == empty_page_every - 1
        and not after.gap
        and found
    ):
        # The empty page counts as a page of the walk: the one after it is page + 1.
        gap = Cursor(after.kind, after.scope, after.key, page, gap=True)
        return Window([], page, True, has_newer, empty_gap=gap)
    return Window(found, page, has_older, has_newer)
