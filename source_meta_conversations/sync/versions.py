"""The Graph versions Meta answered with instead of the configured one, in one sync."""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import urlsplit

import requests

LOGGER = logging.getLogger("airbyte")


_VERSION_SEGMENT = re.compile(r"^v[0-9]+\.[0-9]+$")


class _VersionFallbacks:
    """The Graph versions Meta answered with instead of the one asked for, in this sync.

    Meta answers a call to an expired version with the oldest version it still serves, silently,
    saying so only in the ``facebook-api-version`` header; fields may then differ from what the
    connector was built for. Each (asked, answered) pair is logged once as a warning, and
    ``check`` fails on it (source.py). The source resets it when it is built (one source is one
    sync).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, str] = {}

    def reset(self) -> None:
        """Forget the answers of a previous sync."""
        with self._lock:
            self._seen.clear()

    def observe(self, response: requests.Response) -> None:
        """Note, and warn once about, an answer in another version than the one asked for."""
        answered = response.headers.get("facebook-api-version")
        request = getattr(response, "request", None)
        url = getattr(request, "url", None)
        if not answered or not url:
            return
        segments = [segment for segment in urlsplit(str(url)).path.split("/") if segment]
        asked = segments[0] if segments and _VERSION_SEGMENT.match(segments[0]) else None
        if asked is None or asked == answered:
            return
        with self._lock:
            if self._seen.get(asked) == answered:
                return
            self._seen[asked] = answered
        LOGGER.warning(self._message(asked, answered))

    def describe(self) -> str | None:
        """What to tell the user, or None when every answer came in the version asked for."""
        with self._lock:
            pairs = sorted(self._seen.items())
        return self._message(*pairs[0]) if pairs else None

    @staticmethod
    def _message(asked: str, answered: str) -> str:
        return (
            f"Meta answered with Graph API {answered}, not the {asked} the connector asked for: "
            f'{asked} is no longer served. Set "Graph API version" (api_version) to a version '
            "Meta still serves, or remove it to use the connector's default."
        )


VERSION_FALLBACKS = _VersionFallbacks()
