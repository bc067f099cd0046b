"""The simulated domains service: its own agents, USDC balance, search and purchase."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.conftest import DOMAINS, bearer, casino_agent

INFO = {
    "service": "agent-domains",
    "docs": "https://domains.purpleflea.com/llms.txt",
    "referral": "GET /gossip for passive income info",
    "version": "1.0.0",
}
UUID4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


def strip(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "_info"}


async def register(client: httpx.AsyncClient, **body: Any) -> tuple[str, str]:
    r = await client.post(f"{DOMAINS}/register", json=body)
    assert r.status_code == 201, r.text
    return r.json()["agent_id"], r.json()["api_key"]


async def funded(client: httpx.AsyncClient, amount: float = 100, **body: Any) -> tuple[str, str]:
    agent, key = await register(client, **body)
    credit = {"agent_id": agent, "amount": amount, "service": "domains"}
    assert (await client.post("/_sim/credit", json=credit)).status_code == 200
    return agent, key


async def buy(client: httpx.AsyncClient, key: str, **body: Any) -> httpx.Response:
    return await client.post(f"{DOMAINS}/domains/purchase", json=body, headers=bearer(key))


async def balance(client: httpx.AsyncClient, key: str) -> float:
    r = await client.get(f"{DOMAINS}/wallet/balance", headers=bearer(key))
    return float(r.json()["balance_usdc"])


# --- register, auth, health ---------------------------------------------------------------


async def test_register_returns_a_domains_key_and_uuid(client: httpx.AsyncClient) -> None:
    """POST /register answers 201 with an sk_domains_ key and a UUID agent id."""
    r = await client.post(f"{DOMAINS}/register", json={})
    assert r.status_code == 201
    body = r.json()
    assert re.fullmatch(r"sk_domains_[0-9a-f]{48}", body["api_key"])
    assert re.fullmatch(UUID4, body["agent_id"])
    assert strip(body) == {
        "api_key": body["api_key"],
        "agent_id": body["agent_id"],
        "message": "Store your API key securely — it cannot be recovered. "
        "Use Authorization: Bearer <api_key> on all requests.",
    }


async def test_missing_key_is_401(client: httpx.AsyncClient) -> None:
    """No Authorization header: the domains server's own 401."""
    r = await client.get(f"{DOMAINS}/wallet/balance")
    assert r.status_code == 401
    assert r.json() == {
        "error": "unauthorized",
        "message": "Missing Authorization header. Use: Bearer <api_key>",
        "_info": INFO,
    }


async def test_casino_key_is_an_invalid_domains_key(client: httpx.AsyncClient) -> None:
    """Domains has its own agents: a casino key is rejected."""
    _, casino_key = await casino_agent(client, balance=0)
    r = await client.get(f"{DOMAINS}/domains", headers=bearer(casino_key))
    assert r.status_code == 401
    assert r.json() == {"error": "unauthorized", "message": "Invalid API key", "_info": INFO}


async def test_health_reports_registered_agents(client: httpx.AsyncClient) -> None:
    """GET /health has the common health shape and counts domains agents."""
    await register(client)
    body = (await client.get(f"{DOMAINS}/health")).json()
    assert strip(body) == {
        "status": "ok",
        "service": "agent-domains",
        "version": "1.0.0",
        "uptime_seconds": 0,
        "database": "ok",
        "registered_agents": 1,
        "timestamp": "2026-01-01T00:00:00.000Z",
    }


async def test_unknown_route_is_the_rich_404(client: httpx.AsyncClient) -> None:
    """Domains answers unknown paths with method, path, docs and openapi."""
    r = await client.get(f"{DOMAINS}/nope")
    assert r.status_code == 404
    assert strip(r.json()) == {
        "error": "not_found",
        "message": "GET /nope not found",
        "docs": "https://domains.purpleflea.com/llms.txt",
        "openapi": "/openapi.json",
    }


# --- tlds and search ----------------------------------------------------------------------


async def test_tlds_lists_the_prices_per_year(client: httpx.AsyncClient) -> None:
    """GET /tlds lists 19 TLDs with yearly, 2-year and 5-year prices."""
    body = (await client.get(f"{DOMAINS}/tlds")).json()
    assert body["total_tlds"] == 19
    prices = {row["tld"]: row["price_usdc_per_year"] for row in body["all_tlds"]}
    assert {t: prices[t] for t in (".com", ".io", ".ai", ".xyz", ".net")} == {
        ".com": 18,
        ".io": 54,
        ".ai": 102,
        ".xyz": 14.4,
        ".net": 18,
    }
    ai = next(row for row in body["all_tlds"] if row["tld"] == ".ai")
    assert ai == {
        "tld": ".ai",
        "price_usdc_per_year": 102,
        "price_2yr": 204,
        "price_5yr": 510,
        "category": "tech",
        "popular": True,
        "note": "AI projects — highest demand",
    }
    assert ".ai" in [row["tld"] for row in body["by_category"]["tech"]]
    assert all(row["popular"] for row in body["popular_tlds"])


async def test_search_an_available_domain(client: httpx.AsyncClient) -> None:
    """GET /search?name=x.ai gives availability, prices and the next step."""
    body = (await client.get(f"{DOMAINS}/search", params={"name": "Agent.AI"})).json()
    assert strip(body) == {
        "domain": "agent.ai",
        "available": True,
        "price_usdc": 102,
        "price_2yr": 204,
        "price_5yr": 510,
        "tld": ".ai",
        "note": "Availability is estimated",
        "next_step": 'POST /domains/purchase with {"domain":"agent.ai"}',
    }


async def test_search_a_registered_domain(client: httpx.AsyncClient) -> None:
    """A domain bought here is no longer available."""
    _, key = await funded(client)
    await buy(client, key, domain="taken.com")
    body = (await client.get(f"{DOMAINS}/search", params={"name": "taken.com"})).json()
    assert strip(body) == {
        "domain": "taken.com",
        "available": False,
        "price_usdc": None,
        "tld": ".com",
        "note": "Already registered in this system",
    }


async def test_search_an_unsupported_tld(client: httpx.AsyncClient) -> None:
    """An unsupported TLD is a 200 saying so, with the supported list."""
    body = (await client.get(f"{DOMAINS}/search", params={"name": "agent.zz"})).json()
    assert body["available"] is False
    assert body["tld"] == ".zz"
    assert body["note"] == "TLD not supported. GET /tlds for supported TLDs."
    assert ".com" in body["supported_tlds"]


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({}, "missing_param"),
        ({"name": "nodot"}, "invalid_domain"),
        ({"name": "-a.com"}, "invalid_domain"),
    ],
)
async def test_search_rejects_a_bad_name(
    client: httpx.AsyncClient, params: dict[str, str], error: str
) -> None:
    """A missing or malformed name is a 400."""
    r = await client.get(f"{DOMAINS}/search", params=params)
    assert r.status_code == 400
    assert r.json()["error"] == error


async def test_search_several_tlds(client: httpx.AsyncClient) -> None:
    """?name=x&tlds=com,io checks each TLD and counts the available ones."""
    _, key = await funded(client)
    await buy(client, key, domain="myagent.io")
    r = await client.get(f"{DOMAINS}/search", params={"name": "myagent", "tlds": "com,.io,zz"})
    assert strip(r.json()) == {
        "query": "myagent",
        "results": [
            {"domain": "myagent.com", "available": True, "price_usdc": 18, "tld": ".com"},
            {"domain": "myagent.io", "available": False, "price_usdc": None, "tld": ".io"},
            {
                "domain": "myagent.zz",
                "available": False,
                "price_usdc": None,
                "tld": ".zz",
                "error": "unsupported_tld",
            },
        ],
        "available_count": 1,
        "note": "Availability is estimated",
    }


# --- wallet and purchase ------------------------------------------------------------------


async def test_deposit_gives_the_fixed_base_address(client: httpx.AsyncClient) -> None:
    """POST /wallet/deposit returns the service's USDC address on Base."""
    _, key = await register(client)
    r = await client.post(f"{DOMAINS}/wallet/deposit", headers=bearer(key))
    assert strip(r.json()) == {
        "deposit_address": "0x632881b5f5384e872d8b701dd23f08e63a52faee",
        "chain": "Base",
        "token": "USDC",
        "message": "Send USDC to this address. Contact support to credit your account.",
    }


async def test_balance_starts_at_zero(client: httpx.AsyncClient) -> None:
    """A new domains agent has no USDC."""
    agent, key = await register(client)
    r = await client.get(f"{DOMAINS}/wallet/balance", headers=bearer(key))
    assert strip(r.json()) == {"balance_usdc": 0, "agent_id": agent}


async def test_sim_credit_funds_the_domains_balance(client: httpx.AsyncClient) -> None:
    """POST /_sim/credit with service domains adds to the domains balance."""
    agent, key = await register(client)
    credit = {"agent_id": agent, "amount": 50, "service": "domains"}
    r = await client.post("/_sim/credit", json=credit)
    assert r.json()["balance_usdc"] == 50
    assert await balance(client, key) == 50


async def test_sim_credit_unknown_domains_agent_is_404(client: httpx.AsyncClient) -> None:
    """Crediting an unknown domains agent is a 404 from the control."""
    credit = {"agent_id": "nobody", "amount": 5, "service": "domains"}
    assert (await client.post("/_sim/credit", json=credit)).status_code == 404


async def test_purchase_debits_the_yearly_price(client: httpx.AsyncClient) -> None:
    """Buying a .com for 2 years costs 2 x $18 and answers the real fields."""
    _, key = await funded(client, 100)
    r = await buy(client, key, domain=" MyAgent.com ", years=2)
    assert r.status_code == 200
    assert strip(r.json()) == {
        "domain": "myagent.com",
        "status": "active",
        "cost_usdc": 36,
        "balance_remaining": 64,
        "message": "myagent.com registered successfully",
    }
    assert await balance(client, key) == 64


@pytest.mark.parametrize(("years", "cost"), [(None, 18), (0, 18), ("3", 54), (2.9, 36), (99, 180)])
async def test_purchase_years_are_parsed_like_parseint(
    client: httpx.AsyncClient, years: Any, cost: float
) -> None:
    """years defaults to 1, is truncated and clamped to 1..10."""
    _, key = await funded(client, 500)
    body = {"domain": "years.com"} if years is None else {"domain": "years.com", "years": years}
    assert (await buy(client, key, **body)).json()["cost_usdc"] == cost


async def test_purchased_domains_are_listed(client: httpx.AsyncClient) -> None:
    """GET /domains lists the agent's own domains with expiry and registration time."""
    _, key = await funded(client)
    await buy(client, key, domain="mine.xyz")
    r = await client.get(f"{DOMAINS}/domains", headers=bearer(key))
    assert strip(r.json()) == {
        "domains": [
            {
                "domain_name": "mine.xyz",
                "status": "active",
                "expiry": "2027-01-01",
                "registered_at": "2026-01-01T00:00:00.000Z",
            }
        ]
    }


async def test_other_agents_domains_are_not_listed(client: httpx.AsyncClient) -> None:
    """An agent sees only its own domains."""
    _, key = await funded(client)
    await buy(client, key, domain="mine.xyz")
    _, other = await register(client)
    r = await client.get(f"{DOMAINS}/domains", headers=bearer(other))
    assert r.json()["domains"] == []


@pytest.mark.parametrize(
    ("domain", "error", "message"),
    [
        (None, "invalid_domain", "Provide a valid domain name (e.g. example.com)"),
        ("no_underscores.com", "invalid_domain", "Provide a valid domain name (e.g. example.com)"),
        ("agent.zz", "unsupported_tld", "TLD not supported. GET /tlds for the full list."),
    ],
)
async def test_purchase_rejects_a_bad_domain(
    client: httpx.AsyncClient, domain: str | None, error: str, message: str
) -> None:
    """A malformed domain or unsupported TLD is a 400."""
    _, key = await funded(client)
    r = await buy(client, key, domain=domain)
    assert r.status_code == 400
    assert (r.json()["error"], r.json()["message"]) == (error, message)


async def test_purchase_of_a_taken_domain_is_409(client: httpx.AsyncClient) -> None:
    """A domain someone registered here is 409 domain_taken."""
    _, first = await funded(client)
    _, second = await funded(client)
    await buy(client, first, domain="race.io")
    r = await buy(client, second, domain="race.io")
    assert r.status_code == 409
    assert r.json()["message"] == "race.io is already registered"
    assert await balance(client, second) == 100


async def test_purchase_beyond_the_balance_is_402(client: httpx.AsyncClient) -> None:
    """Too little USDC: 402 with balance and required amount, nothing debited."""
    _, key = await funded(client, 50)
    r = await buy(client, key, domain="costly.ai")
    assert r.status_code == 402
    assert strip(r.json()) == {
        "error": "insufficient_balance",
        "message": "Insufficient USDC balance. POST /wallet/deposit for deposit instructions.",
        "balance_usdc": 50,
        "required_usdc": 102,
    }
    assert await balance(client, key) == 50


async def test_purchase_pays_three_levels_of_referrers(client: httpx.AsyncClient) -> None:
    """15 % of the cost goes to the referrer, half that to its referrer, a quarter above."""
    top, top_key = await register(client)
    mid, mid_key = await register(client, referral_code=top)
    low, low_key = await register(client, referral_code=mid)
    _, buyer_key = await funded(client, 100, referral_code=low)
    await buy(client, buyer_key, domain="chain.com")
    assert [await balance(client, k) for k in (low_key, mid_key, top_key)] == [2.7, 1.35, 0.68]
