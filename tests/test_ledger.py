"""The ledger: P&L, fees, balances, the high-water mark, drawdown, streaks, state."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guard._ledger import Ledger
from guard._model import Settlement, Step

T0 = 1_767_225_600.0
WINDOW = 3600.0
D = Decimal


def _won(pnl: str) -> Step:
    return Step(D(pnl), won=True)


def _lost(pnl: str) -> Step:
    return Step(D(pnl), won=False)


def _ledger(*settlements: Settlement, now: float = T0) -> Ledger:
    ledger = Ledger(WINDOW)
    for settlement in settlements:
        ledger.apply(settlement, now)
    return ledger


# ---------------------------------------------------------------- the rules, as tables


@pytest.mark.parametrize(
    ("settlements", "pnl", "fees"),
    [
        ([], "0", "0"),
        ([Settlement(pnl=D("-1"), steps=(_lost("-1"),))], "-1", "0"),
        ([Settlement(pnl=D("-0.06"), fees=D("0.06"))], "-0.06", "0.06"),
        (
            [Settlement(pnl=D("1.50"), fees=D("0.10")), Settlement(pnl=D("-0.75"), fees=D("0.05"))],
            "0.75",
            "0.15",
        ),
        ([Settlement(cash_flow=D("10"), balance=D("10"))], "0", "0"),  # a cash flow is no P&L
    ],
)
def test_realized_pnl_and_fees_add_up(settlements: list[Settlement], pnl: str, fees: str) -> None:
    """Realized P&L and fees are the sums of the settlements' amounts."""
    ledger = _ledger(*settlements)
    assert (ledger.realized_pnl, ledger.fees) == (D(pnl), D(fees))


@pytest.mark.parametrize(
    ("steps", "streak", "wins", "losses"),
    [
        ([], 0, 0, 0),
        ([_lost("-1")], 1, 0, 1),
        ([_lost("-1"), _lost("-1"), _lost("-2")], 3, 0, 3),
        ([_lost("-1"), _lost("-1"), _won("1")], 0, 1, 2),  # a win resets the streak
        ([_lost("-1"), _won("1"), _lost("-1")], 1, 1, 2),
        ([_won("1"), _won("2")], 0, 2, 0),
    ],
)
def test_steps_drive_the_loss_streak_and_counts(
    steps: list[Step], streak: int, wins: int, losses: int
) -> None:
    """Each losing step extends the streak, a winning one resets it; both are counted."""
    ledger = _ledger(*(Settlement(pnl=s.pnl, steps=(s,)) for s in steps))
    assert (ledger.loss_streak, ledger.wins, ledger.losses) == (streak, wins, losses)


def test_batch_steps_count_one_by_one() -> None:
    """A batch settlement with several steps moves the streak once per step."""
    batch = Settlement(pnl=D("-3"), steps=(_won("1"), _lost("-2"), _lost("-2")))
    ledger = _ledger(batch)
    assert (ledger.loss_streak, ledger.wins, ledger.losses) == (2, 1, 2)


@pytest.mark.parametrize(
    ("steps", "win_rate", "profit_factor"),
    [
        ([], None, None),
        ([_won("2")], D(1), None),  # nothing lost: no profit factor
        ([_lost("-2")], D(0), D(0)),
        ([_won("3"), _lost("-1"), _lost("-1"), _won("1")], D("0.5"), D(2)),
        ([_won("0"), _lost("-4")], D("0.5"), D(0)),
    ],
)
def test_win_rate_and_profit_factor(
    steps: list[Step], win_rate: Decimal | None, profit_factor: Decimal | None
) -> None:
    """Win rate is wins / steps; profit factor is gross profit / gross loss."""
    ledger = _ledger(Settlement(pnl=sum((s.pnl for s in steps), D(0)), steps=tuple(steps)))
    assert (ledger.win_rate, ledger.profit_factor) == (win_rate, profit_factor)


@pytest.mark.parametrize(
    ("settlements", "balance"),
    [
        ([], None),
        ([Settlement(pnl=D("-1"))], None),  # unknown stays unknown
        ([Settlement(balance=D("100"))], D("100")),
        ([Settlement(balance=D("100")), Settlement(pnl=D("-1"))], D("99")),  # an estimate
        ([Settlement(balance=D("100")), Settlement(cash_flow=D("-30"))], D("70")),
        (
            [Settlement(balance=D("100")), Settlement(pnl=D("-1"), balance=D("98.50"))],
            D("98.50"),  # a reported balance replaces the estimate
        ),
        (
            [Settlement(balance=D("100")), Settlement(balance=D("50"), account="trading")],
            D("150"),  # equity sums the accounts
        ),
        (
            [Settlement(balance=D("100")), Settlement(pnl=D("-5"), account="trading")],
            D("100"),  # an unknown account does not move the equity
        ),
    ],
)
def test_balance_rules(settlements: list[Settlement], balance: Decimal | None) -> None:
    """Balances are reported, estimated from P&L and cash flows, or unknown; equity sums them."""
    assert _ledger(*settlements).balance == balance


@pytest.mark.parametrize(
    ("settlements", "mark", "drawdown"),
    [
        ([], None, D(0)),
        ([Settlement(balance=D("100"))], D("100"), D(0)),
        ([Settlement(balance=D("100")), Settlement(pnl=D("-10"))], D("100"), D(10)),
        ([Settlement(balance=D("100")), Settlement(pnl=D("5"))], D("105"), D(0)),
        # a withdrawal moves the mark with the balance: no drawdown
        ([Settlement(balance=D("100")), Settlement(cash_flow=D("-50"), balance=D("50"))], D(50), 0),
        # a deposit too: losing it back afterwards is a drawdown from the new mark
        (
            [
                Settlement(balance=D("100")),
                Settlement(cash_flow=D("100")),
                Settlement(pnl=D("-20")),
            ],
            D("200"),
            D(10),
        ),
        ([Settlement(balance=D("0")), Settlement(pnl=D("-5"))], D("0"), D(0)),  # peak <= 0
    ],
)
def test_high_water_mark_and_drawdown_rules(
    settlements: list[Settlement], mark: Decimal | None, drawdown: Decimal
) -> None:
    """The mark follows equity up and cash flows both ways; drawdown is the % below it."""
    ledger = _ledger(*settlements)
    assert (ledger.high_water_mark(T0), ledger.drawdown_pct(T0)) == (mark, drawdown)


def test_ten_percent_drop_is_a_drawdown_of_ten() -> None:
    """Equity 10 % under the high-water mark gives drawdown_pct == 10."""
    ledger = Ledger(WINDOW)
    ledger.apply(Settlement(balance=D("250.00")), T0)
    ledger.apply(Settlement(pnl=D("-25.00"), balance=D("225.00")), T0 + 5)
    assert ledger.drawdown_pct(T0 + 5) == 10
    assert ledger.snapshot(T0 + 5)["drawdown_pct"] == "10.00"


@pytest.mark.parametrize(
    ("now", "mark", "drawdown"),
    [
        (T0 + 60, D(100), D(10)),
        (T0 + WINDOW - 61, D(100), D(10)),  # still inside the window
        (T0 + WINDOW + 1, D(90), D(0)),  # the mark from over an hour ago no longer counts
    ],
)
def test_high_water_mark_expires_after_the_window(
    now: float, mark: Decimal, drawdown: Decimal
) -> None:
    """A high-water mark older than balance_window_s is forgotten."""
    ledger = Ledger(WINDOW)
    ledger.apply(Settlement(balance=D(100)), T0)
    ledger.apply(Settlement(pnl=D(-10), balance=D(90)), T0 + 60)
    assert (ledger.high_water_mark(now), ledger.drawdown_pct(now)) == (mark, drawdown)


def test_high_water_mark_is_never_below_equity() -> None:
    """Once every observation has expired, the mark is the current equity."""
    ledger = _ledger(Settlement(balance=D(80)))
    assert ledger.high_water_mark(T0 + 10 * WINDOW) == D(80)


def test_cash_flow_in_an_unknown_account_leaves_the_mark_alone() -> None:
    """A withdrawal from an account not in the equity does not lower the mark of the others."""
    ledger = _ledger(
        Settlement(balance=D(100)),
        Settlement(pnl=D(-5)),
        Settlement(cash_flow=D(-30), account="wallet"),
    )
    assert (ledger.high_water_mark(T0), ledger.drawdown_pct(T0)) == (D(100), D(5))


def test_skip_counts_unsettled_responses() -> None:
    """A body that could not be settled is counted, and changes nothing else."""
    ledger = _ledger(Settlement(balance=D(100)))
    ledger.skip()
    ledger.skip()
    assert (ledger.unsettled, ledger.balance, ledger.realized_pnl) == (2, D(100), D(0))


@pytest.mark.parametrize(
    "odd",
    [
        Settlement(pnl=D("NaN")),
        Settlement(fees=D("Infinity")),
        Settlement(balance=D("-Infinity")),
        Settlement(steps=(Step(D("NaN"), won=False),)),
    ],
)
def test_non_finite_settlement_is_counted_unsettled(odd: Settlement) -> None:
    """NaN or infinite amounts are refused rather than poisoning every later sum."""
    ledger = _ledger(Settlement(balance=D(100)), odd)
    assert (ledger.unsettled, ledger.balance, ledger.realized_pnl) == (1, D(100), D(0))
    assert ledger.loss_streak == 0


# ---------------------------------------------------------------- snapshot and state


def test_snapshot_has_the_documented_keys_and_is_json_ready() -> None:
    """The ledger block has the contract's keys, money as strings, None as null."""
    snapshot = _ledger().snapshot(T0)
    assert set(snapshot) == {
        "realized_pnl",
        "fees",
        "balance",
        "high_water_mark",
        "drawdown_pct",
        "loss_streak",
        "win_rate",
        "profit_factor",
        "wins",
        "losses",
        "unsettled",
    }
    assert json.loads(json.dumps(snapshot)) == snapshot
    assert snapshot["balance"] is None
    assert snapshot["win_rate"] is None


def test_snapshot_rounds_ratios_but_never_money() -> None:
    """Money sums are exact decimal strings; only the ratios are rounded."""
    ledger = _ledger(
        Settlement(balance=D("300")),
        Settlement(pnl=D("0.123456789"), steps=(_won("0.123456789"),)),
        Settlement(pnl=D("-1E-9"), fees=D("1E-9"), steps=(_lost("-1E-9"),)),
        Settlement(pnl=D("-3"), steps=(_lost("-3"),)),
    )
    snapshot = ledger.snapshot(T0)
    assert snapshot["realized_pnl"] == "-2.876543212"
    assert snapshot["fees"] == "0.000000001"  # never exponent notation
    assert snapshot["win_rate"] == "0.3333"
    assert snapshot["profit_factor"] == "0.0412"
    assert snapshot["drawdown_pct"] == "1.00"  # 0.9996 %
    assert (snapshot["wins"], snapshot["losses"], snapshot["loss_streak"]) == (1, 2, 2)


def test_from_state_restores_what_must_survive_a_restart() -> None:
    """Sums, counts, balances and the mark come back; the mark as one observation at now."""
    ledger = _ledger(
        Settlement(balance=D(100)),
        Settlement(pnl=D(-4), fees=D("0.5"), steps=(_lost("-4"),)),
        Settlement(balance=D(20), account="trading"),
    )
    ledger.skip()
    state = json.loads(json.dumps(ledger.to_state()))
    restored = Ledger.from_state(state, WINDOW, T0 + 100)
    assert restored.snapshot(T0 + 100) == ledger.snapshot(T0 + 100)
    assert restored.high_water_mark(T0 + 100 + WINDOW) == D(116)  # the mark expires from now


@pytest.mark.parametrize(
    "state",
    [
        {},
        {"version": 99},
        {"version": 1, "realized_pnl": "abc"},
        {**Ledger(WINDOW).to_state(), "balances": [1, 2]},
        {**Ledger(WINDOW).to_state(), "high_water_mark": "x"},
    ],
)
def test_from_state_rejects_what_it_cannot_read(state: dict[str, Any]) -> None:
    """A state that is not a ledger state raises ValueError, not something obscure."""
    with pytest.raises(ValueError, match="ledger state"):
        Ledger.from_state(state, WINDOW, T0)


# ---------------------------------------------------------------- properties

_money = st.decimals(
    min_value=-(10**6), max_value=10**6, places=6, allow_nan=False, allow_infinity=False
)
_fees = st.decimals(min_value=0, max_value=100, places=6, allow_nan=False, allow_infinity=False)
_steps = st.lists(st.builds(Step, pnl=_money, won=st.booleans()), max_size=4).map(tuple)
_settlements = st.builds(
    Settlement,
    pnl=_money,
    fees=_fees,
    cash_flow=st.one_of(st.just(D(0)), _money),
    balance=st.one_of(st.none(), _money),
    account=st.sampled_from(["casino", "trading", "domains"]),
    steps=_steps,
)
_gaps = st.floats(min_value=0, max_value=WINDOW / 2, allow_nan=False)


@given(st.lists(st.tuples(_settlements, _gaps), max_size=30))
def test_realized_pnl_and_fees_are_exact_sums(items: list[tuple[Settlement, float]]) -> None:
    """For any settlements, realized P&L and fees are the exact sums of their amounts."""
    ledger = Ledger(WINDOW)
    now = T0
    for settlement, gap in items:
        now += gap
        ledger.apply(settlement, now)
    assert ledger.realized_pnl == sum((s.pnl for s, _ in items), D(0))
    assert ledger.fees == sum((s.fees for s, _ in items), D(0))


@given(
    start=st.decimals(min_value=0, max_value=10**6, places=2, allow_nan=False),
    flows=st.lists(st.tuples(_money, st.booleans(), _gaps), max_size=30),
)
def test_cash_flows_alone_never_draw_down(
    start: Decimal, flows: list[tuple[Decimal, bool, float]]
) -> None:
    """Deposits and withdrawals, reported or estimated, never show a drawdown."""
    ledger = Ledger(WINDOW)
    ledger.apply(Settlement(balance=start), T0)
    balance, now = start, T0
    for flow, reported, gap in flows:
        balance += flow
        now += gap
        ledger.apply(Settlement(cash_flow=flow, balance=balance if reported else None), now)
        assert ledger.balance == balance
        assert ledger.drawdown_pct(now) == 0


@given(st.lists(st.tuples(_settlements, _gaps), max_size=30), st.integers(0, 5))
def test_state_round_trips(items: list[tuple[Settlement, float]], skips: int) -> None:
    """from_state(to_state()) gives back the same state and the same snapshot."""
    ledger = Ledger(WINDOW)
    now = T0
    for settlement, gap in items:
        now += gap
        ledger.apply(settlement, now)
    for _ in range(skips):
        ledger.skip()
    state = json.loads(json.dumps(ledger.to_state()))
    restored = Ledger.from_state(state, WINDOW, now)
    assert restored.to_state() == state
    assert restored.snapshot(now) == ledger.snapshot(now)


def test_a_withdrawal_during_a_drawdown_keeps_the_percentage() -> None:
    """Withdrawing half the equity while 6 % down leaves the drawdown at 6 %, not 12 %."""
    ledger = Ledger(WINDOW)
    ledger.apply(Settlement(balance=D(100)), T0)
    ledger.apply(Settlement(pnl=D(-6), balance=D(94), steps=(Step(D(-6), False),)), T0 + 1)
    ledger.apply(Settlement(cash_flow=D(-47), balance=D(47)), T0 + 2)
    assert ledger.drawdown_pct(T0 + 2) == D(6)
    assert ledger.high_water_mark(T0 + 2) == D(50)
