"""The wallet service, so far only its registration and health.

Faithful to the public wallet server: its own agents and ``pk_live_`` keys (the wallet is
non-custodial: no USD balance lives here), referral codes among wallet agents only, and the
casino-style 401 bodies pointing at the wallet's own register route.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._core import Call, Reply, Service, SimError, SimState
from ._core import health as health_body

KEY_PREFIX = "pk_live_"
SUGGESTION = "Register at POST /v1/auth/register to get an API key"
NEXT_STEPS = [
    "POST /v1/wallet/create — generate an HD wallet",
    "GET /v1/wallet/balance/:address?chain=base — check on-chain balance",
    "POST /v1/wallet/send — sign and broadcast a transaction",
    "POST /v1/wallet/swap — cross-chain swap via Wagyu",
    "GET /v1/wallet/chains — see supported chains",
]


@dataclass
class WalletAgent:
    id: str
    referral_code: str
    referred_by: str | None
    created_at: int


class WalletBook:
    """Wallet agents by id (a book: one per simulator state)."""

    def __init__(self, state: SimState) -> None:
        self.state = state
        self.agents: dict[str, WalletAgent] = {}

    def by_referral(self, code: object) -> WalletAgent | None:
        if not code or not isinstance(code, str):
            return None
        return next((a for a in self.agents.values() if a.referral_code == code), None)


def _unauthorized(missing_header: bool) -> SimError:
    message = (
        "Missing or invalid Authorization header. Use: Bearer {api_key}"
        if missing_header
        else "Invalid API key"
    )
    return SimError(401, "unauthorized", message, suggestion=SUGGESTION)


service = Service(
    "wallet",
    realm="wallet",
    unauthorized=_unauthorized,
    info={
        "service": "public-wallet",
        "docs": "https://wallet.purpleflea.com/llms.txt",
        "referral": "GET /v1/gossip for passive income info",
        "version": "1.0.0",
    },
)


@service.route("GET", "/health")
def health(call: Call) -> dict[str, Any]:
    return health_body(call, "public-wallet", "1.0.0", len(call.state.book(WalletBook).agents))


@service.route("POST", "/v1/auth/register", ip_limit=10)
def register(call: Call) -> Reply:
    book, state = call.state.book(WalletBook), call.state
    agent_id = "ag_" + state.hex(6)
    api_key = state.keys.issue("wallet", agent_id, KEY_PREFIX)
    referral_code = "ref_" + state.hex(4)
    referrer = book.by_referral(call.body.get("referral_code"))
    book.agents[agent_id] = WalletAgent(
        agent_id, referral_code, referrer.id if referrer else None, int(call.now())
    )
    return Reply(
        {
            "agent_id": agent_id,
            "api_key": api_key,
            "referral_code": referral_code,
            "message": "Store your API key securely — it cannot be recovered.",
            "next_steps": NEXT_STEPS,
        },
        201,
    )
