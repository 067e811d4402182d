"""Decoders: a Graph page parsed once, however many components read it."""

from __future__ import annotations

from collections.abc import Generator, Mapping, MutableMapping
from typing import Any

import requests
from airbyte_cdk.sources.declarative.decoders import JsonDecoder


class MemoJsonDecoder(JsonDecoder):
    """``JsonDecoder`` that parses a response's body once however many times it is decoded.

    Why a component: the record extractor and the paginator each decode every page, and a
    conversations page with 20 nested messages per conversation is hundreds of kB; parsing it
    twice was a fifth of the sync's CPU. The parsed body is kept on the response object, which
    lives only as long as that page.

    Example: ``decode(response)`` twice on the same response parses its body once and yields
    the same object both times.
    """

    _ATTRIBUTE = "_meta_conversations_decoded"

    def __init__(self, parameters: Mapping[str, Any] | None = None, **_: Any) -> None:
        super().__init__(parameters=parameters or {})

    def decode(
        self, response: requests.Response
    ) -> Generator[MutableMapping[str, Any], None, None]:
        """Yield the decoded body, parsing it on the first call only."""
        decoded: list[MutableMapping[str, Any]] | None = getattr(response, self._ATTRIBUTE, None)
        if decoded is None:
            decoded = list(super().decode(response))
            setattr(response, self._ATTRIBUTE, decoded)
        yield from decoded
