"""The agent's money as the response bodies tell it: P&L, fees, balances, drawdown, streaks.

The ledger is pure: it is fed :class:`~guard._model.Settlement` values with the time they were
seen and answers questions about them. Money is ``Decimal`` throughout and sums are never
rounded; only ratios (drawdown, win rate, profit factor) are rounded, and only in the snapshot.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from ._model import ZERO, Settlement
from ._window import HighWater

__all__ = ["Ledger"]

_STATE_VERSION = 1
_HUNDRED = Decimal(100)
_PCT_PLACES = Decimal("1e-10")


def _money(value: Decimal | None) -> str | None:
    """A plain decimal string (never exponent notation), or None."""
    return None if value is None else f"{value:f}"


def _ratio(value: Decimal | None, places: int) -> str | None:
    """``value`` rounded to ``places`` decimals as a string, or None."""
    if value is None:
        return None
    try:
        return f"{value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):f}"
    except InvalidOperation:  # too many digits to round within the context precision
        return f"{value:f}"


def _finite(settlement: Settlement) -> bool:
    amounts = [settlement.pnl, settlement.fees, settlement.cash_flow]
    amounts += [step.pnl for step in settlement.steps]
    if settlement.balance is not None:
        amounts.append(settlement.balance)
    return all(amount.is_finite() for amount in amounts)


class Ledger:
    """Realized P&L, fees, per-account balances and the high-water mark of their sum (equity).

    The high-water mark is the highest equity observed in the last ``balance_window_s`` seconds,
    and never less than the current equity. Cash flows (deposits, withdrawals, escrow, faucet)
    move it together with the balance, so they never look like a gain or a drawdown. With
    ``balance_window_s == 0`` no mark is kept: the mark is the current equity, the drawdown 0.
    """

    def __init__(self, balance_window_s: float) -> None:
        self._window_s = balance_window_s
        self._high_water = HighWater(balance_window_s)
        self._balances: dict[str, Decimal] = {}
        self._realized_pnl = ZERO
        self._fees = ZERO
        self._gross_profit = ZERO
        self._gross_loss = ZERO
        self._loss_streak = 0
        self._wins = 0
        self._losses = 0
        self._unsettled = 0
        self._seen: float | None = None  # latest time given to apply(), for to_state()

    def apply(self, settlement: Settlement, now: float) -> None:
        """Account for one settled response seen at ``now``.

        A settlement carrying a non-finite amount (NaN, infinity) cannot be accounted for: it is
        counted as unsettled instead, so one odd body cannot poison every later sum.
        """
        if not _finite(settlement):
            self.skip()
            return
        self._seen = now if self._seen is None else max(self._seen, now)
        self._realized_pnl += settlement.pnl
        self._fees += settlement.fees
        for step in settlement.steps:
            if step.pnl > 0:
                self._gross_profit += step.pnl
            elif step.pnl < 0:
                self._gross_loss -= step.pnl
            if step.won:
                self._wins += 1
                self._loss_streak = 0
            else:
                self._losses += 1
                self._loss_streak += 1

        account = settlement.account
        known = account in self._balances
        before = self.balance
        if settlement.balance is not None:
            self._balances[account] = settlement.balance
        elif known:
            # An estimate until the next response that reports the balance.
            self._balances[account] += settlement.pnl + settlement.cash_flow
        # Only a flow through an account already in the equity moves the equity the mark was
        # taken on; an account seen for the first time joins the equity at its current balance.
        if settlement.cash_flow and known and before is not None:
            self._move_mark(before, settlement.cash_flow, now)
        equity = self.balance
        if equity is not None:
            self._high_water.observe(now, equity)

    def _move_mark(self, equity: Decimal, flow: Decimal, now: float) -> None:
        """Scale the mark with the equity a cash flow moved: money in or out changes neither
        the drawdown in percent nor the streak. Down to zero or below, the mark starts afresh."""
        after = equity + flow
        if equity > 0 and after > 0:
            self._high_water.scale(after / equity)
        else:
            self._high_water = HighWater(self._window_s)

    def skip(self) -> None:
        """Count a response whose body could not be settled."""
        self._unsettled += 1

    def forget_streak(self) -> None:
        """Start the loss streak afresh (an operator reviewed it, or its cooldown passed)."""
        self._loss_streak = 0

    def rebase(self, now: float) -> None:
        """Start the high-water mark afresh at the current equity."""
        self._high_water = HighWater(self._window_s)
        equity = self.balance
        if equity is not None:
            self._high_water.observe(now, equity)

    @property
    def realized_pnl(self) -> Decimal:
        """The exact sum of the settled P&L, net of fees."""
        return self._realized_pnl

    @property
    def fees(self) -> Decimal:
        """The exact sum of the fees paid."""
        return self._fees

    @property
    def balance(self) -> Decimal | None:
        """Equity: the sum of the known account balances, or None while none is known."""
        return sum(self._balances.values(), ZERO) if self._balances else None

    def high_water_mark(self, now: float) -> Decimal | None:
        """The highest equity in the window at ``now``, at least the current equity, or None."""
        peak, equity = self._high_water.peak(now), self.balance
        if peak is None or equity is None:
            return equity if peak is None else peak
        return max(peak, equity)

    def drawdown_pct(self, now: float) -> Decimal:
        """How far equity is below the high-water mark, in %; 0 when unknown or the mark <= 0."""
        peak, equity = self.high_water_mark(now), self.balance
        if peak is None or equity is None or peak <= 0:
            return ZERO
        # Scaling the mark for cash flows divides Decimals: keep 10 places, drop the residue.
        pct = ((peak - equity) / peak * _HUNDRED).quantize(_PCT_PLACES, rounding=ROUND_HALF_UP)
        return max(ZERO, pct)

    @property
    def loss_streak(self) -> int:
        """Losing steps in a row since the last win."""
        return self._loss_streak

    @property
    def wins(self) -> int:
        """Winning steps."""
        return self._wins

    @property
    def losses(self) -> int:
        """Losing steps."""
        return self._losses

    @property
    def win_rate(self) -> Decimal | None:
        """wins / (wins + losses) as a fraction, or None before the first step."""
        steps = self._wins + self._losses
        return Decimal(self._wins) / steps if steps else None

    @property
    def profit_factor(self) -> Decimal | None:
        """Gross profit / gross loss of the steps, or None while nothing was lost."""
        return self._gross_profit / self._gross_loss if self._gross_loss else None

    @property
    def unsettled(self) -> int:
        """Responses whose body could not be settled."""
        return self._unsettled

    def snapshot(self, now: float) -> dict[str, Any]:
        """The ledger block of the transport's snapshot: JSON-ready, money as decimal strings."""
        return {
            "realized_pnl": _money(self._realized_pnl),
            "fees": _money(self._fees),
            "balance": _money(self.balance),
            "high_water_mark": _money(self.high_water_mark(now)),
            "drawdown_pct": _ratio(self.drawdown_pct(now), 2),
            "loss_streak": self._loss_streak,
            "win_rate": _ratio(self.win_rate, 4),
            "profit_factor": _ratio(self.profit_factor, 4),
            "wins": self._wins,
            "losses": self._losses,
            "unsettled": self._unsettled,
        }

    def to_state(self) -> dict[str, Any]:
        """What must survive a restart, JSON-serialisable (Decimals as strings).

        The high-water mark is taken as of the latest time given to :meth:`apply`.
        """
        mark = None if self._seen is None else self.high_water_mark(self._seen)
        return {
            "version": _STATE_VERSION,
            "realized_pnl": _money(self._realized_pnl),
            "fees": _money(self._fees),
            "gross_profit": _money(self._gross_profit),
            "gross_loss": _money(self._gross_loss),
            "loss_streak": self._loss_streak,
            "wins": self._wins,
            "losses": self._losses,
            "unsettled": self._unsettled,
            "balances": {account: _money(b) for account, b in sorted(self._balances.items())},
            "high_water_mark": _money(mark),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], balance_window_s: float, now: float) -> Ledger:
        """Rebuild a ledger from :meth:`to_state`; the high-water mark is observed again at ``now``.

        Raises ``ValueError`` when ``state`` is not a ledger state this version can read.
        """
        ledger = cls(balance_window_s)
        try:
            if state["version"] != _STATE_VERSION:
                raise ValueError(f"unknown ledger state version {state['version']!r}")
            ledger._realized_pnl = Decimal(state["realized_pnl"])
            ledger._fees = Decimal(state["fees"])
            ledger._gross_profit = Decimal(state["gross_profit"])
            ledger._gross_loss = Decimal(state["gross_loss"])
            ledger._loss_streak = int(state["loss_streak"])
            ledger._wins = int(state["wins"])
            ledger._losses = int(state["losses"])
            ledger._unsettled = int(state.get("unsettled", 0))
            ledger._balances = {str(a): Decimal(b) for a, b in state["balances"].items()}
            mark = state["high_water_mark"]
            if mark is not None:
                ledger._high_water.observe(now, Decimal(mark))
        except (KeyError, TypeError, AttributeError, InvalidOperation) as exc:
            raise ValueError(f"not a ledger state: {exc!r}") from exc
        ledger._seen = now
        return ledger
