"""Circuit breakers: one state machine, closed → open → half-open → closed.

A :class:`Breaker` is plain state (what pybreaker got right: state apart from policy); the rules
that trip it live in the engine. Self-healing breakers (``error_rate``, ``latency``) admit one
probe after their cooldown and double the cooldown each time the probe fails; latched ones
(``auth``, and the loss breakers unless ``GUARD_LOSS_COOLDOWN_S`` > 0) stay open until an
operator reset.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

BREAKERS = ("consecutive_loss", "balance_drop", "error_rate", "latency", "auth")
LOSS_BREAKERS = ("consecutive_loss", "balance_drop")
MAX_COOLDOWN_S = 3600.0
PROBE_RETRY_S = 1.0  # what a caller is told while another call is the half-open probe


class State(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass
class Breaker:
    """One breaker for one scope (the agent, a service, or a key fingerprint)."""

    name: str
    scope: str
    state: State = State.CLOSED
    reason: str = ""
    opened_at: float | None = None
    cooldown_s: float | None = None  # None: latched until an operator reset
    failures: int = 0  # failed probes since it first opened: the cooldown doubles each time
    realm: str | None = None  # auth: the service family whose key this is (casino, trading...)
    mode: str = "enforce"  # the GUARD_MODE it tripped under: a shadow trial's trips never block
    probing: bool = False  # a half-open probe is in flight

    @property
    def latched(self) -> bool:
        return self.cooldown_s is None

    def current_cooldown(self) -> float | None:
        if self.cooldown_s is None:
            return None
        doubled = self.cooldown_s * 2.0 ** min(self.failures, 1023)  # inf, never OverflowError
        return min(doubled, max(self.cooldown_s, MAX_COOLDOWN_S))

    def retry_after(self, now: float) -> float | None:
        """Seconds until a call may be tried again; None while latched."""
        if self.state is State.CLOSED:
            return 0.0
        if self.state is State.HALF_OPEN:
            return PROBE_RETRY_S
        cooldown = self.current_cooldown()
        if cooldown is None or self.opened_at is None:
            return None
        return max(0.0, self.opened_at + cooldown - now)

    def cooled(self, now: float) -> bool:
        """An open breaker whose cooldown has passed."""
        return self.state is State.OPEN and self.retry_after(now) == 0.0

    def to_dict(self, now: float) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "scope": self.scope,
            "reason": self.reason,
            "opened_at": self.opened_at,
            "retry_after": self.retry_after(now) if self.state is not State.CLOSED else None,
        }

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["state"] = self.state.value
        del row["probing"]
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Breaker:
        # A half-open breaker's probe died with the process that sent it: the slot is free
        # (``probing`` is never stored), so the next call probes at once.
        fields = {k: row[k] for k in ("name", "scope", "reason", "opened_at", "cooldown_s")}
        extra = {k: row[k] for k in ("realm", "mode") if row.get(k) is not None}
        return cls(**fields, **extra, state=State(row["state"]), failures=int(row["failures"]))


@dataclass(frozen=True)
class Transition:
    """A breaker changed state; persisted, logged and alerted once."""

    breaker: str
    scope: str
    before: State
    after: State
    reason: str
    at: float
    actor: str = "guard"  # or "operator" for a reset
