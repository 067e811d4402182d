"""Decoders: a Graph page parsed once, however many components read it."""

from __future__ import annotations

import json
from collections.abc import Generator, Mapping, MutableMapping
from typing import Any

import orjson
import requests
from airbyte_cdk.sources.declarative.decoders import JsonDecoder


class _NotJson:
    """The parsed body of a response whose body is not JSON (cut short, HTML, empty)."""

    def __repr__(self) -> str:
        return "NOT_JSON"


NOT_JSON: Any = _NotJson()
_ATTRIBUTE = "_meta_conversations_body"


def parsed_body(response: requests.Response) -> Any:
    """The response's JSON body, parsed on the first call only; ``NOT_JSON`` when it is not JSON.

    Kept on the response object, which lives as long as that page: the single-flight send, the
    usage watcher, the record extractor and the paginator all read the same page. Parsed as the
    CDK's ``JsonParser`` does (orjson, then the standard library).
    """
    body = getattr(response, _ATTRIBUTE, None)
    if body is None:
        raw = response.content or b""
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            try:
                body = json.loads(raw.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                body = NOT_JSON
        if body is None:  # JSON ``null``: remembered as what the CDK makes of it
            body = NOT_JSON
        setattr(response, _ATTRIBUTE, body)
    return body


def graph_page_problem(response: requests.Response) -> str | None:
    """Why a 200 is not a readable Graph list page, or None when it is one (or an error).

    Every request of this connector asks for a list: its answer is ``{"data": [...], "paging":
    ...}``. ``{"error": ...}`` is Graph's error envelope, which the error table reads.

    Example: ``{"data": [], "paging": {}}`` gives None; a body cut in half gives "is not JSON".
    """
    body = parsed_body(response)
    if body is NOT_JSON:
        return "is not JSON (cut short or not from Graph)"
    if isinstance(body, dict) and (isinstance(body.get("data"), list) or "error" in body):
        return None
    return "is JSON but not a Graph list (no `data` list)"


class MemoJsonDecoder(JsonDecoder):
    """``JsonDecoder`` that parses a response's body once however many times it is decoded.

    Why a component: the record extractor and the paginator each decode every page, and a
    conversations page with 20 nested messages per conversation is hundreds of kB; parsing it
    twice was a fifth of the sync's CPU. The parsed body is kept on the response object
    (``parsed_body``), which lives only as long as that page, so the error handler that checked
    the page is readable parsed it for the decoder too.

    Example: ``decode(response)`` twice on the same response parses its body once and yields
    the same object both times; a body that is not JSON yields what ``JsonDecoder`` yields.
    """

    def __init__(self, parameters: Mapping[str, Any] | None = None, **_: Any) -> None:
        super().__init__(parameters=parameters or {})

    def decode(
        self, response: requests.Response
    ) -> Generator[MutableMapping[str, Any], None, None]:
        """Yield what ``JsonDecoder`` yields, from the body parsed once."""
        body = parsed_body(response)
        if body is NOT_JSON:
            # ``JsonDecoder`` yields {} for the parse error, then {} again for yielding nothing.
            yield from ({}, {})
        elif isinstance(body, list):
            yield from body or [{}]
        else:
            yield body
