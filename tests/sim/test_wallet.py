"""The simulated wallet service: registration and health."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from guard.sim import SimApp, _wallet
from tests.conftest import CASINO, WALLET, bearer

INFO = {
    "service": "public-wallet",
    "docs": "https://wallet.purpleflea.com/llms.txt",
    "referral": "GET /v1/gossip for passive income info",
    "version": "1.0.0",
}
SUGGESTION = "Register at POST /v1/auth/register to get an API key"


def strip(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "_info"}


async def test_register_returns_the_real_fields(client: httpx.AsyncClient) -> None:
    """POST /v1/auth/register answers 201 with a pk_live_ key, ids and next steps."""
    r = await client.post(f"{WALLET}/auth/register", json={})
    assert r.status_code == 201
    body = r.json()
    assert re.fullmatch(r"ag_[0-9a-f]{12}", body["agent_id"])
    assert re.fullmatch(r"pk_live_[0-9a-f]{48}", body["api_key"])
    assert re.fullmatch(r"ref_[0-9a-f]{8}", body["referral_code"])
    assert body["message"] == "Store your API key securely — it cannot be recovered."
    assert body["next_steps"][0] == "POST /v1/wallet/create — generate an HD wallet"
    assert set(body) == {"agent_id", "api_key", "referral_code", "message", "next_steps", "_info"}
    assert body["_info"] == INFO


async def test_register_accepts_a_referral_code(client: httpx.AsyncClient, app: SimApp) -> None:
    """A wallet agent's referral code makes it the new agent's referrer."""
    first = (await client.post(f"{WALLET}/auth/register", json={})).json()
    body = {"referral_code": first["referral_code"]}
    second = (await client.post(f"{WALLET}/auth/register", json=body)).json()
    book = app.state.book(_wallet.WalletBook)
    assert book.agents[second["agent_id"]].referred_by == first["agent_id"]


async def test_wallet_agents_are_not_casino_agents(client: httpx.AsyncClient) -> None:
    """A wallet key is no casino key: the wallet has its own accounts."""
    key = (await client.post(f"{WALLET}/auth/register", json={})).json()["api_key"]
    r = await client.get(f"{CASINO}/auth/balance", headers=bearer(key))
    assert r.status_code == 401


async def test_health_counts_wallet_agents(client: httpx.AsyncClient) -> None:
    """GET /health has the common shape and counts registered wallet agents."""
    await client.post(f"{WALLET}/auth/register", json={})
    body = (await client.get("https://wallet.purpleflea.com/health")).json()
    assert strip(body) == {
        "status": "ok",
        "service": "public-wallet",
        "version": "1.0.0",
        "uptime_seconds": 0,
        "database": "ok",
        "registered_agents": 1,
        "timestamp": "2026-01-01T00:00:00.000Z",
    }


async def test_register_is_limited_to_10_per_minute_per_ip(client: httpx.AsyncClient) -> None:
    """The 11th registration from one IP in a minute is 429 rate_limited."""
    for _ in range(10):
        assert (await client.post(f"{WALLET}/auth/register", json={})).status_code == 201
    r = await client.post(f"{WALLET}/auth/register", json={})
    assert r.status_code == 429
    assert strip(r.json()) == {
        "error": "rate_limited",
        "message": "Too many requests. Limit: 10 per 60s",
    }


async def test_loopback_prefix_reaches_the_wallet(client: httpx.AsyncClient) -> None:
    """On loopback /wallet/v1/auth/register is the wallet's register."""
    r = await client.post("/wallet/v1/auth/register", json={})
    assert r.status_code == 201
    assert r.json()["api_key"].startswith("pk_live_")


async def test_unknown_route_is_the_rich_404(client: httpx.AsyncClient) -> None:
    """Routes not simulated yet answer the real-style 404."""
    r = await client.post(f"{WALLET}/wallet/create")
    assert r.status_code == 404
    assert r.json()["message"] == "POST /v1/wallet/create not found"


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        (True, "Missing or invalid Authorization header. Use: Bearer {api_key}"),
        (False, "Invalid API key"),
    ],
)
def test_401_bodies_are_the_casino_style_ones(missing: bool, message: str) -> None:
    """The wallet's 401s name the problem and point at its own register route."""
    assert _wallet.service.unauthorized is not None
    assert _wallet.service.unauthorized(missing).body == {
        "error": "unauthorized",
        "message": message,
        "suggestion": SUGGESTION,
    }
