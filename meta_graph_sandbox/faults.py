"""Fault profiles: the failures Meta serves now and then, on demand and deterministic for a seed.

Each profile draws from its own ``random.Random`` seeded by (seed, profile), one draw per
operation, so that a given sequence of calls meets the same faults on every run, and enabling
one profile never shifts another's sequence. Two levels of decision:

- per API operation (a plain call, or one item of a batch): ``transient``, ``rate-limit-storm``,
  ``token-expiry``, ``permission-revoked``, ``stale-cursor``, ``repeat-cursor``, ``usage-high``;
  ``reduce-data`` and ``empty-page`` depend on the data, not on draws;
- per HTTP response (a batch is one): ``slow``, ``hang``, ``malformed``, ``reset``,
  ``batch-timeout``; ``token-in-links`` per rendered answer.

Each profile also has a mode (``PROFILE[:N][@MODE]``): ``sometimes`` (the draws decide each
call), ``once`` (only the first call the draws pick, then never again: a fault that a retry
rides out) and ``always`` (every call it can apply to: a fault that stays). Profiles that fire
past a threshold or on the data (token-expiry, permission-revoked, reduce-data, empty-page) have
no draws: they are ``always`` by default, or ``once``.

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
    stale_cursor,
)

SOMETIMES = "sometimes"
ONCE = "once"
ALWAYS = "always"
DRAWN_MODES = (SOMETIMES, ONCE, ALWAYS)
THRESHOLD_MODES = (ALWAYS, ONCE)


@dataclass(frozen=True)
class Profile:
    """One fault kind: its default value, what the value means, and the modes it accepts.

    The first mode is the default.
    """

    default: int
    meaning: str
    modes: tuple[str, ...] = DRAWN_MODES


PROFILES: dict[str, Profile] = {
    "transient": Profile(10, "percent of calls answering code 2 (HTTP 500 or 503)"),
    "reduce-data": Profile(
        100, "most objects (conversations + nested messages) one answer may hold", THRESHOLD_MODES
    ),
    "rate-limit-storm": Profile(
        3, "consecutive throttled answers per storm (one storm per 50 calls)"
    ),
    "slow": Profile(2000, "milliseconds a slow answer (10% of answers) waits"),
    "hang": Profile(
        600, "seconds an answer (10% of answers) is held, or until the client hangs up"
    ),
    "malformed": Profile(5, "percent of answers with a truncated or non-JSON 200 body"),
    "reset": Profile(5, "percent of answers whose connection drops mid-body"),
    "token-expiry": Profile(
        50, "calls after which the main token answers 190/463", THRESHOLD_MODES
    ),
    "permission-revoked": Profile(
        50, "calls after which the main token lost a permission (code 200 or 10)", THRESHOLD_MODES
    ),
    "stale-cursor": Profile(
        100, "percent of calls whose after cursor is refused as stale (code 100); once: one cursor"
    ),
    "repeat-cursor": Profile(
        100, "percent of pages asked after a cursor whose next repeats that same cursor"
    ),
    "usage-high": Profile(
        1, "minutes to regain access that usage headers at 120% ask for (10% of answers)"
    ),
    "token-in-links": Profile(
        100,
        "percent of answers whose links carry the call's token and proof however they came",
    ),
    "empty-page": Profile(
        3, "every K-th page of a walk is empty but carries next (K >= 2)", THRESHOLD_MODES
    ),
    "batch-timeout": Profile(20, "percent of batches whose tail items come back null"),
}

STORM_PERIOD = 50
SLOW_PERCENT = 10
HANG_PERCENT = 10
USAGE_HIGH_PERCENT = 10
USAGE_HIGH_LEVEL = 120  # over 100: someone besides the client is spending the Page's budget

# What permission-revoked takes away, and the code each platform then answers (auth.REQUIRED):
# the seed picks one.
REVOCATIONS: tuple[frozenset[str], ...] = (
    frozenset({"pages_manage_metadata"}),  # 200 on Messenger and on Instagram
    frozenset({"pages_read_engagement", "instagram_basic"}),  # 10 on both
)

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
    """One enabled profile, its value and its mode."""

    name: str
    value: int
    mode: str = SOMETIMES


def parse_faults(items: Iterable[str]) -> tuple[FaultSpec, ...]:
    """Parse ``PROFILE[:N][@MODE]`` items (each may be a comma list); reject unknown ones."""
    specs: dict[str, FaultSpec] = {}
    for item in items:
        for part in item.split(","):
            part = part.strip()
            if not part:
                continue
            head, _, mode = part.partition("@")
            name, _, value = head.partition(":")
            name = name.strip().lower()
            if name not in PROFILES:
                known = ", ".join(sorted(PROFILES))
                raise ValueError(f"unknown fault profile {name!r} (known: {known})")
            profile = PROFILES[name]
            try:
                number = int(value) if value.strip() else profile.default
            except ValueError:
                raise ValueError(f"fault profile {name}: {value!r} is not a number") from None
            if number < 0 or (name == "empty-page" and number < 2):
                raise ValueError(f"fault profile {name}: {number} is out of range")
            mode = mode.strip().lower() or profile.modes[0]
            if mode not in profile.modes:
                raise ValueError(
                    f"fault profile {name}: mode {mode!r} is not one of {', '.join(profile.modes)}"
                )
            specs[name] = FaultSpec(name, number, mode)
    return tuple(specs.values())


@dataclass(frozen=True)
class OperationFault:
    """What the fault plan decided for one operation.

    At most one ``error`` (served instead of the answer); ``revoked`` permissions the main token
    has lost (checked where Graph checks permissions); ``usage_minutes`` set when a successful
    answer must carry usage headers over 100% asking to wait that many minutes.
    """

    name: str | None = None
    error: GraphError | None = None
    revoked: frozenset[str] = frozenset()
    usage_minutes: int | None = None


NO_FAULT = OperationFault()


@dataclass(frozen=True)
class TransportFault:
    """What the fault plan decided for one HTTP answer."""

    delay: float = 0.0
    kind: str | None = None  # "malformed" | "reset"
    variant: int = 0
    hold: float = 0.0  # hang: seconds to hold the answer unless the client hangs up first


class FaultPlan:
    """The seeded fault decisions for one sandbox."""

    def __init__(self, specs: Iterable[FaultSpec], seed: int) -> None:
        specs = tuple(specs)
        self.specs = {spec.name: spec.value for spec in specs}
        self.modes = {spec.name: spec.mode for spec in specs}
        self._lock = threading.Lock()
        self._rngs = {name: random.Random(f"faults:{seed}:{name}") for name in self.specs}
        self._fired: set[str] = set()
        self._stale_cursor: str | None = None
        self._operations = 0
        storm_rng = self._rngs.get("rate-limit-storm")
        self._storm_start = 3 + storm_rng.randrange(6) if storm_rng else 0
        revoke_rng = self._rngs.get("permission-revoked")
        self.revocation = (
            REVOCATIONS[revoke_rng.randrange(len(REVOCATIONS))] if revoke_rng else frozenset()
        )

    def value(self, name: str) -> int | None:
        """The value of an enabled profile, or None."""
        return self.specs.get(name)

    def _gate(self, name: str, hit: bool, *, eligible: bool = True) -> bool:
        """Apply a profile's mode to what its draw said (call with ``self._lock`` held).

        ``always`` fires on every eligible call whatever the draw; ``once`` fires on the first
        hit only; ``sometimes`` follows the draw.
        """
        mode = self.modes.get(name)
        if mode is None or not eligible:
            return False
        if mode == ALWAYS:
            return True
        if mode == ONCE:
            if not hit or name in self._fired:
                return False
            self._fired.add(name)
            return True
        return hit

    def _draw(self, name: str, percent: float) -> bool:
        """One draw of a profile's generator: True ``percent`` % of the time."""
        return self._rngs[name].random() * 100 < percent

    def operation(self, *, main_token: bool, after: str | None = None) -> OperationFault:
        """Decide the faults (if any) for the next API operation.

        ``after``: the ``after`` cursor the call carries (only those can be stale).
        """
        with self._lock:
            self._operations += 1
            n = self._operations
            expired = revoked = storm = transient = stale = False
            storm_error = _STORM_ERRORS[0]
            status = 500
            if "token-expiry" in self.specs:
                over = n > self.specs["token-expiry"] and main_token
                expired = self._gate("token-expiry", True, eligible=over)
            if "permission-revoked" in self.specs:
                over = n > self.specs["permission-revoked"] and main_token
                revoked = self._gate("permission-revoked", True, eligible=over)
            if "rate-limit-storm" in self.specs:
                storm_error = self._rngs["rate-limit-storm"].choice(_STORM_ERRORS)
                storm = self._in_storm(n)
            if "transient" in self.specs:
                hit = self._draw("transient", self.specs["transient"])
                status = self._rngs["transient"].choice((500, 503))
                transient = self._gate("transient", hit)
            if "stale-cursor" in self.specs and after:
                stale = self._stale(after)
            usage_minutes = None
            if "usage-high" in self.specs:
                hit = self._draw("usage-high", USAGE_HIGH_PERCENT)
                if self._gate("usage-high", hit):
                    usage_minutes = self.specs["usage-high"]
        revocation = self.revocation if revoked else frozenset()
        if expired:
            return OperationFault("token-expiry", expired_token(), revocation, usage_minutes)
        if storm:
            code, message, subcode = storm_error
            error = GraphError(code, message, subcode=subcode, is_transient=True)
            return OperationFault("rate-limit-storm", error, revocation, usage_minutes)
        if transient:
            error = GraphError(
                CODE_TRANSIENT,
                "An unexpected error has occurred. Please retry your request later.",
                status=status,
                is_transient=True,
            )
            return OperationFault("transient", error, revocation, usage_minutes)
        if stale:
            return OperationFault("stale-cursor", stale_cursor(), revocation, usage_minutes)
        if revocation or usage_minutes is not None:
            return OperationFault(None, None, revocation, usage_minutes)
        return NO_FAULT

    def _stale(self, after: str) -> bool:
        """Whether the ``after`` cursor is refused (call with ``self._lock`` held).

        A stale cursor stays stale: with ``once``, the first cursor the draws pick is refused
        on every call that presents it again, and no other cursor is.
        """
        hit = self._draw("stale-cursor", self.specs["stale-cursor"])
        if self.modes["stale-cursor"] != ONCE:
            return self._gate("stale-cursor", hit)
        if self._stale_cursor is None and hit:
            self._stale_cursor = after
        return after == self._stale_cursor

    def _in_storm(self, n: int) -> bool:
        """Whether operation ``n`` falls in a storm (call with ``self._lock`` held)."""
        since = n - self._storm_start
        if since < 0:
            return False
        mode = self.modes["rate-limit-storm"]
        if mode == ALWAYS:
            return True  # a Page that stays throttled
        length = self.specs["rate-limit-storm"]
        if mode == ONCE:
            return since < length
        return since % STORM_PERIOD < length

    def repeat_cursor(self) -> bool:
        """Whether a page asked after a cursor hands that cursor back as its next."""
        if "repeat-cursor" not in self.specs:
            return False
        with self._lock:
            hit = self._draw("repeat-cursor", self.specs["repeat-cursor"])
            return self._gate("repeat-cursor", hit)

    def token_in_links(self) -> bool:
        """Whether this answer's links repeat the call's credentials even from a header."""
        if "token-in-links" not in self.specs:
            return False
        with self._lock:
            hit = self._draw("token-in-links", self.specs["token-in-links"])
            return self._gate("token-in-links", hit)

    def data_fault(self, name: str) -> bool:
        """Whether a data-dependent fault (reduce-data) may fire now; marks a ``once`` fired."""
        with self._lock:
            return self._gate(name, True)

    @property
    def empty_page_every(self) -> int:
        """K of ``empty-page:K``, 0 when off (or when its one empty page was served)."""
        with self._lock:
            if self.modes.get("empty-page") == ONCE and "empty-page" in self._fired:
                return 0
        return self.specs.get("empty-page", 0)

    def empty_page_served(self) -> None:
        """An empty page went out: with ``@once`` it was the only one."""
        with self._lock:
            self._fired.add("empty-page")

    def transport(self) -> TransportFault:
        """Decide how the next HTTP answer is delivered (delay, hold, malformed, reset)."""
        delay = hold = 0.0
        kind: str | None = None
        variant = 0
        with self._lock:
            if "slow" in self.specs and self._gate("slow", self._draw("slow", SLOW_PERCENT)):
                delay = self.specs["slow"] / 1000.0
            if "hang" in self.specs and self._gate("hang", self._draw("hang", HANG_PERCENT)):
                hold = float(self.specs["hang"])
            if "malformed" in self.specs:
                hit = self._draw("malformed", self.specs["malformed"])
                variant = self._rngs["malformed"].randrange(2)
                kind = "malformed" if self._gate("malformed", hit) else None
            if "reset" in self.specs and self._gate(
                "reset", self._draw("reset", self.specs["reset"])
            ):
                kind = "reset"
        return TransportFault(delay, kind, variant, hold)

    def batch_cut(self, items: int) -> int | None:
        """For ``batch-timeout``: the index from which a batch's items come back null."""
        if "batch-timeout" not in self.specs or items == 0:
            return None
        with self._lock:
            rng = self._rngs["batch-timeout"]
            hit = rng.random() * 100 < self.specs["batch-timeout"]
            cut = rng.randrange(items)
            hit = self._gate("batch-timeout", hit)
        return cut if hit else None
