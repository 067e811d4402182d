"""``python -m meta_graph_sandbox``, run as a real subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

# The sandbox is not installed: it runs from the repository root, put first on PYTHONPATH so that
# the subprocess finds it whatever its working directory.
ROOT = Path(__file__).resolve().parents[2]


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "meta_graph_sandbox", *args]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


@pytest.fixture
def run_cli() -> Iterator:
    started: list[subprocess.Popen] = []

    def run(*args: str) -> tuple[subprocess.Popen, dict]:
        process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            _command("--port", "0", *args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        started.append(process)
        assert process.stdout is not None
        line = process.stdout.readline()
        return process, json.loads(line)

    yield run
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


class TestCli:
    def test_given_start_when_running_then_one_json_line_and_serves_until_sigterm(
        self, run_cli: Callable[..., tuple[subprocess.Popen[str], dict[str, Any]]], tmp_path: Path
    ) -> None:
        config_path = tmp_path / "secrets" / "config.json"

        process, line = run_cli(
            "--seed", "3", "--conversations", "4", "--write-config", str(config_path)
        )
        me = requests.get(
            f"{line['base_url']}/v26.0/me",
            headers={"Authorization": f"OAuth {line['access_token']}"},
            timeout=5,
        )
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=10)
        stderr = process.stderr.read() if process.stderr else ""

        assert set(line) == {"base_url", "page_id", "access_token", "app_secret"}
        assert line["base_url"].startswith("http://127.0.0.1:")
        assert line["app_secret"] is None
        assert me.json()["id"] == line["page_id"]
        config = json.loads(config_path.read_text())
        assert config["base_url"] == line["base_url"]
        assert config["access_token"] == line["access_token"]
        assert config["platform"] == "both"
        assert oct(config_path.stat().st_mode & 0o777) == "0o600"
        assert code == 0
        assert line["access_token"] not in stderr

    def test_given_sigint_when_running_then_exits_zero(
        self, run_cli: Callable[..., tuple[subprocess.Popen[str], dict[str, Any]]]
    ) -> None:
        process, line = run_cli("--app-secret", "abc", "--platforms", "instagram", "--verbose")
        requests.get(
            f"{line['base_url']}/v26.0/me", params={"access_token": line["access_token"]}, timeout=5
        )

        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=10)
        stderr = process.stderr.read() if process.stderr else ""

        assert code == 0
        assert line["app_secret"] == "abc"
        assert "GET /v26.0/me 400" in stderr  # verbose logs the path, not the query
        assert line["access_token"] not in stderr

    def test_given_help_when_asked_then_every_option_and_profile_listed(self) -> None:
        result = subprocess.run(  # noqa: S603 - our own module, fixed arguments
            _command("--help"), capture_output=True, text=True, timeout=30, env=_env()
        )

        assert result.returncode == 0
        for option in ("--host", "--port", "--seed", "--conversations", "--messages",
                       "--latency-ms", "--rate-limit", "--faults", "--app-secret",
                       "--platforms", "--write-config", "--verbose"):  # fmt: skip
            assert option in result.stdout
        assert "rate-limit-storm" in result.stdout

    def test_given_bad_option_when_starting_then_exit_code_2(self) -> None:
        result = subprocess.run(  # noqa: S603 - our own module, fixed arguments
            _command("--faults", "nonsense"), capture_output=True, text=True, timeout=30, env=_env()
        )

        assert result.returncode == 2
        assert "unknown fault profile" in result.stderr
