"""The HTTP side: a keep-alive ``ThreadingHTTPServer`` on loopback, and the :class:`Sandbox`.

Only the standard library, so the sandbox runs wherever the connector does. Two details matter
for a benchmark that counts milliseconds: ``TCP_NODELAY`` on every accepted socket (without it
each keep-alive answer waits ~40 ms for Nagle and delayed ACK), and exact ``Content-Length``
on HTTP/1.1 so the client can reuse the connection.

Transport faults (slow, malformed, reset) are enacted here, after the API layer decided them.
"""

from __future__ import annotations

import contextlib
import json
import re
import select
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit

from meta_graph_sandbox.api import (
    CURRENT_VERSION,
    ApiRequest,
    ApiResponse,
    GraphApi,
)
from meta_graph_sandbox.auth import TokenStore
from meta_graph_sandbox.errors import new_fbtrace_id
from meta_graph_sandbox.faults import FaultPlan
from meta_graph_sandbox.options import SandboxOptions
from meta_graph_sandbox.ratelimit import RateLimiter
from meta_graph_sandbox.stats import Stats
from meta_graph_sandbox.world import World

ADMIN_PREFIX = "/_sandbox/"
_QUERY = re.compile(r"\?[^\s'\"]*")
MAX_BODY = 8 * 1024 * 1024


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that sets TCP_NODELAY and can close its keep-alive connections."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        """Accept a connection with Nagle off, and remember it for shutdown."""
        connection, address = super().get_request()
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._connections_lock:
            self._connections.add(connection)
        return connection, address

    def shutdown_request(self, request: Any) -> None:
        """Forget a finished connection."""
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        """End idle keep-alive connections so their handler threads exit."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


def _redact(text: str) -> str:
    """Drop query strings from a log line, so no token or proof reaches stderr."""
    return _QUERY.sub("?...", text)


class _Handler(BaseHTTPRequestHandler):
    """One connection: parses requests, routes admin vs Graph, writes answers."""

    protocol_version = "HTTP/1.1"
    server_version = "GraphSandbox/1.0"
    timeout = 120  # idle keep-alive connections end after this many seconds

    def version_string(self) -> str:
        """The ``Server`` header: no Python version."""
        return self.server_version

    @property
    def sandbox(self) -> Sandbox:
        return cast(_Server, self.server).sandbox

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet unless --verbose; anything after a ``?`` is cut (a query may carry a token).

        The base class logs malformed request lines verbatim, query string included.
        """
        if self.sandbox.options.verbose:
            sys.stderr.write(f"sandbox: {_redact(format % args)}\n")

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Log method, path without query, and status."""
        if self.sandbox.options.verbose:
            path = urlsplit(self.path).path
            sys.stderr.write(f"sandbox: {self.command} {path} {code}\n")

    def handle(self) -> None:
        """Serve the connection; a client that dies mid-connection (killed) ends it quietly."""
        try:
            super().handle()
        except (ConnectionResetError, BrokenPipeError):
            self.close_connection = True

    def do_GET(self) -> None:
        """GET: Graph reads and admin reads."""
        self._handle()

    def do_POST(self) -> None:
        """POST: batch and admin mutations."""
        self._handle()

    def do_DELETE(self) -> None:
        """DELETE: answered with Graph's unsupported-request error."""
        self._handle()

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ValueError("request body too large")
        return self.rfile.read(length) if length > 0 else b""

    def _handle(self) -> None:
        try:
            body = self._read_body()
        except ValueError:
            self.close_connection = True
            self._write(413, b'{"error":"body too large"}', {}, None)
            return
        split = urlsplit(self.path)
        if split.path.startswith(ADMIN_PREFIX) or split.path == ADMIN_PREFIX.rstrip("/"):
            status, payload = self.sandbox.admin(self.command, split.path, body)
            data = json.dumps(payload).encode("utf-8")
            self._write(status, data, {"Content-Type": "application/json; charset=UTF-8"}, None)
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        form: list[tuple[str, str]] = []
        content_type = headers.get("content-type", "")
        if body and content_type.startswith("application/json"):
            try:
                decoded = json.loads(body)
            except ValueError:
                decoded = {}
            if isinstance(decoded, dict):
                form = [
                    (str(k), v if isinstance(v, str) else json.dumps(v)) for k, v in decoded.items()
                ]
        elif body:
            form = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        request = ApiRequest(
            method=self.command,
            path=split.path,
            query=parse_qsl(split.query, keep_blank_values=True),
            form=form,
            headers=headers,
            base=self.sandbox.options.link_base
            or f"http://{headers.get('host') or self.sandbox.host_port}",
        )
        response = self.sandbox.api.handle(request)
        self._send_api(response)

    def _send_api(self, response: ApiResponse) -> None:
        transport = response.transport
        if transport.hold and not self._hold(transport.hold):
            self.close_connection = True  # the client gave up waiting: nothing to send
            return
        if transport.delay:
            time.sleep(transport.delay)
        body = response.body()
        headers = {
            "Content-Type": "application/json; charset=UTF-8",
            "x-fb-trace-id": new_fbtrace_id(),
            "Cache-Control": "private, no-cache, no-store, must-revalidate",
            **response.headers,
        }
        status = response.status
        if transport.kind == "malformed":
            status = 200
            if transport.variant == 0:
                body = body[: max(1, len(body) // 2)]  # truncated JSON
            else:
                body = b"<!DOCTYPE html><html><body>Sorry, something went wrong.</body></html>"
                headers["Content-Type"] = "text/html; charset=utf-8"
        self._write(status, body, headers, transport.kind)

    def _hold(self, seconds: float) -> bool:
        """Keep the client waiting (the ``hang`` fault); False once it hung up.

        Ends early when the client closes the connection (its timeout fired) or the sandbox
        shuts down, so that no handler thread outlives the wait it was asked for.
        """
        deadline = time.monotonic() + seconds
        closing = self.sandbox.closing
        while not closing.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            readable, _, _ = select.select([self.connection], [], [], min(remaining, 0.1))
            if readable:
                try:
                    if not self.connection.recv(1, socket.MSG_PEEK):
                        return False  # end of stream: the client hung up
                except OSError:
                    return False
                return True  # the client sent more: answer now rather than hold its next request
        return False

    def _write(
        self, status: int, body: bytes, headers: dict[str, str], transport: str | None
    ) -> None:
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if transport == "reset":
                # Announce the whole body, send half, then drop the connection.
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if self.command != "HEAD":
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (a slow answer past its timeout): nothing left to say.
            self.close_connection = True


class Sandbox:
    """A Graph API sandbox on loopback, started and stopped as a context manager.

    >>> with Sandbox(SandboxOptions(seed=7)) as sb:  # doctest: +SKIP
    ...     requests.get(f"{sb.base_url}/v26.0/me", params={"access_token": sb.access_token})
    """

    def __init__(self, options: SandboxOptions | None = None) -> None:
        self.options = options or SandboxOptions()
        opts = self.options
        self.world = World(
            seed=opts.seed,
            conversations=opts.conversations,
            messages=opts.distribution(),
            # Without a linked Instagram account there is no Instagram inbox to read at all.
            platforms=[p for p in opts.platforms if p != "instagram" or opts.instagram_linked],
        )
        self.tokens = TokenStore(opts.seed, opts.app_secret)
        self._stats = Stats()
        self.faults = FaultPlan(opts.fault_specs(), opts.seed)
        self.limiter = RateLimiter(opts.rate_limit)
        self.api = GraphApi(
            self.world,
            self.tokens,
            self._stats,
            self.faults,
            self.limiter,
            instagram_linked=opts.instagram_linked,
            latency_ms=opts.latency_ms,
        )
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        # Set while shutting down: held answers (the hang fault) stop waiting.
        self.closing = threading.Event()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Sandbox:
        """Bind and serve in a background thread; return self."""
        if self._server is not None:
            return self
        self.closing.clear()
        self._server = _Server((self.options.host, self.options.port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="graph-sandbox",
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, end open connections, and join the server thread."""
        server, self._server = self._server, None
        if server is None:
            return
        self.closing.set()
        server.shutdown()
        server.drop_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ identity
    @property
    def host_port(self) -> str:
        """``host:port`` the server listens on."""
        if self._server is None:
            raise RuntimeError("the sandbox is not running")
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``: no trailing slash, no version."""
        return f"http://{self.host_port}"

    @property
    def page_id(self) -> str:
        """The Page's id (all digits)."""
        return self.world.page.page.id

    @property
    def instagram_account_id(self) -> str:
        """The linked Instagram professional account's id."""
        return self.world.page.instagram.id

    @property
    def access_token(self) -> str:
        """The main Page access token (every permission, role on the Page)."""
        return self.tokens.main_token

    @property
    def app_secret(self) -> str | None:
        """The app secret, when appsecret_proof is required."""
        return self.options.app_secret

    # ------------------------------------------------------------------ helpers
    def stats(self) -> dict[str, Any]:
        """The same JSON as ``GET /_sandbox/stats``."""
        return self._stats.snapshot()

    def reset_stats(self) -> None:
        """Zero the counters (the world, tokens, faults and rate windows are untouched)."""
        self._stats.reset()

    def issue_token(
        self,
        permissions: Iterable[str] | None = None,
        expired: bool = False,
        role_on_page: bool = True,
    ) -> str:
        """A new token for auth tests: chosen permissions, expired, or without a Page role."""
        return self.tokens.issue(permissions, expired=expired, role_on_page=role_on_page)

    def connector_config(self, **overrides: Any) -> dict[str, Any]:
        """A ready connector config pointing at this sandbox."""
        platforms = self.options.platforms
        config: dict[str, Any] = {
            "page_id": self.page_id,
            "access_token": self.access_token,
            "platform": "both" if len(platforms) > 1 else platforms[0],
            "base_url": self.base_url,
            "api_version": CURRENT_VERSION,
            # The connector's spec allows up to 1000/s; with the limiter off, let it go unpaced.
            "max_requests_per_second": self.options.rate_limit or 1000,
        }
        if self.app_secret:
            config["app_secret"] = self.app_secret
        config.update(overrides)
        return config

    # ------------------------------------------------------------------ admin routes
    def admin(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        """Answer ``/_sandbox/...`` (never counted, never faulted, no token needed)."""
        route = path[len(ADMIN_PREFIX) :].strip("/")
        try:
            data = json.loads(body) if body.strip() else {}
            if not isinstance(data, dict):
                raise ValueError("the body must be a JSON object")
            if method == "GET" and route == "stats":
                return 200, self.stats()
            if method == "POST" and route == "stats/reset":
                self.reset_stats()
                return 200, self.stats()
            if method == "GET" and route == "world":
                return 200, self.world.summary()
            if method == "POST" and route == "messages":
                ids = self.world.add_messages(
                    str(data["conversation_id"]),
                    int(data.get("count", 1)),
                    from_page=bool(data.get("from_page", False)),
                )
                conversation = self.world.get_conversation(str(data["conversation_id"]))
                assert conversation is not None
                return 200, {
                    "conversation_id": conversation.id,
                    "ids": ids,
                    "updated_time": self.world.conversation_value(conversation, "updated_time"),
                }
            if method == "POST" and route == "conversations":
                conversation_id = self.world.add_conversation(
                    str(data.get("platform", "messenger")), int(data.get("messages", 1))
                )
                return 200, {"id": conversation_id}
            if method == "POST" and route == "tokens":
                permissions = data.get("permissions")
                token = self.issue_token(
                    permissions=None if permissions is None else [str(p) for p in permissions],
                    expired=bool(data.get("expired", False)),
                    role_on_page=bool(data.get("role_on_page", True)),
                )
                return 200, {"access_token": token}
        except KeyError as exc:
            return 404 if "no conversation" in str(exc) else 400, {"error": str(exc)}
        except (ValueError, TypeError) as exc:
            return 400, {"error": str(exc)}
        return 404, {"error": f"no admin route {method} {path}"}
