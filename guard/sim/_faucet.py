"""The faucet service: a one-time free $1 on the casino balance of a brand-new agent.

Faithful to the public faucet server: no auth header (the body names the casino agent), one
claim per agent, none for an agent that has deposited, and one claim per IP per 24 hours. The
IP cooldown is a rate limit, so it is only enforced while the simulator's ``rate_limits`` is on.
The real server has no ``/health``: that path falls through to its bare 404.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ._bank import Bank
from ._core import Call, Service, SimError, SimState, round2

FAUCET_AMOUNT = 1.0
IP_COOLDOWN_S = 24 * 3600
SERVICE = "faucet"  # the ``service`` column of the casino ledger row a claim writes


@dataclass
class Claim:
    id: str
    agent_id: str
    ip: str
    referral_code: str | None
    referrer_id: str | None
    amount_usd: float
    credited_at: int


class FaucetBook:
    """Claims and per-IP cooldowns (a book: one per simulator state)."""

    def __init__(self, state: SimState) -> None:
        self.state = state
        self.claims: list[Claim] = []
        self.ip_last_claim: dict[str, int] = {}

    def claim(self, agent_casino_id: object, referral_code: object, ip: str) -> dict[str, Any]:
        """Credit the free dollar or raise the real error; usable by an auto-claim too."""
        agent_id = agent_casino_id.strip() if isinstance(agent_casino_id, str) else ""
        if not agent_id.startswith("ag_"):
            raise SimError(400, "invalid_request", "agent_casino_id is required (ag_xxx format)")
        self._check_ip(ip)
        bank = self.state.book(Bank)
        account = bank.get(agent_id)
        if account is None:
            raise SimError(
                404,
                "agent_not_found",
                "Agent not found in casino. "
                "Register at https://casino.purpleflea.com/api/v1/auth/register",
            )
        if account.faucet_claimed:
            raise SimError(
                409, "already_claimed", "This agent has already claimed the faucet bonus."
            )
        if account.has_deposits:
            raise SimError(
                403,
                "has_deposits",
                "Faucet is for new agents with no deposits. Deposit real funds to keep playing.",
            )
        # An explicit referral code wins (even an unknown one); else the referrer saved at
        # registration. The faucet only tracks the referral, it pays nothing for it.
        code = referral_code
        referrer_id: str | None = None
        if code:
            referrer = bank.by_referral(code) if isinstance(code, str) else None
            if referrer is not None and referrer.agent_id != agent_id:
                referrer_id = referrer.agent_id
        elif account.referred_by:
            referrer_id = account.referred_by

        claim_id = self.state.uuid4()
        bank.credit(agent_id, FAUCET_AMOUNT, "faucet_claim: $1 free credits", SERVICE)
        account.faucet_claimed = True
        now = int(self.state.now())
        stored_code = code if isinstance(code, str) else None
        self.claims.append(
            Claim(claim_id, agent_id, ip, stored_code, referrer_id, FAUCET_AMOUNT, now)
        )
        self.ip_last_claim[ip] = now
        return {
            "credited": FAUCET_AMOUNT,
            "message": "Free $1 credited. Use it to try the casino!",
            "casino_url": "https://casino.purpleflea.com",
            "claim_id": claim_id,
            "agent_id": agent_id,
            "referral_tracked": referrer_id is not None,
        }

    def _check_ip(self, ip: str) -> None:
        last = self.ip_last_claim.get(ip)
        if last is None or not self.state.config.rate_limits:
            return
        elapsed_ms = self.state.now() * 1000 - last * 1000
        if elapsed_ms < IP_COOLDOWN_S * 1000:
            hours = math.ceil((IP_COOLDOWN_S * 1000 - elapsed_ms) / 3_600_000)
            raise SimError(
                429,
                "ip_rate_limited",
                f"Already claimed from this IP today. Try again in ~{hours}h.",
            )


service = Service(
    "faucet",
    realm=None,
    info={
        "service": "agent-faucet",
        "docs": "https://faucet.purpleflea.com/llms.txt",
        "referral": "GET /gossip for referral info",
        "version": "1.0.0",
    },
    rich_404=False,
)


@service.route("POST", "/faucet/claim", ip_limit=5)
def claim(call: Call) -> dict[str, Any]:
    body = call.body
    return call.state.book(FaucetBook).claim(
        body.get("agent_casino_id"), body.get("referral_code"), call.ip
    )


@service.route("GET", "/faucet/stats")
def stats(call: Call) -> dict[str, Any]:
    claims = call.state.book(FaucetBook).claims
    agents = len({c.agent_id for c in claims})
    total = sum(c.amount_usd for c in claims)
    return {
        "total_claims": len(claims),
        "total_agents": agents,
        "total_value_usd": round2(total),
        "avg_per_agent": round2(total / agents) if agents else 0,
    }
