"""``podman build`` of the repository's Dockerfile on the local base, and the image's size.

pip inside the build reaches the package index only the way pip on this machine does: with the
host's pip configuration (index, find-links, constraints, CA bundle). The build gets each file
pip names, mounted read-only at the same path (``podman build -v HOST:HOST:ro``), for the build's
``RUN`` steps only: a mounted file's content never lands in a layer (an empty mount point may; the
container test checks that every one is empty). pip's settings from environment variables
(``PIP_*``) are not passed to the build: the files must say what the build needs.
"""

from __future__ import annotations

import json
import re
import ssl
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / ".container"
RECORD = OUT / "image.json"
TAG = "airbyte/source-meta-conversations:dev"
# Directories never mounted whole, whatever a pip setting names: they would hide the image's own.
TOO_BROAD = frozenset(
    Path(p)
    for p in ("/", "/etc", "/usr", "/var", "/root", "/home", "/tmp", "/opt")  # noqa: S108
)


@dataclass(frozen=True)
class BuiltImage:
    """What ``make image`` built: the image id, its tag and size, and where the time went."""

    image_id: str
    tag: str
    base: str
    size_bytes: int
    base_size_bytes: int
    build_seconds: float
    base_seconds: float
    base_built: bool

    def describe(self) -> str:
        """One paragraph for the terminal."""
        base = (
            f"made now in {self.base_seconds:.0f} s (once per machine)"
            if self.base_built
            else "already in podman's storage"
        )
        return (
            f"Image {self.tag} ({self.image_id.removeprefix('sha256:')[:12]}): "
            f"{_mb(self.size_bytes)}, of which the base "
            f"{_mb(self.base_size_bytes)} and the connector with its locked dependencies "
            f"{_mb(self.size_bytes - self.base_size_bytes)}. Built in {self.build_seconds:.0f} s; "
            f"base {self.base}: {base}."
        )

    def save(self, path: Path = RECORD) -> None:
        """Keep the record for the container test (``.container/image.json``)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: Path = RECORD) -> BuiltImage:
        """The record ``make image`` left."""
        return cls(**json.loads(path.read_text()))


def _mb(size: int) -> str:
    return f"{size / 1e6:.0f} MB"


def pip_config_debug() -> str:
    """What ``pip config debug`` prints for this interpreter's pip."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "config", "debug"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def pip_paths(debug: str) -> list[Path]:
    """The files pip's configuration consists of, and the local paths its settings name.

    From ``pip config debug``: every configuration file that exists, and every value (of those
    files or of ``PIP_*`` variables) that is an absolute path or a ``file://`` URL, for example
    ``global.cert: /etc/ssl/certs/ca-certificates.crt``, ``global.constraint:
    /etc/xdg/pip/constraints.txt``, ``global.extra-index-url: file:///opt/pypi/simple`` (whose
    whole root, ``/opt/pypi``, is named: an index's pages link to files beside ``simple/``).
    """
    paths: list[Path] = []
    for line in debug.splitlines():
        text = line.strip()
        found = re.match(r"^(/\S+), exists: True$", text)
        if found:
            paths.append(Path(found.group(1)))
            continue
        value = text.split(":", 1)[1] if re.match(r"^[\w.-]+:", text) else text.partition("=")[2]
        for token in value.strip().strip("'\"").split():
            path = token[len("file://") :] if token.startswith("file://") else token
            if path.startswith("/"):
                candidate = Path(path)
                if candidate.name == "simple":
                    candidate = candidate.parent
                paths.append(candidate)
    return paths


def build_mounts(paths: list[Path]) -> list[Path]:
    """The paths to mount: existing, not too broad, none inside another one, in order."""
    chosen: list[Path] = []
    for path in paths:
        if not path.exists() or path in TOO_BROAD or path in chosen:
            continue
        if any(path.is_relative_to(other) for other in chosen if other.is_dir()):
            continue
        chosen = [other for other in chosen if not other.is_relative_to(path)] + [path]
    return chosen


def host_ca_bundle() -> Path | None:
    """The CA bundle Python's ssl uses on this host (the index may sit behind its own CA)."""
    cafile = ssl.get_default_verify_paths().cafile
    return Path(cafile) if cafile and Path(cafile).is_file() else None


def image_size(image: str) -> int:
    """The image's size in bytes, as podman counts it (every layer, uncompressed)."""
    done = subprocess.run(
        ["podman", "image", "inspect", "--format", "{{.Size}}", image],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout.strip())


def build_image(base: str, base_seconds: float, base_built: bool, tag: str = TAG) -> BuiltImage:
    """Build the Dockerfile on ``base``; the build's output goes to ``.container/build.log``."""
    OUT.mkdir(parents=True, exist_ok=True)
    iidfile = OUT / "image-id"
    ca = host_ca_bundle()
    mounts = build_mounts(pip_paths(pip_config_debug()) + ([ca] if ca else []))
    volumes = [arg for path in mounts for arg in ("-v", f"{path}:{path}:ro")]
    command = [
        "podman",
        "build",
        "--isolation",
        "chroot",
        "--build-arg",
        f"BASE_IMAGE={base}",
        *volumes,
        "--iidfile",
        str(iidfile),
        "--tag",
        tag,
        str(ROOT),
    ]
    started = time.perf_counter()
    log = OUT / "build.log"
    with log.open("w") as output:
        output.write(" ".join(command) + "\n")
        output.flush()
        done = subprocess.run(command, stdout=output, stderr=subprocess.STDOUT, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        tail = log.read_text()[-4000:]
        raise RuntimeError(f"podman build failed ({done.returncode}); {log}:\n{tail}")
    image_id = iidfile.read_text().strip()
    return BuiltImage(
        image_id=image_id,
        tag=tag,
        base=base,
        size_bytes=image_size(image_id),
        base_size_bytes=image_size(base),
        build_seconds=seconds,
        base_seconds=base_seconds,
        base_built=base_built,
    )
