"""The ``fields`` parameter: a real parser, the node schemas, and validation against them.

Graph's ``fields`` is a small language: ``id,updated_time,messages.limit(20){id,from{id}}``:
comma lists, nested ``{...}`` to any depth, and modifiers such as ``.limit(n)`` and
``.after(cursor)`` on edges (before or after the braces). The connector builds such expressions
from its manifest, so the sandbox parses them for real instead of matching strings: a field the
node does not know fails with error 100 "Tried accessing nonexisting field", as Graph does after
a version drift, and a malformed expression fails with error 2500.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

from meta_graph_sandbox.errors import (
    GraphError,
    invalid_parameter,
    nonexisting_field,
    syntax_error,
)


class Kind(Enum):
    """How a field's value is shaped, which decides how a sub-selection applies to it."""

    SCALAR = "scalar"  # a string, number or boolean
    OBJECT = "object"  # a plain JSON object: from, reply_to, image_data, story
    LIST = "list"  # {"data": [...]} without paging: participants, to, attachments, tags
    ARRAY = "array"  # a bare JSON array of objects: a reaction's users
    EDGE = "edge"  # a paged edge: messages


@dataclass(frozen=True)
class Field:
    """One field of a node: its shape and, for composite shapes, the node of its items."""

    kind: Kind
    node: Node | None = None


@dataclass(frozen=True, eq=False)
class Node:
    """A node type: its name (as it appears in error 100) and its fields.

    Compared by identity (``eq=False``) so that it can key the parse cache.
    """

    type_name: str
    fields: Mapping[str, Field]
    defaults: tuple[str, ...] = ()


@dataclass(frozen=True)
class FieldExpr:
    """One parsed item of a ``fields`` expression, before validation."""

    name: str
    modifiers: tuple[tuple[str, str], ...] = ()
    children: tuple[FieldExpr, ...] | None = None
    position: int = 0


@dataclass(frozen=True, eq=False)
class Selection:
    """A validated field: the expression joined with its schema entry (hashed by identity).

    ``children`` is None when the field was asked without braces (the whole value, or the
    node's default fields for an edge). ``source`` is the sub-selection as written, which the
    nested ``paging.next`` URL of an edge repeats as its ``fields``.
    """

    name: str
    schema: Field
    modifiers: Mapping[str, str] = field(default_factory=dict)
    children: tuple[Selection, ...] | None = None
    source: str | None = None


SCALAR = Field(Kind.SCALAR)


def _person(type_name: str) -> Node:
    return Node(
        type_name,
        {"id": SCALAR, "name": SCALAR, "email": SCALAR, "username": SCALAR},
    )


def _message_node() -> Node:
    t = "Message"
    ref = Node(t, {"link": SCALAR, "id": SCALAR})
    image_data = Node(
        t,
        {
            name: SCALAR
            for name in (
                "url",
                "preview_url",
                "width",
                "height",
                "max_width",
                "max_height",
                "render_as_sticker",
                "animated_gif_url",
                "animated_gif_preview_url",
            )
        },
    )
    video_data = Node(
        t,
        {
            name: SCALAR
            for name in (
                "url",
                "preview_url",
                "width",
                "height",
                "length",
                "video_type",
                "rotation",
            )
        },
    )
    attachment = Node(
        t,
        {
            "id": SCALAR,
            "name": SCALAR,
            "mime_type": SCALAR,
            "size": SCALAR,
            "file_url": SCALAR,
            "image_data": Field(Kind.OBJECT, image_data),
            "video_data": Field(Kind.OBJECT, video_data),
            "generic_template": SCALAR,
        },
    )
    share = Node(
        t,
        {name: SCALAR for name in ("id", "link", "name", "description", "picture", "template")},
    )
    person = _person(t)
    reaction_user = Node(t, {"id": SCALAR, "username": SCALAR})
    return Node(
        t,
        {
            "id": SCALAR,
            "created_time": SCALAR,
            "from": Field(Kind.OBJECT, person),
            "to": Field(Kind.LIST, person),
            "message": SCALAR,
            "reply_to": Field(Kind.OBJECT, Node(t, {"mid": SCALAR, "is_self_reply": SCALAR})),
            "attachments": Field(Kind.LIST, attachment),
            "shares": Field(Kind.LIST, share),
            "sticker": SCALAR,
            "story": Field(
                Kind.OBJECT,
                Node(t, {"reply_to": Field(Kind.OBJECT, ref), "mention": Field(Kind.OBJECT, ref)}),
            ),
            "tags": Field(Kind.LIST, Node(t, {"name": SCALAR})),
            "reactions": Field(
                Kind.LIST,
                Node(
                    t,
                    {"reaction": SCALAR, "users": Field(Kind.ARRAY, reaction_user)},
                ),
            ),
            "is_unsupported": SCALAR,
        },
        defaults=("id", "created_time"),
    )


MESSAGE = _message_node()


def _conversation_node() -> Node:
    person = Field(Kind.LIST, _person("Conversation"))
    scalars = (
        "id",
        "updated_time",
        "is_owner",
        "can_reply",
        "folder",
        "is_subscribed",
        "link",
        "message_count",
        "name",
        "scoped_thread_key",
        "snippet",
        "subject",
        "unread_count",
        "wallpaper",
    )
    fields: dict[str, Field] = {name: SCALAR for name in scalars}
    fields["participants"] = person
    fields["former_participants"] = person
    fields["senders"] = person
    fields["messages"] = Field(Kind.EDGE, MESSAGE)
    return Node("Conversation", fields, defaults=("id", "updated_time"))


CONVERSATION = _conversation_node()

# Modifiers the sandbox understands, per field kind. Graph knows more (since, until, summary...),
# none of which the Conversations API documents for these edges.
_EDGE_MODIFIERS = frozenset({"limit", "after", "before"})
_LIST_MODIFIERS = frozenset({"limit"})


class _Parser:
    """Recursive-descent parser for one ``fields`` expression."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, expected: str) -> GraphError:
        found = repr(self.text[self.pos]) if self.pos < len(self.text) else "end of string"
        return syntax_error(
            f'Syntax error "Expected {expected} instead of {found}." at character '
            f"{self.pos}: {self.text}"
        )

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\r\n":
            self.pos += 1

    def name(self) -> str:
        start = self.pos
        while self.pos < len(self.text) and (
            self.text[self.pos].isalnum() or self.text[self.pos] == "_"
        ):
            self.pos += 1
        if self.pos == start:
            raise self.fail("a field name")
        return self.text[start : self.pos]

    def field_list(self, closing: str | None) -> tuple[FieldExpr, ...]:
        items: list[FieldExpr] = []
        while True:
            self.skip_ws()
            if self.pos < len(self.text) and self.text[self.pos] == ",":
                # Graph tolerates empty items ("id,,name"): skip them.
                self.pos += 1
                continue
            if self.pos >= len(self.text) or (closing and self.text[self.pos] == closing):
                break
            items.append(self.item())
            self.skip_ws()
            if self.pos < len(self.text) and self.text[self.pos] == ",":
                self.pos += 1
                continue
            if self.pos >= len(self.text) or (closing and self.text[self.pos] == closing):
                break
            raise self.fail("',' or end of list")
        if closing is not None:
            if self.pos >= len(self.text):
                raise self.fail(f"'{closing}'")
            self.pos += 1
        return tuple(items)

    def item(self) -> FieldExpr:
        position = self.pos
        name = self.name()
        modifiers: list[tuple[str, str]] = []
        children: tuple[FieldExpr, ...] | None = None
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == ".":
                self.pos += 1
                modifier = self.name()
                if self.pos >= len(self.text) or self.text[self.pos] != "(":
                    raise self.fail("'('")
                end = self.text.find(")", self.pos)
                if end < 0:
                    raise self.fail("')'")
                modifiers.append((modifier, self.text[self.pos + 1 : end].strip()))
                self.pos = end + 1
            elif char == "{":
                if children is not None:
                    raise self.fail("',' or end of list")
                self.pos += 1
                children = self.field_list("}")
            else:
                break
        return FieldExpr(name, tuple(modifiers), children, position)


def parse(text: str) -> tuple[FieldExpr, ...]:
    """Parse a ``fields`` expression into items; raise error 2500 when it is malformed."""
    parser = _Parser(text)
    items = parser.field_list(None)
    if parser.pos != len(text):  # pragma: no cover - field_list consumes everything or fails
        raise parser.fail("end of string")
    return items


def unparse(items: tuple[FieldExpr, ...]) -> str:
    """Write parsed items back as a ``fields`` expression (used for nested ``paging.next``)."""
    parts = []
    for item in items:
        text = item.name + "".join(f".{name}({arg})" for name, arg in item.modifiers)
        if item.children is not None:
            text += "{" + unparse(item.children) + "}"
        parts.append(text)
    return ",".join(parts)


def _validate(items: tuple[FieldExpr, ...], node: Node) -> tuple[Selection, ...]:
    selections: dict[str, Selection] = {}
    for item in items:
        schema = node.fields.get(item.name)
        if schema is None:
            raise nonexisting_field(item.name, node.type_name)
        allowed = (
            _EDGE_MODIFIERS
            if schema.kind is Kind.EDGE
            else _LIST_MODIFIERS
            if schema.kind is Kind.LIST
            else frozenset()
        )
        modifiers: dict[str, str] = {}
        for name, arg in item.modifiers:
            if name not in allowed:
                raise invalid_parameter(f"Unsupported modifier ({name}) on field ({item.name})")
            if name == "limit" and not _is_int(arg):
                raise invalid_parameter(f"The limit modifier on ({item.name}) must be a number")
            modifiers[name] = arg
        children: tuple[Selection, ...] | None = None
        if item.children is not None:
            if schema.node is None:
                if item.children:
                    raise nonexisting_field(item.children[0].name, node.type_name)
            else:
                children = _validate(item.children, schema.node)
        # A repeated field: the last mention wins, as with Graph's own merge.
        selections[item.name] = Selection(
            item.name,
            schema,
            modifiers,
            children,
            unparse(item.children) if item.children is not None else None,
        )
    return tuple(selections.values())


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


@functools.lru_cache(maxsize=512)
def select(text: str | None, node: Node) -> tuple[Selection, ...]:
    """Parse and validate ``fields`` for a node; None or blank means the node's defaults.

    Cached: the connector sends the same few expressions thousands of times, and parsing is
    the part of a request that does not depend on the data.
    """
    if text is None or not text.strip():
        items = tuple(FieldExpr(name) for name in node.defaults)
    else:
        items = parse(text)
    return _validate(items, node)
