"""How ``make image`` finds its way on a machine without a Docker engine: the Debian tools, apt's
mirror, and the host pip files the build must see. Pure functions and subprocess calls recorded,
nothing installed or built here (``make container-test`` builds for real)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from container import base, build, tools

PIP_CONFIG_DEBUG = """env_var:
  PIP_CERT='/etc/ssl/certs/ca-certificates.crt'
  PIP_DEFAULT_TIMEOUT='180'
  PIP_FIND_LINKS='/opt/wheels'
env:
global:
  /etc/xdg/pip/pip.conf, exists: True
    global.constraint: /etc/xdg/pip/constraints.txt
    global.cert: /etc/ssl/certs/ca-certificates.crt
  /etc/pip.conf, exists: True
    global.constraint: /etc/xdg/pip/constraints.txt
site:
  /root/.pyenv/versions/3.11.7/pip.conf, exists: False
user:
  /root/.pip/pip.conf, exists: False
  /root/.config/pip/pip.conf, exists: True
    global.find-links: /opt/wheels
    global.extra-index-url: file:///opt/pypi/simple file:///opt/pypi-more/simple https://example.org/simple
"""


class TestPipFiles:
    def test_given_pips_debug_output_when_read_then_every_file_and_local_path_it_names(
        self,
    ) -> None:
        paths = build.pip_paths(PIP_CONFIG_DEBUG)

        assert list(dict.fromkeys(paths)) == [
            Path("/etc/ssl/certs/ca-certificates.crt"),
            Path("/opt/wheels"),
            Path("/etc/xdg/pip/pip.conf"),
            Path("/etc/xdg/pip/constraints.txt"),
            Path("/etc/pip.conf"),
            Path("/root/.config/pip/pip.conf"),
            Path("/opt/pypi"),  # the index's root: its pages link to files beside simple/
            Path("/opt/pypi-more"),
        ]

    def test_given_paths_when_chosen_for_mounting_then_existing_distinct_and_never_too_broad(
        self, tmp_path: Path
    ) -> None:
        index = tmp_path / "pypi"
        (index / "simple").mkdir(parents=True)
        conf = tmp_path / "pip.conf"
        conf.write_text("[global]\n")

        chosen = build.build_mounts(
            [conf, index / "simple", index, conf, tmp_path / "missing", Path("/etc"), Path("/")]
        )

        assert chosen == [conf, index]


class TestAptMirror:
    def test_given_deb822_sources_when_read_then_the_bookworm_mirror(self, tmp_path: Path) -> None:
        sources = tmp_path / "sources.list.d"
        sources.mkdir()
        (sources / "debian.sources").write_text(
            "Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\n"
            "Components: main\n\nTypes: deb\nURIs: http://mirror.example/debian-security\n"
            "Suites: bookworm-security\nComponents: main\n"
        )
        (sources / "nodesource.sources").write_text(
            "Types: deb\nURIs: https://deb.nodesource.com/node_20.x\nSuites: nodistro\n"
        )

        assert (
            base.apt_mirror((tmp_path / "sources.list", sources)) == "http://mirror.example/debian"
        )

    def test_given_one_line_sources_when_read_then_the_bookworm_mirror(
        self, tmp_path: Path
    ) -> None:
        listing = tmp_path / "sources.list"
        listing.write_text(
            "# a comment\ndeb [arch=amd64] https://mirror.example/debian bookworm main\n"
        )

        assert base.apt_mirror((listing,)) == "https://mirror.example/debian"

    def test_given_no_bookworm_source_when_read_then_debians_own_mirror(
        self, tmp_path: Path
    ) -> None:
        listing = tmp_path / "sources.list"
        listing.write_text("deb http://mirror.example/debian trixie main\n")

        assert base.apt_mirror((listing,)) == base.DEFAULT_MIRROR


class TestBaseTag:
    def test_given_the_recipe_when_it_changes_then_the_base_gets_another_tag(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        before = base.recipe_tag()

        monkeypatch.setattr(base, "PACKAGES", (*base.PACKAGES, "tzdata"))

        assert base.recipe_tag() != before
        assert before.startswith(f"{base.REPOSITORY}:bookworm-")


class TestDebianTools:
    @pytest.fixture
    def calls(self, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
        recorded: list[list[str]] = []
        installed: set[str] = set()

        def run(command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
            recorded.append(command)
            if command[:2] == ["apt-get", "install"]:
                installed.update(command[4:])
            return subprocess.CompletedProcess(command, 0, "", "")

        monkeypatch.setattr(tools.subprocess, "run", run)
        monkeypatch.setattr(
            tools.shutil,
            "which",
            lambda command, path=None: (
                None if command in {"podman", "debootstrap"} - installed else "/usr/bin/x"
            ),
        )
        return recorded

    def test_given_missing_tools_as_root_when_ensured_then_apt_installs_exactly_those(
        self, calls: list[list[str]], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(tools.os, "geteuid", lambda: 0)

        installed = tools.ensure_tools(log=False)

        assert installed == ["podman", "debootstrap"]
        assert calls == [
            ["apt-get", "update", "-qq"],
            ["apt-get", "install", "-y", "-qq", "podman", "debootstrap"],
        ]

    def test_given_missing_tools_without_root_when_ensured_then_it_says_what_to_install(
        self, calls: list[list[str]], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(tools.os, "geteuid", lambda: 1000)

        with pytest.raises(tools.ToolsMissing, match=r"sudo apt-get install podman debootstrap"):
            tools.ensure_tools(log=False)
        assert calls == []
