"""Settlement: what a Purple Flea response says about money.

``settle(op, status, body)`` reads a 2xx reply of an operation that has a settlement rule in the
profile (``guard._profile``) and returns a :class:`~guard._model.Settlement`, or ``None`` when
there is nothing to settle. ``body`` is JSON parsed with ``parse_float=Decimal``. A body that
should settle but is odd (not an object, a missing field, a string, a float, a boolean, NaN or
an absurd number where an amount belongs) raises :class:`Unsettleable`, never anything else:
the caller skips the settlement, counts it, and hands the response to the agent untouched.

Amounts are reported as the body states them. Bet replies round ``amount_won`` and
``new_balance`` to cents while the server keeps an unrounded balance; no reconciliation is
attempted here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from ._model import ZERO, Operation, Settlement, Step
from ._profile import settlement_rule

__all__ = ["MAX_AMOUNT", "RULES", "Unsettleable", "settle"]

# No single amount of these APIs comes near this (the casino caps a withdrawal at $100k): a
# larger number is a broken body, and refusing it keeps Decimal arithmetic far from overflow.
MAX_AMOUNT = Decimal(10) ** 15


class Unsettleable(ValueError):
    """A response that should settle says nothing usable about money; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _amount(body: Mapping[str, Any], key: str, *, signed: bool = False) -> Decimal:
    """``body[key]`` as an exact, finite, bounded ``Decimal``; non-negative unless ``signed``."""
    if key not in body:
        raise Unsettleable(f"missing {key}")
    value = body[key]
    # bool is an int: refuse it first. Floats would have lost exactness already: refuse them.
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise Unsettleable(f"{key} is {type(value).__name__}, not a number")
    if isinstance(value, Decimal) and not value.is_finite():
        raise Unsettleable(f"{key} is {value}")
    # Compare before converting: str() of a huge int is slow, and an exact bound keeps later
    # Decimal arithmetic far from overflow.
    if not -MAX_AMOUNT < value < MAX_AMOUNT:
        raise Unsettleable(f"{key} is out of range")
    amount = Decimal(str(value))
    if amount < 0 and not signed:
        raise Unsettleable(f"{key} is negative")
    return amount


def _object(body: object, what: str = "body") -> Mapping[str, Any]:
    if not isinstance(body, dict):
        raise Unsettleable(f"{what} is {type(body).__name__}, not an object")
    return body


def _step(item: Mapping[str, Any]) -> Step:
    """One bet result: P&L = amount_won − amount_bet (amount_won is gross, 0 on a loss)."""
    won = item.get("won")
    if not isinstance(won, bool):
        raise Unsettleable("won is not a boolean")
    return Step(pnl=_amount(item, "amount_won") - _amount(item, "amount_bet"), won=won)


def _bet(body: Mapping[str, Any]) -> Settlement:
    step = _step(body)
    return Settlement(
        pnl=step.pnl, balance=_amount(body, "new_balance", signed=True), steps=(step,)
    )


def _batch(body: Mapping[str, Any]) -> Settlement:
    # Settled from its items, never from summary.net_pnl: upstream derives that from a
    # total_wagered that is always 0. Failed items sit inline as {error, message}: skip them.
    results = body.get("results")
    if not isinstance(results, list):
        raise Unsettleable("results is not a list")
    steps = []
    for result in results:
        item = _object(result, "a result")
        if "error" in item and "bet_id" not in item:
            continue
        steps.append(_step(item))
    return Settlement(
        pnl=sum((s.pnl for s in steps), ZERO),
        balance=_amount(body, "balance_after", signed=True),
        steps=tuple(steps),
    )


def _balance(body: Mapping[str, Any]) -> Settlement:
    return Settlement(balance=_amount(body, "balance_usd", signed=True))


def _trade_open(body: Mapping[str, Any]) -> Settlement:
    fee = _amount(body, "fee")
    return Settlement(pnl=-fee, fees=fee, account="trading")


def _trade_close(body: Mapping[str, Any]) -> Settlement:
    fee = _amount(body, "fee")
    pnl = _amount(body, "pnl", signed=True) - fee
    return Settlement(pnl=pnl, fees=fee, account="trading", steps=(Step(pnl=pnl, won=pnl > 0),))


def _withdraw(body: Mapping[str, Any]) -> Settlement:
    # The flat fee is a cost of moving money out, not the result of a bet or a trade: it
    # leaves with the withdrawal as cash flow, so the balance and the high-water mark fall
    # together and a withdrawal never reads as a drawdown or a loss. ``fees`` reports it.
    fee = _amount(body, "fee")
    balance = _amount(body, "new_balance", signed=True) if "new_balance" in body else None
    return Settlement(fees=fee, cash_flow=-(_amount(body, "amount") + fee), balance=balance)


def _faucet_claim(body: Mapping[str, Any]) -> Settlement:
    return Settlement(cash_flow=_amount(body, "credited"))


def _escrow_create(body: Mapping[str, Any]) -> Settlement:
    # The whole amount leaves the creator's casino balance at create (the commission is
    # taken out of what the counterparty receives); release and dispute move nothing more.
    return Settlement(cash_flow=-_amount(body, "amount_usd"))


def _domain_purchase(body: Mapping[str, Any]) -> Settlement:
    return Settlement(
        cash_flow=-_amount(body, "cost_usdc"),
        balance=_amount(body, "balance_remaining", signed=True),
        account="domains",
    )


def _domains_balance(body: Mapping[str, Any]) -> Settlement:
    return Settlement(balance=_amount(body, "balance_usdc", signed=True), account="domains")


# Settlement rules by the name the profile gives them.
RULES: Mapping[str, Callable[[Mapping[str, Any]], Settlement]] = {
    "bet": _bet,
    "batch": _batch,
    "balance": _balance,
    "trade_open": _trade_open,
    "trade_close": _trade_close,
    "withdraw": _withdraw,
    "faucet_claim": _faucet_claim,
    "escrow_create": _escrow_create,
    "domain_purchase": _domain_purchase,
    "domains_balance": _domains_balance,
}


def settle(op: Operation, status: int, body: object) -> Settlement | None:
    """What a reply says about money; None when there is nothing to settle.

    Raises :class:`Unsettleable` when ``op`` should settle but ``body`` is odd.
    """
    name = settlement_rule(op)
    if name is None or not 200 <= status < 300:
        return None
    return RULES[name](_object(body))
