"""The fields Meta sent in another type than the schema documents, in one sync."""

from __future__ import annotations

import threading


class _UnexpectedTypes:
    """Which (stream, field path) pairs were already reported as left out, in this sync.

    A stream's schema normalization runs in several components at once (the conversations are
    read for their own stream and, as parents, for each child stream) and on every record: a
    field Meta sends in another type is reported once per stream and field, not per record or
    per reader. The source resets it when it is built (one source is one sync).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: set[tuple[str, str]] = set()

    def reset(self) -> None:
        """Forget the fields of a previous sync."""
        with self._lock:
            self._seen.clear()

    def first(self, stream: str, path: str) -> bool:
        """Whether this is the first report of ``path`` in ``stream`` (and note it)."""
        key = (stream, path)
        with self._lock:
            if key in self._seen:
                return False
            self._seen.add(key)
            return True


UNEXPECTED_TYPES = _UnexpectedTypes()
