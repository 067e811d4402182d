"""The Debian tools that build and run the image: installed with apt when they are missing."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping

# Command -> the Debian package that provides it.
TOOLS: Mapping[str, str] = {
    "podman": "podman",
    "buildah": "buildah",
    "runc": "runc",
    "debootstrap": "debootstrap",
}


class ToolsMissing(RuntimeError):
    """A tool is missing and cannot be installed here (not root, or apt failed)."""


def missing_tools() -> list[str]:
    """The Debian packages whose command is not on PATH (debootstrap lives in /usr/sbin)."""
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return [
        package for command, package in TOOLS.items() if shutil.which(command, path=path) is None
    ]


def ensure_tools(log: bool = True) -> list[str]:
    """Install the missing tools with apt (as root); return the packages installed.

    ``make test`` needs root's apt as well as Python 3.11 (README): CI runs it as root on a fresh
    machine, where none of these are installed yet.
    """
    missing = missing_tools()
    if not missing:
        return []
    if os.geteuid() != 0:
        raise ToolsMissing(
            f"{', '.join(missing)} missing: run `sudo apt-get install {' '.join(missing)}` "
            "(or `make test` as root), then again."
        )
    if log:
        print(f"Installing {', '.join(missing)} with apt...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *missing]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise ToolsMissing(f"`{' '.join(command)}` failed: {done.stderr[-2000:]}")
    still = missing_tools()
    if still:
        raise ToolsMissing(f"apt installed {missing} but {still} are still missing")
    return missing
