"""Only the connector ships: the wheel built from the repository holds its package alone."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    """The wheel ``pip wheel .`` builds from the files git tracks (as a fresh clone has them)."""
    tree = tmp_path_factory.mktemp("clone")
    tracked = subprocess.run(
        ["git", "ls-files", "-z"],  # noqa: S607  (git, on the test's own repository)
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, tracked.split("\0")):
        if (ROOT / name).is_file():
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, tree / name)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(  # noqa: S603  (this interpreter's pip, on the copy above)
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(tree)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [built] = out.glob("*.whl")
    return zipfile.ZipFile(built)


def _dist_info(wheel: zipfile.ZipFile, name: str) -> str:
    [path] = [entry for entry in wheel.namelist() if entry.endswith(f".dist-info/{name}")]
    return wheel.read(path).decode()


def test_given_the_wheel_when_listed_then_it_holds_only_the_connector_package(
    wheel: zipfile.ZipFile,
) -> None:
    names = wheel.namelist()
    outside = [
        name
        for name in names
        if not name.startswith("source_meta_conversations/") and ".dist-info/" not in name
    ]

    assert outside == []
    assert _dist_info(wheel, "top_level.txt").split() == ["source_meta_conversations"]
    assert "source_meta_conversations/manifest.yaml" in names
    assert "source_meta_conversations/schemas/message_details.json" in names
    assert "source_meta_conversations/schemas/shared/attachment.json" in names
    assert not [name for name in names if "sandbox" in name or "bench" in name or "demo" in name]


def test_given_the_wheel_when_its_entry_points_are_read_then_one_console_script(
    wheel: zipfile.ZipFile,
) -> None:
    entry_points = _dist_info(wheel, "entry_points.txt")

    lines = [line.strip() for line in entry_points.splitlines() if line.strip()]
    assert lines == [
        "[console_scripts]",
        "source-meta-conversations = source_meta_conversations.run:run",
    ]


def test_given_the_wheel_when_its_requirements_are_read_then_runtime_ones_are_exact(
    wheel: zipfile.ZipFile,
) -> None:
    metadata = _dist_info(wheel, "METADATA")

    runtime = sorted(
        line.removeprefix("Requires-Dist: ")
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist: ") and "extra ==" not in line
    )
    assert runtime == ["airbyte-cdk==7.39.1", "jsonschema==4.26.0", "requests==2.34.2"]


def test_given_the_dockerfile_when_read_then_it_installs_the_lock_and_only_the_connector() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()

    assert "--require-hashes -r requirements.lock" in dockerfile
    assert "--no-deps --no-build-isolation ." in dockerfile
    copied = [line.split()[1:-1] for line in dockerfile.splitlines() if line.startswith("COPY")]
    sources = {source for sources in copied for source in sources}
    assert sources == {
        "requirements.lock",
        "setup.py",
        "pyproject.toml",
        "README.md",
        "source_meta_conversations",
    }
