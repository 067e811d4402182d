"""What ships is what was tested: exact dependencies, CDK internals touched in one declared place.

An upgrade of the airbyte-cdk that renames a private method must fail here (and at start-up),
not quietly turn off checkpointing, memory bounds or single-flight reads in production.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest

from source_meta_conversations import cdk_adaptations
from source_meta_conversations.cdk_adaptations.registry import CdkAdaptationError, PrivateName
from unit_tests.cdk_private_names import CLASS, DICT, private_uses

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "source_meta_conversations"
ADAPTATIONS = "source_meta_conversations/cdk_adaptations/"


def _locked(lock: Path) -> dict[str, str]:
    """``name -> version`` of every ``name==version`` line of a pip-compile lock file."""
    pins = re.findall(r"^([A-Za-z0-9_.-]+)==([^\s\\]+)", lock.read_text(), flags=re.MULTILINE)
    return {name.lower().replace("_", "-"): version for name, version in pins}


def _run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603  (this interpreter, code written in the test)
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


class TestPinnedDependencies:
    def test_given_the_runtime_lock_when_installed_then_every_package_is_the_locked_version(
        self,
    ) -> None:
        locked = _locked(ROOT / "requirements.lock")
        assert "airbyte-cdk" in locked

        mismatched = {
            name: (metadata.version(name), version)
            for name, version in locked.items()
            if metadata.version(name) != version
        }

        assert not mismatched, "installed != locked (run `make install`): " + ", ".join(
            f"{name} {installed} installed, {version} locked"
            for name, (installed, version) in sorted(mismatched.items())
        )

    def test_given_the_cdk_pin_when_compared_then_setup_lock_and_adaptations_agree(self) -> None:
        setup = (ROOT / "setup.py").read_text()

        assert '"airbyte-cdk==7.39.1"' in setup
        assert _locked(ROOT / "requirements.lock")["airbyte-cdk"] == "7.39.1"
        assert _locked(ROOT / "requirements-dev.lock")["airbyte-cdk"] == "7.39.1"
        assert cdk_adaptations.WRITTEN_FOR_CDK == "7.39.1"
        assert metadata.version("airbyte-cdk") == "7.39.1", (
            f"airbyte-cdk {metadata.version('airbyte-cdk')} is installed, 7.39.1 is pinned"
        )

    def test_given_both_locks_when_compared_then_the_runtime_closure_is_the_same(self) -> None:
        runtime = _locked(ROOT / "requirements.lock")
        development = _locked(ROOT / "requirements-dev.lock")

        assert {name: development.get(name) for name in runtime} == runtime

    def test_given_the_runtime_lock_when_read_then_it_holds_no_demo_or_pyairbyte_package(
        self,
    ) -> None:
        runtime = _locked(ROOT / "requirements.lock")

        assert {"duckdb", "duckdb-engine", "airbyte", "pytest"} & set(runtime) == set()
        assert _locked(ROOT / "requirements-dev.lock")["duckdb"] == "1.4.3"
        assert _locked(ROOT / "requirements-pyairbyte.lock")["airbyte"] == "0.71.3"

    def test_given_the_locks_when_read_then_every_pin_has_a_hash(self) -> None:
        for lock in ("requirements.lock", "requirements-dev.lock", "requirements-pyairbyte.lock"):
            entries = re.split(r"\n(?=[A-Za-z0-9])", (ROOT / lock).read_text())
            pins = [entry for entry in entries if "==" in entry.split("\n")[0]]
            assert pins
            assert all("--hash=sha256:" in entry for entry in pins), lock


class TestPrivateNames:
    def test_given_the_package_source_when_scanned_then_every_private_cdk_name_is_declared(
        self,
    ) -> None:
        declared = {entry.name for entry in cdk_adaptations.PRIVATE_NAMES}

        used = {use.name for use in private_uses(PACKAGE) if use.name not in (CLASS, DICT)}

        assert used - declared == set(), "private CDK names used but not declared"
        assert declared - used == set(), "declared private CDK names no longer used"

    def test_given_the_package_source_when_scanned_then_cdk_internals_are_touched_only_in_one_home(
        self,
    ) -> None:
        outside = [use for use in private_uses(PACKAGE) if not use.path.startswith(ADAPTATIONS)]

        assert outside == []

    def test_given_the_scan_when_run_then_it_finds_the_known_uses(self) -> None:
        # The scanner itself: an override, a read on another object, a class swap, a copy.
        found = {(use.path.split("/")[-1], use.name) for use in private_uses(PACKAGE)}

        assert ("memory.py", "_prune_futures") in found
        assert ("declarative_source.py", "_concurrent_source") in found
        assert ("checkpoint_cursors.py", CLASS) in found
        assert ("factory.py", DICT) in found
        assert ("fast_dpath.py", "_DEFAULT_SENTINEL") in found

    @pytest.mark.parametrize(
        "entry",
        cdk_adaptations.PRIVATE_NAMES,
        ids=[entry.qualified for entry in cdk_adaptations.PRIVATE_NAMES],
    )
    def test_given_a_declared_name_when_verified_then_the_installed_cdk_has_it(
        self, entry: PrivateName
    ) -> None:
        entry.verify()

    def test_given_a_name_the_cdk_lacks_when_verified_then_the_error_names_both_versions(
        self,
    ) -> None:
        missing = PrivateName(
            "airbyte_cdk.sources.concurrent_source.thread_pool_manager",
            "ThreadPoolManager",
            "_prune_finished",
            used_by="a test",
        )

        with pytest.raises(CdkAdaptationError) as error:
            missing.verify()

        assert "ThreadPoolManager._prune_finished" in str(error.value)
        assert "no longer exists" in str(error.value)
        assert f"installed airbyte-cdk {metadata.version('airbyte-cdk')}" in str(error.value)
        assert "built and tested with airbyte-cdk 7.39.1" in str(error.value)

    def test_given_a_method_whose_parameters_changed_when_verified_then_refused(self) -> None:
        changed = PrivateName(
            "airbyte_cdk.sources.concurrent_source.thread_pool_manager",
            "ThreadPoolManager",
            "_prune_futures",
            used_by="a test",
            parameters=("self", "futures", "limit"),
        )

        with pytest.raises(CdkAdaptationError, match=r"takes \(self, futures\) instead of"):
            changed.verify()


class TestInstallation:
    def test_given_a_plain_import_of_every_module_then_nothing_outside_the_package_changed(
        self,
    ) -> None:
        result = _run_python(
            """
            import ast, gc, inspect, pkgutil, importlib, json
            import dpath
            from airbyte_cdk.sources.streams.call_rate import CachedLimiterSession
            from airbyte_cdk.sources.declarative.retrievers import simple_retriever
            before = (dpath.get, CachedLimiterSession.send, CachedLimiterSession.__init__,
                      simple_retriever.PageSizeReducer, inspect.getsource, ast.parse,
                      gc.get_freeze_count())
            import source_meta_conversations
            names = [m.name for m in pkgutil.walk_packages(
                source_meta_conversations.__path__, "source_meta_conversations.")]
            for name in names:
                importlib.import_module(name)
            after = (dpath.get, CachedLimiterSession.send, CachedLimiterSession.__init__,
                     simple_retriever.PageSizeReducer, inspect.getsource, ast.parse,
                     gc.get_freeze_count())
            print(json.dumps({"modules": len(names),
                              "same": [a is b or a == b for a, b in zip(before, after)]}))
            """
        )

        assert result.returncode == 0, result.stderr
        outcome = json.loads(result.stdout)
        assert outcome["modules"] >= 25
        assert outcome["same"] == [True] * 7

    def test_given_install_when_called_then_the_four_process_patches_are_in_place(
        self,
    ) -> None:
        result = _run_python(
            """
            import dpath
            from airbyte_cdk.sources.streams.call_rate import CachedLimiterSession
            from airbyte_cdk.sources.declarative.retrievers import simple_retriever
            from source_meta_conversations import cdk_adaptations
            from source_meta_conversations.cdk_adaptations import (
                cache_redaction, fast_dpath, page_size, single_flight)
            assert not cdk_adaptations.installed()
            cdk_adaptations.install()
            cdk_adaptations.install()  # idempotent
            print(dpath.get is fast_dpath.fast_get,
                  CachedLimiterSession.send is single_flight._send,
                  CachedLimiterSession.__init__ is cache_redaction._init,
                  simple_retriever.PageSizeReducer is page_size.GradualPageSizeReducer,
                  cdk_adaptations.installed())
            """
        )

        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == ["True", "True", "True", "True", "True"]

    def test_given_a_cdk_without_a_listed_method_when_installed_then_refused_and_nothing_patched(
        self,
    ) -> None:
        result = _run_python(
            """
            import dpath
            from airbyte_cdk.sources.concurrent_source.thread_pool_manager import (
                ThreadPoolManager)
            del ThreadPoolManager._prune_futures  # as a CDK release that renamed it
            original = dpath.get
            from source_meta_conversations import cdk_adaptations
            try:
                cdk_adaptations.install()
            except cdk_adaptations.CdkAdaptationError as error:
                print(str(error))
            print(dpath.get is original, cdk_adaptations.installed())
            """
        )

        assert result.returncode == 0, result.stderr
        message, patched = result.stdout.strip().split("\n")
        assert "ThreadPoolManager._prune_futures" in message
        assert "no longer exists" in message
        assert "7.39.1" in message
        assert patched == "True False"

    def test_given_a_cdk_without_a_listed_method_when_the_command_runs_then_one_clear_trace(
        self,
    ) -> None:
        result = _run_python(
            """
            from airbyte_cdk.sources.concurrent_source.thread_pool_manager import (
                ThreadPoolManager)
            del ThreadPoolManager._prune_futures
            from source_meta_conversations.run import run
            run(["spec"])
            """
        )

        assert result.returncode == 1
        [line] = [line for line in result.stdout.splitlines() if line.strip()]
        trace = json.loads(line)["trace"]
        assert trace["error"]["failure_type"] == "system_error"
        assert "ThreadPoolManager._prune_futures" in trace["error"]["message"]
        assert "Traceback" not in result.stderr

    def test_given_the_start_up_cache_when_imported_then_the_cdk_is_not_imported_yet(
        self,
    ) -> None:
        # run.py imports the start-up cache first and the CDK inside it: were the CDK imported
        # with the cache's module, its import would run uncached (0.35 s more per command).
        result = _run_python(
            """
            import sys
            from source_meta_conversations.cdk_adaptations.startup import cached_class_sources
            print(sorted(name for name in sys.modules if name.startswith("airbyte_cdk")))
            """
        )

        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "[]"

    def test_given_install_when_it_checks_the_cdk_then_it_reads_no_source_file(self) -> None:
        # Checking a name by reading class sources parses a whole module per class (0.26 s).
        result = _run_python(
            """
            import inspect
            from source_meta_conversations import cdk_adaptations
            cdk_adaptations.PRIVATE_NAMES  # imports the CDK (whose own import reads sources)
            calls = []
            original = inspect.getsource
            inspect.getsource = lambda obj: calls.append(obj) or original(obj)
            cdk_adaptations.install()
            print(len(calls))
            """
        )

        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "0"

    def test_given_no_install_when_a_source_is_built_then_it_says_what_to_call(self) -> None:
        result = _run_python(
            """
            from source_meta_conversations.source import SourceMetaConversations
            try:
                SourceMetaConversations()
            except RuntimeError as error:
                print(error)
            """
        )

        assert result.returncode == 0, result.stderr
        assert "call source_meta_conversations.cdk_adaptations.install() first" in result.stdout
