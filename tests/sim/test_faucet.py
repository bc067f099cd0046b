"""The simulated faucet: $1 once per new casino agent, once per IP per day."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from guard.sim import SimApp, SimClock, create_app
from guard.sim._bank import Bank
from tests.conftest import CASINO, FAUCET, T0, bearer, casino_agent

INFO = {
    "service": "agent-faucet",
    "docs": "https://faucet.purpleflea.com/llms.txt",
    "referral": "GET /gossip for referral info",
    "version": "1.0.0",
}
UUID4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


def ip(n: int) -> dict[str, str]:
    return {"X-Forwarded-For": f"203.0.113.{n}"}


async def claim(client: httpx.AsyncClient, agent: Any, n: int = 1, **extra: Any) -> httpx.Response:
    body = {"agent_casino_id": agent, **extra}
    return await client.post(f"{FAUCET}/claim", json=body, headers=ip(n))


async def casino_balance(client: httpx.AsyncClient, key: str) -> float:
    r = await client.get(f"{CASINO}/auth/balance", headers=bearer(key))
    assert r.status_code == 200, r.text
    return float(r.json()["balance_usd"])


async def test_claim_credits_one_dollar(client: httpx.AsyncClient) -> None:
    """A new agent's claim answers 200 with the real fields."""
    agent, _ = await casino_agent(client, balance=0)
    r = await claim(client, agent)
    assert r.status_code == 200
    body = r.json()
    assert re.fullmatch(UUID4, body["claim_id"])
    assert body == {
        "credited": 1.0,
        "message": "Free $1 credited. Use it to try the casino!",
        "casino_url": "https://casino.purpleflea.com",
        "claim_id": body["claim_id"],
        "agent_id": agent,
        "referral_tracked": False,
        "_info": INFO,
    }


async def test_claim_moves_the_casino_balance(client: httpx.AsyncClient) -> None:
    """The dollar lands on the shared casino balance."""
    agent, key = await casino_agent(client, balance=0)
    await claim(client, agent)
    assert await casino_balance(client, key) == 1.0


async def test_claim_writes_a_faucet_ledger_row(client: httpx.AsyncClient, app: SimApp) -> None:
    """The credit is a casino ledger row from service faucet."""
    agent, _ = await casino_agent(client, balance=0)
    await claim(client, agent)
    row = app.state.book(Bank).require(agent).ledger[-1]
    assert (row["type"], row["amount"], row["reason"], row["service"]) == (
        "credit",
        1.0,
        "faucet_claim: $1 free credits",
        "faucet",
    )


@pytest.mark.parametrize("agent", [None, "", "bob", 42, " "])
async def test_claim_needs_an_ag_id(client: httpx.AsyncClient, agent: Any) -> None:
    """A missing or malformed agent_casino_id is 400 invalid_request."""
    r = await claim(client, agent)
    assert r.status_code == 400
    assert r.json() == {
        "error": "invalid_request",
        "message": "agent_casino_id is required (ag_xxx format)",
        "_info": INFO,
    }


async def test_unknown_agent_is_404(client: httpx.AsyncClient) -> None:
    """An ag_ id that is no casino agent is 404 agent_not_found."""
    r = await claim(client, "ag_000000000000")
    assert r.status_code == 404
    assert r.json()["error"] == "agent_not_found"
    assert r.json()["message"] == (
        "Agent not found in casino. Register at https://casino.purpleflea.com/api/v1/auth/register"
    )


async def test_second_claim_by_the_same_agent_is_409(client: httpx.AsyncClient) -> None:
    """One claim per agent, whatever the IP."""
    agent, key = await casino_agent(client, balance=0)
    await claim(client, agent, n=1)
    r = await claim(client, agent, n=2)
    assert r.status_code == 409
    assert r.json()["error"] == "already_claimed"
    assert r.json()["message"] == "This agent has already claimed the faucet bonus."
    assert await casino_balance(client, key) == 1.0


async def test_agent_with_deposits_is_403(client: httpx.AsyncClient) -> None:
    """An agent that has deposited is no longer eligible."""
    agent, _ = await casino_agent(client, balance=5)
    r = await claim(client, agent)
    assert r.status_code == 403
    assert r.json()["error"] == "has_deposits"


async def test_one_claim_per_ip_per_day(client: httpx.AsyncClient) -> None:
    """A second agent claiming from the same IP gets 429 ip_rate_limited."""
    first, _ = await casino_agent(client, balance=0)
    second, _ = await casino_agent(client, balance=0)
    await claim(client, first, n=9)
    r = await claim(client, second, n=9)
    assert r.status_code == 429
    assert r.json() == {
        "error": "ip_rate_limited",
        "message": "Already claimed from this IP today. Try again in ~24h.",
        "_info": INFO,
    }


async def test_ip_cooldown_counts_down_the_hours(client: httpx.AsyncClient) -> None:
    """Half an hour before the cooldown ends the message says ~1h."""
    first, _ = await casino_agent(client, balance=0)
    second, _ = await casino_agent(client, balance=0)
    await claim(client, first, n=9)
    await client.post("/_sim/clock", json={"advance_s": 23.5 * 3600})
    r = await claim(client, second, n=9)
    assert r.json()["message"] == "Already claimed from this IP today. Try again in ~1h."


async def test_ip_cooldown_resets_after_a_day(client: httpx.AsyncClient) -> None:
    """24 hours later the same IP can claim for another agent."""
    first, _ = await casino_agent(client, balance=0)
    second, _ = await casino_agent(client, balance=0)
    await claim(client, first, n=9)
    await client.post("/_sim/clock", json={"advance_s": 24 * 3600})
    assert (await claim(client, second, n=9)).status_code == 200


async def test_ip_cooldown_is_off_without_rate_limits() -> None:
    """With rate_limits off, one IP may claim for many agents."""
    app = create_app(seed=7, clock=SimClock(start=T0), rate_limits=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8765") as c:
        for _ in range(3):
            agent, _ = await casino_agent(c, balance=0)
            assert (await claim(c, agent, n=9)).status_code == 200


async def test_claim_route_is_limited_to_5_per_minute_per_ip(client: httpx.AsyncClient) -> None:
    """The 6th claim request from one IP in a minute is 429 rate_limited."""
    for _ in range(5):
        assert (await claim(client, "bad", n=3)).status_code == 400
    r = await claim(client, "bad", n=3)
    assert r.status_code == 429
    assert r.json()["error"] == "rate_limited"
    assert r.json()["message"] == "Too many requests. Limit: 5 per 60s"


async def test_referral_code_is_tracked(client: httpx.AsyncClient) -> None:
    """Another agent's referral code sets referral_tracked."""
    r = await client.post(f"{CASINO}/auth/register", json={})
    code = r.json()["referral_code"]
    agent, _ = await casino_agent(client, balance=0)
    assert (await claim(client, agent, referral_code=code)).json()["referral_tracked"] is True


async def test_own_referral_code_is_not_tracked(client: httpx.AsyncClient) -> None:
    """An agent cannot refer itself."""
    r = await client.post(f"{CASINO}/auth/register", json={})
    agent, code = r.json()["agent_id"], r.json()["referral_code"]
    assert (await claim(client, agent, referral_code=code)).json()["referral_tracked"] is False


async def test_registration_referrer_is_tracked(client: httpx.AsyncClient) -> None:
    """Without a code, the referrer saved at casino registration counts."""
    r = await client.post(f"{CASINO}/auth/register", json={})
    r = await client.post(
        f"{CASINO}/auth/register", json={"referral_code": r.json()["referral_code"]}
    )
    assert (await claim(client, r.json()["agent_id"])).json()["referral_tracked"] is True


async def test_stats_sum_the_claims(client: httpx.AsyncClient) -> None:
    """GET /faucet/stats counts claims, agents and dollars."""
    for n in (1, 2):
        agent, _ = await casino_agent(client, balance=0)
        await claim(client, agent, n=n)
    body = (await client.get(f"{FAUCET}/stats")).json()
    assert body == {
        "total_claims": 2,
        "total_agents": 2,
        "total_value_usd": 2.0,
        "avg_per_agent": 1.0,
        "_info": INFO,
    }


async def test_stats_are_zero_before_any_claim(client: httpx.AsyncClient) -> None:
    """An empty faucet reports zeros."""
    body = (await client.get(f"{FAUCET}/stats")).json()
    assert (body["total_claims"], body["total_value_usd"], body["avg_per_agent"]) == (0, 0, 0)


async def test_faucet_has_no_health_route(client: httpx.AsyncClient) -> None:
    """Like the real faucet, GET /health falls through to the bare 404."""
    r = await client.get("https://faucet.purpleflea.com/health")
    assert r.status_code == 404
    assert r.json() == {"error": "not_found", "_info": INFO}


@pytest.mark.parametrize("path", ["/faucet/faucet/claim", "/faucet/claim"])
async def test_loopback_prefix_paths_reach_the_faucet(client: httpx.AsyncClient, path: str) -> None:
    """On loopback both the prefixed and the short claim path work."""
    agent, _ = await casino_agent(client, balance=0)
    r = await client.post(path, json={"agent_casino_id": agent})
    assert r.status_code == 200, r.text
    assert r.json()["credited"] == 1.0
