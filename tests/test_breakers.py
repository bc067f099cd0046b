"""The breaker state machine's plain state: cooldowns, retry_after and its persisted row."""

from __future__ import annotations

import json

import pytest

from guard._breakers import MAX_COOLDOWN_S, PROBE_RETRY_S, Breaker, State

T0 = 1_767_225_600.0


def _open(cooldown: float | None, failures: int = 0) -> Breaker:
    return Breaker(
        "error_rate",
        "casino",
        state=State.OPEN,
        reason="error rate 100.0%",
        opened_at=T0,
        cooldown_s=cooldown,
        failures=failures,
    )


@pytest.mark.parametrize(
    ("cooldown", "failures", "expected"),
    [
        (60, 0, 60),
        (60, 1, 120),
        (60, 2, 240),
        (60, 5, 1920),
        (60, 6, MAX_COOLDOWN_S),  # 3840 capped
        (60, 60, MAX_COOLDOWN_S),
        (0, 3, 0),  # no cooldown stays none
        (7200, 0, 7200),  # above the cap: the configured value is the cap
        (7200, 3, 7200),
        (None, 0, None),  # latched
        (None, 4, None),
    ],
)
def test_the_cooldown_doubles_per_failed_probe_up_to_the_cap(
    cooldown: float | None, failures: int, expected: float | None
) -> None:
    """current_cooldown is cooldown * 2**failures, capped at max(cooldown, MAX_COOLDOWN_S)."""
    assert _open(cooldown, failures).current_cooldown() == expected


@pytest.mark.parametrize(
    ("state", "cooldown", "elapsed", "expected"),
    [
        (State.CLOSED, 60, 0, 0.0),
        (State.OPEN, 60, 0, 60.0),
        (State.OPEN, 60, 45, 15.0),
        (State.OPEN, 60, 60, 0.0),
        (State.OPEN, 60, 600, 0.0),  # never negative
        (State.OPEN, None, 10**6, None),  # latched: until an operator reset
        (State.HALF_OPEN, 60, 61, PROBE_RETRY_S),  # another call is the probe
    ],
)
def test_retry_after_by_state(
    state: State, cooldown: float | None, elapsed: float, expected: float | None
) -> None:
    """retry_after: 0 when closed, the time left when open, PROBE_RETRY_S when half-open."""
    breaker = _open(cooldown)
    breaker.state = state
    assert breaker.retry_after(T0 + elapsed) == expected


@pytest.mark.parametrize(
    ("state", "cooldown", "elapsed", "cooled"),
    [
        (State.OPEN, 60, 59.9, False),
        (State.OPEN, 60, 60, True),
        (State.OPEN, None, 10**6, False),
        (State.HALF_OPEN, 60, 600, False),
        (State.CLOSED, 60, 600, False),
    ],
)
def test_only_an_open_breaker_past_its_cooldown_is_cooled(
    state: State, cooldown: float | None, elapsed: float, cooled: bool
) -> None:
    """cooled() is true for an open, self-healing breaker whose cooldown has passed."""
    breaker = _open(cooldown)
    breaker.state = state
    assert breaker.cooled(T0 + elapsed) is cooled


def test_a_closed_breaker_reports_no_retry_after() -> None:
    """to_dict of a closed breaker carries retry_after None."""
    assert Breaker("latency", "casino").to_dict(T0)["retry_after"] is None


def test_the_row_round_trips() -> None:
    """from_row(to_row()) gives the same breaker; the row is JSON-ready and has no probe flag."""
    breaker = _open(60, failures=2)
    breaker.probing = True
    row = breaker.to_row()
    assert json.loads(json.dumps(row)) == row
    assert "probing" not in row
    assert row["state"] == "open"
    restored = Breaker.from_row(row)
    assert restored == _open(60, failures=2)


def test_a_half_open_row_comes_back_open_and_cooled() -> None:
    """The probe died with its process: the restored breaker may probe at once."""
    breaker = _open(60, failures=1)
    breaker.state = State.HALF_OPEN
    restored = Breaker.from_row(breaker.to_row())
    assert restored.state is State.HALF_OPEN
    assert restored.failures == 1
    assert not restored.probing


def test_a_huge_failure_count_stays_capped() -> None:
    """However many probes failed, the cooldown is the cap, never an overflow."""
    assert _open(60, failures=1100).retry_after(T0) == MAX_COOLDOWN_S
