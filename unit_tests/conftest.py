"""Fixtures every unit test gets: an isolated HTTP cache, no real backoff waits, a page budget,
and a strict HTTP mocker."""

from __future__ import annotations

import contextlib
import copy
import itertools
import os
from collections.abc import Generator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import backoff._sync
import pytest
from airbyte_cdk.sources.declarative import concurrent_declarative_source
from airbyte_cdk.sources.declarative.requesters.paginators.default_paginator import (
    DefaultPaginator,
)
from airbyte_cdk.sources.streams.http import rate_limiting
from airbyte_cdk.test.mock_http import HttpMocker
from hypothesis import HealthCheck, Phase, settings

from source_meta_conversations import cdk_adaptations, sync
from source_meta_conversations.components import error_handlers
from unit_tests.mock_server.sleeps import Sleeps

# No unit test reads more pages than this; a read that does is looping.
PAGE_BUDGET = 100

# The fuzzers (test_fuzz_*.py): the same examples on every run, so that ``make test`` and CI are
# reproducible and a failure names its example; ``HYPOTHESIS_PROFILE=explore`` draws new ones,
# ten times as many, to look for more. No example database (Hypothesis still keeps caches in
# .hypothesis/, which ignores itself).
_NO_HEALTH_CHECKS_FOR = (HealthCheck.function_scoped_fixture, HealthCheck.too_slow)
# No shrinking in the deterministic profile: a failing example is reported as drawn, and a
# known failure (a strict xfail) costs one example, not a search for the smallest.
settings.register_profile(
    "deterministic",
    derandomize=True,
    max_examples=40,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    deadline=None,
    database=None,
    suppress_health_check=_NO_HEALTH_CHECKS_FOR,
)
settings.register_profile(
    "explore",
    derandomize=False,
    max_examples=400,
    deadline=None,
    database=None,
    suppress_health_check=_NO_HEALTH_CHECKS_FOR,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Remember each phase's report on the item, so fixtures can tell a failed test body."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(autouse=True, scope="session")
def cdk_adaptations_installed() -> None:
    """Install the CDK adaptations as the entrypoint does (run.py), once for the session."""
    cdk_adaptations.install()


@pytest.fixture(autouse=True, scope="session")
def parsed_cdk_component_schema_once() -> Iterator[None]:
    """Parse the CDK's declarative component schema once per session, not once per source.

    Every ``SourceMetaConversations()`` parses that static YAML file again (about 0.3 s, most of
    a unit read); the suite builds a source per test.
    """
    original = concurrent_declarative_source.get_declarative_component_schema
    schema = original()

    def cached() -> dict[str, Any]:
        return copy.deepcopy(schema)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(concurrent_declarative_source, "get_declarative_component_schema", cached)
        yield


@pytest.fixture(autouse=True)
def isolated_request_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Give each test its own HTTP cache.

    The child streams read the conversations pages from the CDK's request cache. Without
    ``REQUEST_CACHE_PATH`` the CDK shares one in-memory SQLite database across the process, so a
    page cached by one test could answer the same request in the next one and hide a call the
    test means to count.
    """
    monkeypatch.setenv("REQUEST_CACHE_PATH", str(tmp_path))


@pytest.fixture(autouse=True)
def sleeps(monkeypatch: pytest.MonkeyPatch) -> Sleeps:
    """Record the backoff waits instead of waiting them, so retried errors cost no time.

    The CDK sleeps in ``rate_limiting`` (the manifest's backoff strategy and rate limits) and in
    the ``backoff`` library (its own exponential waits); the connector's usage watcher pauses
    with ``error_handlers.time.sleep``. Each module's ``time`` is replaced, not ``time.sleep``
    itself, so the concurrent source's worker threads and the API budget keep their real clock.
    """
    recorder = Sleeps()
    fake_time = SimpleNamespace(sleep=recorder)
    monkeypatch.setattr(rate_limiting, "time", fake_time)
    monkeypatch.setattr(backoff._sync, "time", fake_time)
    monkeypatch.setattr(error_handlers, "time", fake_time)
    return recorder


@contextlib.contextmanager
def one_page_budget() -> Iterator[None]:
    """Fail a read that asks for more than ``PAGE_BUDGET`` next pages instead of hanging.

    A paging loop can run without a single HTTP call (the repeated pages come from the request
    cache), so the mocker cannot stop it; counting next-page decisions can.
    """
    original = DefaultPaginator.next_page_token
    counter = itertools.count(1)

    def guarded(self: DefaultPaginator, *args: Any, **kwargs: Any) -> Any:
        if next(counter) > PAGE_BUDGET:
            raise RuntimeError(f"Test page budget exceeded ({PAGE_BUDGET}): paging loops.")
        return original(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DefaultPaginator, "next_page_token", guarded)
        yield


@pytest.fixture(autouse=True)
def page_budget() -> Iterator[None]:
    """One page budget per test (the fuzzers take one per example: ``one_page_budget``)."""
    with one_page_budget():
        yield


@pytest.fixture
def http_mocker(request: pytest.FixtureRequest) -> Iterator[HttpMocker]:
    """An ``HttpMocker`` that also fails the test when a mocked request was never made.

    ``with HttpMocker()`` alone (unlike its decorator form) does not check that every mocked
    request was called; the mocks are the contract of the calls the connector makes, so the
    check is made here, after a test body that passed (a failed one already says what broke).
    """
    with HttpMocker() as mocker:
        yield mocker
    call_report = getattr(request.node, "report_call", None)
    if call_report is not None and call_report.failed:
        return
    uncalled = [
        str(matcher) for matcher in mocker._get_matchers() if not matcher.has_expected_match_count()
    ]
    assert not uncalled, "Mocked requests never made:\n" + "\n".join(uncalled)


@pytest.fixture(autouse=True)
def fresh_sync_wait_ledger() -> Iterator[None]:
    """Each test is its own sync: the waits on Meta counted against the bound start at zero."""
    sync.start_sync()
    yield
    sync.start_sync()
