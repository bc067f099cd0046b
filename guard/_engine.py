"""The engine: decides whether a call may go, and learns from what came back.

Pure and synchronous: no I/O, the clock is passed in (``now``). The transports call
:meth:`Engine.admit` before sending, :meth:`Engine.on_response` when the headers (or a
transport error) arrive, and :meth:`Engine.on_settlement` when the body has been read. What
changed is drained with :meth:`Engine.drain`: transitions to persist, events to log.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from ._breakers import LOSS_BREAKERS, Breaker, State, Transition
from ._ledger import Ledger
from ._model import Kind, Operation, Settlement
from ._profile import counts_as_error
from ._settings import GuardSettings
from ._window import CountWindow, LatencyWindow

Level = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
NO_KEY = "no-key"


@functools.lru_cache(maxsize=64)  # an agent holds a handful of keys: hash each once
def fingerprint(api_key: str) -> str:
    """A short, stable name for a key that reveals nothing of it."""
    return "key:" + hashlib.sha256(api_key.encode()).hexdigest()[:12]


def realm(service: str) -> str:
    """Escrow (and the faucet) work on casino agents and keys."""
    return "casino" if service in ("casino", "escrow", "faucet") else service


@dataclass(frozen=True)
class Event:
    """Something worth one log line (and maybe an alert)."""

    kind: str  # "transition", "warning", "denial", "key_expired"
    level: Level
    message: str
    breaker: str | None = None
    scope: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Denial:
    """A call the engine refused (or, in shadow mode, would have refused)."""

    breaker: str
    scope: str
    reason: str
    retry_after: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "breaker": self.breaker,
            "scope": self.scope,
            "reason": self.reason,
            "retry_after": self.retry_after,
        }


@dataclass
class Ticket:
    """An admitted call, carried from admit to its outcome."""

    op: Operation
    key: str | None  # the key's fingerprint, never the key
    started: float
    probes: list[tuple[str, str]] = field(default_factory=list)
    responded: bool = False


@dataclass
class ServiceStats:
    calls: int
    errors: int
    window: CountWindow  # the breakers' window: starts afresh when a breaker closes
    latency: LatencyWindow
    minute: CountWindow = field(default_factory=lambda: CountWindow(60))  # calls per minute
    last_call_at: float | None = None


class Engine:
    """Breakers, windows and the ledger of one agent."""

    def __init__(self, settings: GuardSettings) -> None:
        self.settings = settings
        self.ledger = Ledger(settings.balance_window_s)
        self.breakers: dict[tuple[str, str], Breaker] = {}
        self.retired_keys: set[str] = set()
        self.services: dict[str, ServiceStats] = {}
        self.calls = 0
        self.denied = 0
        self.would_deny = 0
        self.dead_letters = 0
        self._warned: set[tuple[str, str]] = set()
        self._transitions: list[Transition] = []
        self._events: list[Event] = []

    # --- admission ---------------------------------------------------------------------

    def admit(self, op: Operation, key: str | None, now: float) -> Ticket | Denial:
        """A ticket to send the call, or the denial that stops it before the network."""
        ticket = Ticket(op, key, now)
        self._unlock_cooled_loss_breakers(now)
        denial = self._deny(ticket, now)
        if denial is not None:
            self.release(ticket)  # a denied call probes nothing
        if denial is not None and self.settings.mode == "shadow":
            self._event(
                "denial",
                "WARNING",
                f"would deny {op.service} {op.name}: {denial.reason}",
                denial.breaker,
                denial.scope,
                {"shadow": True},
            )
            self.would_deny += 1
            denial = None
        if denial is not None:
            self.denied += 1
            self._event(
                "denial",
                "WARNING",
                f"denied {op.service} {op.name}: {denial.reason}",
                denial.breaker,
                denial.scope,
                {"retry_after": denial.retry_after},
            )
            return denial
        self.calls += 1
        return ticket

    def _deny(self, ticket: Ticket, now: float) -> Denial | None:
        op, key = ticket.op, ticket.key
        if key is not None and key in self.retired_keys:
            return Denial("auth", key, "this key was rejected (401) and has been replaced", None)
        auth = self.breakers.get(("auth", key or NO_KEY))
        if auth is not None and auth.state is not State.CLOSED:
            return Denial("auth", auth.scope, auth.reason, None)
        for name in ("error_rate", "latency"):
            breaker = self.breakers.get((name, op.service))
            if breaker is None or breaker.state is State.CLOSED:
                continue
            if breaker.cooled(now) or (breaker.state is State.HALF_OPEN and not breaker.probing):
                if breaker.state is State.OPEN:
                    self._move(
                        breaker, State.HALF_OPEN, "cooldown elapsed: one probe admitted", now
                    )
                breaker.probing = True
                ticket.probes.append((name, op.service))
                continue
            return Denial(name, breaker.scope, breaker.reason, breaker.retry_after(now))
        if op.kind is Kind.RISK_INCREASING:
            for name in LOSS_BREAKERS:
                breaker = self.breakers.get((name, "agent"))
                if breaker is not None and breaker.state is not State.CLOSED:
                    return Denial(name, "agent", breaker.reason, breaker.retry_after(now))
        return None

    def release(self, ticket: Ticket) -> None:
        """A call ended without an outcome (cancelled): give its probe slots back."""
        for name, scope in ticket.probes:
            breaker = self.breakers.get((name, scope))
            if breaker is not None:
                breaker.probing = False
        ticket.probes.clear()

    # --- outcomes ----------------------------------------------------------------------

    def on_response(
        self, ticket: Ticket, status: int | None, *, auth_failed: bool, now: float
    ) -> None:
        """Headers arrived (``status``) or the transport failed (``status`` None)."""
        if ticket.responded:
            return
        ticket.responded = True
        op, latency_ms = ticket.op, (now - ticket.started) * 1000
        error = counts_as_error(status)
        stats = self._stats(op.service)
        stats.calls += 1
        stats.errors += error
        stats.last_call_at = now
        stats.window.add(now, errors=int(error))
        stats.minute.add(now)
        if status is not None:
            stats.latency.add(now, latency_ms)
        self._settle_probes(ticket, error, latency_ms, now)
        if auth_failed:
            self._trip_auth(ticket, status, now)
        elif status is not None and 200 <= status < 300 and ticket.key is not None:
            self._recover_auth(ticket, now)
        self._check_service(op.service, now)

    def on_auth_failure(self, ticket: Ticket, status: int, now: float) -> None:
        """The body of a 403 said the key is invalid: latch ``auth`` as for a 401."""
        self._trip_auth(ticket, status, now)

    def on_settlement(self, settlement: Settlement | None, now: float) -> None:
        """The body said what moved (None: it could not be settled)."""
        if settlement is None:
            self.ledger.skip()
            return
        self.ledger.apply(settlement, now)
        self._check_losses(now)

    def _settle_probes(self, ticket: Ticket, error: bool, latency_ms: float, now: float) -> None:
        for name, scope in ticket.probes:
            breaker = self.breakers.get((name, scope))
            if breaker is None or breaker.state is not State.HALF_OPEN:
                continue
            breaker.probing = False
            slow = name == "latency" and latency_ms > self.settings.latency_p95_ms
            if error or slow:
                breaker.failures += 1
                self._move(breaker, State.OPEN, "probe failed: cooldown doubled", now)
            else:
                breaker.failures = 0
                self._move(breaker, State.CLOSED, "probe succeeded", now)
                self._forget_cause(name, scope, now)  # judge the service on fresh calls only
        ticket.probes.clear()

    def _trip_auth(self, ticket: Ticket, status: int | None, now: float) -> None:
        scope = ticket.key or NO_KEY
        breaker = self._breaker("auth", scope, None)
        if breaker.state is State.OPEN or scope in self.retired_keys:
            return  # already latched, or a late answer for a key already replaced
        reason = f"{ticket.op.service} answered {status}: the API key was rejected"
        breaker.realm = realm(ticket.op.service)
        self._move(breaker, State.OPEN, reason, now)
        self._event(
            "key_expired",
            "CRITICAL",
            f"API key {scope} rejected by {ticket.op.service} ({status}); every later "
            "call with it is refused locally until the key changes",
            "auth",
            scope,
            {"status": status},
        )

    def _recover_auth(self, ticket: Ticket, now: float) -> None:
        """A call with another key of the same realm worked: the old key was replaced."""
        here = realm(ticket.op.service)
        for (name, scope), breaker in self.breakers.items():
            if name != "auth" or breaker.state is State.CLOSED or scope == ticket.key:
                continue
            if breaker.realm in (None, here):
                self.retired_keys.add(scope)
                self._move(breaker, State.CLOSED, f"a new key works ({ticket.key})", now)

    def _check_service(self, service: str, now: float) -> None:
        s = self.settings
        stats = self.services[service]
        calls, errors = stats.window.totals(now)
        rate = Decimal(errors * 100) / calls if calls else Decimal(0)
        enough = calls >= s.error_min_calls
        self._rule(
            "error_rate",
            service,
            enough and s.error_rate_pct > 0 and rate >= Decimal(str(s.error_rate_pct)),
            enough
            and 0 < s.error_rate_warn_pct <= float(rate)
            and s.error_rate_warn_pct < s.error_rate_pct,
            f"error rate {rate:.1f}% over the last {s.error_window_s:g}s ({errors}/{calls} calls)",
            s.cooldown_s,
            now,
        )
        judged = s.latency_p95_ms > 0 and stats.latency.count(now) >= s.error_min_calls
        p95 = stats.latency.percentile(now, 95) if judged else None  # off: no scan per call
        slow = p95 is not None and s.latency_p95_ms > 0 and p95 > s.latency_p95_ms
        warn = (
            p95 is not None
            and 0 < s.latency_p95_warn_ms <= p95
            and s.latency_p95_warn_ms < s.latency_p95_ms
        )
        self._rule(
            "latency",
            service,
            slow,
            warn,
            f"p95 latency {p95:.0f} ms over the last {s.error_window_s:g}s" if p95 else "",
            s.cooldown_s,
            now,
        )

    def _check_losses(self, now: float) -> None:
        s = self.settings
        streak = self.ledger.loss_streak
        cooldown = s.loss_cooldown_s or None
        limit, warn = s.consecutive_loss_limit, s.consecutive_loss_warn
        self._rule(
            "consecutive_loss",
            "agent",
            0 < limit <= streak,
            0 < warn <= streak and warn < limit,
            f"{streak} losing settlements in a row",
            cooldown,
            now,
        )
        drop = self.ledger.drawdown_pct(now)
        pct, warn_pct = Decimal(str(s.balance_drop_pct)), Decimal(str(s.balance_drop_warn_pct))
        self._rule(
            "balance_drop",
            "agent",
            0 < pct <= drop,
            0 < warn_pct <= drop and warn_pct < pct,
            f"equity {drop:.2f}% below its high-water mark",
            cooldown,
            now,
        )

    def _rule(
        self,
        name: str,
        scope: str,
        trip: bool,
        warn: bool,
        why: str,
        cooldown: float | None,
        now: float,
    ) -> None:
        """Trip a closed breaker, or warn once per crossing of the warn level."""
        breaker = self._breaker(name, scope, cooldown)
        if trip and breaker.state is State.CLOSED:
            self._move(breaker, State.OPEN, why, now)
        if warn and (name, scope) not in self._warned:
            self._warned.add((name, scope))
            self._event("warning", "WARNING", f"{name} warning ({scope}): {why}", name, scope)
        elif not warn and not trip:
            self._warned.discard((name, scope))

    def _unlock_cooled_loss_breakers(self, now: float) -> None:
        for name in LOSS_BREAKERS:
            breaker = self.breakers.get((name, "agent"))
            if breaker is not None and not breaker.latched and breaker.cooled(now):
                self._move(breaker, State.CLOSED, "loss cooldown elapsed", now)
                self._forget_cause(name, "agent", now)

    def _forget_cause(self, name: str, scope: str, now: float) -> None:
        """A closed breaker starts from a clean slate, or the next harmless call re-trips it."""
        if name == "consecutive_loss":
            self.ledger.forget_streak()
        elif name == "balance_drop":
            self.ledger.rebase(now)
        elif name in ("error_rate", "latency") and scope in self.services:
            stats = self.services[scope]
            stats.window = CountWindow(self.settings.error_window_s)
            stats.latency = LatencyWindow(self.settings.error_window_s)

    # --- operator -------------------------------------------------------------------------

    def reset(self, breaker: str | None, *, reason: str, now: float) -> list[Transition]:
        """Close ``breaker`` (every scope of it), or all breakers; audited as an operator act."""
        done = []
        for (name, _), b in self.breakers.items():
            if breaker is not None and name != breaker:
                continue
            if name == "auth":
                self.retired_keys.discard(b.scope)
            if b.state is not State.CLOSED:
                b.failures, b.probing = 0, False
                done.append(
                    self._move(b, State.CLOSED, f"operator reset: {reason}", now, "operator")
                )
                self._forget_cause(name, b.scope, now)
        if breaker in (None, "auth"):
            self.retired_keys.clear()
        return done

    def sync_operator_resets(
        self, rows: Iterable[dict[str, Any]], retired: Iterable[str], now: float
    ) -> None:
        """Close what ``guard reset`` closed in the database (already audited there)."""
        closed = {(r["name"], r["scope"]) for r in rows if r["state"] == State.CLOSED.value}
        for key, breaker in self.breakers.items():
            if key in closed and breaker.state is not State.CLOSED:
                before = breaker.state.value
                breaker.state, breaker.reason, breaker.opened_at = State.CLOSED, "", None
                breaker.failures, breaker.probing = 0, False
                self._forget_cause(key[0], key[1], now)
                self._event(
                    "transition",
                    "INFO",
                    f"{key[0]} ({key[1]}) closed by an operator reset",
                    key[0],
                    key[1],
                    {"from": before, "to": "closed", "actor": "operator"},
                )
        self.retired_keys &= set(retired)

    # --- state in and out ----------------------------------------------------------------

    def restore(
        self,
        rows: Iterable[dict[str, Any]],
        retired: Iterable[str],
        ledger: dict[str, Any] | None,
        now: float,
    ) -> None:
        """Load what a previous process persisted (breakers, retired keys, the ledger)."""
        if ledger:
            self.ledger = Ledger.from_state(ledger, self.settings.balance_window_s, now)
        for row in rows:
            breaker = Breaker.from_row(row)
            self.breakers[(breaker.name, breaker.scope)] = breaker
        self.retired_keys.update(retired)

    def drop_shadow_trips(self, now: float) -> None:
        """In enforce mode, let no restored shadow-trial trip block: such a breaker starts
        closed, what tripped it forgotten (the audit table keeps the trip)."""
        if self.settings.mode != "enforce":
            return
        for breaker in self.breakers.values():
            if breaker.mode != "shadow" or breaker.state is State.CLOSED:
                continue
            breaker.state, breaker.reason, breaker.opened_at = State.CLOSED, "", None
            breaker.failures, breaker.mode = 0, "enforce"
            self._forget_cause(breaker.name, breaker.scope, now)
            self._event(
                "transition",
                "INFO",
                f"{breaker.name} ({breaker.scope}) tripped in shadow mode: not enforced",
                breaker.name,
                breaker.scope,
                {"from": "open", "to": "closed", "actor": "mode"},
            )

    def drain(self) -> tuple[list[Transition], list[Event]]:
        """What changed since the last drain: transitions to persist, events to log."""
        transitions, events = self._transitions, self._events
        self._transitions, self._events = [], []
        return transitions, events

    def snapshot(self, now: float) -> dict[str, Any]:
        """JSON-ready state in the shape of design.md."""
        breakers: dict[str, Any] = {}
        for name in ("consecutive_loss", "balance_drop", "error_rate", "latency", "auth"):
            scopes = {s: b for (n, s), b in self.breakers.items() if n == name}
            worst = max(scopes.values(), key=_severity, default=None)
            per_agent = name in LOSS_BREAKERS
            entry = (worst or Breaker(name, "agent")).to_dict(now)
            if not per_agent:
                if worst is None:
                    entry["scope"] = None  # per service or per key: none has been seen yet
                entry["scopes"] = {s: b.to_dict(now) for s, b in sorted(scopes.items())}
            if name == "auth":  # replaced keys stay refused even while the breaker is closed
                entry["retired_keys"] = sorted(self.retired_keys)
            breakers[name] = entry
        return {
            "agent_id": self.settings.agent_id,
            "mode": self.settings.mode,
            "breakers": breakers,
            "ledger": self.ledger.snapshot(now),
            "services": {
                name: self._service_dict(st, now) for name, st in sorted(self.services.items())
            },
            "health": self._health(now),
            "counts": {
                "calls": self.calls,
                "denied": self.denied,
                "would_deny": self.would_deny,
                "calls_per_min": sum(st.minute.totals(now)[0] for st in self.services.values()),
                "dead_letters": self.dead_letters,
                "unsettled": self.ledger.unsettled,
            },
        }

    # --- helpers ----------------------------------------------------------------------------

    def _health(self, now: float) -> dict[str, Any]:
        """``ok``, or ``degraded`` with why: a breaker not closed, or no call for too long."""
        reasons = [
            f"{b.name} {b.state.value} for {b.scope}"
            for b in self.breakers.values()
            if b.state is not State.CLOSED
        ]
        last = max((st.last_call_at or 0.0 for st in self.services.values()), default=None)
        quiet = self.settings.silence_warn_s
        if last and quiet > 0 and now - last >= quiet:
            reasons.append(f"no call for {now - last:.0f}s (GUARD_SILENCE_WARN_S={quiet:g})")
        return {"status": "degraded" if reasons else "ok", "reasons": reasons}

    def _service_dict(self, st: ServiceStats, now: float) -> dict[str, Any]:
        calls, errors = st.window.totals(now)
        rate = Decimal(errors * 100) / calls if calls else Decimal(0)

        def pct(q: float) -> int | None:
            value = st.latency.percentile(now, q)
            return None if value is None else round(value)

        return {
            "calls": st.calls,
            "errors": st.errors,
            "error_rate_pct": f"{rate:.1f}",
            "p50_ms": pct(50),
            "p95_ms": pct(95),
            "p99_ms": pct(99),
            "last_call_age_s": None if st.last_call_at is None else round(now - st.last_call_at, 3),
            "calls_per_min": st.minute.totals(now)[0],
        }

    def _stats(self, service: str) -> ServiceStats:
        stats = self.services.get(service)
        if stats is None:
            span = self.settings.error_window_s
            stats = self.services[service] = ServiceStats(
                0, 0, CountWindow(span), LatencyWindow(span)
            )
        return stats

    def _breaker(self, name: str, scope: str, cooldown: float | None) -> Breaker:
        breaker = self.breakers.get((name, scope))
        if breaker is None:
            breaker = self.breakers[(name, scope)] = Breaker(name, scope, cooldown_s=cooldown)
        return breaker

    def _move(
        self, breaker: Breaker, to: State, reason: str, now: float, actor: str = "guard"
    ) -> Transition:
        before = breaker.state
        breaker.state = to
        if to is State.OPEN:
            breaker.opened_at = now
            if before is State.CLOSED:  # a failed probe keeps the reason it first opened for
                breaker.reason, breaker.mode = reason, self.settings.mode
        elif to is State.CLOSED:
            breaker.opened_at, breaker.reason = None, ""
        transition = Transition(breaker.name, breaker.scope, before, to, reason, now, actor)
        self._transitions.append(transition)
        level: Level = (
            "ERROR" if to is State.OPEN else "WARNING" if to is State.HALF_OPEN else "INFO"
        )
        self._event(
            "transition",
            level,
            f"{breaker.name} ({breaker.scope}) {before} -> {to}: {reason}",
            breaker.name,
            breaker.scope,
            {"from": before.value, "to": to.value, "actor": actor},
        )
        return transition

    def _event(
        self,
        kind: str,
        level: Level,
        message: str,
        breaker: str | None = None,
        scope: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        self._events.append(Event(kind, level, message, breaker, scope, data or {}))


def _severity(breaker: Breaker) -> int:
    return {State.CLOSED: 0, State.HALF_OPEN: 1, State.OPEN: 2}[breaker.state]
