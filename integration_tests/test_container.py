"""The connector's image, run as Airbyte runs it, does what the pip-installed command does.

``make container-test`` (part of ``make test``) builds the image with podman (``make image``:
the repository's Dockerfile on a local Debian Python 3.11 base, see ``container/``), then runs
``spec``, ``check``, ``discover``, a full refresh ``read`` and two incremental ``read``s in it
against the Graph API sandbox on the host's loopback (``--network host``), with the config,
catalog and state mounted in ``/config`` and the command started the way Airbyte's pod starts
it. The same commands of the installed ``source-meta-conversations`` on the same sandbox data are
the reference: the records must be the same, and the states too, but for ``lookback_window``,
which is how long the previous sync took (the container starts slower).

Not in the main pytest run (marker ``container``): it needs the image ``make image`` built.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from container.build import RECORD, BuiltImage, build_mounts, host_ca_bundle, pip_config_debug
from container.build import pip_paths as pip_named_paths
from container.runner import (
    CATALOG_FILE,
    CONFIG_DIR,
    CONFIG_FILE,
    STATE_FILE,
    airbyte_command,
    podman_run,
)
from integration_tests.conftest import (
    ROOT,
    Connector,
    ConnectorRun,
    assert_no_secrets,
    expected_read,
    full_refresh_catalog,
    incremental_catalog,
    parse_messages,
    run_concurrently,
)
from meta_graph_sandbox import Sandbox

pytestmark = pytest.mark.container

# A world of its own: the test adds messages to it between the two incremental reads.
SEED = 11
# What the image's /airbyte/integration_code may hold: the Dockerfile's COPY lines, no more.
INTEGRATION_CODE = {"README.md", "pyproject.toml", "requirements.lock", "setup.py"}
PACKAGE = "source_meta_conversations"
# Folders of the repository that must never reach the image.
NOT_SHIPPED = ("unit_tests", "integration_tests", "meta_graph_sandbox", "demo", "bench", "secrets")


# ---------------------------------------------------------------------------------- running
class ContainerConnector:
    """Runs the image's commands with the files in ``/config``, as Airbyte's platform does."""

    def __init__(self, image: BuiltImage, workdir: Path) -> None:
        self.image = image.image_id
        self.workdir = workdir
        self.uid, self.gid = _image_user(self.image)
        self._count = 0

    def _config_dir(self, config: Any, catalog: Any, state: Any) -> Path:
        """A fresh ``/config`` for one run, owned by the image's user; the config 0600."""
        self._count += 1
        directory = self.workdir / f"{self._count:03d}"
        directory.mkdir(mode=0o700)
        for name, content in ((CONFIG_FILE, config), (CATALOG_FILE, catalog), (STATE_FILE, state)):
            if content is not None:
                path = directory / name
                path.write_text(json.dumps(content))
                path.chmod(0o600)
                self._own(path)
        self._own(directory)
        return directory

    def _own(self, path: Path) -> None:
        if os.geteuid() == 0:
            os.chown(path, self.uid, self.gid)
        else:  # rootless podman maps users differently: let anyone in the container read
            path.chmod(0o755 if path.is_dir() else 0o644)

    def run(
        self,
        command: str,
        config: Mapping[str, Any] | None = None,
        catalog: Mapping[str, Any] | None = None,
        state: Any = None,
    ) -> ConnectorRun:
        """One command in the image; ``spec`` on the image's entrypoint, the others as Airbyte."""
        if command == "spec":
            done = podman_run(self.image, ["spec"])
        else:
            directory = self._config_dir(config, catalog, state)
            done = podman_run(
                self.image,
                airbyte_command(
                    command,
                    config=config is not None,
                    catalog=catalog is not None,
                    state=state is not None,
                ),
                volumes=[f"{directory}:{CONFIG_DIR}"],
                entrypoint="sh",
            )
        run = ConnectorRun([command], done.returncode, done.stdout, done.stderr, [])
        assert_no_secrets(run, config)
        run.messages = parse_messages(done.stdout)
        return run


def _image_user(image: str) -> tuple[int, int]:
    user = _inspect(image, "{{.Config.User}}")
    uid, _, gid = user.partition(":")
    return int(uid), int(gid or uid)


def _inspect(image: str, template: str) -> str:
    done = subprocess.run(
        ["podman", "image", "inspect", "--format", template, image],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


# ---------------------------------------------------------------------------------- comparing
def records(run: ConnectorRun) -> list[tuple[str, str]]:
    """Every record as ``(stream, data as sorted JSON)``, sorted: the order threads emit in
    differs from run to run, the records do not."""
    return sorted(
        (record["stream"], json.dumps(record["data"], sort_keys=True)) for record in run.records
    )


def without_lookback(value: Any) -> Any:
    """A state without ``lookback_window`` (the previous sync's duration), at any depth."""
    if isinstance(value, dict):
        return {k: without_lookback(v) for k, v in value.items() if k != "lookback_window"}
    if isinstance(value, list):
        return [without_lookback(v) for v in value]
    return value


def final_states(run: ConnectorRun) -> dict[str, Any]:
    """Each stream's last state, as the platform keeps it for the next sync."""
    return {
        state["stream"]["stream_descriptor"]["name"]: without_lookback(
            state["stream"]["stream_state"]
        )
        for state in run.latest_state()
    }


# ---------------------------------------------------------------------------------- the story
@dataclass
class Pair:
    """The same command, run by the installed command and by the image."""

    host: ConnectorRun
    image: ConnectorRun


@dataclass
class Story:
    """Every command of the test, host and image, and what the sandbox held for each read."""

    sandbox: Sandbox
    spec: Pair
    check: Pair
    discover: Pair
    full_refresh: Pair
    first: Pair
    second: Pair
    first_keys: set[tuple[str, str]]
    new_message_ids: set[str]
    new_conversation_id: str


@pytest.fixture(scope="module")
def built_image() -> BuiltImage:
    """The image ``make image`` built (its record in ``.container/image.json``)."""
    if not RECORD.exists():
        pytest.fail(f"{RECORD} is missing: run `make image` (make container-test does).")
    built = BuiltImage.load()
    exists = subprocess.run(["podman", "image", "exists", built.image_id], check=False)
    assert exists.returncode == 0, f"image {built.image_id} is gone: run `make image`"
    return built


@pytest.fixture(scope="module")
def story(
    built_image: BuiltImage,
    start_sandbox: Callable[..., Sandbox],
    tmp_path_factory: pytest.TempPathFactory,
) -> Story:
    """Both sides run every command against one sandbox; new messages before the second read."""
    sandbox = start_sandbox(seed=SEED)
    config = sandbox.connector_config(platform="both")
    host = Connector(tmp_path_factory.mktemp("host"))
    image = ContainerConnector(built_image, tmp_path_factory.mktemp("image"))
    first_keys = expected_read(sandbox).keys()

    def both(name: str, command: str, *args: Any) -> dict[str, Callable[[], ConnectorRun]]:
        return {
            f"host {name}": lambda: host.run(command, *args),
            f"image {name}": lambda: image.run(command, *args),
        }

    done = run_concurrently(
        {
            **both("spec", "spec"),
            **both("check", "check", config),
            **both("discover", "discover", config),
            **both("full_refresh", "read", config, full_refresh_catalog()),
            **both("first", "read", config, incremental_catalog()),
        }
    )
    pairs = {
        name: Pair(done[f"host {name}"], done[f"image {name}"])
        for name in ("spec", "check", "discover", "full_refresh", "first")
    }

    # New messages in three conversations (one of them past the 20 that have details) and a new
    # conversation; then both sides read from the state the image's first read left, as the
    # platform would pass it back.
    summary = sandbox.world.summary()
    new_ids: list[str] = []
    for platform, count in (("messenger", 3), ("messenger", 25), ("instagram", 2)):
        conversation_id = summary[platform]["conversation_ids"][10 if count == 25 else 5]
        new_ids += sandbox.world.add_messages(conversation_id, count)
    new_conversation = sandbox.world.add_conversation("instagram", 4)
    state = pairs["first"].image.latest_state()
    second = run_concurrently(
        both("second", "read", config, incremental_catalog(), state), workers=2
    )
    return Story(
        sandbox=sandbox,
        **pairs,
        second=Pair(second["host second"], second["image second"]),
        first_keys=first_keys,
        new_message_ids=set(new_ids),
        new_conversation_id=new_conversation,
    )


# ---------------------------------------------------------------------------------- the image
class TestImage:
    def test_given_the_image_when_inspected_then_it_runs_as_uid_1000_on_the_airbyte_entrypoint(
        self, built_image: BuiltImage
    ) -> None:
        image = built_image.image_id

        config = json.loads(_inspect(image, "{{json .Config}}"))
        whoami = podman_run(image, ["-c", "id -u; id -un"], entrypoint="sh")

        assert config["User"] == "1000:1000"
        assert config["Entrypoint"] == ["source-meta-conversations"]
        assert "AIRBYTE_ENTRYPOINT=source-meta-conversations" in config["Env"]
        assert whoami.stdout.split() == ["1000", "airbyte"]

    def test_given_the_image_when_its_files_are_read_then_only_the_connector_of_the_repository(
        self, mounted: Mapping[str, Path]
    ) -> None:
        image = mounted["image"]
        code = image / "airbyte" / "integration_code"
        installed = _installed_package(image)
        repository_package = _git_files(PACKAGE)

        assert {p.name for p in code.iterdir()} == INTEGRATION_CODE | {PACKAGE}
        assert sorted(_files(code / PACKAGE)) == repository_package
        assert sorted(_files(installed)) == repository_package
        site_packages = installed.parent
        assert [name for name in NOT_SHIPPED if (site_packages / name).exists()] == []
        assert [name for name in NOT_SHIPPED if (code / name).exists()] == []

    def test_given_the_build_mounted_the_hosts_pip_files_when_the_image_is_read_then_none_is_in_it(
        self, mounted: Mapping[str, Path]
    ) -> None:
        ca = host_ca_bundle()
        mounts = build_mounts(pip_named_paths(pip_config_debug()) + ([ca] if ca else []))
        assert mounts, "the build mounts nothing from the host: this test would prove nothing"

        leaked = []
        for path in mounts:
            in_image = mounted["image"] / path.relative_to("/")
            in_base = mounted["base"] / path.relative_to("/")
            if in_base.exists():
                same = in_image.is_dir() or in_image.read_bytes() == in_base.read_bytes()
            else:  # an empty mount point at most
                same = not in_image.exists() or not _non_empty(in_image)
            if not same:
                leaked.append(str(path))

        assert leaked == []

    def test_given_the_image_when_its_environment_is_read_then_it_names_no_secret(
        self, built_image: BuiltImage
    ) -> None:
        env = json.loads(_inspect(built_image.image_id, "{{json .Config.Env}}"))
        names = [entry.partition("=")[0].upper() for entry in env]

        assert [n for n in names if any(w in n for w in ("TOKEN", "SECRET", "PASSWORD"))] == []


@pytest.fixture(scope="module")
def mounted(built_image: BuiltImage) -> Iterator[dict[str, Path]]:
    """The image's and its base's file systems, read-only on the host (``podman image mount``)."""
    paths: dict[str, Path] = {}
    for name, image in (("image", built_image.image_id), ("base", built_image.base)):
        done = subprocess.run(
            ["podman", "image", "mount", image], capture_output=True, text=True, check=True
        )
        paths[name] = Path(done.stdout.strip())
    yield paths
    for image in (built_image.image_id, built_image.base):
        subprocess.run(["podman", "image", "unmount", image], capture_output=True, check=False)


def _installed_package(image_root: Path) -> Path:
    [found] = list(
        (image_root / "airbyte" / "venv" / "lib").glob(f"python3*/site-packages/{PACKAGE}")
    )
    return found


def _files(root: Path) -> list[str]:
    """Every file under ``root``, relative to its parent, bytecode caches left out."""
    return [
        str(path.relative_to(root.parent))
        for path in root.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    ]


def _git_files(folder: str) -> list[str]:
    done = subprocess.run(
        ["git", "ls-files", folder], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return sorted(done.stdout.split())


def _non_empty(path: Path) -> bool:
    if path.is_dir():
        return any(path.iterdir())
    return path.stat().st_size > 0


# ---------------------------------------------------------------------------------- commands
class TestCommands:
    def test_given_the_image_when_spec_then_the_installed_commands_spec(self, story: Story) -> None:
        assert story.spec.image.returncode == 0, story.spec.image.describe()
        assert story.spec.image.spec == story.spec.host.spec

    def test_given_the_sandbox_config_when_check_in_the_image_then_succeeded(
        self, story: Story
    ) -> None:
        assert story.check.image.connection_status == {"status": "SUCCEEDED"}
        assert story.check.host.connection_status == {"status": "SUCCEEDED"}

    def test_given_the_sandbox_config_when_discover_in_the_image_then_the_installed_catalog(
        self, story: Story
    ) -> None:
        story.discover.image.assert_succeeded()
        assert story.discover.image.catalog == story.discover.host.catalog


class TestRead:
    def test_given_a_full_refresh_when_read_in_the_image_then_the_installed_commands_records(
        self, story: Story
    ) -> None:
        pair = story.full_refresh
        pair.image.assert_succeeded()
        pair.host.assert_succeeded()

        assert records(pair.image) == records(pair.host)
        assert pair.image.record_keys() == story.first_keys

    def test_given_a_first_incremental_read_in_the_image_then_same_records_and_states(
        self, story: Story
    ) -> None:
        pair = story.first
        pair.image.assert_succeeded()
        pair.host.assert_succeeded()

        assert records(pair.image) == records(pair.host)
        assert final_states(pair.image) == final_states(pair.host)
        assert set(final_states(pair.image)) == {"conversations", "messages", "message_details"}

    def test_given_the_images_state_and_new_messages_when_read_again_then_same_records_and_states(
        self, story: Story
    ) -> None:
        pair = story.second
        pair.image.assert_succeeded()
        pair.host.assert_succeeded()

        assert records(pair.image) == records(pair.host)
        assert final_states(pair.image) == final_states(pair.host)
        assert final_states(pair.image) != final_states(story.first.image)

    def test_given_the_images_state_and_new_messages_when_read_again_then_only_what_changed(
        self, story: Story
    ) -> None:
        run = story.second.image

        assert story.new_message_ids <= set(run.ids_of("messages"))
        assert story.new_conversation_id in run.ids_of("conversations")
        assert len(run.ids_of("conversations")) == 4  # three with new messages, one new
