"""A local Python 3.11 base image, made with debootstrap once per machine and kept by podman.

Airbyte's ``python-connector-base`` (the Dockerfile's default) is Debian bookworm with Python
3.11; no registry can be reached here to pull it, so the test builds the nearest thing it can
make itself: a minimal bookworm root file system with Debian's Python 3.11, venv and pip, and CA
certificates, from the Debian mirror apt already uses, imported into podman.

The image's tag is derived from everything that shapes it (suite, variant, packages), so a
change to the recipe makes a new base while an unchanged one is found in podman's storage and
costs nothing: only a machine's first ``make image`` pays for debootstrap (about 60 s).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

SUITE = "bookworm"  # Debian 12: Python 3.11, as Airbyte's python-connector-base 4.x
VARIANT = "minbase"
PACKAGES = ("python3", "python3-venv", "python3-pip", "ca-certificates")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
REPOSITORY = "localhost/source-meta-conversations-test-base"
# What every image of this base starts with (an imported file system has no environment).
CHANGES = (
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    f"LABEL io.source-meta-conversations.base=debootstrap-{SUITE}-{VARIANT}",
)
APT_SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))


@dataclass(frozen=True)
class BaseImage:
    """The base image's tag, and how long making it took (0 when it was in podman's storage)."""

    tag: str
    built: bool
    seconds: float
    debootstrap_seconds: float = 0.0


def recipe_tag() -> str:
    """``REPOSITORY:<suite>-<hash of the recipe>``: a new recipe gets a new tag."""
    recipe = "\n".join([SUITE, VARIANT, *PACKAGES, *CHANGES])
    digest = hashlib.sha256(recipe.encode()).hexdigest()[:12]
    return f"{REPOSITORY}:{SUITE}-{digest}"


def apt_mirror(sources: tuple[Path, ...] = APT_SOURCES, suite: str = SUITE) -> str:
    """The Debian mirror that apt's own sources use for ``suite`` (or Debian's default mirror).

    Reads one-line (``deb URI SUITE ...``) and deb822 (``URIs:`` / ``Suites:``) sources.
    """
    files: list[Path] = []
    for source in sources:
        if source.is_dir():
            files += sorted(p for p in source.iterdir() if p.suffix in (".list", ".sources"))
        elif source.is_file():
            files.append(source)
    for path in files:
        text = path.read_text(errors="replace")
        for line in text.splitlines():
            fields = line.split("#", 1)[0].split()
            if len(fields) >= 3 and fields[0] == "deb":
                rest = [f for f in fields[1:] if not f.startswith("[")]
                if len(rest) >= 2 and rest[1] == suite and _is_debian(rest[0]):
                    return rest[0].rstrip("/")
        for stanza in re.split(r"\n\s*\n", text):
            entries = dict(
                (key.strip().lower(), value.strip())
                for key, _, value in (
                    line.partition(":") for line in stanza.splitlines() if ":" in line
                )
                if not key.lstrip().startswith("#")
            )
            uris, suites = entries.get("uris", "").split(), entries.get("suites", "").split()
            if suite in suites and "deb" in entries.get("types", "deb").split():
                for uri in uris:
                    if _is_debian(uri):
                        return uri.rstrip("/")
    return DEFAULT_MIRROR


def _is_debian(uri: str) -> bool:
    """A mirror debootstrap can fetch from (http or https; not cdrom:, file: or mirror+)."""
    return uri.startswith(("http://", "https://"))


def exists(tag: str) -> bool:
    """Whether podman's storage holds ``tag``."""
    done = subprocess.run(["podman", "image", "exists", tag], capture_output=True, check=False)
    return done.returncode == 0


def ensure_base(log: bool = True) -> BaseImage:
    """The local base image: found in podman's storage, or made now (debootstrap, import)."""
    tag = recipe_tag()
    if exists(tag):
        if log:
            print(f"Base image {tag}: already in podman's storage.", flush=True)
        return BaseImage(tag, built=False, seconds=0.0)
    mirror = apt_mirror()
    if log:
        print(
            f"Base image {tag}: making it (debootstrap {VARIANT} {SUITE} from {mirror}, "
            "once per machine)...",
            flush=True,
        )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="meta-conversations-base-", dir="/var/tmp") as work:
        root = Path(work) / "root"
        _run(
            [
                "debootstrap",
                f"--variant={VARIANT}",
                f"--include={','.join(PACKAGES)}",
                SUITE,
                str(root),
                mirror,
            ],
            "debootstrap",
        )
        debootstrapped = time.perf_counter() - started
        # Nothing of apt's downloads is needed to run: about 100 MB less in every image.
        for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for path in (root / leftover).glob("*"):
                if path.is_file():
                    path.unlink()
        _import(root, tag)
    seconds = time.perf_counter() - started
    if log:
        print(f"Base image {tag}: made in {seconds:.0f} s.", flush=True)
    return BaseImage(tag, built=True, seconds=seconds, debootstrap_seconds=debootstrapped)


def _import(root: Path, tag: str) -> None:
    """``tar -C root -c . | podman import --change ... - tag``."""
    changes = [arg for change in CHANGES for arg in ("--change", change)]
    tar_command = shutil.which("tar") or "tar"
    with subprocess.Popen([tar_command, "-C", str(root), "-c", "."], stdout=subprocess.PIPE) as tar:
        done = subprocess.run(
            ["podman", "import", "--quiet", *changes, "-", tag],
            stdin=tar.stdout,
            capture_output=True,
            text=True,
            check=False,
        )
        if tar.stdout is not None:
            tar.stdout.close()
        tar_code = tar.wait()
    if tar_code != 0 or done.returncode != 0:
        raise RuntimeError(f"podman import of the base failed: {done.stderr[-2000:]}")


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(
            f"{what} failed ({done.returncode}): {(done.stdout + done.stderr)[-3000:]}"
        )
