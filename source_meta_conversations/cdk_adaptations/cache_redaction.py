"""No credential in the CDK's HTTP cache: not in the URLs it keeps, nor in bodies (process-wide).

Replaces: ``CachedLimiterSession.__init__`` (airbyte_cdk.sources.streams.call_rate), wrapped; what
it changes after the CDK built the session is public requests-cache API (``settings`` and the
responses' serializer). Written for: airbyte-cdk 7.39.1 (requests-cache 1.3.3). Installed by
``cdk_adaptations.install()``.

Why: the child streams read the conversations pages from the CDK's HTTP cache, a requests-cache
SQLite file under ``REQUEST_CACHE_PATH`` (a temporary directory the CDK's entrypoint makes under
``TMPDIR``). It is removed when the command ends normally, but it is on disk while the sync runs
and left behind when the process is killed. requests-cache stores, for every 200 it keeps, the
request (URL, headers) and the response (URL, headers, body). By default it writes ``REDACTED``
for the ``Authorization`` header and an ``access_token`` query parameter, which covers the token
as the connector sends it (in the header). Two credentials were left:

1. the ``appsecret_proof`` that the manifest puts in every request's query: it is added to
   ``settings.ignored_parameters``, with which requests-cache writes ``REDACTED`` for its value
   in the stored request and response URLs and in the cache key. The proof is the same for
   every call of a sync, so the key loses nothing: pages still differ by ``after``, ``fields``
   and ``limit``;
2. the bodies: Graph writes the credentials it was given in the query (the proof, and the token
   when it came there) into the ``paging.next``/``paging.previous`` links of a page and of every
   list nested in it (an ``attachments`` list), and requests-cache stores the body as received.
   A first stage of the responses' serializer (requests-cache's ``SerializerPipeline`` of
   ``Stage``\\s) writes ``REDACTED`` for the values of ``access_token`` and ``appsecret_proof``
   in those links, in the copy it stores, before it is pickled. (requests-cache puts the
   serializer's name and number of stages in every key: all the sessions of the process get
   this same pipeline, so the children's sessions find what the parent's stored.)

What the connector reads is unchanged: the response from the network is not touched (the CDK
logs it, masked); a page read back from the cache differs from it only in those two values,
and the connector never follows a link: it pages with ``paging.cursors.after`` (or the ``after``
of a ``next`` link, which is kept). Only links are rewritten, never another string: a message's
text saying ``access_token=...`` is data and stays as sent. Redirect history is left as
requests-cache stores it: Graph's edges answer without redirects.

Why at the session's construction: the CDK builds the session and its SQLite backend itself
(``HttpClient._request_session``) with no option for either, once per requester; changing it
there, before its first request, means no response is ever written unredacted (a body written
then rewritten could stay in SQLite's free pages or its WAL file). A response hook would be
public too, but it rewrites the response the connector and its debug logs read.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import attrs
from airbyte_cdk.sources.streams.call_rate import CachedLimiterSession
from requests_cache import SQLiteDict
from requests_cache.models import CachedResponse
from requests_cache.policy import CacheSettings
from requests_cache.serializers import SerializerPipeline, Stage

from source_meta_conversations.cdk_adaptations.registry import (
    CdkAdaptationError,
    ProcessPatch,
    named_in_methods,
)

# The query parameters that carry a credential of the call, in a request or in a Graph link.
CREDENTIAL_PARAMETERS = ("access_token", "appsecret_proof")
# What requests-cache writes for an ignored parameter's value; the links say the same.
REDACTED = b"REDACTED"

# A JSON string value of a "next" or "previous" key (Graph's paging links), as it is in the
# raw body: escapes kept, and up to the end of the body when it is cut short.
_LINK = re.compile(rb'"(?:next|previous)"\s*:\s*"[^"\\]*(?:\\.[^"\\]*)*(?:"|\Z)')
# A credential parameter in such a link (``&`` may come escaped as ``\u0026``, ``/`` as ``\/``):
# its name, then its value up to the next parameter, a fragment or the end of the string.
_CREDENTIAL = re.compile(
    rb"((?:[?&]|\\u0026)(?:" + b"|".join(p.encode() for p in CREDENTIAL_PARAMETERS) + rb")=)"
    rb'(?:[^&#"\\]|\\/)*'
)


def redact_links(body: bytes) -> bytes:
    """``body`` with ``REDACTED`` for every credential in its paging links.

    Example: ``{"paging": {"next": "https://g/v26.0/1/conversations?access_token=EAAB&after=QV"}}``
    becomes ``{"paging": {"next": "https://g/v26.0/1/conversations?access_token=REDACTED&after=QV"}}``;
    a body without a credential parameter is returned as it is.
    """
    if not any(name.encode() + b"=" in body for name in CREDENTIAL_PARAMETERS):
        return body
    return _LINK.sub(lambda link: _CREDENTIAL.sub(rb"\1" + REDACTED, link.group(0)), body)


def _redacted_response(response: CachedResponse) -> CachedResponse:
    """The response to store: a copy whose body has no credential in its links."""
    body = response.content
    if not isinstance(body, bytes):
        return response
    redacted = redact_links(body)
    if redacted is body:
        return response
    return attrs.evolve(response, content=redacted)


def _unchanged(response: CachedResponse) -> CachedResponse:
    return response


# The serializer's first stage: it redacts what is stored, and reads back what is stored.
REDACT_LINKS = Stage(dumps=_redacted_response, loads=_unchanged)


def keep_no_credential(session: CachedLimiterSession) -> None:
    """Make ``session``'s cache store no credential (idempotent; see the module docstring)."""
    settings = session.settings
    settings.ignored_parameters = tuple(
        dict.fromkeys([*(settings.ignored_parameters or ()), *CREDENTIAL_PARAMETERS])
    )
    responses = session.cache.responses
    serializer = responses.serializer
    if (
        isinstance(serializer, SerializerPipeline)
        and next(iter(serializer.stages), None) is REDACT_LINKS
    ):
        return  # this storage is already redacting
    if not isinstance(serializer, SerializerPipeline):
        raise CdkAdaptationError(
            f"The CDK's HTTP cache stores its responses with {serializer!r}, not a requests-cache "
            "SerializerPipeline: the connector cannot keep credentials out of it "
            "(cdk_adaptations/cache_redaction.py, written for requests-cache 1.3.3)."
        )
    responses.serializer = SerializerPipeline(
        [REDACT_LINKS, *serializer.stages], name=serializer.name, is_binary=serializer.is_binary
    )


_ORIGINAL_INIT = CachedLimiterSession.__init__


def _init(self: CachedLimiterSession, *args: Any, **kwargs: Any) -> None:
    _ORIGINAL_INIT(self, *args, **kwargs)
    keep_no_credential(self)


def check() -> None:
    """Raise unless the session, its settings and its storage have what ``keep_no_credential``
    changes, and a stored response can be copied with another body."""
    problems = []
    if "ignored_parameters" not in attrs.fields_dict(CacheSettings):
        problems.append("CacheSettings has no ignored_parameters")
    if not hasattr(CachedLimiterSession, "settings") or not named_in_methods(
        CachedLimiterSession, "cache"
    ):
        problems.append("CachedLimiterSession has no settings or cache")
    default = inspect.signature(SQLiteDict.__init__).parameters.get("serializer")
    if default is None or not isinstance(default.default, SerializerPipeline):
        problems.append("SQLiteDict no longer stores with a SerializerPipeline by default")
    if not {"stages", "name", "is_binary"} <= set(vars(SerializerPipeline([], name="check"))):
        problems.append("SerializerPipeline no longer has stages, name and is_binary")
    if "content" not in {field.alias for field in attrs.fields(CachedResponse)}:
        problems.append("CachedResponse is no longer built from its content")
    if problems:
        raise CdkAdaptationError(
            "The HTTP cache of the installed airbyte-cdk (requests-cache) changed shape: "
            + "; ".join(problems)
            + ". cdk_adaptations/cache_redaction.py keeps credentials out of it and was written "
            "for airbyte-cdk 7.39.1 with requests-cache 1.3.3."
        )


def install() -> None:
    """Make every cached session the CDK builds store no credential (idempotent)."""
    CachedLimiterSession.__init__ = _init  # type: ignore[method-assign,assignment]


PATCH = ProcessPatch(
    target="airbyte_cdk.sources.streams.call_rate.CachedLimiterSession.__init__",
    why="the HTTP cache on disk holds no appsecret_proof or token, in URLs or in paging links",
    check=check,
    install=install,
)
