"""Graph API error envelopes, in one table.

Every error the sandbox serves goes through :class:`GraphError`, so the envelope is the same
everywhere: ``{"error": {"message", "type", "code", "error_subcode"?, "fbtrace_id", ...}}``.
The codes are named constants because the connector decides on ``error.code`` and
``error_subcode``, never on the HTTP status; a typo in a bare number would make the sandbox test
the wrong branch of the connector.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

# Graph error codes the sandbox serves (see docs/sandbox.md and the Graph notes' error table).
CODE_UNKNOWN = 1
CODE_TRANSIENT = 2
CODE_APP_RATE_LIMIT = 4
CODE_PERMISSION = 10
CODE_DEPRECATED = 12
CODE_USER_RATE_LIMIT = 17
CODE_PAGE_RATE_LIMIT = 32
CODE_INVALID_PARAMETER = 100
CODE_TOKEN_MISSING = 104
CODE_TOKEN = 190
CODE_PERMISSION_200 = 200
CODE_PAGES_MESSAGING = 230
CODE_API_RATE_LIMIT = 613
CODE_SYNTAX = 2500
CODE_PAGE_BUC_LIMIT = 80001
CODE_INSTAGRAM_LIMIT = 80002
CODE_MESSENGER_LIMIT = 80006
CODE_MESSAGE_DELETED = 9000001

SUBCODE_OBJECT_MISSING = 33
SUBCODE_TOKEN_EXPIRED = 463
SUBCODE_TOKEN_INVALID = 467
SUBCODE_NO_ROLE_ON_PAGE = 492
SUBCODE_INSTAGRAM_NOT_LINKED = 2534013

OAUTH = "OAuthException"
GRAPH_METHOD = "GraphMethodException"

MESSAGE_DELETED_TEXT = "This Message has been deleted by the user or the business."
STALE_CURSOR_TEXT = (
    "(#100) The After Cursor specified exceeds the max limit supported by this endpoint"
)
REDUCE_DATA_TEXT = "Please reduce the amount of data you're asking for, then retry your request"
RATE_LIMIT_HELP = "https://developers.facebook.com/docs/graph-api/overview/rate-limiting"

_trace_counter = itertools.count(1)
_trace_lock = threading.Lock()
_TRACE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def new_fbtrace_id() -> str:
    """Return a fresh fbtrace_id.

    Real ids are opaque 11-character strings; these are derived from a counter (not from
    ``random``) so that they never disturb the seeded data and fault sequences.
    """
    with _trace_lock:
        n = next(_trace_counter)
    n = (n * 0x9E3779B97F4A7C15) & ((1 << 64) - 1)
    chars = []
    for _ in range(11):
        chars.append(_TRACE_ALPHABET[n & 63])
        n >>= 6
    return "A" + "".join(chars[1:])


class GraphError(Exception):
    """An error answer in the Graph envelope, raised anywhere below the HTTP layer.

    ``bare`` reproduces the one answer Graph sends without ``type`` and ``fbtrace_id`` (code 1,
    "Please reduce the amount of data"). ``headers`` carries extra response headers such as the
    usage headers of a throttled answer.
    """

    def __init__(
        self,
        code: int,
        message: str,
        *,
        status: int = 400,
        error_type: str = OAUTH,
        subcode: int | None = None,
        is_transient: bool | None = None,
        user_title: str | None = None,
        user_msg: str | None = None,
        bare: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.error_type = error_type
        self.subcode = subcode
        self.is_transient = is_transient
        self.user_title = user_title
        self.user_msg = user_msg
        self.bare = bare
        self.headers: dict[str, str] = dict(headers or {})

    def envelope(self) -> dict[str, Any]:
        """Return the JSON body Graph would send for this error."""
        if self.bare:
            return {"error": {"code": self.code, "message": self.message}}
        body: dict[str, Any] = {"message": self.message, "type": self.error_type}
        if self.is_transient is not None:
            body["is_transient"] = self.is_transient
        body["code"] = self.code
        if self.subcode is not None:
            body["error_subcode"] = self.subcode
        if self.user_title is not None:
            body["error_user_title"] = self.user_title
        if self.user_msg is not None:
            body["error_user_msg"] = self.user_msg
        body["fbtrace_id"] = new_fbtrace_id()
        return {"error": body}


def nonexisting_field(field: str, node_type: str) -> GraphError:
    """Unknown field: what Graph answers after a version drift or a typo in ``fields``."""
    return GraphError(
        CODE_INVALID_PARAMETER,
        f"(#100) Tried accessing nonexisting field ({field}) on node type ({node_type})",
    )


def object_missing(object_id: str, method: str = "get") -> GraphError:
    """Unknown id, or an id the token may not read (Graph does not tell the two apart)."""
    return GraphError(
        CODE_INVALID_PARAMETER,
        f"Unsupported {method} request. Object with ID '{object_id}' does not exist, cannot be "
        "loaded due to missing permissions, or does not support this operation. Please read "
        "the Graph API documentation at https://developers.facebook.com/docs/graph-api",
        error_type=GRAPH_METHOD,
        subcode=SUBCODE_OBJECT_MISSING,
    )


def invalid_parameter(message: str) -> GraphError:
    """A bad query parameter (limit, platform, cursor, batch...)."""
    return GraphError(CODE_INVALID_PARAMETER, f"(#100) {message}")


def stale_cursor() -> GraphError:
    """An ``after`` cursor Graph no longer accepts (items deleted since, or too deep a cursor)."""
    return GraphError(CODE_INVALID_PARAMETER, STALE_CURSOR_TEXT)


def syntax_error(message: str) -> GraphError:
    """A ``fields`` expression or a path Graph cannot parse (code 2500)."""
    return GraphError(CODE_SYNTAX, message)


def message_deleted() -> GraphError:
    """The 20-message rule: details of an older message are refused with 9000001."""
    return GraphError(CODE_MESSAGE_DELETED, MESSAGE_DELETED_TEXT)


def reduce_data() -> GraphError:
    """The bare HTTP 500 Graph sends when one answer would hold too many objects."""
    return GraphError(CODE_UNKNOWN, REDUCE_DATA_TEXT, status=500, bare=True)


def instagram_not_linked() -> GraphError:
    """platform=instagram on a Page without a linked Instagram professional account."""
    return GraphError(
        CODE_INVALID_PARAMETER,
        "(#100) The Page is not linked to an Instagram professional account.",
        subcode=SUBCODE_INSTAGRAM_NOT_LINKED,
        user_title="Instagram account not linked",
        user_msg="Connect an Instagram professional account to this Facebook Page and retry.",
    )
