"""Decoders: a Graph page parsed once, however many components read it."""

from __future__ import annotations

import json
from collections.abc import Generator, Mapping, MutableMapping
from dataclasses import dataclass
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
            except (ValueError, UnicodeDecodeError, RecursionError):
                # RecursionError: nested deeper than orjson's limit and Python's stack.
                body = NOT_JSON
        if body is None:  # JSON ``null``: remembered as what the CDK makes of it
            body = NOT_JSON
        setattr(response, _ATTRIBUTE, body)
    return body


@dataclass(frozen=True)
class PageProblem:
    """Why a 200 is not a Graph page the connector can read, and whether asking again may help.

    ``retryable``: a body cut short or not from Graph (a dropped connection, a proxy's HTML) is
    usually whole on the next attempt. A complete JSON page in another shape than Graph
    documents is what Meta's API made of the request, and asking again within the sync's
    seconds of backoff gives the same page: it is not retried, which would only spend the rate
    budget and up to ``max_wait_minutes`` before failing the same way.
    """

    description: str
    retryable: bool


# A parsed JSON value's kind in JSON Schema's words, as messages name it.
_JSON_KINDS = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    dict: "an object",
    list: "an array",
    type(None): "null",
}
# The nested edge a conversations page carries and the child streams page on, as a Graph list.
_NESTED_EDGE = "messages"


def graph_page_problem(response: requests.Response) -> PageProblem | None:
    """Why a 200 is not a readable Graph list page, or None when it is one (or an error).

    Every request of this connector asks for a list: its answer is ``{"data": [...], "paging":
    ...}``, each item an object, and a conversation's nested ``messages`` a list of the same
    shape (the child streams read it as their first page). ``{"error": ...}`` is Graph's error
    envelope, which the error table reads.

    Example: ``{"data": [], "paging": {}}`` gives None; a body cut in half gives "is not JSON"
    (retryable); ``{"data": [5]}`` gives "holds an integer as item 1 of data, not an object"
    (not retryable).
    """
    body = parsed_body(response)
    if body is NOT_JSON:
        return PageProblem("is not JSON (cut short or not from Graph)", retryable=True)
    if isinstance(body, dict) and "error" in body:
        return None
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        return PageProblem("is JSON but not a Graph list (no `data` list)", retryable=True)
    problem = _list_shape_problem(body, "")
    return PageProblem(problem, retryable=False) if problem else None


def _list_shape_problem(graph_list: dict[str, Any], where: str) -> str | None:
    """What in a Graph list (whose ``data`` is a list) is not in the documented shape."""
    paging = graph_list.get("paging")
    if paging is not None:
        if not isinstance(paging, dict):
            return _not(paging, f"{where}paging", "an object")
        for key, expected in (("cursors", dict), ("next", str), ("previous", str)):
            value = paging.get(key)
            if value is not None and not isinstance(value, expected):
                wanted = "an object" if expected is dict else "a URL"
                return _not(value, f"{where}paging.{key}", wanted)
    for index, item in enumerate(graph_list["data"]):
        if not isinstance(item, dict):
            return f"holds {json_kind(item)} as item {index + 1} of {where}data, not an object"
        if _NESTED_EDGE in item:
            nested = item[_NESTED_EDGE]
            path = f"{where}data[{index}].{_NESTED_EDGE}"
            if not isinstance(nested, dict):
                return _not(nested, path, "a Graph list")
            if "data" not in nested:
                return f"has no {path}.data list"
            if not isinstance(nested["data"], list):
                return _not(nested["data"], f"{path}.data", "a list")
            problem = _list_shape_problem(nested, f"{path}.")
            if problem:
                return problem
    return None


def json_kind(value: Any) -> str:
    """What a parsed JSON value is, in JSON Schema's words: ``5`` gives "an integer"."""
    return _JSON_KINDS.get(type(value), "a value")


def _not(value: Any, path: str, expected: str) -> str:
    return f"has {json_kind(value)} as {path}, not {expected}"


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
