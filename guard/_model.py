"""The small value types the pure core passes around: what a call is, and what it settled."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

ZERO = Decimal(0)


class Kind(StrEnum):
    """What a call does to the agent's risk."""

    READ = "read"  # GET and other safe methods
    RISK_INCREASING = "risk_increasing"  # bets, trade opens, limit orders, escrow create, purchases
    RISK_REDUCING = "risk_reducing"  # trade close, order cancel
    TRANSFER = "transfer"  # withdrawals, escrow complete/release/dispute, faucet, wallet send


@dataclass(frozen=True, slots=True)
class Operation:
    """A classified call: which service, which operation, what kind."""

    service: str  # "casino", "trading", "escrow", "faucet", "domains", "wallet", or a host
    name: str  # "bet", "batch", "trade_open", "trade_close", "withdraw", "balance", ...
    kind: Kind

    @property
    def financial(self) -> bool:
        """Anything but a read moves (or may move) money."""
        return self.kind is not Kind.READ


@dataclass(frozen=True, slots=True)
class Step:
    """One settled bet or trade: a step of the loss streak and of the win rate."""

    pnl: Decimal  # net of fees
    won: bool


@dataclass(frozen=True, slots=True)
class Settlement:
    """What one response says about money. Amounts are exact ``Decimal``s.

    ``pnl`` is the realized profit and loss net of fees (``sum(step.pnl) + other pnl`` such as a
    trade-open fee); ``cash_flow`` is money in or out that is no profit or loss (faucet,
    withdrawals, escrow): it moves the balance and the high-water mark together. ``balance`` is
    the balance of ``account`` that the response reports after the call, when it reports one.
    """

    pnl: Decimal = ZERO
    fees: Decimal = ZERO
    cash_flow: Decimal = ZERO
    balance: Decimal | None = None
    account: str = "casino"
    steps: tuple[Step, ...] = ()
