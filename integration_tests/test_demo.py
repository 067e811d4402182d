"""``make demo`` from end to end: the connector against the sandbox, then the answers in DuckDB."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb

from demo.answers import QUESTIONS
from integration_tests.conftest import ROOT


def test_given_a_fresh_output_folder_when_the_demo_runs_then_it_ends_with_the_answers(
    tmp_path: Path,
) -> None:
    out, html = tmp_path / "demo", tmp_path / "answers.html"

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "demo",
            "--conversations",
            "8",
            "--out",
            str(out),
            "--html",
            str(html),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    answers = done.stdout[done.stdout.index("What a support lead asks") :]
    assert [q.title for q in QUESTIONS if q.title in answers] == [q.title for q in QUESTIONS]
    assert "conversations are left out: Meta gives the sender only" in answers
    assert "<svg" in html.read_text()
    with duckdb.connect(str(out / "demo.duckdb"), read_only=True) as connection:
        tables = {row[0] for row in connection.execute("SHOW TABLES").fetchall()}
        [(conversations,)] = connection.execute("SELECT count(*) FROM conversations").fetchall()
    assert tables == {"conversations", "messages", "message_details"}
    assert conversations == 16  # 8 per platform
