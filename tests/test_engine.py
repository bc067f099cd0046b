"""The engine: admission through the breakers, the rules that trip them, and what it reports."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from guard._breakers import BREAKERS, MAX_COOLDOWN_S, PROBE_RETRY_S, State
from guard._engine import Denial, Engine, Event, Ticket, fingerprint
from guard._model import Kind, Operation, Settlement, Step
from guard._settings import GuardSettings

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
D = Decimal

BET = Operation("casino", "bet", Kind.RISK_INCREASING)
CASINO_BALANCE = Operation("casino", "balance", Kind.READ)
WITHDRAW = Operation("casino", "withdraw", Kind.TRANSFER)
ESCROW_CREATE = Operation("escrow", "escrow_create", Kind.RISK_INCREASING)
ESCROW_RELEASE = Operation("escrow", "escrow_release", Kind.TRANSFER)
TRADE_OPEN = Operation("trading", "trade_open", Kind.RISK_INCREASING)
TRADE_CLOSE = Operation("trading", "trade_close", Kind.RISK_REDUCING)
POSITIONS = Operation("trading", "positions", Kind.READ)
ESCROW_GET = Operation("escrow", "escrow_get", Kind.READ)

OLD_KEY = fingerprint("pf-casino-old")
NEW_KEY = fingerprint("pf-casino-new")
TRADING_KEY = fingerprint("pf-trading")

# Every rule trips on a single event: one loss, one 20 % drop, one 503, one slow call, one 401.
SENSITIVE: dict[str, Any] = {
    "consecutive_loss_limit": 1,
    "balance_drop_pct": 10,
    "error_rate_pct": 50,
    "error_min_calls": 1,
    "latency_p95_ms": 1000,
    "cooldown_s": 60,
}


def _engine(**overrides: Any) -> Engine:
    """An engine on settings built from keywords only (the autouse fixture clears GUARD_*)."""
    return Engine(GuardSettings(db_path=Path("engine-test.db"), **overrides))


def _call(
    engine: Engine,
    op: Operation,
    status: int | None = 200,
    *,
    now: float = T0,
    ms: float = 10.0,
    key: str | None = None,
) -> Ticket:
    """Admit ``op`` ``ms`` before ``now`` and record its outcome at ``now``."""
    ticket = engine.admit(op, key, now - ms / 1000)
    assert isinstance(ticket, Ticket), ticket
    engine.on_response(ticket, status, auth_failed=status == 401, now=now)
    return ticket


def _step(won: bool) -> Settlement:
    pnl = D("1") if won else D("-1")
    return Settlement(pnl=pnl, steps=(Step(pnl, won=won),))


def _settle_steps(engine: Engine, steps: str, now: float = T0) -> None:
    """One settlement per letter: L a losing bet, W a winning one."""
    for letter in steps:
        engine.on_settlement(_step(letter == "W"), now)


def _settle_balances(engine: Engine, balances: list[str], now: float = T0) -> None:
    """Balance reads: settlements with a balance and no step."""
    for balance in balances:
        engine.on_settlement(Settlement(balance=D(balance)), now)


def _state(engine: Engine, name: str, scope: str) -> State:
    return engine.breakers[(name, scope)].state


def _trip(engine: Engine, breaker: str, now: float = T0) -> str:
    """Trip ``breaker`` (on SENSITIVE settings) at ``now``; its scope."""
    if breaker == "consecutive_loss":
        _settle_steps(engine, "L", now)
        scope = "agent"
    elif breaker == "balance_drop":
        _settle_balances(engine, ["100", "80"], now)
        scope = "agent"
    elif breaker == "error_rate":
        _call(engine, CASINO_BALANCE, 503, now=now)
        scope = "casino"
    elif breaker == "latency":
        _call(engine, CASINO_BALANCE, 200, now=now, ms=2000)
        scope = "casino"
    else:
        _call(engine, ESCROW_GET, 401, now=now, key=OLD_KEY)  # not behind the casino breakers
        scope = OLD_KEY
    assert _state(engine, breaker, scope) is State.OPEN
    return scope


def _events(engine: Engine, kind: str) -> list[Event]:
    return [e for e in engine.drain()[1] if e.kind == kind]


# ---------------------------------------------------------------- what an open breaker blocks

_LOSS_BLOCKS = [
    (BET, None, True),
    (TRADE_OPEN, None, True),
    (ESCROW_CREATE, None, True),
    (CASINO_BALANCE, None, False),
    (POSITIONS, None, False),
    (TRADE_CLOSE, None, False),
    (WITHDRAW, None, False),
    (ESCROW_RELEASE, None, False),
]
_SERVICE_BLOCKS = [
    (BET, None, True),
    (CASINO_BALANCE, None, True),
    (WITHDRAW, None, True),
    (TRADE_OPEN, None, False),
    (TRADE_CLOSE, None, False),
    (POSITIONS, None, False),
    (ESCROW_CREATE, None, False),  # same realm as the casino, another service
]
_AUTH_BLOCKS = [
    (BET, OLD_KEY, True),
    (CASINO_BALANCE, OLD_KEY, True),
    (TRADE_CLOSE, OLD_KEY, True),
    (BET, NEW_KEY, False),
    (BET, None, False),
    (POSITIONS, TRADING_KEY, False),
]
BLOCKING = [
    *(("consecutive_loss", *row) for row in _LOSS_BLOCKS),
    *(("balance_drop", *row) for row in _LOSS_BLOCKS),
    *(("error_rate", *row) for row in _SERVICE_BLOCKS),
    *(("latency", *row) for row in _SERVICE_BLOCKS),
    *(("auth", *row) for row in _AUTH_BLOCKS),
]


@pytest.mark.parametrize(
    ("breaker", "op", "key", "denied"),
    BLOCKING,
    ids=[
        f"{b}-{op.service}.{op.name}-{'no key' if k is None else k}-{'denied' if d else 'passes'}"
        for b, op, k, d in BLOCKING
    ],
)
def test_an_open_breaker_denies_only_what_it_guards(
    breaker: str, op: Operation, key: str | None, denied: bool
) -> None:
    """Loss breakers stop risk-increasing calls, service breakers their service, auth its key."""
    engine = _engine(**SENSITIVE)
    _trip(engine, breaker)
    result = engine.admit(op, key, T0)
    if denied:
        assert isinstance(result, Denial)
        assert result.breaker == breaker
    else:
        assert isinstance(result, Ticket)


@pytest.mark.parametrize(
    ("breaker", "scope", "retry_after"),
    [
        ("consecutive_loss", "agent", None),
        ("balance_drop", "agent", None),
        ("error_rate", "casino", 60.0),
        ("latency", "casino", 60.0),
        ("auth", OLD_KEY, None),
    ],
)
def test_a_denial_names_its_breaker_scope_and_retry_after(
    breaker: str, scope: str, retry_after: float | None
) -> None:
    """The denial says which breaker, where it applies and when to retry (None: latched)."""
    engine = _engine(**SENSITIVE)
    _trip(engine, breaker)
    denial = engine.admit(BET, OLD_KEY, T0)
    assert isinstance(denial, Denial)
    assert (denial.breaker, denial.scope, denial.retry_after) == (breaker, scope, retry_after)
    assert denial.reason


def test_a_denial_is_counted_and_logged_once() -> None:
    """Each denied call adds one to counts.denied and emits one denial event."""
    engine = _engine(**SENSITIVE)
    _trip(engine, "consecutive_loss")
    engine.drain()
    engine.admit(BET, None, T0)
    denials = _events(engine, "denial")
    assert [(e.breaker, e.data) for e in denials] == [("consecutive_loss", {"retry_after": None})]
    assert engine.snapshot(T0)["counts"]["denied"] == 1


# ---------------------------------------------------------------- closed -> open: the rules


@pytest.mark.parametrize(
    ("limit", "steps", "state"),
    [
        (3, "LL", State.CLOSED),
        (3, "LLL", State.OPEN),  # the streak reaches the limit
        (3, "LLWLL", State.CLOSED),  # a win ends the streak
        (3, "WLLWLLL", State.OPEN),
        (1, "L", State.OPEN),
        (0, "L" * 50, State.CLOSED),  # 0 = off
    ],
)
def test_consecutive_loss_trips_when_the_streak_reaches_the_limit(
    limit: int, steps: str, state: State
) -> None:
    """consecutive_loss opens once `limit` losing settlements come in a row."""
    engine = _engine(consecutive_loss_limit=limit)
    _settle_steps(engine, steps)
    assert _state(engine, "consecutive_loss", "agent") is state


@pytest.mark.parametrize(
    ("pct", "balances", "state"),
    [
        (10, ["100", "91"], State.CLOSED),
        (10, ["100", "90"], State.OPEN),  # reaches the pct
        (10, ["100", "120", "108"], State.OPEN),  # from the high-water mark, not the start
        (10, ["100", "95", "100", "91"], State.CLOSED),
        (0, ["100", "1"], State.CLOSED),  # 0 = off
    ],
)
def test_balance_drop_trips_when_the_drawdown_reaches_the_pct(
    pct: float, balances: list[str], state: State
) -> None:
    """balance_drop opens when equity falls `pct` % below its high-water mark."""
    engine = _engine(balance_drop_pct=pct)
    _settle_balances(engine, balances)
    assert _state(engine, "balance_drop", "agent") is state


@pytest.mark.parametrize(
    ("pct", "min_calls", "statuses", "state"),
    [
        (50, 4, [503, 503, 503], State.CLOSED),  # 100 % but fewer than min calls
        (50, 4, [503, 503, 503, 200], State.OPEN),  # 75 % once 4 calls were seen
        (50, 4, [200, 200, 503, 503], State.OPEN),  # exactly the pct
        (50, 4, [200, 200, 200, 503], State.CLOSED),  # 25 %
        (50, 4, [429, 429, 429, 429], State.OPEN),  # 429 counts
        (50, 4, [None, None, None, None], State.OPEN),  # transport errors count
        (50, 4, [500, 502, 504, 200], State.OPEN),  # any 5xx counts
        (50, 4, [400, 404, 409, 422], State.CLOSED),  # validation errors do not
        (50, 0, [503], State.OPEN),
        (0, 4, [503] * 10, State.CLOSED),  # 0 = off
    ],
)
def test_error_rate_trips_at_the_pct_once_min_calls_were_seen(
    pct: float, min_calls: int, statuses: list[int | None], state: State
) -> None:
    """error_rate opens when errors / calls in the window reach `pct` after `min_calls` calls."""
    engine = _engine(error_rate_pct=pct, error_min_calls=min_calls)
    for status in statuses:
        _call(engine, CASINO_BALANCE, status)
    assert _state(engine, "error_rate", "casino") is state


def test_error_rate_judges_each_service_apart() -> None:
    """Errors on one service do not trip the breaker of another."""
    engine = _engine(error_rate_pct=50, error_min_calls=4)
    for _ in range(4):
        _call(engine, CASINO_BALANCE, 503)
        _call(engine, POSITIONS, 200)
    assert _state(engine, "error_rate", "casino") is State.OPEN
    assert _state(engine, "error_rate", "trading") is State.CLOSED


def test_error_rate_forgets_errors_that_left_the_window() -> None:
    """Errors older than the window no longer count towards the rate."""
    engine = _engine(error_rate_pct=50, error_min_calls=4, error_window_s=60)
    for _ in range(3):
        _call(engine, CASINO_BALANCE, 503, now=T0)
    for i in range(4):
        _call(engine, CASINO_BALANCE, 200, now=T0 + 120 + i)
    assert _state(engine, "error_rate", "casino") is State.CLOSED


@pytest.mark.parametrize(
    ("p95_ms", "min_calls", "latencies_ms", "state"),
    [
        (1000, 3, [2000, 2000], State.CLOSED),  # fewer than min calls
        (1000, 3, [2000, 2000, 2000], State.OPEN),
        (1000, 3, [100, 100, 100], State.CLOSED),
        (1000, 20, [100] * 19 + [5000], State.CLOSED),  # p95 is the 19th of 20
        (1000, 20, [100] * 18 + [5000] * 2, State.OPEN),
        (0, 3, [60_000] * 3, State.CLOSED),  # 0 = off
    ],
)
def test_latency_trips_when_p95_exceeds_the_limit_once_min_calls_were_seen(
    p95_ms: float, min_calls: int, latencies_ms: list[float], state: State
) -> None:
    """latency opens when the window's p95 is above `latency_p95_ms` after `min_calls` calls."""
    engine = _engine(latency_p95_ms=p95_ms, error_min_calls=min_calls)
    for ms in latencies_ms:
        _call(engine, CASINO_BALANCE, 200, ms=ms)
    assert _state(engine, "latency", "casino") is state


def test_transport_errors_add_no_latency() -> None:
    """A call without a response counts as an error but not as a latency sample."""
    engine = _engine(latency_p95_ms=1000, error_min_calls=3, error_rate_pct=0)
    for _ in range(5):
        _call(engine, CASINO_BALANCE, None, ms=30_000)
    assert _state(engine, "latency", "casino") is State.CLOSED


def test_a_401_latches_auth_for_the_key() -> None:
    """The first 401 opens auth for that key's fingerprint, latched (no retry_after)."""
    engine = _engine()
    _call(engine, BET, 401, key=OLD_KEY)
    breaker = engine.breakers[("auth", OLD_KEY)]
    assert breaker.state is State.OPEN
    assert breaker.retry_after(T0 + 1e6) is None


def test_a_403_that_says_the_key_is_invalid_latches_auth() -> None:
    """on_auth_failure (a 403 whose body rejects the key) latches auth as a 401 does."""
    engine = _engine()
    ticket = _call(engine, BET, 403, key=OLD_KEY)
    engine.on_auth_failure(ticket, 403, T0)
    assert _state(engine, "auth", OLD_KEY) is State.OPEN


def test_a_401_without_a_key_latches_the_keyless_scope() -> None:
    """A 401 on a call that carried no key latches auth for keyless calls only."""
    engine = _engine()
    _call(engine, BET, 401)
    assert isinstance(engine.admit(BET, None, T0), Denial)
    assert isinstance(engine.admit(BET, NEW_KEY, T0), Ticket)


# ---------------------------------------------------------------- open -> half-open -> closed


def test_the_cooldown_is_counted_from_the_trip() -> None:
    """Before the cooldown ends the service is denied with the time left."""
    engine = _engine(**SENSITIVE)
    _trip(engine, "error_rate")
    denial = engine.admit(CASINO_BALANCE, None, T0 + 45)
    assert isinstance(denial, Denial)
    assert denial.retry_after == pytest.approx(15)


def test_after_the_cooldown_exactly_one_probe_is_admitted() -> None:
    """At the end of the cooldown one call is the probe; others wait PROBE_RETRY_S."""
    engine = _engine(**SENSITIVE)
    _trip(engine, "error_rate")
    probe = engine.admit(CASINO_BALANCE, None, T0 + 60)
    assert isinstance(probe, Ticket)
    assert probe.probes == [("error_rate", "casino")]
    assert _state(engine, "error_rate", "casino") is State.HALF_OPEN
    for _ in range(3):
        denial = engine.admit(CASINO_BALANCE, None, T0 + 61)
        assert isinstance(denial, Denial)
        assert denial.retry_after == PROBE_RETRY_S


@pytest.mark.parametrize("breaker", ["error_rate", "latency"])
def test_a_successful_probe_closes_the_breaker(breaker: str) -> None:
    """A fast, successful probe closes the service's breaker."""
    engine = _engine(**SENSITIVE)
    _trip(engine, breaker)
    _call(engine, CASINO_BALANCE, 200, now=T0 + 60, ms=0)
    assert _state(engine, breaker, "casino") is State.CLOSED
    assert isinstance(engine.admit(BET, None, T0 + 60), Ticket)


def test_a_successful_probe_starts_the_window_afresh() -> None:
    """After recovery the old errors are forgotten: the service does not re-trip at once."""
    engine = _engine(error_rate_pct=50, error_min_calls=4, cooldown_s=30)
    for _ in range(4):
        _call(engine, CASINO_BALANCE, 503)
    _call(engine, CASINO_BALANCE, 200, now=T0 + 30, ms=0)  # the probe: 4/5 errors in the window
    assert _state(engine, "error_rate", "casino") is State.CLOSED
    _call(engine, CASINO_BALANCE, 200, now=T0 + 31)
    assert _state(engine, "error_rate", "casino") is State.CLOSED
    assert engine.snapshot(T0 + 31)["services"]["casino"]["error_rate_pct"] == "0.0"


@pytest.mark.parametrize(
    ("breaker", "status", "ms"),
    [("error_rate", 503, 0), ("error_rate", None, 0), ("latency", 200, 2000)],
)
def test_a_failed_probe_reopens_the_breaker(breaker: str, status: int | None, ms: float) -> None:
    """An error (or, for latency, a slow answer) on the probe reopens the breaker."""
    engine = _engine(**SENSITIVE)
    _trip(engine, breaker)
    _call(engine, CASINO_BALANCE, status, now=T0 + 60 + ms / 1000, ms=ms)
    assert _state(engine, breaker, "casino") is State.OPEN


@pytest.mark.parametrize(
    ("cooldown", "failures", "retry_after"),
    [
        (60, 1, 120),  # doubled
        (60, 2, 240),  # doubled again
        (60, 3, 480),
        (1000, 2, MAX_COOLDOWN_S),  # 4000 capped
        (1000, 5, MAX_COOLDOWN_S),
        (7200, 1, 7200),  # a cooldown above the cap is never doubled
    ],
)
def test_each_failed_probe_doubles_the_cooldown_up_to_the_cap(
    cooldown: float, failures: int, retry_after: float
) -> None:
    """The n-th failed probe reopens for cooldown * 2**n, at most MAX_COOLDOWN_S."""
    engine = _engine(**{**SENSITIVE, "cooldown_s": cooldown})
    _trip(engine, "error_rate")
    now, wait = T0, float(cooldown)
    for _ in range(failures):
        now += wait
        _call(engine, CASINO_BALANCE, 503, now=now, ms=0)
        denial = engine.admit(CASINO_BALANCE, None, now)
        assert isinstance(denial, Denial)
        assert denial.retry_after is not None
        wait = denial.retry_after
    assert wait == retry_after


def test_a_failed_probe_keeps_the_reason_the_breaker_first_opened_for() -> None:
    """Reopening after a probe does not overwrite why the breaker tripped."""
    engine = _engine(**SENSITIVE)
    _trip(engine, "error_rate")
    reason = engine.breakers[("error_rate", "casino")].reason
    _call(engine, CASINO_BALANCE, 503, now=T0 + 60, ms=0)
    assert engine.breakers[("error_rate", "casino")].reason == reason


def test_a_success_after_failed_probes_restarts_from_the_base_cooldown() -> None:
    """Once a probe succeeds, the next trip waits the configured cooldown again."""
    engine = _engine(**SENSITIVE)
    _trip(engine, "error_rate")
    _call(engine, CASINO_BALANCE, 503, now=T0 + 60, ms=0)  # reopen for 120 s
    _call(engine, CASINO_BALANCE, 200, now=T0 + 180, ms=0)  # closes
    _trip(engine, "error_rate", now=T0 + 200)
    denial = engine.admit(CASINO_BALANCE, None, T0 + 200)
    assert isinstance(denial, Denial)
    assert denial.retry_after == 60


def test_releasing_a_cancelled_probe_gives_the_slot_back() -> None:
    """A probe cancelled without an outcome lets the next call be the probe."""
    engine = _engine(**SENSITIVE)
    _trip(engine, "error_rate")
    cancelled = engine.admit(CASINO_BALANCE, None, T0 + 60)
    assert isinstance(cancelled, Ticket)
    engine.release(cancelled)
    probe = engine.admit(CASINO_BALANCE, None, T0 + 61)
    assert isinstance(probe, Ticket)
    assert probe.probes == [("error_rate", "casino")]
    assert isinstance(engine.admit(CASINO_BALANCE, None, T0 + 61), Denial)


def test_a_new_probe_after_a_cancelled_one_records_no_self_transition() -> None:
    """Handing the probe slot to another call is not a state change."""
    engine = _engine(**SENSITIVE)
    _trip(engine, "error_rate")
    cancelled = engine.admit(CASINO_BALANCE, None, T0 + 60)
    assert isinstance(cancelled, Ticket)
    engine.release(cancelled)
    engine.drain()
    assert isinstance(engine.admit(CASINO_BALANCE, None, T0 + 61), Ticket)
    transitions, _ = engine.drain()
    assert [(t.before, t.after) for t in transitions] == []


def test_a_call_denied_by_another_breaker_does_not_take_the_probe_slot() -> None:
    """A bet stopped by a loss breaker leaves the half-open probe to the next call."""
    engine = _engine(**SENSITIVE)
    _trip(engine, "error_rate")
    _trip(engine, "consecutive_loss")
    denial = engine.admit(BET, None, T0 + 60)
    assert isinstance(denial, Denial)
    assert denial.breaker == "consecutive_loss"
    probe = engine.admit(CASINO_BALANCE, None, T0 + 60)
    assert isinstance(probe, Ticket)
    assert probe.probes == [("error_rate", "casino")]


@pytest.mark.parametrize("breaker", ["consecutive_loss", "balance_drop"])
def test_loss_breakers_latch_without_a_loss_cooldown(breaker: str) -> None:
    """With loss_cooldown_s = 0 a loss breaker stays open, retry_after None, however long."""
    engine = _engine(**SENSITIVE)
    _trip(engine, breaker)
    denial = engine.admit(BET, None, T0 + 30 * 86_400)
    assert isinstance(denial, Denial)
    assert denial.retry_after is None


@pytest.mark.parametrize("breaker", ["consecutive_loss", "balance_drop"])
def test_loss_breakers_unlock_after_a_loss_cooldown(breaker: str) -> None:
    """With loss_cooldown_s > 0 a loss breaker closes once that time has passed."""
    engine = _engine(**SENSITIVE, loss_cooldown_s=300)
    _trip(engine, breaker)
    denial = engine.admit(BET, None, T0 + 200)
    assert isinstance(denial, Denial)
    assert denial.retry_after == pytest.approx(100)
    assert isinstance(engine.admit(BET, None, T0 + 300), Ticket)
    assert _state(engine, breaker, "agent") is State.CLOSED


def test_many_failed_probes_never_crash_admission() -> None:
    """A service that stays down for over a thousand probes is still just denied."""
    engine = _engine(**{**SENSITIVE, "cooldown_s": 0})
    _trip(engine, "error_rate")
    for i in range(1, 1100):
        _call(engine, CASINO_BALANCE, 503, now=T0 + i, ms=0)
    assert _state(engine, "error_rate", "casino") is State.OPEN


# ---------------------------------------------------------------- auth and rotated keys


def test_a_401_emits_exactly_one_key_expired_event() -> None:
    """Two calls in flight that both get 401 give one CRITICAL key_expired event."""
    engine = _engine()
    first = engine.admit(BET, OLD_KEY, T0)
    second = engine.admit(BET, OLD_KEY, T0)
    assert isinstance(first, Ticket)
    assert isinstance(second, Ticket)
    engine.on_response(first, 401, auth_failed=True, now=T0 + 0.1)
    engine.on_response(second, 401, auth_failed=True, now=T0 + 0.2)
    events = _events(engine, "key_expired")
    assert [(e.level, e.breaker, e.scope) for e in events] == [("CRITICAL", "auth", OLD_KEY)]


@pytest.mark.parametrize("new_key_service", ["casino", "escrow", "faucet"])
def test_a_new_key_of_the_same_realm_closes_auth_and_retires_the_old_key(
    new_key_service: str,
) -> None:
    """A success with another casino-realm key closes auth; the old key stays refused."""
    engine = _engine()
    _call(engine, BET, 401, key=OLD_KEY)
    _call(engine, Operation(new_key_service, "x", Kind.READ), 200, now=T0 + 1, key=NEW_KEY)
    assert _state(engine, "auth", OLD_KEY) is State.CLOSED
    assert OLD_KEY in engine.retired_keys
    denial = engine.admit(BET, OLD_KEY, T0 + 2)
    assert isinstance(denial, Denial)
    assert (denial.breaker, denial.scope, denial.retry_after) == ("auth", OLD_KEY, None)


@pytest.mark.parametrize("status", [400, 404, 429, 503, None])
def test_a_failed_call_with_a_new_key_does_not_close_auth(status: int | None) -> None:
    """Only a 2xx with the new key shows the rotation worked."""
    engine = _engine()
    _call(engine, BET, 401, key=OLD_KEY)
    _call(engine, BET, status, now=T0 + 1, key=NEW_KEY)
    assert _state(engine, "auth", OLD_KEY) is State.OPEN


def test_a_key_of_another_realm_does_not_close_auth() -> None:
    """A trading key that works says nothing about a rejected casino key."""
    engine = _engine()
    _call(engine, BET, 401, key=OLD_KEY)
    _call(engine, POSITIONS, 200, now=T0 + 1, key=TRADING_KEY)
    assert _state(engine, "auth", OLD_KEY) is State.OPEN
    assert OLD_KEY not in engine.retired_keys


def test_resetting_auth_forgets_retired_keys() -> None:
    """reset("auth") lets a retired key through again."""
    engine = _engine()
    _call(engine, BET, 401, key=OLD_KEY)
    _call(engine, BET, 200, now=T0 + 1, key=NEW_KEY)
    engine.reset("auth", reason="the old key was re-enabled", now=T0 + 2)
    assert engine.retired_keys == set()
    assert isinstance(engine.admit(BET, OLD_KEY, T0 + 3), Ticket)


def test_resetting_another_breaker_keeps_retired_keys() -> None:
    """A reset of a loss breaker does not re-admit a replaced key."""
    engine = _engine()
    _call(engine, BET, 401, key=OLD_KEY)
    _call(engine, BET, 200, now=T0 + 1, key=NEW_KEY)
    engine.reset("consecutive_loss", reason="reviewed", now=T0 + 2)
    assert isinstance(engine.admit(BET, OLD_KEY, T0 + 3), Denial)


def test_a_late_401_for_a_retired_key_emits_no_second_key_expired_event() -> None:
    """A 401 still in flight when the key was replaced raises no new alert."""
    engine = _engine()
    first = engine.admit(BET, OLD_KEY, T0)
    late = engine.admit(BET, OLD_KEY, T0)
    assert isinstance(first, Ticket)
    assert isinstance(late, Ticket)
    engine.on_response(first, 401, auth_failed=True, now=T0 + 0.1)
    _call(engine, BET, 200, now=T0 + 0.2, key=NEW_KEY)
    engine.on_response(late, 401, auth_failed=True, now=T0 + 0.3)
    assert len(_events(engine, "key_expired")) == 1


def test_a_restored_auth_breaker_keeps_its_realm() -> None:
    """After a restart, only a key of the rejected key's realm closes its auth breaker."""
    before = _engine()
    _call(before, BET, 401, key=OLD_KEY)
    after = _engine()
    after.restore([b.to_row() for b in before.breakers.values()], [], None, T0 + 10)
    _call(after, POSITIONS, 200, now=T0 + 11, key=TRADING_KEY)
    assert _state(after, "auth", OLD_KEY) is State.OPEN


# ---------------------------------------------------------------- shadow mode


@pytest.mark.parametrize("breaker", BREAKERS)
def test_shadow_mode_admits_what_enforce_would_deny(breaker: str) -> None:
    """In shadow mode the call goes, with a shadow denial event and a would_deny count."""
    engine = _engine(**SENSITIVE, mode="shadow")
    _trip(engine, breaker)
    engine.drain()
    assert isinstance(engine.admit(BET, OLD_KEY, T0), Ticket)
    denials = _events(engine, "denial")
    assert [(e.breaker, e.data) for e in denials] == [(breaker, {"shadow": True})]
    counts = engine.snapshot(T0)["counts"]
    assert (counts["would_deny"], counts["denied"]) == (1, 0)


@pytest.mark.parametrize("breaker", BREAKERS)
def test_shadow_mode_still_trips_breakers(breaker: str) -> None:
    """The rules run in shadow mode: the breaker opens and its transition is recorded."""
    engine = _engine(**SENSITIVE, mode="shadow")
    scope = _trip(engine, breaker)
    transitions, _ = engine.drain()
    assert [(t.breaker, t.scope, t.after) for t in transitions] == [(breaker, scope, State.OPEN)]
    assert engine.snapshot(T0)["mode"] == "shadow"


# ---------------------------------------------------------------- warnings


@pytest.mark.parametrize(
    ("steps", "warnings"),
    [
        ("LL", 0),
        ("LLL", 1),  # the streak reaches the warn level
        ("LLLL", 1),  # not repeated on the next loss
        ("LLLWLL", 1),
        ("LLLWLLL", 2),  # re-armed after a win
    ],
)
def test_the_loss_streak_warns_once_per_crossing(steps: str, warnings: int) -> None:
    """One warning when the streak reaches consecutive_loss_warn, again only after a win."""
    engine = _engine(consecutive_loss_limit=10, consecutive_loss_warn=3)
    _settle_steps(engine, steps)
    events = _events(engine, "warning")
    assert len(events) == warnings
    assert all(e.breaker == "consecutive_loss" and e.level == "WARNING" for e in events)
    assert _state(engine, "consecutive_loss", "agent") is State.CLOSED


@pytest.mark.parametrize(
    ("statuses", "warnings"),
    [
        ([200] * 5, 0),
        ([200] * 4 + [503], 1),  # 20 %: reaches the warn level
        ([200] * 4 + [503, 503], 1),  # 33 %: not repeated
        ([200] * 4 + [503] + [200] * 6 + [503, 503], 2),  # fell to 9 %, rose to 23 %
    ],
)
def test_the_error_rate_warns_once_per_crossing(statuses: list[int], warnings: int) -> None:
    """One warning when the error rate reaches error_rate_warn_pct, again after it fell back."""
    engine = _engine(error_rate_pct=50, error_rate_warn_pct=20, error_min_calls=5)
    for status in statuses:
        _call(engine, CASINO_BALANCE, status)
    events = _events(engine, "warning")
    assert len(events) == warnings
    assert all((e.breaker, e.scope) == ("error_rate", "casino") for e in events)


def test_the_balance_drop_warns_before_it_trips() -> None:
    """A drawdown past balance_drop_warn_pct warns once and blocks nothing."""
    engine = _engine(balance_drop_pct=10, balance_drop_warn_pct=5)
    _settle_balances(engine, ["100", "94", "93"])
    assert [e.breaker for e in _events(engine, "warning")] == ["balance_drop"]
    assert isinstance(engine.admit(BET, None, T0), Ticket)


def test_the_latency_warns_before_it_trips() -> None:
    """A p95 above latency_p95_warn_ms warns once and blocks nothing."""
    engine = _engine(latency_p95_ms=10_000, latency_p95_warn_ms=1000, error_min_calls=3)
    for _ in range(4):
        _call(engine, CASINO_BALANCE, 200, ms=3000)
    assert [e.breaker for e in _events(engine, "warning")] == ["latency"]
    assert _state(engine, "latency", "casino") is State.CLOSED


def _drive(engine: Engine, what: str, inputs: Any) -> None:
    """Feed ``inputs`` as loss steps, balance reads, call statuses or call latencies."""
    if what == "steps":
        _settle_steps(engine, inputs)
    elif what == "balances":
        _settle_balances(engine, inputs)
    elif what == "statuses":
        for status in inputs:
            _call(engine, CASINO_BALANCE, status)
    else:
        for ms in inputs:
            _call(engine, CASINO_BALANCE, 200, ms=ms)


@pytest.mark.parametrize(
    ("settings", "what", "inputs"),
    [
        ({"consecutive_loss_limit": 3, "consecutive_loss_warn": 3}, "steps", "LLLLL"),
        ({"consecutive_loss_limit": 3, "consecutive_loss_warn": 5}, "steps", "LLLLLL"),
        ({"consecutive_loss_limit": 0, "consecutive_loss_warn": 2}, "steps", "LLLLLL"),  # off
        ({"balance_drop_pct": 10, "balance_drop_warn_pct": 10}, "balances", ["100", "85"]),
        ({"balance_drop_pct": 0, "balance_drop_warn_pct": 5}, "balances", ["100", "85"]),
        ({"error_rate_pct": 20, "error_rate_warn_pct": 20}, "statuses", [503] * 20),
        ({"error_rate_pct": 0, "error_rate_warn_pct": 2}, "statuses", [503] * 20),
        ({"latency_p95_ms": 1000, "latency_p95_warn_ms": 1000}, "latencies_ms", [3000] * 20),
        ({"latency_p95_ms": 0, "latency_p95_warn_ms": 1000}, "latencies_ms", [3000] * 20),
    ],
)
def test_an_unused_warn_level_emits_nothing(
    settings: dict[str, Any], what: str, inputs: Any
) -> None:
    """A warn level at or above its trip level, or with its rule off, never warns."""
    engine = _engine(**settings)
    _drive(engine, what, inputs)
    assert _events(engine, "warning") == []


# ---------------------------------------------------------------- operator resets


def _trip_three(engine: Engine) -> None:
    _trip(engine, "consecutive_loss")
    _trip(engine, "error_rate")
    _trip(engine, "auth")
    engine.drain()


def test_reset_all_closes_every_open_breaker_as_the_operator() -> None:
    """reset(None) closes each open breaker with an operator transition, returned and drained."""
    engine = _engine(**SENSITIVE)
    _trip_three(engine)
    done = engine.reset(None, reason="incident reviewed", now=T0 + 5)
    expected = {("consecutive_loss", "agent"), ("error_rate", "casino"), ("auth", OLD_KEY)}
    assert {(t.breaker, t.scope) for t in done} == expected
    assert all(t.actor == "operator" and t.after is State.CLOSED for t in done)
    assert all("incident reviewed" in t.reason for t in done)
    assert all(b.state is State.CLOSED for b in engine.breakers.values())
    assert engine.drain()[0] == done


def test_reset_of_one_breaker_leaves_the_others_open() -> None:
    """reset("error_rate") closes error_rate only."""
    engine = _engine(**SENSITIVE)
    _trip_three(engine)
    done = engine.reset("error_rate", reason="upstream fixed", now=T0 + 5)
    assert [(t.breaker, t.scope, t.actor) for t in done] == [("error_rate", "casino", "operator")]
    assert _state(engine, "consecutive_loss", "agent") is State.OPEN
    assert _state(engine, "auth", OLD_KEY) is State.OPEN


def test_reset_of_a_closed_breaker_does_nothing() -> None:
    """Nothing open, nothing to close: no transition."""
    engine = _engine(**SENSITIVE)
    _call(engine, CASINO_BALANCE, 200)
    assert engine.reset(None, reason="routine", now=T0) == []
    assert engine.drain()[0] == []


def test_reset_clears_the_doubled_cooldown() -> None:
    """After an operator reset the next trip waits the base cooldown again."""
    engine = _engine(**SENSITIVE)
    _trip(engine, "error_rate")
    _call(engine, CASINO_BALANCE, 503, now=T0 + 60, ms=0)  # failed probe: 120 s
    engine.reset("error_rate", reason="upstream fixed", now=T0 + 70)
    _trip(engine, "error_rate", now=T0 + 80)
    denial = engine.admit(CASINO_BALANCE, None, T0 + 80)
    assert isinstance(denial, Denial)
    assert denial.retry_after == 60


@pytest.mark.parametrize("breaker", ["consecutive_loss", "balance_drop", "error_rate", "latency"])
def test_an_operator_reset_is_not_undone_by_the_next_harmless_outcome(breaker: str) -> None:
    """After a reset, a balance read or a successful fast call does not reopen the breaker."""
    engine = _engine(**SENSITIVE, consecutive_loss_warn=0)
    scope = _trip(engine, breaker)
    engine.reset(breaker, reason="reviewed", now=T0 + 10)
    if scope == "agent":
        _settle_balances(engine, ["80"], now=T0 + 11)  # a balance read: no loss, no new drop
    else:
        _call(engine, CASINO_BALANCE, 200, now=T0 + 11)
    assert _state(engine, breaker, scope) is State.CLOSED


@pytest.mark.parametrize("breaker", ["consecutive_loss", "balance_drop"])
def test_a_loss_cooldown_unlock_is_not_undone_by_a_balance_read(breaker: str) -> None:
    """After the loss cooldown, a balance read that shows no new loss leaves it closed."""
    engine = _engine(**SENSITIVE, loss_cooldown_s=300)
    _trip(engine, breaker)
    assert isinstance(engine.admit(BET, None, T0 + 300), Ticket)
    _settle_balances(engine, ["80"], now=T0 + 301)
    assert _state(engine, breaker, "agent") is State.CLOSED


def test_sync_operator_resets_closes_what_the_database_says_is_closed() -> None:
    """Rows reset elsewhere close the same breakers in memory; the others stay open."""
    engine = _engine(**SENSITIVE)
    _trip_three(engine)
    rows = [b.to_row() for b in engine.breakers.values()]
    for row in rows:
        if row["name"] == "consecutive_loss":
            row.update(state="closed", reason="", opened_at=None)
    engine.sync_operator_resets(rows, [], T0 + 5)
    assert _state(engine, "consecutive_loss", "agent") is State.CLOSED
    assert _state(engine, "error_rate", "casino") is State.OPEN
    assert _state(engine, "auth", OLD_KEY) is State.OPEN
    assert isinstance(engine.admit(TRADE_OPEN, None, T0 + 5), Ticket)


def test_sync_operator_resets_logs_an_operator_event_and_no_transition() -> None:
    """The reset is already audited in the database: an event, but nothing to persist."""
    engine = _engine(**SENSITIVE)
    _trip_three(engine)
    rows = [{**b.to_row(), "state": "closed"} for b in engine.breakers.values()]
    engine.sync_operator_resets(rows, [], T0 + 5)
    transitions, events = engine.drain()
    assert transitions == []
    closed = [(e.breaker, e.data["actor"]) for e in events if e.kind == "transition"]
    assert sorted(closed) == [
        ("auth", "operator"),
        ("consecutive_loss", "operator"),
        ("error_rate", "operator"),
    ]


def test_sync_operator_resets_keeps_only_the_retired_keys_still_in_the_database() -> None:
    """A key un-retired by `guard reset auth` is admitted again."""
    engine = _engine()
    _call(engine, BET, 401, key=OLD_KEY)
    _call(engine, BET, 200, now=T0 + 1, key=NEW_KEY)
    rows = [b.to_row() for b in engine.breakers.values()]
    engine.sync_operator_resets(rows, [], T0 + 2)
    assert engine.retired_keys == set()
    assert isinstance(engine.admit(BET, OLD_KEY, T0 + 3), Ticket)


# ---------------------------------------------------------------- persistence


def test_restore_reproduces_the_persisted_states() -> None:
    """Rows from Breaker.to_row() bring back each breaker's state, reason and opening time."""
    before = _engine(**SENSITIVE)
    for breaker in ("consecutive_loss", "error_rate", "auth"):
        _trip(before, breaker)
    _call(before, ESCROW_GET, 200, now=T0 + 1, key=NEW_KEY)  # retires OLD_KEY
    after = _engine(**SENSITIVE)
    rows = [b.to_row() for b in before.breakers.values()]
    after.restore(rows, before.retired_keys, before.ledger.to_state(), T0 + 10)
    assert {k: b.to_dict(T0 + 10) for k, b in after.breakers.items()} == {
        k: b.to_dict(T0 + 10) for k, b in before.breakers.items()
    }
    assert after.retired_keys == {OLD_KEY}
    assert after.ledger.loss_streak == 1


@pytest.mark.parametrize(
    ("op", "key", "breaker"),
    [
        (TRADE_OPEN, None, "consecutive_loss"),
        (CASINO_BALANCE, None, "error_rate"),
        (BET, OLD_KEY, "auth"),
    ],
)
def test_a_restored_engine_denies_as_before(op: Operation, key: str | None, breaker: str) -> None:
    """A restart on the persisted rows keeps denying what was denied."""
    before = _engine(**SENSITIVE)
    for name in ("consecutive_loss", "error_rate", "auth"):
        _trip(before, name)
    after = _engine(**SENSITIVE)
    after.restore([b.to_row() for b in before.breakers.values()], [], None, T0 + 10)
    denial = after.admit(op, key, T0 + 10)
    assert isinstance(denial, Denial)
    assert denial.breaker == breaker


def test_a_persisted_half_open_breaker_admits_a_probe_at_once() -> None:
    """The probe died with its process: the restored breaker stays half-open and probes at once."""
    before = _engine(**SENSITIVE)
    _trip(before, "error_rate")
    assert isinstance(before.admit(CASINO_BALANCE, None, T0 + 60), Ticket)
    row = before.breakers[("error_rate", "casino")].to_row()
    assert row["state"] == "half_open"
    after = _engine(**SENSITIVE)
    after.restore([row], [], None, T0 + 61)
    assert _state(after, "error_rate", "casino") is State.HALF_OPEN
    probe = after.admit(CASINO_BALANCE, None, T0 + 61)
    assert isinstance(probe, Ticket)
    assert probe.probes == [("error_rate", "casino")]
    assert isinstance(after.admit(CASINO_BALANCE, None, T0 + 61), Denial)


# ---------------------------------------------------------------- snapshot and drain

SERVICE_KEYS = {
    "calls",
    "errors",
    "error_rate_pct",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "last_call_age_s",
}
BREAKER_KEYS = {"state", "scope", "reason", "opened_at", "retry_after"}


def _busy_engine() -> Engine:
    engine = _engine(**SENSITIVE)
    _settle_balances(engine, ["100"])
    _trip(engine, "consecutive_loss")
    _trip(engine, "error_rate")
    _call(engine, POSITIONS, 200, ms=120)
    engine.admit(BET, None, T0)
    engine.on_settlement(None, T0)
    return engine


def test_the_snapshot_is_json_serialisable() -> None:
    """json.dumps accepts the snapshot as it is."""
    engine = _busy_engine()
    snapshot = engine.snapshot(T0 + 1)
    assert json.loads(json.dumps(snapshot)) == snapshot


def test_the_snapshot_has_the_documented_shape() -> None:
    """agent_id, mode, the five breakers, ledger, services and counts, as in design.md."""
    snapshot = _busy_engine().snapshot(T0 + 1)
    assert {"agent_id", "mode", "breakers", "ledger", "services", "counts"} <= set(snapshot)
    assert (snapshot["agent_id"], snapshot["mode"]) == ("agent", "enforce")
    assert set(snapshot["breakers"]) == set(BREAKERS)
    for entry in snapshot["breakers"].values():
        assert set(entry) >= BREAKER_KEYS
    assert set(snapshot["services"]) == {"casino", "trading"}
    for stats in snapshot["services"].values():
        assert set(stats) >= SERVICE_KEYS
    assert {"calls", "denied", "dead_letters", "unsettled"} <= set(snapshot["counts"])
    ledger_keys = {"realized_pnl", "fees", "balance", "high_water_mark", "drawdown_pct"}
    assert ledger_keys | {"loss_streak", "win_rate", "profit_factor"} <= set(snapshot["ledger"])


def test_the_snapshot_reports_breakers_and_counts() -> None:
    """Open breakers show their state, scope and retry_after; counts add up."""
    snapshot = _busy_engine().snapshot(T0 + 1)
    loss, errors = snapshot["breakers"]["consecutive_loss"], snapshot["breakers"]["error_rate"]
    assert (loss["state"], loss["scope"], loss["retry_after"]) == ("open", "agent", None)
    assert (errors["state"], errors["scope"], errors["opened_at"]) == ("open", "casino", T0)
    assert errors["retry_after"] == pytest.approx(59)
    assert snapshot["breakers"]["auth"]["state"] == "closed"
    assert snapshot["counts"] == {
        "calls": 2,
        "denied": 1,
        "would_deny": 0,
        "dead_letters": 0,
        "unsettled": 1,
        "calls_per_min": 2,
    }
    casino = snapshot["services"]["casino"]
    assert (casino["calls"], casino["errors"], casino["error_rate_pct"]) == (1, 1, "100.0")
    assert casino["last_call_age_s"] == pytest.approx(1)


def test_drain_returns_each_transition_exactly_once() -> None:
    """What was drained is gone; only later transitions come out of the next drain."""
    engine = _engine(**SENSITIVE)
    _trip(engine, "error_rate")
    first, _ = engine.drain()
    assert [(t.breaker, t.before, t.after) for t in first] == [
        ("error_rate", State.CLOSED, State.OPEN)
    ]
    assert engine.drain() == ([], [])
    engine.admit(CASINO_BALANCE, None, T0 + 60)
    second, _ = engine.drain()
    assert [(t.breaker, t.before, t.after) for t in second] == [
        ("error_rate", State.OPEN, State.HALF_OPEN)
    ]
    assert engine.drain() == ([], [])
