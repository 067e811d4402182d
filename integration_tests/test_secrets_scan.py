"""No credential leaves the connector: every command, every fault profile, every error family.

The secrets: the access token, the app secret, and the appsecret_proof (hex HMAC-SHA256 of the
token keyed by the app secret: whoever holds it can call Graph with the token for that app).
The runs, all with the most verbose logging the CDK offers (``--debug`` and ``LOG_LEVEL=debug``:
every request URL, header and response body is logged) and an app secret set:

- ``read``: every run of the fault suite (``fault_outcomes``: faulted, resumed, killed), which
  includes answers whose ``paging.next`` links carry the token (``token-in-links``: what Graph
  does for a token sent in the query) and attachments lists with their own paging links;
- ``check``: once per fault kind, in a mode that meets the check's one call (a check reads the
  first page of each platform: a fault that starts later, a storm from call 3 or an expiry
  after 3 calls, never reaches it; the storm is left to the reads);
- ``read`` once more with ``token-in-links``, killed after its second state: the suite's own
  killed runs meet no answer that carries the token;
- ``spec`` once; ``check`` and ``read`` once per error family (a token expired, unknown,
  without a Page role or a permission; a wrong app secret; an unknown Page; no Instagram
  account; an expired Graph version; a config the spec refuses). ``discover`` calls nothing
  (the catalog is the schemas), so no fault or error of Meta's can change what it prints: it
  runs for a valid config and for the refused one.

Where: stdout and stderr outside records (logs, traces with their stack traces, statuses); the
records themselves (what reaches the destination); and every file a run left in its working
directory and ``TMPDIR`` (the CDK keeps its HTTP cache there, in SQLite; a killed run leaves
it behind, and the suite kills some). No file is left out: the connector does not let the CDK
copy its config (token and app secret) to ``<TMPDIR>/tmp*/config.json``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from integration_tests.conftest import incremental_catalog
from integration_tests.fault_suite import (
    BOTH,
    FLAT,
    MESSENGER,
    FaultRun,
    Outcome,
    RecordingConnector,
    World,
)
from meta_graph_sandbox import Sandbox
from meta_graph_sandbox.auth import appsecret_proof

# Every fault kind a check can meet (not a storm from call 3, nor a stale cursor: its one
# call has none), in a mode that fires on its first call.
CHECK_FAULTS = (
    "transient@always",
    "usage-high:1@always",
    "slow:1500@always",
    "hang:600@always",
    "malformed@always",
    "reset@always",
    "reduce-data:50",
    "token-in-links",
    "token-expiry:0",
    "permission-revoked:0",
)
# A read whose answers all carry the token and the proof in their links, killed after its
# second state (3 listing pages): its HTTP cache is left behind with the pages it stored. The
# fault suite's killed runs meet no such answer, and those that end normally remove their cache.
KILLED_TOKEN_IN_LINKS = "read, token-in-links, killed after 2 states"

# Each run of the scan beyond the fault suite's is killed after this. The check meeting
# hang@always waits out 9 read timeouts (90 s each) before it would end; the scan reads what it
# printed and left until it is killed, and a killed run is one the scan must see.
SCAN_RUN_TIMEOUT_SECONDS = 20.0


@dataclass
class Scanned:
    """One run and the secrets of its config."""

    label: str
    run: FaultRun
    secrets: dict[str, str]  # name -> value, only those the config had

    def text_outside_records(self) -> str:
        """stdout without the RECORD messages, and stderr."""
        kept = [line for line in self.run.run.stdout.splitlines() if '"type":"RECORD"' not in line]
        return "\n".join(kept) + "\n" + self.run.run.stderr

    def records_text(self) -> str:
        """The RECORD messages, as the destination receives them."""
        return "\n".join(
            line for line in self.run.run.stdout.splitlines() if '"type":"RECORD"' in line
        )

    def files(self) -> Iterator[tuple[Path, bytes]]:
        """The files the run left."""
        for path in self.run.files:
            yield path, path.read_bytes()


def _secrets(config: Mapping[str, Any] | None) -> dict[str, str]:
    if not config:
        return {}
    secrets = {}
    token, secret = config.get("access_token"), config.get("app_secret")
    if isinstance(token, str) and len(token) >= 8:
        secrets["access token"] = token
    if isinstance(secret, str) and len(secret) >= 8:
        secrets["app secret"] = secret
        if isinstance(token, str):
            secrets["appsecret_proof"] = appsecret_proof(token, secret)
    return secrets


# ---------------------------------------------------------------------------------- error families
def _families(sandbox: Sandbox, unlinked: Sandbox) -> dict[str, dict[str, Any]]:
    """One config per error family, each against a sandbox that requires appsecret_proof."""
    base = sandbox.connector_config()
    return {
        "token expired (190/463)": {**base, "access_token": sandbox.issue_token(expired=True)},
        "token unknown (190/467)": {**base, "access_token": "EAAS" + "Q" * 180},
        "token without a Page role (190/492)": {
            **base,
            "access_token": sandbox.issue_token(role_on_page=False),
        },
        "permission missing (200)": {
            **base,
            "access_token": sandbox.issue_token(["pages_messaging"]),
        },
        "app secret wrong (100)": {**base, "app_secret": "0" * 32},
        "page unknown (100/33)": {**base, "page_id": "100000000000001"},
        "no Instagram account (100/2534013)": unlinked.connector_config(platform="instagram"),
        "Graph version expired": {**base, "api_version": "v20.0"},
        "config refused by the spec": {**base, "page_id": "12ab", "start_date": "yesterday"},
    }


@pytest.fixture(scope="module")
def scanned(
    fault_outcomes: Mapping[str, Outcome], tmp_path_factory: pytest.TempPathFactory
) -> list[Scanned]:
    """Every run of the scan (see the module docstring)."""
    runs = [
        Scanned(f"read, {name}, run {i}", run, _secrets(run.config))
        for name, outcome in fault_outcomes.items()
        for i, run in enumerate(outcome.runs())
    ]
    workdir = tmp_path_factory.mktemp("secrets")
    jobs: list[tuple[str, Callable[[], FaultRun]]] = []
    with ExitStack() as stack:
        connector = RecordingConnector(workdir)
        jobs.append(("spec", lambda: connector.run_recorded(None, command="spec")))
        for fault in CHECK_FAULTS:
            config = MESSENGER.start(stack, (fault,)).connector_config()
            jobs.append((f"check, {fault}", _job(connector, config, "check")))
        clean = MESSENGER.start(stack)
        families = _families(
            clean, World(platforms=BOTH.platforms).start(stack, instagram_linked=False)
        )
        for family, config in families.items():
            for command in ("check", "read"):
                jobs.append((f"{command}, {family}", _job(connector, config, command)))
        echoing = FLAT.start(stack, ("token-in-links",)).connector_config()
        jobs.append(
            (
                KILLED_TOKEN_IN_LINKS,
                lambda: connector.run_recorded(
                    echoing, incremental_catalog(), command="read", kill_after_states=2
                ),
            )
        )
        for family, config in (
            ("valid config", clean.connector_config()),
            ("config refused by the spec", families["config refused by the spec"]),
        ):
            jobs.append((f"discover, {family}", _job(connector, config, "discover")))
        with ThreadPoolExecutor(max_workers=3) as pool:
            futures = [(label, pool.submit(job)) for label, job in jobs]
            for label, future in futures:
                run = future.result()
                runs.append(Scanned(label, run, _secrets(run.config)))
    return runs


def _job(
    connector: RecordingConnector,
    config: Mapping[str, Any],
    command: str,
    timeout: float = SCAN_RUN_TIMEOUT_SECONDS,
) -> Callable[[], FaultRun]:
    catalog = incremental_catalog() if command == "read" else None
    return lambda: connector.run_recorded(config, catalog, command=command, timeout=timeout)


def _leaks(
    scanned: list[Scanned], secret: str, where: Callable[[Scanned], Iterator[str]]
) -> list[str]:
    """Labels (and places) of the runs where ``secret`` was found."""
    found = []
    for item in scanned:
        value = item.secrets.get(secret)
        if value is None:
            continue
        found += [f"{item.label}: {place}" for place in where(item) if value in place]
    return found


# ---------------------------------------------------------------------------------- the scan
def test_given_the_scan_when_run_then_every_command_and_family_was_run_with_all_three_secrets(
    scanned: list[Scanned],
) -> None:
    commands = {item.run.run.args[0] for item in scanned}
    with_proof = [item for item in scanned if "appsecret_proof" in item.secrets]

    assert commands == {"spec", "check", "discover", "read"}
    assert all("--debug" in item.run.run.args for item in scanned)
    assert len(with_proof) > len(scanned) * 3 // 4
    assert any(item.label.startswith("read, token-in-links") for item in scanned)
    assert any(item.run.run.killed for item in scanned)


@pytest.mark.parametrize("secret", ["access token", "app secret"])
def test_given_every_run_when_reading_its_logs_traces_and_stderr_then_no_token_or_app_secret(
    scanned: list[Scanned], secret: str
) -> None:
    leaks = _leaks(scanned, secret, lambda item: iter([item.text_outside_records()]))

    assert leaks == [], f"the {secret} leaked in {[leak[:120] for leak in leaks]}"


def test_given_every_run_when_reading_its_logs_traces_and_stderr_then_no_appsecret_proof(
    scanned: list[Scanned],
) -> None:
    leaks = _leaks(scanned, "appsecret_proof", lambda item: iter([item.text_outside_records()]))

    assert leaks == [], f"the appsecret_proof leaked in {len(leaks)} runs"


def test_given_every_run_when_reading_its_records_then_no_app_secret(
    scanned: list[Scanned],
) -> None:
    assert _leaks(scanned, "app secret", lambda item: iter([item.records_text()])) == []


@pytest.mark.parametrize("secret", ["access token", "appsecret_proof"])
def test_given_every_run_when_reading_its_records_then_no_credential_of_the_call(
    scanned: list[Scanned], secret: str
) -> None:
    leaks = _leaks(scanned, secret, lambda item: iter([item.records_text()]))

    assert leaks == [], f"the {secret} is in the records of {len(leaks)} runs"


def test_given_every_run_when_reading_the_files_it_left_then_no_app_secret(
    scanned: list[Scanned],
) -> None:
    leaks = _leaks(scanned, "app secret", lambda item: (f"{p}: {b!r}" for p, b in item.files()))

    assert leaks == []


def test_given_runs_meta_never_echoed_the_token_to_when_reading_their_files_then_no_token(
    scanned: list[Scanned],
) -> None:
    faithful = [item for item in scanned if "token-in-links" not in item.label]

    leaks = _leaks(faithful, "access token", lambda item: (f"{p}: {b!r}" for p, b in item.files()))

    assert leaks == []


def test_given_every_run_when_reading_the_files_it_left_then_no_credential_of_the_call(
    scanned: list[Scanned],
) -> None:
    leaks = [
        leak
        for secret in ("access token", "appsecret_proof")
        for leak in _leaks(
            scanned, secret, lambda item: (f"{p.name}: {b!r}" for p, b in item.files())
        )
    ]

    assert leaks == [], f"credentials in {len(leaks)} files"


def test_given_the_killed_runs_when_listing_their_files_then_the_scan_saw_what_they_left(
    scanned: list[Scanned],
) -> None:
    # A run that ends normally removes its TMPDIR; killed ones leave the HTTP cache behind,
    # which is what makes the files checks above see anything.
    killed = [item for item in scanned if item.run.run.killed]

    assert killed
    assert any(path.suffix.startswith(".sqlite") for item in killed for path, _ in item.files())


def test_given_a_killed_run_meta_echoed_the_token_to_when_reading_its_cache_then_links_redacted(
    scanned: list[Scanned],
) -> None:
    # What makes the files check above see a cache whose pages had the token in their links.
    item = next(i for i in scanned if i.label == KILLED_TOKEN_IN_LINKS)

    cache = b"".join(content for path, content in item.files() if ".sqlite" in path.name)

    assert item.run.run.killed
    assert b"access_token=REDACTED" in cache
    assert b"appsecret_proof=REDACTED" in cache


def test_given_token_in_links_when_logged_at_debug_then_the_cdk_masks_the_registered_token(
    scanned: list[Scanned],
) -> None:
    item = next(i for i in scanned if i.label.startswith("read, token-in-links"))

    text = item.text_outside_records()

    assert item.secrets["access token"] not in text
    assert "access_token=****" in text  # the links were logged, the token masked
