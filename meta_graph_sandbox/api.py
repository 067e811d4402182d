"""The Graph API itself, independent of HTTP: routing, the call pipeline, handlers and batch.

Keeping this layer free of sockets lets the batch endpoint run its items through exactly the
pipeline a plain call takes (faults, auth, permissions, rate limit, rendering, counting), and
lets the benchmark time a handler without the network in the way.

Order of checks for one operation, as Graph appears to apply them: the ``ids`` removal, then
faults (they hit any call), the token and appsecret_proof, the object (100/33), the Instagram
link (2534013), permissions (per platform), the rate limit, and finally the data.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from meta_graph_sandbox import fields as f
from meta_graph_sandbox.auth import (
    TokenInfo,
    TokenStore,
    require_permissions,
    token_from_header,
)
from meta_graph_sandbox.errors import (
    CODE_DEPRECATED,
    CODE_INSTAGRAM_LIMIT,
    CODE_MESSENGER_LIMIT,
    RATE_LIMIT_HELP,
    GraphError,
    instagram_not_linked,
    invalid_parameter,
    message_deleted,
    object_missing,
    reduce_data,
    syntax_error,
)
from meta_graph_sandbox.faults import USAGE_HIGH_LEVEL, FaultPlan, TransportFault
from meta_graph_sandbox.ratelimit import (
    USAGE_THRESHOLD,
    Entry,
    RateLimiter,
    Usage,
    usage_headers,
)
from meta_graph_sandbox.render import (
    Composite,
    RenderContext,
    encode_json,
    parse_limit,
    render_attachment_page,
    render_conversation,
    render_conversation_page,
    render_message,
    render_message_page,
    repeated_query,
)
from meta_graph_sandbox.stats import Stats
from meta_graph_sandbox.world import (
    FOLDERS,
    INSTAGRAM,
    MESSENGER,
    PLATFORM_CODE,
    Conversation,
    World,
)

CURRENT_VERSION = "v26.0"
OLDEST_VERSION = "v24.0"
MAX_BATCH = 50
_VERSION = re.compile(r"^v(\d+)\.(\d+)$")

PAGE = f.Node("Page", {"id": f.SCALAR, "name": f.SCALAR}, defaults=("id", "name"))


@dataclass
class ApiRequest:
    """One HTTP request as the API layer sees it (header names lower-cased)."""

    method: str
    path: str
    query: list[tuple[str, str]]
    form: list[tuple[str, str]] = field(default_factory=list)
    headers: Mapping[str, str] = field(default_factory=dict)
    base: str = "http://127.0.0.1"


@dataclass
class ApiResponse:
    """The answer: status, JSON payload, headers, and how the transport must deliver it."""

    status: int
    payload: Any
    headers: dict[str, str]
    transport: TransportFault = field(default_factory=TransportFault)

    def body(self) -> bytes:
        """Compact JSON with ``/`` escaped as ``\\/``, the way Graph writes its answers."""
        return encode_json(self.payload)


@dataclass
class Target:
    """What a path addresses, worked out before authentication so that it can be counted."""

    route: str
    platform: str | None = None
    conversation: Conversation | None = None
    seq: int | None = None
    error: GraphError | None = None
    edge: str | None = None  # "attachments" for /{message-id}/attachments


@dataclass
class Operation:
    """One API operation: a plain call or one batch item."""

    method: str
    path: str
    params: dict[str, str]
    query_keys: list[tuple[str, str]]
    token: str | None
    proof: str | None
    base: str


@dataclass
class OperationResult:
    """Status, payload and headers of one operation."""

    status: int
    payload: Any
    headers: dict[str, str]


def split_version(path: str) -> tuple[str, str, list[str]]:
    """Return (requested version, answering version, remaining path segments)."""
    segments = [s for s in path.split("/") if s]
    requested = CURRENT_VERSION
    if segments and _VERSION.match(segments[0]):
        requested = segments.pop(0)
    match = _VERSION.match(requested)
    answering = requested
    # The notes: an expired version silently falls back to the oldest usable one.
    if match and (int(match.group(1)), int(match.group(2))) < (24, 0):
        answering = OLDEST_VERSION
    return requested, answering, segments


class GraphApi:
    """Routes and answers Graph calls against one world."""

    def __init__(
        self,
        world: World,
        tokens: TokenStore,
        stats: Stats,
        faults: FaultPlan,
        limiter: RateLimiter,
        *,
        instagram_linked: bool = True,
        latency_ms: int = 0,
    ) -> None:
        self.world = world
        self.tokens = tokens
        self.stats = stats
        self.faults = faults
        self.limiter = limiter
        self.instagram_linked = instagram_linked and INSTAGRAM in world.platforms
        self.latency = latency_ms / 1000.0

    # ------------------------------------------------------------------ entry point
    def handle(self, request: ApiRequest) -> ApiResponse:
        """Answer one HTTP request to the Graph API (never an admin route)."""
        params = dict(request.query)
        for key, value in request.form:
            params.setdefault(key, value)
        _, version, segments = split_version(request.path)
        token = params.get("access_token") or _header_token(request.headers)
        proof = params.get("appsecret_proof")
        transport = self.faults.transport()
        if transport.delay:
            self.stats.fault("slow")
        if transport.hold:
            self.stats.fault("hang")
        if transport.kind is not None:
            self.stats.fault(transport.kind)
        if self.latency:
            transport = replace(transport, delay=transport.delay + self.latency)
        if request.method == "POST" and not segments:
            result = self._batch(params, token, proof, request.base)
        else:
            operation = Operation(
                request.method,
                request.path,
                params,
                request.query,
                token,
                proof,
                request.base,
            )
            result = self._operation(operation, in_batch=False)
        headers = {"facebook-api-version": version, **result.headers}
        return ApiResponse(result.status, result.payload, headers, transport)

    # ------------------------------------------------------------------ one operation
    def _classify(self, method: str, segments: list[str], params: Mapping[str, str]) -> Target:
        world = self.world
        page_id = world.page.page.id
        if not segments:
            return Target("other", error=object_missing("", method.lower()))
        head, rest = segments[0], segments[1:]
        extra = "/" + "/".join(rest)
        if head in ("me", page_id):
            if not rest:
                return Target("me", MESSENGER)
            if rest == ["conversations"]:
                return self._conversations_target(params)
            return Target("me", MESSENGER, error=syntax_error(f"Unknown path components: {extra}"))
        if rest == ["conversations"] and head.isdigit():
            target = self._conversations_target(params)
            target.error = object_missing(head, method.lower())
            return target
        with world.lock:
            conversation = world.get_conversation(head)
            found = None if conversation else world.find_message(head)
        if conversation is not None:
            if not rest:
                return Target("conversation", conversation.platform, conversation)
            if rest == ["messages"]:
                return Target("conversation_messages", conversation.platform, conversation)
            return Target(
                "conversation",
                conversation.platform,
                conversation,
                error=syntax_error(f"Unknown path components: {extra}"),
            )
        if found is not None:
            conversation, seq = found
            if rest == ["attachments"]:
                return Target(
                    "message", conversation.platform, conversation, seq, edge="attachments"
                )
            error = syntax_error(f"Unknown path components: {extra}") if rest else None
            return Target("message", conversation.platform, conversation, seq, error)
        return Target("other", error=object_missing(head, method.lower()))

    def _conversations_target(self, params: Mapping[str, str]) -> Target:
        raw = params.get("platform")
        platform = (raw or MESSENGER).strip().lower()
        if platform not in PLATFORM_CODE:
            return Target(
                "conversations",
                error=invalid_parameter(
                    f'Param platform must be one of {{MESSENGER, INSTAGRAM}} - got "{raw}"'
                ),
            )
        return Target("conversations", platform)

    def _operation(self, op: Operation, *, in_batch: bool) -> OperationResult:
        _, version, segments = split_version(op.path)
        target = self._classify(op.method, segments, op.params)
        if in_batch:
            self.stats.batch_item(target.route)
        else:
            self.stats.call(target.route)
        if target.platform is not None:
            self.stats.platform(target.platform)
        entry: Entry | None = None
        started, started_cpu = time.perf_counter(), time.thread_time()
        try:
            if "ids" in op.params:
                raise GraphError(CODE_DEPRECATED, "(#12) The ids parameter is no longer supported")
            fault = self.faults.operation(
                main_token=self.tokens.is_main(op.token), after=op.params.get("after")
            )
            if fault.error is not None:
                self.stats.fault(fault.name or "")
                if fault.name == "rate-limit-storm":
                    full = Usage(100, 100, 100)
                    fault.error.headers.update(
                        self._usage_headers(target.platform or MESSENGER, full, full)
                    )
                raise fault.error
            info = self.tokens.authenticate(op.token, op.proof)
            if target.error is not None:
                raise target.error
            if (
                target.route == "conversations"
                and target.platform == INSTAGRAM
                and not self.instagram_linked
            ):
                raise instagram_not_linked()
            if target.platform is not None and target.route != "me":
                self._require_permissions(info, target.platform, fault.revoked)
            headers: dict[str, str] = {}
            if self.limiter.enabled and target.platform is not None:
                entry, headers = self._admit(target.platform)
            payload = self._dispatch(target, op, version)
            if entry is not None:
                headers = self._usage_after(target.platform or MESSENGER)
            if fault.usage_minutes is not None:
                # Someone else spends the Page's budget: Meta says so on a successful answer.
                self.stats.fault("usage-high")
                high = Usage(USAGE_HIGH_LEVEL, USAGE_HIGH_LEVEL, USAGE_HIGH_LEVEL)
                headers = usage_headers(
                    self._object_for(target.platform or MESSENGER),
                    target.platform or MESSENGER,
                    high,
                    high,
                    regain_minutes=fault.usage_minutes,
                )
            return OperationResult(200, payload, headers)
        except GraphError as error:
            self.stats.error(error.code)
            return OperationResult(error.status, error.envelope(), dict(error.headers))
        finally:
            if entry is not None:
                entry.wall = time.perf_counter() - started
                entry.cpu = time.thread_time() - started_cpu

    def _require_permissions(self, info: TokenInfo, platform: str, revoked: frozenset[str]) -> None:
        """The permission check, with what the permission-revoked fault took away."""
        if not revoked:
            require_permissions(info, platform)
            return
        try:
            require_permissions(replace(info, permissions=info.permissions - revoked), platform)
        except GraphError:
            self.stats.fault("permission-revoked")
            raise

    # ------------------------------------------------------------------ rate limit
    def _object_for(self, platform: str) -> str:
        page = self.world.page
        return page.instagram.id if platform == INSTAGRAM else page.page.id

    def _usage_headers(self, platform: str, usage: Usage, app: Usage) -> dict[str, str]:
        return usage_headers(self._object_for(platform), platform, usage, app)

    def _admit(self, platform: str) -> tuple[Entry, dict[str, str]]:
        key = (self._object_for(platform), platform)
        allowed, entry = self.limiter.admit(key)
        if allowed:
            return entry, {}
        self.stats.rate_limited()
        headers = self._usage_headers(platform, self.limiter.usage(key), self.limiter.app_usage())
        if platform == INSTAGRAM:
            code, what = CODE_INSTAGRAM_LIMIT, "calls to this Instagram account"
        else:
            code, what = CODE_MESSENGER_LIMIT, "messages requests to this Page account"
        raise GraphError(
            code,
            f"(#{code}) There have been too many {what}. Wait a bit and try again. "
            f"For more info, please refer to {RATE_LIMIT_HELP}.",
            is_transient=True,
            headers=headers,
        )

    def _usage_after(self, platform: str) -> dict[str, str]:
        key = (self._object_for(platform), platform)
        usage = self.limiter.usage(key)
        if usage.peak < USAGE_THRESHOLD:
            return {}
        return self._usage_headers(platform, usage, self.limiter.app_usage())

    # ------------------------------------------------------------------ handlers
    def _render_context(self, op: Operation, version: str) -> RenderContext:
        echo = [(k, v) for k, v in op.query_keys if k in ("access_token", "appsecret_proof")]
        if self.faults.token_in_links():
            # As if the credentials had come in the query, however they came.
            self.stats.fault("token-in-links")
            echo = [
                (k, v) for k, v in (("access_token", op.token), ("appsecret_proof", op.proof)) if v
            ]
        return RenderContext(
            base=op.base,
            version=version,
            echo=echo,
            empty_page_every=self.faults.empty_page_every,
            on_empty_page=self._empty_page_served,
        )

    def _empty_page_served(self) -> None:
        self.stats.fault("empty-page")
        self.faults.empty_page_served()

    def _dispatch(self, target: Target, op: Operation, version: str) -> Any:
        if op.method not in ("GET", "HEAD"):
            raise object_missing(op.path.strip("/").split("/")[-1], op.method.lower())
        handler: Callable[[Target, Operation, RenderContext], Any] = {
            "me": self._me,
            "conversations": self._conversations,
            "conversation": self._conversation,
            "conversation_messages": self._conversation_messages,
            "message": self._message_attachments if target.edge else self._message,
        }[target.route]
        with self.world.lock:
            # Built under the lock: an empty-page@once decision and its page go out together.
            ctx = self._render_context(op, version)
            payload = handler(target, op, ctx)
        after = op.params.get("after")
        paged = target.route in ("conversations", "conversation_messages")
        if paged and after and _has_next(payload) and self.faults.repeat_cursor():
            _repeat(payload, after)
            self.stats.fault("repeat-cursor")
        limit = self.faults.value("reduce-data")
        if limit is not None and ctx.objects > limit and self.faults.data_fault("reduce-data"):
            self.stats.fault("reduce-data")
            raise reduce_data()
        return payload

    def _me(self, target: Target, op: Operation, ctx: RenderContext) -> Any:
        page = self.world.page.page
        values = {"id": page.id, "name": page.name}
        out = {s.name: values[s.name] for s in f.select(op.params.get("fields"), PAGE)}
        out.setdefault("id", page.id)
        return out

    def _conversations(self, target: Target, op: Operation, ctx: RenderContext) -> Any:
        params = op.params
        platform = target.platform or MESSENGER
        user_id = params.get("user_id")
        fields_text = params.get("fields")
        if user_id is not None and not (fields_text or "").strip():
            fields_text = "id"  # the guide's user_id answer is just the id
        selections = f.select(fields_text, f.CONVERSATION)
        limit = parse_limit(params.get("limit"))
        world = self.world
        if platform not in world.platforms:
            return Composite(data=[])
        if user_id is not None:
            found = world.conversation_by_user(platform, user_id.strip())
            data = [render_conversation(world, found, selections, ctx)] if found else []
            return Composite(data=data)
        folder = params.get("folder")
        predicate: Callable[[tuple[int, str]], bool] | None = None
        if folder:
            wanted = folder.strip().lower()
            if wanted not in FOLDERS:
                choices = ", ".join(name.upper() for name in FOLDERS)
                raise invalid_parameter(
                    f'Param folder must be one of {{{choices}}} - got "{folder}"'
                )

            def predicate(key: tuple[int, str]) -> bool:
                return world.conversation_for_key(key).folder == wanted

        path = "/".join(s for s in op.path.split("/") if s and not _VERSION.match(s))
        return render_conversation_page(
            world,
            platform,
            selections,
            limit=limit,
            after=params.get("after"),
            before=params.get("before"),
            predicate=predicate,
            ctx=ctx,
            path=path,
            query=repeated_query(op.query_keys, limit, ctx.echo),
        )

    def _conversation(self, target: Target, op: Operation, ctx: RenderContext) -> Any:
        assert target.conversation is not None
        selections = f.select(op.params.get("fields"), f.CONVERSATION)
        return render_conversation(self.world, target.conversation, selections, ctx)

    def _conversation_messages(self, target: Target, op: Operation, ctx: RenderContext) -> Any:
        assert target.conversation is not None
        params = op.params
        fields_text = params.get("fields")
        limit = parse_limit(params.get("limit"))
        return render_message_page(
            self.world,
            target.conversation,
            f.select(fields_text, f.MESSAGE),
            signature=(fields_text or "").strip(),
            limit=limit,
            after=params.get("after"),
            before=params.get("before"),
            ctx=ctx,
            query=repeated_query(op.query_keys, limit, ctx.echo),
        )

    def _message(self, target: Target, op: Operation, ctx: RenderContext) -> Any:
        assert target.conversation is not None
        assert target.seq is not None
        selections = f.select(op.params.get("fields"), f.MESSAGE)
        if not target.conversation.has_details(target.seq):
            raise message_deleted()
        ctx.objects += 1
        return render_message(self.world, target.conversation, target.seq, selections, ctx=ctx)

    def _message_attachments(self, target: Target, op: Operation, ctx: RenderContext) -> Any:
        assert target.conversation is not None
        assert target.seq is not None
        if not target.conversation.has_details(target.seq):
            raise message_deleted()
        return render_attachment_page(
            self.world,
            target.conversation,
            target.seq,
            after=op.params.get("after"),
            ctx=ctx,
        )

    # ------------------------------------------------------------------ batch
    def _batch(
        self, params: Mapping[str, str], token: str | None, proof: str | None, base: str
    ) -> OperationResult:
        self.stats.call("batch")
        try:
            self.tokens.authenticate(token, proof)
            items = _parse_batch(params.get("batch"))
        except GraphError as error:
            self.stats.error(error.code)
            return OperationResult(error.status, error.envelope(), dict(error.headers))
        include_headers = params.get("include_headers", "true").lower() != "false"
        cut = self.faults.batch_cut(len(items))
        if cut is not None:
            self.stats.fault("batch-timeout")
        results: list[Any] = []
        last_headers: dict[str, str] = {}
        for index, item in enumerate(items):
            if cut is not None and index >= cut:
                results.append(None)  # unfinished when the batch timed out: retry these
                continue
            method = str(item.get("method", "GET")).upper()
            split = urlsplit("/" + str(item.get("relative_url", "")).lstrip("/"))
            query = parse_qsl(split.query, keep_blank_values=True)
            operation = Operation(method, split.path, dict(query), query, token, proof, base)
            result = self._operation(operation, in_batch=True)
            _, version, _ = split_version(split.path)
            headers = {
                "Content-Type": "text/javascript; charset=UTF-8",
                "facebook-api-version": version,
                **result.headers,
            }
            if result.headers:
                last_headers = dict(result.headers)
            entry: dict[str, Any] = {"code": result.status}
            if include_headers:
                entry["headers"] = [{"name": k, "value": v} for k, v in headers.items()]
            entry["body"] = encode_json(result.payload).decode("ascii")
            results.append(entry)
        return OperationResult(200, results, last_headers)


def _has_next(payload: Any) -> bool:
    """Whether a page says more follow (only those can send a client back: repeat-cursor)."""
    paging = payload.get("paging") if isinstance(payload, dict) else None
    return isinstance(paging, dict) and "next" in paging


def _repeat(payload: Any, after: str) -> None:
    """Make a page's ``next`` (and ``cursors.after``) repeat the cursor it was asked after.

    What a stale cursor can do: a client that follows ``after`` alone pages forever.
    """
    paging = payload["paging"]
    cursors = paging.get("cursors") or {}
    old = cursors.get("after")
    if old:
        paging["cursors"] = {**cursors, "after": after}
        paging["next"] = str(paging["next"]).replace(f"after={old}", f"after={after}")


def _header_token(headers: Mapping[str, str]) -> str | None:
    return token_from_header(headers.get("authorization"))


def _parse_batch(raw: str | None) -> list[dict[str, Any]]:
    """The ``batch`` parameter: a JSON array of at most 50 operations."""
    if raw is None:
        raise invalid_parameter("The parameter batch is required")
    try:
        items = json.loads(raw)
    except ValueError:
        raise invalid_parameter("The parameter batch must be a JSON array") from None
    if not isinstance(items, list) or not items:
        raise invalid_parameter("The parameter batch must be a non-empty JSON array")
    if len(items) > MAX_BATCH:
        raise invalid_parameter(
            f"Too many requests in batch message. Maximum batch size is {MAX_BATCH}"
        )
    for item in items:
        if not isinstance(item, dict) or "relative_url" not in item:
            raise invalid_parameter("Each batch operation needs a method and a relative_url")
    return items
