"""The custodial USD balances of casino agents, shared by casino, escrow and faucet.

In production escrow and faucet read the casino's database directly: one agent, one key, one
balance. Every movement writes a ledger row shaped like the casino's ``recent_activity``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._core import SimError, SimState, iso

KEY_PREFIX = "sk_live_"


@dataclass
class Account:
    agent_id: str
    referral_code: str
    created_at: float
    referred_by: str | None = None
    balance: float = 0.0
    tier: str = "free"
    risk_factor: float = 0.25
    total_deposited: float = 0.0
    total_withdrawn: float = 0.0
    total_wagered: float = 0.0
    total_won: float = 0.0
    faucet_claimed: bool = False
    ledger: list[dict[str, Any]] = field(default_factory=list)

    @property
    def has_deposits(self) -> bool:
        return self.total_deposited > 0


class Bank:
    """Casino accounts by agent id (a book: one per simulator state)."""

    def __init__(self, state: SimState) -> None:
        self.state = state
        self.accounts: dict[str, Account] = {}

    def open(self, referred_by: str | None = None) -> tuple[Account, str]:
        """Register a casino agent; returns the account and its new API key."""
        agent_id = "ag_" + self.state.hex(6)
        account = Account(
            agent_id=agent_id,
            referral_code="ref_" + self.state.hex(4),
            created_at=self.state.now(),
            referred_by=referred_by,
        )
        self.accounts[agent_id] = account
        return account, self.state.keys.issue("casino", agent_id, KEY_PREFIX)

    def get(self, agent_id: str) -> Account | None:
        return self.accounts.get(agent_id)

    def require(self, agent_id: str) -> Account:
        account = self.accounts.get(agent_id)
        if account is None:  # a key whose agent vanished: only after /_sim/reset races
            raise SimError(401, "unauthorized", "Invalid API key")
        return account

    def by_referral(self, code: str | None) -> Account | None:
        if not code:
            return None
        return next((a for a in self.accounts.values() if a.referral_code == code), None)

    def credit(
        self,
        agent_id: str,
        amount: float,
        reason: str,
        service: str = "casino",
        reference: str | None = None,
    ) -> float:
        """Add ``amount`` (unrounded, like the real ledger) and write a ``credit`` row."""
        account = self.require(agent_id)
        account.balance += amount
        self._row(account, "credit", amount, reason, service, reference)
        return account.balance

    def debit(
        self,
        agent_id: str,
        amount: float,
        reason: str,
        service: str = "casino",
        reference: str | None = None,
    ) -> float:
        """Take ``amount``; the caller has checked the balance covers it."""
        account = self.require(agent_id)
        account.balance -= amount
        self._row(account, "debit", amount, reason, service, reference)
        return account.balance

    def _row(
        self,
        account: Account,
        kind: str,
        amount: float,
        reason: str,
        service: str,
        reference: str | None,
    ) -> None:
        row: dict[str, Any] = {
            "type": kind,
            "amount": amount,
            "balance_after": account.balance,
            "reason": reason,
            "service": service,
            "at": iso(self.state.now()),
        }
        if reference is not None:
            row["reference"] = reference
        account.ledger.append(row)
