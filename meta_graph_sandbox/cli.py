"""``python -m meta_graph_sandbox``: run the Graph API sandbox until interrupted.

Run it from the repository root (or with the root on ``PYTHONPATH``): the sandbox is a
development tool beside the connector, not part of its package.

Prints one JSON line (``base_url``, ``page_id``, ``access_token``, ``app_secret``) on stdout so
that scripts can read where it listens and with which token; logs nothing else unless
``--verbose``, and never a token.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import textwrap
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from meta_graph_sandbox.faults import PROFILES
from meta_graph_sandbox.options import SandboxOptions
from meta_graph_sandbox.server import Sandbox
from meta_graph_sandbox.world import PLATFORMS


def _platforms(text: str) -> tuple[str, ...]:
    text = text.strip().lower()
    if text in ("both", "all"):
        return PLATFORMS
    return tuple(p.strip() for p in text.split(",") if p.strip())


class _HelpFormatter(argparse.HelpFormatter):
    """Wraps help text without breaking profile names such as ``rate-limit-storm`` at hyphens."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


def build_parser() -> argparse.ArgumentParser:
    """The command line, documented option by option in docs/sandbox.md."""
    profiles = "; ".join(
        f"{name}[:N] ({profile.meaning}; modes {', '.join(profile.modes)})"
        for name, profile in PROFILES.items()
    )
    profiles = profiles.replace("%", "%%")  # argparse formats help strings with %
    parser = argparse.ArgumentParser(
        prog="python -m meta_graph_sandbox",
        description="A local Graph API for Meta's Conversations API (Messenger and Instagram).",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (0)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the generated world (7)")
    parser.add_argument(
        "--conversations", type=int, default=30, help="conversations per platform (30)"
    )
    parser.add_argument(
        "--messages",
        default="mixed",
        help="message counts: mixed (default), fixed:N, or longtail (some over 500)",
    )
    parser.add_argument(
        "--platforms",
        default="messenger,instagram",
        help="messenger, instagram, or both (messenger,instagram)",
    )
    parser.add_argument(
        "--instagram-unlinked",
        action="store_true",
        help="the Page has no linked Instagram account: Instagram calls answer 100/2534013",
    )
    parser.add_argument("--latency-ms", type=int, default=0, help="delay added to each answer")
    parser.add_argument(
        "--rate-limit",
        type=float,
        default=0.0,
        help="calls per second per Page and platform; 0 = off (0)",
    )
    parser.add_argument(
        "--faults",
        default="",
        help=(
            "comma list of PROFILE[:N][@MODE]; MODE is sometimes (the seeded draws decide each "
            "call), once (only the first call they pick) or always (every call), the first "
            f"listed being the default. Profiles: {profiles}"
        ),
    )
    parser.add_argument("--app-secret", default=None, help="require appsecret_proof")
    parser.add_argument(
        "--link-base",
        default=None,
        help="scheme and host of paging links (default: the host the request was sent to)",
    )
    parser.add_argument(
        "--write-config", type=Path, default=None, help="write a ready connector config here"
    )
    parser.add_argument(
        "--verbose", action="store_true", help="log each request (method, path, status) to stderr"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Start the sandbox, print its JSON line, serve until SIGINT or SIGTERM, exit 0."""
    args = build_parser().parse_args(argv)
    try:
        options = SandboxOptions(
            seed=args.seed,
            conversations=args.conversations,
            messages=args.messages,
            platforms=_platforms(args.platforms),
            latency_ms=args.latency_ms,
            rate_limit=args.rate_limit,
            faults=(args.faults,) if args.faults else (),
            app_secret=args.app_secret,
            link_base=args.link_base,
            instagram_linked=not args.instagram_unlinked,
            host=args.host,
            port=args.port,
            verbose=args.verbose,
        )
    except ValueError as exc:
        print(f"meta_graph_sandbox: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    with Sandbox(options) as sandbox:
        if args.write_config is not None:
            args.write_config.parent.mkdir(parents=True, exist_ok=True)
            args.write_config.write_text(json.dumps(sandbox.connector_config(), indent=2) + "\n")
            args.write_config.chmod(0o600)  # it holds a token
        line = {
            "base_url": sandbox.base_url,
            "page_id": sandbox.page_id,
            "access_token": sandbox.access_token,
            "app_secret": sandbox.app_secret,
        }
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
