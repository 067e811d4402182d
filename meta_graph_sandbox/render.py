"""Turning world objects into Graph answers: field projection, paged edges, and JSON.

Rendering is where the Graph rules about *shape* live: fields with no data are omitted, ``id``
comes back even when not asked (as Graph does for nodes), a nested ``messages`` edge carries its
own ``paging`` whose ``next`` points at the edge URL, and messages older than a conversation's
20 newest show only ``id`` and ``created_time`` whatever was asked.

Speed: a conversations page of 25 with 20 detailed messages each is 500 messages. Each message
is rendered once per field selection into a JSON text fragment, kept in the world's fragment
cache, and spliced into the answer by :func:`encode_json` (strings are cheap to keep and
invisible to the garbage collector, unlike half a million small dicts).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from meta_graph_sandbox import fields as f
from meta_graph_sandbox.errors import invalid_parameter
from meta_graph_sandbox.paging import (
    KIND_ATTACHMENTS,
    KIND_CONVERSATIONS,
    KIND_MESSAGES,
    Cursor,
    Window,
    decode_cursor,
    window,
)
from meta_graph_sandbox.world import (
    PLATFORM_CODE,
    Conversation,
    World,
    format_time,
)

DEFAULT_LIMIT = 25
MAX_LIMIT = 100


def _make_dumps() -> Callable[[Any], str]:
    """Compact JSON encoding without the per-call encoder set-up of ``json.dumps``.

    ``JSONEncoder.encode`` builds a C encoder on every call, about a third of the cost of
    encoding one message; building it once matters at 500 messages a page.
    """
    c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
    if c_make_encoder is None:  # pragma: no cover - CPython always has the C accelerator
        return json.JSONEncoder(separators=(",", ":")).encode
    encoder = c_make_encoder(
        None,  # markers: no cycle check, the payloads are trees
        json.JSONEncoder().default,
        json.encoder.encode_basestring_ascii,
        None,  # indent
        ":",
        ",",
        False,  # sort_keys
        False,  # skipkeys
        True,  # allow_nan
    )

    def dumps(value: Any) -> str:
        if isinstance(value, str):
            return str(json.encoder.encode_basestring_ascii(value))
        return "".join(encoder(value, 0))

    return dumps


_dumps = _make_dumps()


class Composite(dict[str, Any]):
    """A JSON object some of whose values hold pre-encoded fragments (see :func:`encode_json`)."""


class RawList(list[str]):
    """A JSON array whose items are already JSON text."""


def _encode(value: Any) -> str:
    if isinstance(value, RawList):
        return "[" + ",".join(value) + "]"
    if isinstance(value, Composite):
        parts: list[str] = []
        plain: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(item, (Composite, RawList, list)):
                if plain:
                    parts.append(_dumps(plain)[1:-1])
                    plain = {}
                parts.append(_dumps(key) + ":" + _encode(item))
            else:
                plain[key] = item
        if plain:
            parts.append(_dumps(plain)[1:-1])
        return "{" + ",".join(parts) + "}"
    if isinstance(value, list) and any(isinstance(v, (Composite, RawList)) for v in value):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    return _dumps(value)


def encode_json(payload: Any) -> bytes:
    """Graph's JSON: compact, ASCII only, and ``/`` written as ``\\/`` as Graph does.

    Escaped slashes are valid JSON, but a client that greps URLs out of raw bodies breaks on
    them, which is worth finding here rather than against Meta.
    """
    return _encode(payload).replace("/", "\\/").encode("ascii")


@dataclass
class RenderContext:
    """What rendering needs from the request, and what it reports back.

    ``echo`` holds the query parameters a ``paging.next`` URL repeats verbatim (``access_token``
    and ``appsecret_proof``, only when the request carried them in its query string: the notes
    say Graph's next URLs embed the token in that case, and only then).
    """

    base: str
    version: str
    echo: list[tuple[str, str]] = field(default_factory=list)
    empty_page_every: int = 0
    on_empty_page: Callable[[], None] = lambda: None
    objects: int = 0
    _queries: dict[tuple[str | None, int], str] = field(default_factory=dict)

    def nested_query(self, source: str | None, limit: int) -> str:
        """The encoded query a nested edge's next URL repeats (same for every conversation)."""
        key = (source, limit)
        query = self._queries.get(key)
        if query is None:
            params: list[tuple[str, str]] = []
            if source is not None:
                params.append(("fields", source))
            params.append(("limit", str(limit)))
            params.extend(self.echo)
            query = self._queries[key] = urlencode(params)
        return query

    def url(self, path: str, query: str) -> Callable[[str, str], str]:
        """A builder of absolute edge URLs: ``url("after", cursor)``."""
        prefix = f"{self.base}/{self.version}/{path}?{query}&"
        return lambda name, cursor: f"{prefix}{name}={cursor}"

    @property
    def links_key(self) -> tuple[str, str, tuple[tuple[str, str], ...]]:
        """What the links inside a rendered message depend on (its attachments' ``paging``)."""
        return (self.base, self.version, tuple(self.echo))


def parse_limit(text: str | None) -> int:
    """``limit``: default 25, clamped to 1..100 (Graph treats limit as a maximum)."""
    if text is None or text == "":
        return DEFAULT_LIMIT
    try:
        value = int(text)
    except ValueError:
        raise invalid_parameter(f"Param limit must be an integer, got {text!r}") from None
    if value <= 0:
        return DEFAULT_LIMIT
    return min(value, MAX_LIMIT)


def repeated_query(
    query: Sequence[tuple[str, str]], limit: int, echo: Sequence[tuple[str, str]] = ()
) -> str:
    """A top-level edge's next URL repeats the request's own query, with limit and cursor reset.

    ``echo``: credentials to carry even if the query did not (the ``token-in-links`` fault).
    """
    kept = [(k, v) for k, v in query if k not in ("after", "before", "limit")]
    kept += [(k, v) for k, v in echo if k not in {name for name, _ in kept}]
    return urlencode([*kept, ("limit", str(limit))])


# ---------------------------------------------------------------------- projection
def _project_object(value: dict[str, Any], selection: f.Selection) -> dict[str, Any]:
    children = selection.children
    node = selection.schema.node
    if children is None or node is None:
        return value
    out = {}
    for child in children:
        item = value.get(child.name)
        if item is None:
            continue
        out[child.name] = project(item, child)
    if "email" in node.fields and "id" not in out and "id" in value:
        out["id"] = value["id"]  # people are nodes: Graph adds their id
    return out


def project(value: Any, selection: f.Selection) -> Any:
    """Apply a sub-selection (``from{id,name}``, ``attachments{mime_type}``) to a value."""
    kind = selection.schema.kind
    limit = selection.modifiers.get("limit")
    if selection.children is None:
        if kind is f.Kind.LIST and limit is not None:
            return {"data": value["data"][: int(limit)]}
        return value
    if kind is f.Kind.LIST:
        items = value["data"] if limit is None else value["data"][: int(limit)]
        return {"data": [_project_object(item, selection) for item in items]}
    if kind is f.Kind.ARRAY:
        return [_project_object(item, selection) for item in value]
    if kind is f.Kind.OBJECT:
        return _project_object(value, selection)
    return value


# ---------------------------------------------------------------------- messages
@functools.lru_cache(maxsize=256)
def _plain_names(selections: tuple[f.Selection, ...]) -> frozenset[str] | None:
    """The asked names when none has a sub-selection or modifier, else None."""
    if any(s.children is not None or s.modifiers for s in selections):
        return None
    return frozenset(s.name for s in selections)


def render_message(
    world: World,
    conversation: Conversation,
    seq: int,
    selections: tuple[f.Selection, ...],
    *,
    ctx: RenderContext | None = None,
    cache: bool = True,
) -> dict[str, Any]:
    """One message with its details (callers have checked the 20-message rule).

    With ``ctx``, an ``attachments`` list gets its own ``paging``, links included, as Graph's
    does (see :func:`attachment_paging`); without, the world's view (no request, no links).
    """
    detail = world.message_detail(conversation, seq, cache=cache)
    names = _plain_names(selections)
    if names is not None and names.issuperset(detail):
        out = detail  # every field it has was asked for: the detail is the answer
    else:
        out = {}
        for selection in selections:
            value = detail.get(selection.name)
            if value is None:
                continue
            out[selection.name] = value if selection.children is None else project(value, selection)
        if "id" not in out:
            out["id"] = detail["id"]
    attachments = out.get("attachments")
    if ctx is not None and isinstance(attachments, dict):
        out = dict(out)  # never change the world's cached detail
        out["attachments"] = {
            **attachments,
            "paging": attachment_paging(str(detail["id"]), ctx),
        }
    return out


def attachment_paging(message_id: str, ctx: RenderContext) -> dict[str, Any]:
    """The ``paging`` of a message's attachments list.

    The notes (real v10 data): a message's ``attachments`` is a list with its own paging, whose
    ``next`` points at ``/{message-id}/attachments`` and carries ``access_token`` when the
    request had one in its query; a list of one attachment still has a ``next`` (cursors
    ``before`` == ``after``, limit 25), which leads to an empty page.
    """
    cursor = Cursor(KIND_ATTACHMENTS, message_id, 0, 0).encode()
    query = urlencode([("limit", str(DEFAULT_LIMIT)), *ctx.echo])
    return {
        "cursors": {"before": cursor, "after": cursor},
        "next": ctx.url(f"{message_id}/attachments", query)("after", cursor),
    }


def render_attachment_page(
    world: World,
    conversation: Conversation,
    seq: int,
    *,
    after: str | None,
    ctx: RenderContext,
) -> dict[str, Any]:
    """``GET /{message-id}/attachments``: the attachments, then an empty page after the cursor."""
    message_id = world.message_id(conversation, seq)
    if after:
        decode_cursor(after, "after", KIND_ATTACHMENTS, message_id)
        return {"data": []}
    attachments = world.message_detail(conversation, seq).get("attachments")
    if not attachments:
        return {"data": []}
    ctx.objects += 1
    return {"data": attachments["data"], "paging": attachment_paging(message_id, ctx)}


def message_fragment(
    world: World,
    conversation: Conversation,
    seq: int,
    selections: tuple[f.Selection, ...],
    signature: str,
    ctx: RenderContext,
) -> str:
    """One message as JSON text, for a list; older than the newest 20: id and created_time."""
    if not conversation.has_details(seq):
        return _dumps(
            {
                "id": world.message_id(conversation, seq),
                "created_time": format_time(conversation.times[seq]),
            }
        )
    key = (PLATFORM_CODE[conversation.platform], conversation.index, seq, signature, ctx.links_key)
    text = world.fragments.get(key)
    if text is None:
        text = _dumps(render_message(world, conversation, seq, selections, ctx=ctx, cache=False))
        world.fragments.put(key, text)
    return text


def _paged(
    data: list[Any],
    page: Window[Any],
    kind: str,
    scope: str,
    url: Callable[[str, str], str],
    ctx: RenderContext,
) -> Composite:
    """``{"data", "paging"}`` for a window: cursors on every non-empty page, next while more."""
    if page.empty_gap is not None:
        ctx.on_empty_page()
        return Composite(data=[], paging={"next": url("after", page.empty_gap.encode())})
    result = Composite(data=data)
    if data:
        before = Cursor(kind, scope, page.keys[0], page.page).encode()
        after = Cursor(kind, scope, page.keys[-1], page.page).encode()
        paging: dict[str, Any] = {"cursors": {"before": before, "after": after}}
        if page.has_newer:
            paging["previous"] = url("before", before)
        if page.has_older:
            paging["next"] = url("after", after)
        result["paging"] = paging
    return result


def render_message_page(
    world: World,
    conversation: Conversation,
    selections: tuple[f.Selection, ...],
    *,
    signature: str,
    limit: int,
    after: str | None,
    before: str | None,
    ctx: RenderContext,
    query: str,
) -> Composite:
    """A page of a conversation's messages, newest first, with paging.

    ``query`` is what the ``next``/``previous`` URLs repeat before the cursor (fields, limit,
    and the echoed token), so the nested and the edge form build their URLs the same way and
    a nested cursor keeps working on the edge.
    """
    scope = conversation.id
    after_cursor = decode_cursor(after, "after", KIND_MESSAGES, scope) if after else None
    before_cursor = decode_cursor(before, "before", KIND_MESSAGES, scope) if before else None
    page = window(
        range(len(conversation.times)),
        limit=limit,
        after=after_cursor,
        before=before_cursor,
        empty_page_every=ctx.empty_page_every,
    )
    data = RawList(
        message_fragment(world, conversation, seq, selections, signature, ctx) for seq in page.keys
    )
    ctx.objects += len(data)
    url = ctx.url(f"{conversation.id}/messages", query)
    return _paged(data, page, KIND_MESSAGES, scope, url, ctx)


# ---------------------------------------------------------------------- conversations
def render_conversation(
    world: World,
    conversation: Conversation,
    selections: tuple[f.Selection, ...],
    ctx: RenderContext,
) -> Composite:
    """One conversation with the asked fields; ``messages`` nests a paged edge."""
    out = Composite()
    ctx.objects += 1
    for selection in selections:
        if selection.name == "messages":
            children = selection.children or f.select(None, f.MESSAGE)
            limit = parse_limit(selection.modifiers.get("limit"))
            out["messages"] = render_message_page(
                world,
                conversation,
                children,
                signature=selection.source or "",
                limit=limit,
                after=selection.modifiers.get("after"),
                before=selection.modifiers.get("before"),
                ctx=ctx,
                query=ctx.nested_query(selection.source, limit),
            )
            continue
        value = world.conversation_value(conversation, selection.name)
        if value is None:
            continue
        out[selection.name] = value if selection.children is None else project(value, selection)
    if "id" not in out:
        out["id"] = conversation.id
    return out


def render_conversation_page(
    world: World,
    platform: str,
    selections: tuple[f.Selection, ...],
    *,
    limit: int,
    after: str | None,
    before: str | None,
    predicate: Callable[[tuple[int, str]], bool] | None,
    ctx: RenderContext,
    path: str,
    query: str,
) -> Composite:
    """A page of a platform's conversations, most recently updated first, with paging."""
    scope = str(PLATFORM_CODE[platform])
    after_cursor = decode_cursor(after, "after", KIND_CONVERSATIONS, scope) if after else None
    before_cursor = decode_cursor(before, "before", KIND_CONVERSATIONS, scope) if before else None
    page = window(
        world.ordered_keys(platform),
        limit=limit,
        after=after_cursor,
        before=before_cursor,
        predicate=predicate,
        empty_page_every=ctx.empty_page_every,
    )
    data = [
        render_conversation(world, world.conversation_for_key(key), selections, ctx)
        for key in page.keys
    ]
    return _paged(data, page, KIND_CONVERSATIONS, scope, ctx.url(path, query), ctx)
