"""Fault profiles: the failures Meta serves now and then, on demand and deterministic for a seed.

Each profile draws from its own ``random.Random`` seeded by (seed, profile), one draw per
operation, so that a given sequence of calls meets the same faults on every run, and enabling
one profile never shifts another's sequence. Two levels of decision:

- per API operation (a plain call, or one item of a batch): ``transient``, ``rate-limit-storm``,
  ``token-expiry``; ``reduce-data`` and ``empty-page`` depend on the data, not on draws;
- per HTTP response (a batch is one): ``slow``, ``malformed``, ``reset``, ``batch-timeout``.

Admin routes never see a fault.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from meta_graph_sandbox.auth import expired_token
from meta_graph_sandbox.errors import (
    CODE_API_RATE_LIMIT,
    CODE_APP_RATE_LIMIT,
    CODE_PAGE_BUC_LIMIT,
    CODE_PAGE_RATE_LIMIT,
    CODE_TRANSIENT,
    CODE_USER_RATE_LIMIT,
    RATE_LIMIT_HELP,
    GraphError,
)

# profile -> (default value, what the value means)
PROFILES: dict[str, tuple[int, str]] = {
    "transient": (10, "percent of calls answering code 2 (HTTP 500 or 503)"),
    "reduce-data": (100, "most objects (conversations + nested messages) one answer may hold"),
    "rate-limit-storm": (3, "consecutive throttled answers per storm (one storm per 50 calls)"),
    "slow": (2000, "milliseconds a slow answer (10% of answers) waits"),
    "malformed": (5, "percent of answers with a truncated or non-JSON 200 body"),
    "reset": (5, "percent of answers whose connection drops mid-body"),
    "token-expiry": (50, "calls after which the main token answers 190/463"),
    "empty-page": (3, "every K-th page of a walk is empty but carries next (K >= 2)"),
    "batch-timeout": (20, "percent of batches whose tail items come back null"),
}

STORM_PERIOD = 50
SLOW_PERCENT = 10

_STORM_ERRORS: tuple[tuple[int, str, int | None], ...] = (
    (CODE_APP_RATE_LIMIT, "(#4) Application request limit reached", None),
    (CODE_USER_RATE_LIMIT, "(#17) User request limit reached", 2446079),
    (CODE_PAGE_RATE_LIMIT, "(#32) Page request limit reached", None),
    (CODE_API_RATE_LIMIT, "(#613) Calls to this api have exceeded the rate limit.", None),
    (
        CODE_PAGE_BUC_LIMIT,
        "(#80001) There have been too many calls to this Page account. Wait a bit and try "
        f"again. For more info, please refer to {RATE_LIMIT_HELP}.",
        None,
    ),
)


@dataclass(frozen=True)
class FaultSpec:
    """One enabled profile and its value."""

    name: str
    value: int


def parse_faults(items: Iterable[str]) -> tuple[FaultSpec, ...]:
    """Parse ``PROFILE[:N]`` items (each may itself be a comma list); reject unknown profiles."""
    specs: dict[str, FaultSpec] = {}
    for item in items:
        for part in item.split(","):
            part = part.strip()
            if not part:
                continue
            name, _, value = part.partition(":")
            name = name.strip().lower()
            if name not in PROFILES:
                known = ", ".join(sorted(PROFILES))
                raise ValueError(f"unknown fault profile {name!r} (known: {known})")
            try:
                number = int(value) if value else PROFILES[name][0]
            except ValueError:
                raise ValueError(f"fault profile {name}: {value!r} is not a number") from None
            if number < 0 or (name == "empty-page" and number < 2):
                raise ValueError(f"fault profile {name}: {number} is out of range")
            specs[name] = FaultSpec(name, number)
    return tuple(specs.values())


@dataclass(frozen=True)
class OperationFault:
    """What the fault plan decided for one operation (at most one error)."""

    name: str
    error: GraphError


@dataclass(frozen=True)
class TransportFault:
    """What the fault plan decided for one HTTP answer."""

    delay: float = 0.0
    kind: str | None = None  # "malformed" | "reset"
    variant: int = 0


class FaultPlan:
    """The seeded fault decisions for one sandbox."""

    def __init__(self, specs: Iterable[FaultSpec], seed: int) -> None:
        self.specs = {spec.name: spec.value for spec in specs}
        self._lock = threading.Lock()
        self._rngs = {name: random.Random(f"faults:{seed}:{name}") for name in self.specs}
        self._operations = 0
        storm_rng = self._rngs.get("rate-limit-storm")
        self._storm_start = 3 + storm_rng.randrange(6) if storm_rng else 0

    def value(self, name: str) -> int | None:
        """The value of an enabled profile, or None."""
        return self.specs.get(name)

    @property
    def empty_page_every(self) -> int:
        """K of ``empty-page:K``, 0 when off."""
        return self.specs.get("empty-page", 0)

    def operation(self, *, main_token: bool) -> OperationFault | None:
        """Decide the fault (if any) for the next API operation."""
        with self._lock:
            self._operations += 1
            n = self._operations
            transient = storm = None
            if "transient" in self.specs:
                rng = self._rngs["transient"]
                hit = rng.random() * 100 < self.specs["transient"]
                status = rng.choice((500, 503))
                transient = status if hit else None
            if "rate-limit-storm" in self.specs:
                rng = self._rngs["rate-limit-storm"]
                choice = rng.choice(_STORM_ERRORS)
                since = n - self._storm_start
                if since >= 0 and since % STORM_PERIOD < self.specs["rate-limit-storm"]:
                    storm = choice
        expiry = self.specs.get("token-expiry")
        if expiry is not None and main_token and n > expiry:
            return OperationFault("token-expiry", expired_token())
        if storm is not None:
            code, message, subcode = storm
            return OperationFault(
                "rate-limit-storm",
                GraphError(code, message, subcode=subcode, is_transient=True),
            )
        if transient is not None:
            return OperationFault(
                "transient",
                GraphError(
                    CODE_TRANSIENT,
                    "An unexpected error has occurred. Please retry your request later.",
                    status=transient,
                    is_transient=True,
                ),
            )
        return None

    def transport(self) -> TransportFault:
        """Decide how the next HTTP answer is delivered (delay, malformed, reset)."""
        delay = 0.0
        kind: str | None = None
        variant = 0
        with self._lock:
            if "slow" in self.specs and self._rngs["slow"].random() * 100 < SLOW_PERCENT:
                delay = self.specs["slow"] / 1000.0
            if "malformed" in self.specs:
                rng = self._rngs["malformed"]
                hit = rng.random() * 100 < self.specs["malformed"]
                variant = rng.randrange(2)
                kind = "malformed" if hit else None
            if "reset" in self.specs and self._rngs["reset"].random() * 100 < self.specs["reset"]:
                kind = "reset"
        return TransportFault(delay, kind, variant)

    def batch_cut(self, items: int) -> int | None:
        """For ``batch-timeout``: the index from which a batch's items come back null."""
        if "batch-timeout" not in self.specs or items == 0:
            return None
        with self._lock:
            rng = self._rngs["batch-timeout"]
            hit = rng.random() * 100 < self.specs["batch-timeout"]
            cut = rng.randrange(items)
        return cut if hit else None
