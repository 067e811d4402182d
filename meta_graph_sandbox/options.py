"""Sandbox options, shared by the in-process :class:`Sandbox` and the command line."""

from __future__ import annotations

from dataclasses import dataclass

from meta_graph_sandbox.faults import FaultSpec, parse_faults
from meta_graph_sandbox.world import PLATFORMS, MessageDistribution


@dataclass(frozen=True)
class SandboxOptions:
    """Everything that shapes a sandbox; validated on construction.

    - ``seed``: the world, the tokens and the fault sequences are all derived from it.
    - ``conversations``: conversations per platform.
    - ``messages``: ``mixed`` (mostly 1-20, some 21-60, a few 101-150), ``fixed:N`` or
      ``longtail`` (some conversations over 500 messages).
    - ``platforms``: which inboxes the Page has.
    - ``latency_ms``: added to every API answer (never to admin routes).
    - ``rate_limit``: calls per second per Page and platform; 0 turns the limiter off.
    - ``faults``: ``PROFILE[:N][@MODE]`` items, see :data:`faults.PROFILES`.
    - ``app_secret``: when set, every call needs a matching ``appsecret_proof``.
    - ``instagram_linked``: False makes every Instagram listing answer 100/2534013.
    - ``link_base``: the scheme and host of the absolute links answers carry (``paging.next``
      and ``previous``); default the host the request was sent to. Another host tests that a
      client never follows a link elsewhere with its token.
    """

    seed: int = 7
    conversations: int = 30
    messages: str = "mixed"
    platforms: tuple[str, ...] = PLATFORMS
    latency_ms: int = 0
    rate_limit: float = 0.0
    faults: tuple[str, ...] = ()
    app_secret: str | None = None
    instagram_linked: bool = True
    host: str = "127.0.0.1"
    port: int = 0
    verbose: bool = False
    link_base: str | None = None

    def __post_init__(self) -> None:
        platforms = tuple(dict.fromkeys(p.strip().lower() for p in self.platforms))
        unknown = [p for p in platforms if p not in PLATFORMS]
        if unknown or not platforms:
            raise ValueError(f"platforms must be among {PLATFORMS}, got {self.platforms!r}")
        object.__setattr__(self, "platforms", platforms)
        if isinstance(self.faults, str):  # a single "a,b:3" string is accepted too
            object.__setattr__(self, "faults", (self.faults,))
        if self.conversations < 0:
            raise ValueError("conversations must be >= 0")
        if self.link_base is not None:
            object.__setattr__(self, "link_base", self.link_base.rstrip("/"))
        if self.latency_ms < 0 or self.rate_limit < 0:
            raise ValueError("latency_ms and rate_limit must be >= 0")
        self.distribution()
        self.fault_specs()

    def distribution(self) -> MessageDistribution:
        """The parsed ``messages`` option."""
        return MessageDistribution.parse(self.messages)

    def fault_specs(self) -> tuple[FaultSpec, ...]:
        """The parsed ``faults`` option."""
        return parse_faults(self.faults)
