"""The fault suite: every way Meta fails, served by the sandbox as a real server.

Each profile of ``fault_suite.PROFILES`` runs once for the whole session (``fault_outcomes``):
an incremental first sync against a sandbox serving the fault, and where that sync did not
complete, a resumed sync from its last state with the fault gone. Records are compared by
primary key with a clean run of the same data (same seed).

A case that cannot pass yet is marked ``xfail(strict=True)`` with why (none is, today); when
that changes, the case passes, strict xfail turns that into a failure, and the mark must go:
that is the signal.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

import pytest

from integration_tests.fault_suite import (
    BY_NAME,
    COMPLETE,
    CONFIG,
    PROFILES,
    TRANSIENT,
    Outcome,
    streams_of,
)

URL = re.compile(r"https?://")
RAW_EXCEPTION = re.compile(r"\w+(Exception|Error)\(|Traceback")
# What the clear message of each fatal family tells the user to do.
FIX_OF = {
    "token-expiry": "Generate a new Page access token",
    "permission-revoked": "generate a new Page access token",
}


def _cases(expect: set[str], *, exclude: set[str] | None = None) -> list[Any]:
    """The names of the profiles whose outcome is in ``expect``."""
    return [
        pytest.param(profile.name, id=profile.name)
        for profile in PROFILES
        if profile.expect in expect and profile.name not in (exclude or set())
    ]


def _wait_bound(outcome: Outcome) -> float:
    """The connector's bound on one sync's waits, in seconds (``max_wait_minutes``)."""
    return float(outcome.profile.config.get("max_wait_minutes", 30)) * 60


# ---------------------------------------------------------------------------------- every run
@pytest.mark.parametrize("name", _cases({COMPLETE, TRANSIENT, CONFIG}))
def test_given_each_fault_when_syncing_then_no_run_has_to_be_killed(
    fault_outcomes: Mapping[str, Outcome], name: str
) -> None:
    outcome = fault_outcomes[name]

    hung = [run.run.args[0] for run in outcome.runs() if run.hung]

    assert hung == [], f"killed after {outcome.profile.timeout:.0f} s: {hung}"


@pytest.mark.parametrize("name", _cases({COMPLETE, TRANSIENT, CONFIG}))
def test_given_each_fault_when_syncing_then_no_thread_waits_past_max_wait_minutes(
    fault_outcomes: Mapping[str, Outcome], name: str
) -> None:
    outcome = fault_outcomes[name]
    # The CDK sleeps one second more than each backoff it is given ("to cover fractions"):
    # each sleep may pass what the connector counted by that second.
    per_thread: Counter[int] = Counter()
    for thread, seconds in outcome.faulted.waits:
        per_thread[thread] += int(seconds) - 1

    longest = max(per_thread.values(), default=0)

    assert longest <= _wait_bound(outcome), f"one thread waited {longest} s"


# ---------------------------------------------------------------------------------- ridden out
@pytest.mark.parametrize(
    "name",
    _cases({COMPLETE}, exclude={"stale-cursor on resume"}),
)
def test_given_a_fault_a_retry_rides_out_when_syncing_then_every_record_of_the_clean_run_once(
    fault_outcomes: Mapping[str, Outcome], name: str
) -> None:
    outcome = fault_outcomes[name]
    faulted = outcome.faulted

    assert faulted.succeeded, faulted.run.describe()
    assert Counter(faulted.run.record_keys()) == Counter(outcome.clean.record_keys())
    assert outcome.duplicates() == {}


def test_given_one_5xx_when_syncing_then_one_retry_after_a_backoff(
    fault_outcomes: Mapping[str, Outcome],
) -> None:
    outcome = fault_outcomes["transient@once"]

    assert outcome.stats["faults"] == {"transient": 1}
    assert outcome.stats["calls"] == fault_outcomes["clean"].stats["calls"] + 1
    assert outcome.faulted.retries == 1
    assert [seconds for _, seconds in outcome.faulted.waits] == [3.0]  # 2 s backoff + the CDK's 1


def test_given_an_answer_that_never_comes_when_syncing_then_the_read_timeout_ends_it_and_a_retry(
    fault_outcomes: Mapping[str, Outcome],
) -> None:
    outcome = fault_outcomes["hang@once"]
    retry_lines = [
        str(m["log"]["message"])
        for m in outcome.faulted.run.of_type("LOG")
        if "before retrying" in str(m["log"]["message"])
    ]

    assert outcome.faulted.succeeded, outcome.faulted.run.describe()
    assert outcome.stats["faults"] == {"hang": 1}
    assert outcome.stats["calls"] == fault_outcomes["clean"].stats["calls"] + 1
    assert outcome.faulted.retries == 1
    # The held answer sent nothing (the sandbox's hang is silence): the read timeout ended it.
    assert retry_lines == [
        "Waiting 2.0 s before retrying (backoff, attempt 1; last failure: Meta's server sent "
        "nothing for longer than the read timeout)."
    ]
    assert [seconds for _, seconds in outcome.faulted.waits] == [3.0]  # 2 s backoff + the CDK's 1


def test_given_usage_headers_asking_for_a_pause_when_syncing_then_it_pauses_that_long(
    fault_outcomes: Mapping[str, Outcome],
) -> None:
    outcome = fault_outcomes["usage-high@once"]

    assert outcome.faulted.succeeded
    assert [seconds for _, seconds in outcome.faulted.waits] == [60.0]


def test_given_next_links_to_another_host_when_syncing_then_no_call_leaves_the_configured_host(
    fault_outcomes: Mapping[str, Outcome],
) -> None:
    outcome = fault_outcomes["links elsewhere"]

    assert outcome.faulted.succeeded
    assert outcome.foreign_calls == 0
    assert outcome.stats["calls"] == fault_outcomes["clean"].stats["calls"]


# ---------------------------------------------------------------------------------- stale cursor
def test_given_meta_refuses_the_saved_cursor_when_resuming_then_it_lists_again_from_the_newest(
    fault_outcomes: Mapping[str, Outcome],
) -> None:
    outcome = fault_outcomes["stale-cursor on resume"]
    logs = " ".join(str(m["log"]["message"]) for m in outcome.faulted.run.of_type("LOG"))

    assert outcome.faulted.succeeded, outcome.faulted.run.describe()
    assert outcome.stats["faults"] == {"stale-cursor": 1}
    assert "Meta no longer accepts the paging cursor the previous sync saved" in logs
    assert outcome.missing() == set(), streams_of(outcome.missing())
    assert outcome.unexpected() == set()
    # Listed again from the newest: every conversation of the world, the new ones included.
    assert Counter(outcome.faulted.run.record_keys()) == Counter(outcome.clean.record_keys())


def test_given_a_page_handing_back_its_cursor_when_syncing_then_a_transient_error_not_a_loop(
    fault_outcomes: Mapping[str, Outcome],
) -> None:
    outcome = fault_outcomes["repeat-cursor"]

    assert outcome.stats["faults"] == {"repeat-cursor": 1}
    assert outcome.faulted.stream_failure_types == {TRANSIENT}
    messages = {
        e["message"] for e in outcome.faulted.run.trace_errors if e.get("stream_descriptor")
    }
    assert all("sent the connector to the same page again" in message for message in messages)
    # The listing's calls stop at the repeated page: no page is asked twice.
    assert outcome.stats["by_route"]["conversations"] <= 3


def test_given_meta_refuses_a_cursor_mid_listing_when_syncing_then_a_transient_error(
    fault_outcomes: Mapping[str, Outcome],
) -> None:
    outcome = fault_outcomes["stale-cursor mid-listing"]

    assert outcome.faulted.stream_failure_types == {TRANSIENT}
    messages = {
        e["message"] for e in outcome.faulted.run.trace_errors if e.get("stream_descriptor")
    }
    assert all("Meta refused a paging cursor" in message for message in messages)


# ---------------------------------------------------------------------------------- failures
@pytest.mark.parametrize("name", _cases({TRANSIENT}))
def test_given_a_fault_that_stays_when_syncing_then_each_failing_stream_ends_transient(
    fault_outcomes: Mapping[str, Outcome], name: str
) -> None:
    faulted = fault_outcomes[name].faulted

    assert not faulted.succeeded
    assert not faulted.hung
    assert faulted.stream_failure_types == {TRANSIENT}


@pytest.mark.parametrize("name", _cases({CONFIG}))
def test_given_a_fatal_fault_when_syncing_then_every_error_trace_is_a_config_error(
    fault_outcomes: Mapping[str, Outcome], name: str
) -> None:
    faulted = fault_outcomes[name].faulted

    assert faulted.run.trace_errors
    assert {error["failure_type"] for error in faulted.run.trace_errors} == {CONFIG}


@pytest.mark.parametrize("name", _cases({CONFIG}))
def test_given_a_fatal_fault_when_syncing_then_the_last_error_is_the_clear_message_naming_the_fix(
    fault_outcomes: Mapping[str, Outcome], name: str
) -> None:
    last = fault_outcomes[name].faulted.last_error

    assert last["failure_type"] == CONFIG
    assert FIX_OF[name] in last["message"]
    assert not URL.search(last["message"]), last["message"]
    assert not RAW_EXCEPTION.search(last["message"]), last["message"]


@pytest.mark.parametrize("name", _cases({TRANSIENT}))
def test_given_a_fault_that_stays_when_syncing_then_the_last_error_is_a_clear_transient_one(
    fault_outcomes: Mapping[str, Outcome], name: str
) -> None:
    faulted = fault_outcomes[name].faulted
    last = faulted.last_error

    assert last["failure_type"] == TRANSIENT
    assert not URL.search(last["message"]), last["message"]
    assert not RAW_EXCEPTION.search(last["message"]), last["message"]


@pytest.mark.parametrize("name", _cases({TRANSIENT, CONFIG}))
def test_given_a_failed_sync_when_it_ends_then_every_record_it_emitted_is_followed_by_a_state(
    fault_outcomes: Mapping[str, Outcome], name: str
) -> None:
    outcome = fault_outcomes[name]

    assert not outcome.faulted.succeeded
    assert outcome.records_after_last_state() == {}


@pytest.mark.parametrize("name", _cases({TRANSIENT, CONFIG}))
def test_given_a_failed_sync_when_resumed_without_the_fault_then_nothing_is_missing(
    fault_outcomes: Mapping[str, Outcome], name: str
) -> None:
    outcome = fault_outcomes[name]

    assert outcome.resumed is not None, "the faulted sync did not fail"
    assert outcome.resumed.succeeded, outcome.resumed.run.describe()
    assert outcome.missing() == set(), f"missing {streams_of(outcome.missing())}"
    assert outcome.unexpected() == set()


def test_given_the_issue_13_token_expiry_when_synced_then_records_were_read_before_it_failed(
    fault_outcomes: Mapping[str, Outcome],
) -> None:
    # The reproduction of issue 13 only holds if the failure comes mid-sync, after records of
    # every stream were delivered (and checkpointed): else nothing could be lost.
    outcome = fault_outcomes["token-expiry"]

    counts = outcome.faulted.run.counts()
    assert all(counts[stream] > 0 for stream in counts), counts
    assert outcome.stats["faults"]["token-expiry"] > 0
    assert BY_NAME["token-expiry"].world.platforms == ("messenger", "instagram")
