"""The escrow service: agent-to-agent escrow paid from the shared casino balance.

Faithful to the public escrow server: the Bearer key is the *casino* key, the amount leaves the
creator's casino balance at creation, the counterparty gets it net of a 1 % commission on
release, and 15 % of that commission goes to the creator's referrer. The real server refunds
timed-out escrows (amount minus commission) every five minutes; here the sweep runs lazily at
the start of every escrow request, so moving the simulator clock shows it at once.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ._bank import Bank
from ._core import Call, Reply, Service, SimError, SimState, is_number, iso

COMMISSION_RATE = 0.01
REFERRAL_COMMISSION_RATE = 0.15
MIN_AMOUNT = 0.10
DEFAULT_TIMEOUT_HOURS = 24
MAX_TIMEOUT_HOURS = 720
SERVICE = "escrow"  # the ``service`` column of the casino ledger rows escrow writes

CREATE_UNAUTHORIZED = "Bearer {casino_api_key} required. Register at casino.purpleflea.com."
_FLOAT_PREFIX = re.compile(r"[+-]?(?:Infinity|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)")


def js_fixed(x: float, digits: int) -> str:
    """``Number.prototype.toFixed``: the exact binary value rounded half away from zero."""
    if not math.isfinite(x):
        return str(x).replace("inf", "Infinity")
    exact = Decimal(x + 0.0)  # + 0.0 turns -0.0 into 0.0, which JavaScript prints as "0"
    return str(exact.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


def js_str(x: float) -> str:
    """A number as JavaScript interpolates it into a string (``10``, ``0.1``, ``10.5``)."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e21 else repr(float(x))


def fixed(x: float, digits: int) -> float:
    """``parseFloat(x.toFixed(digits))``, the rounding the escrow server applies to money."""
    return float(js_fixed(x, digits))


def parse_float(value: object) -> float:
    """JavaScript's ``parseFloat(String(value))`` for the JSON values a client can send."""
    if is_number(value):
        return float(value)
    if not isinstance(value, str):
        return math.nan
    m = _FLOAT_PREFIX.match(value.lstrip())
    return float(m.group().replace("Infinity", "inf")) if m else math.nan


def timeout_hours(value: object) -> int:
    """``min(max(1, floor(timeout_hours ?? 24)), 720)``; a non-numeric value means 24."""
    if value is None:
        return DEFAULT_TIMEOUT_HOURS
    hours = parse_float(value) if isinstance(value, str) else value
    if isinstance(hours, bool):
        hours = float(hours)  # Math.floor(true) is 1
    if not isinstance(hours, int | float) or math.isnan(hours):
        return DEFAULT_TIMEOUT_HOURS
    return math.floor(min(max(hours, 1.0), MAX_TIMEOUT_HOURS))


@dataclass
class Escrow:
    id: str
    creator_id: str
    counterparty_id: str
    amount_usd: float
    commission_usd: float
    description: str
    timeout_hours: int
    created_at: int
    auto_release_at: int
    referrer_id: str | None
    referral_commission_usd: float
    status: str = "funded"
    completed_at: int | None = None
    released_at: int | None = None
    disputed_at: int | None = None
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def net(self) -> float:
        return fixed(self.amount_usd - self.commission_usd, 6)

    def parties(self) -> tuple[str, str]:
        return self.creator_id, self.counterparty_id


class EscrowBook:
    """Escrows by id and the public counters (a book: one per simulator state)."""

    def __init__(self, state: SimState) -> None:
        self.state = state
        self.escrows: dict[str, Escrow] = {}
        self.total_created = 0
        self.total_released = 0
        self.total_disputed = 0
        self.total_volume_usd = 0.0
        self.total_commission_usd = 0.0

    def event(self, escrow: Escrow, kind: str, actor: str | None, note: str) -> None:
        now = self.state.now()
        suffix = "" if kind == "created" else f"_{int(now * 1000)}"
        escrow.events.append(
            {
                "id": f"{escrow.id}_{kind}{suffix}",
                "escrow_id": escrow.id,
                "event": kind,
                "actor_id": actor,
                "note": note,
                "created_at": int(now),
            }
        )

    def sweep(self) -> None:
        """Refund every funded or completed escrow past its ``auto_release_at``."""
        now = int(self.state.now())
        bank = self.state.book(Bank)
        for escrow in self.escrows.values():
            if escrow.status not in ("funded", "completed") or escrow.auto_release_at > now:
                continue
            # The creator gets the amount minus the commission, which the house keeps.
            refund = escrow.amount_usd - escrow.commission_usd
            bank.credit(escrow.creator_id, refund, f"escrow_timeout_refund: {escrow.id}", SERVICE)
            self.pay_referrer(escrow)
            escrow.status, escrow.released_at = "refunded", now
            self.event(
                escrow, "refunded", None, f"Auto-refunded after {escrow.timeout_hours}h timeout"
            )

    def pay_referrer(self, escrow: Escrow) -> None:
        if escrow.referrer_id and escrow.referral_commission_usd > 0:
            reason = f"escrow_referral_commission: {escrow.id}"
            self.state.book(Bank).credit(
                escrow.referrer_id, escrow.referral_commission_usd, reason, SERVICE
            )

    def find(self, escrow_id: str, *, bare_404: bool = False) -> Escrow:
        escrow = self.escrows.get(escrow_id)
        if escrow is None:
            raise SimError(404, "not_found", None if bare_404 else "Escrow not found")
        return escrow


def _unauthorized(missing_header: bool) -> SimError:
    # /escrow/create answers the same body for a missing and for an unknown key.
    return SimError(401, "unauthorized", CREATE_UNAUTHORIZED)


service = Service(
    "escrow",
    realm="casino",
    unauthorized=_unauthorized,
    info={
        "service": "agent-escrow",
        "docs": "https://escrow.purpleflea.com/llms.txt",
        "referral": "GET /gossip — 15% referral commission on escrow fees",
        "version": "1.0.0",
    },
    rich_404=False,
)


def _book(call: Call) -> EscrowBook:
    return call.state.book(EscrowBook)  # timeouts were swept by the shell (SimState.run_due)


def _actor(call: Call) -> str:
    """The caller of complete, release or dispute; their 401 is a bare ``unauthorized``."""
    if call.agent_id is None:
        raise SimError(401, "unauthorized")
    return call.agent_id


def _stripped(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


@service.route("POST", "/escrow/create", auth="required", ip_limit=20)
def create(call: Call) -> Reply:
    book, bank, body = _book(call), call.state.book(Bank), call.body
    creator_id = call.agent
    amount = parse_float(body.get("amount_usd", "0"))
    description = _stripped(body.get("description"))
    counterparty_id = _stripped(body.get("counterparty_agent_id"))
    hours = timeout_hours(body.get("timeout_hours"))

    if not math.isfinite(amount) or not amount or amount < MIN_AMOUNT:
        raise SimError(400, "invalid_amount", f"Minimum escrow amount is ${js_str(MIN_AMOUNT)}")
    if len(description) < 3:
        raise SimError(400, "invalid_description", "description is required (min 3 chars)")
    if not counterparty_id.startswith("ag_"):
        raise SimError(
            400, "invalid_counterparty", "counterparty_agent_id must be in ag_xxx format"
        )
    if counterparty_id == creator_id:
        raise SimError(400, "self_escrow", "Cannot create escrow with yourself")
    if bank.get(counterparty_id) is None:
        raise SimError(404, "counterparty_not_found", "Counterparty agent not found in casino")
    creator = bank.require(creator_id)
    if creator.balance < amount:
        raise SimError(
            402,
            "insufficient_balance",
            f"Balance ${js_fixed(creator.balance, 2)} < escrow amount ${js_fixed(amount, 2)}",
            balance=creator.balance,
        )

    commission = fixed(amount * COMMISSION_RATE, 6)
    # An explicit referral_code wins (even an unknown one); else the creator's own referrer.
    code = body.get("referral_code")
    referrer_id: str | None = None
    if code:
        referrer = bank.by_referral(code) if isinstance(code, str) else None
        if referrer is not None and referrer.agent_id != creator_id:
            referrer_id = referrer.agent_id
    elif creator.referred_by:
        referrer_id = creator.referred_by
    referral = fixed(commission * REFERRAL_COMMISSION_RATE, 6) if referrer_id else 0

    escrow_id = "esc_" + call.state.uuid4().replace("-", "")[:16]
    bank.debit(creator_id, amount, f"escrow_lock: {escrow_id}", SERVICE)
    now = int(call.now())
    escrow = Escrow(
        id=escrow_id,
        creator_id=creator_id,
        counterparty_id=counterparty_id,
        amount_usd=amount,
        commission_usd=commission,
        description=description,
        timeout_hours=hours,
        created_at=now,
        auto_release_at=now + hours * 3600,
        referrer_id=referrer_id,
        referral_commission_usd=referral,
    )
    book.escrows[escrow_id] = escrow
    book.event(
        escrow, "created", creator_id, f'Escrow created: ${js_str(amount)} for "{description}"'
    )
    book.total_created += 1
    book.total_volume_usd += amount
    return Reply(
        {
            "escrow_id": escrow_id,
            "amount_usd": amount,
            "commission_usd": commission,
            "net_to_counterparty": escrow.net,
            "description": description,
            "creator_id": creator_id,
            "counterparty_id": counterparty_id,
            "status": "funded",
            "timeout_hours": hours,
            "auto_release_at": iso(escrow.auto_release_at),
            "next_steps": {
                "counterparty": f"POST /escrow/complete/{escrow_id} when task is done",
                "creator": f"POST /escrow/release/{escrow_id} to release funds",
                "dispute": f"POST /escrow/dispute/{escrow_id} if something goes wrong",
            },
        },
        201,
    )


@service.route("POST", "/escrow/complete/:id", auth="optional", ip_limit=30)
def complete(call: Call) -> dict[str, Any]:
    book = _book(call)
    actor = _actor(call)
    escrow = book.find(call.params["id"])
    if escrow.counterparty_id != actor:
        raise SimError(403, "forbidden", "Only the counterparty can mark the task complete")
    if escrow.status != "funded":
        raise SimError(409, "invalid_status", f"Cannot complete escrow in status '{escrow.status}'")
    escrow.status, escrow.completed_at = "completed", int(call.now())
    book.event(escrow, "completed", actor, "Counterparty marked task complete")
    return {
        "escrow_id": escrow.id,
        "status": "completed",
        "message": "Task marked complete. Waiting for creator to release funds.",
        "next_step": f"Creator should call POST /escrow/release/{escrow.id}",
        "auto_release_at": iso(escrow.auto_release_at),
    }


@service.route("POST", "/escrow/release/:id", auth="optional", ip_limit=30)
def release(call: Call) -> dict[str, Any]:
    book = _book(call)
    actor = _actor(call)
    escrow = book.find(call.params["id"])
    if escrow.creator_id != actor:
        raise SimError(403, "forbidden", "Only the escrow creator can release funds")
    if escrow.status not in ("funded", "completed"):
        raise SimError(409, "invalid_status", f"Cannot release escrow in status '{escrow.status}'")
    net = escrow.net
    bank = call.state.book(Bank)
    bank.credit(escrow.counterparty_id, net, f"escrow_release: {escrow.id}", SERVICE)
    book.pay_referrer(escrow)
    escrow.status, escrow.released_at = "released", int(call.now())
    book.event(escrow, "released", actor, f"Released by creator {actor}")
    book.total_released += 1
    book.total_commission_usd += escrow.commission_usd
    return {
        "escrow_id": escrow.id,
        "status": "released",
        "amount_released": net,
        "commission": escrow.commission_usd,
        "referral_commission": escrow.referral_commission_usd,
        "counterparty_id": escrow.counterparty_id,
        "message": f"${js_fixed(net, 2)} released to counterparty.",
    }


@service.route("POST", "/escrow/dispute/:id", auth="optional", ip_limit=10)
def dispute(call: Call) -> dict[str, Any]:
    book = _book(call)
    actor = _actor(call)
    escrow = book.find(call.params["id"], bare_404=True)
    if actor not in escrow.parties():
        raise SimError(403, "forbidden", "Only escrow participants can dispute")
    if escrow.status not in ("funded", "completed"):
        raise SimError(409, "invalid_status", f"Cannot dispute escrow in status '{escrow.status}'")
    reason = _stripped(call.body.get("reason")) or "No reason provided"
    escrow.status, escrow.disputed_at = "disputed", int(call.now())
    book.event(escrow, "disputed", actor, reason)
    book.total_disputed += 1
    return {
        "escrow_id": escrow.id,
        "status": "disputed",
        "reason": reason,
        "message": "Escrow flagged for manual review. Purple Flea team will investigate.",
        "contact": "support@purpleflea.com",
    }


# Registered before /escrow/:id so that "stats" is never read as an escrow id.
@service.route("GET", "/escrow/stats")
def stats(call: Call) -> dict[str, Any]:
    book = _book(call)
    return {
        "total_created": book.total_created,
        "total_released": book.total_released,
        "total_disputed": book.total_disputed,
        "total_volume_usd": fixed(book.total_volume_usd, 2),
        "total_commission_usd": fixed(book.total_commission_usd, 2),
        "commission_rate": "1%",
        "referral_commission_rate": "15% of fees",
    }


@service.route("GET", "/escrow/:id", auth="optional")
def read(call: Call) -> dict[str, Any]:
    escrow = _book(call).find(call.params["id"])
    body: dict[str, Any] = {
        "escrow_id": escrow.id,
        "status": escrow.status,
        "amount_usd": escrow.amount_usd,
        "commission_usd": escrow.commission_usd,
        "net_to_counterparty": escrow.net,
        "description": escrow.description,
        "creator_id": escrow.creator_id,
        "counterparty_id": escrow.counterparty_id,
        "timeout_hours": escrow.timeout_hours,
        "created_at": iso(escrow.created_at),
        "auto_release_at": iso(escrow.auto_release_at),
        "completed_at": iso(escrow.completed_at) if escrow.completed_at else None,
        "released_at": iso(escrow.released_at) if escrow.released_at else None,
        "disputed_at": iso(escrow.disputed_at) if escrow.disputed_at else None,
    }
    if call.agent_id is not None and call.agent_id in escrow.parties():
        body["events"] = sorted(escrow.events, key=lambda e: int(e["created_at"]))
    return body


@service.route("GET", "/health")
def health(call: Call) -> dict[str, Any]:
    _book(call)
    return {"status": "ok", "service": "agent-escrow", "uptime": call.now() - call.state.started_at}
