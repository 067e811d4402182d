"""``python -m container image``: what ``make image`` runs (tools, base, build, size).

python -m container image   # install missing tools, make or reuse the base, build, print size
python -m container base    # only the base image
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from container.base import ensure_base
from container.build import TAG, build_image
from container.tools import ToolsMissing, ensure_tools


def main(argv: Sequence[str] | None = None) -> int:
    """Run one step; the exit code is non-zero when it failed."""
    parser = argparse.ArgumentParser(prog="python -m container", description=__doc__)
    parser.add_argument("step", choices=("image", "base"))
    parser.add_argument("--tag", default=TAG)
    args = parser.parse_args(argv)
    try:
        ensure_tools()
        base = ensure_base()
        if args.step == "base":
            return 0
        print(f"Building {args.tag} on {base.tag} (podman build, chroot isolation)...", flush=True)
        built = build_image(base.tag, base.seconds, base.built, tag=args.tag)
    except (ToolsMissing, RuntimeError) as error:
        print(f"make image: {error}", file=sys.stderr)
        return 1
    built.save()
    print(built.describe(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
