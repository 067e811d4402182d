"""``podman run`` of the image as this machine needs it, and as Airbyte runs a source container.

- ``--runtime runc``: the runtime that works here (Debian's podman defaults to crun).
- ``--ulimit nofile=4096:4096 --ulimit nproc=4096:4096``: the host's own limits are refused
  ("error setting rlimit"); these are below them and far above what a connector uses.
- ``--network host``: the Graph API sandbox listens on the host's loopback.
- ``--http-proxy=false``: podman would otherwise pass the host's proxy variables in.

Airbyte's platform writes the config, catalog and state into ``/config`` of the connector's pod
(``connectionConfiguration.json``, ``catalog.json``, ``inputState.json``) and starts the connector
with ``eval "$AIRBYTE_ENTRYPOINT <command> --config /config/connectionConfiguration.json ..."``;
``airbyte_command`` does the same.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Sequence

PODMAN_RUN = (
    "podman",
    "run",
    "--rm",
    "--runtime",
    "runc",
    "--ulimit",
    "nofile=4096:4096",
    "--ulimit",
    "nproc=4096:4096",
    "--network",
    "host",
    "--http-proxy=false",
)
CONFIG_DIR = "/config"
CONFIG_FILE = "connectionConfiguration.json"
CATALOG_FILE = "catalog.json"
STATE_FILE = "inputState.json"


def podman_run(
    image: str,
    args: Sequence[str] = (),
    *,
    volumes: Sequence[str] = (),
    entrypoint: str | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """``podman run`` of ``image`` with ``args``; stdout and stderr captured."""
    command = [*PODMAN_RUN]
    for volume in volumes:
        command += ["-v", volume]
    if entrypoint is not None:
        command += ["--entrypoint", entrypoint]
    return subprocess.run(
        [*command, image, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def airbyte_command(command: str, *, config: bool, catalog: bool, state: bool) -> list[str]:
    """The connector command as Airbyte's pod runs it: ``sh -c 'eval "$AIRBYTE_ENTRYPOINT ..."'``.

    Use with ``entrypoint="sh"``.
    """
    parts = [command]
    if config:
        parts += ["--config", f"{CONFIG_DIR}/{CONFIG_FILE}"]
    if catalog:
        parts += ["--catalog", f"{CONFIG_DIR}/{CATALOG_FILE}"]
    if state:
        parts += ["--state", f"{CONFIG_DIR}/{STATE_FILE}"]
    return ["-c", f'eval "$AIRBYTE_ENTRYPOINT {shlex.join(parts)}"']
