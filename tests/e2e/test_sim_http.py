"""The simulator over real HTTP (`guard sim` on loopback): real field names, real errors, faults."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

INFO = "_info"


@pytest.fixture
async def http(live_sim: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live_sim, timeout=5) as client:
        await client.post("/_sim/reset")
        yield client


async def register(http: httpx.AsyncClient) -> dict[str, str]:
    r = await http.post("/casino/api/v1/auth/register", json={})
    assert r.status_code == 201
    return r.json()


async def test_register_returns_the_real_fields(http: httpx.AsyncClient) -> None:
    """Casino register over HTTP: 201 with exactly the real fields."""
    r = await http.post("/casino/api/v1/auth/register", json={})
    assert r.status_code == 201
    assert set(r.json()) == {
        "agent_id", "api_key", "referral_code", "balance", "tier", "risk_factor",
        "referral_commission", "message", "next_steps", INFO,
    }  # fmt: skip


async def test_faucet_claim_returns_the_real_fields(http: httpx.AsyncClient) -> None:
    """Faucet claim over HTTP credits $1 with the real fields."""
    agent = await register(http)
    r = await http.post("/faucet/faucet/claim", json={"agent_casino_id": agent["agent_id"]})
    assert r.status_code == 200
    assert set(r.json()) == {
        "credited", "message", "casino_url", "claim_id", "agent_id", "referral_tracked", INFO,
    }  # fmt: skip
    assert r.json()["credited"] == 1.0


async def test_dice_bet_returns_the_real_fields(http: httpx.AsyncClient) -> None:
    """A dice bet over HTTP returns the real BetResult."""
    agent = await register(http)
    await http.post("/_sim/credit", json={"agent_id": agent["agent_id"], "amount": 10})
    r = await http.post(
        "/casino/api/v1/games/dice",
        json={"direction": "over", "threshold": 50, "amount": 1},
        headers={"Authorization": f"Bearer {agent['api_key']}"},
    )
    assert r.status_code == 200
    assert set(r.json()) == {
        "bet_id", "game", "amount_bet", "result", "won", "payout_multiplier", "amount_won",
        "new_balance", "proof", "kelly", INFO,
    }  # fmt: skip
    assert set(r.json()["proof"]) == {"server_seed_hash", "client_seed", "nonce", "result_hash"}


async def test_trade_open_and_close_return_the_real_fields(http: httpx.AsyncClient) -> None:
    """A trade opened and closed over HTTP returns the real fields both times."""
    r = await http.post("/trading/v1/auth/register", json={})
    assert r.status_code == 201
    auth = {"Authorization": f"Bearer {r.json()['api_key']}"}
    order = {"coin": "BTC", "side": "long", "size_usd": 100, "leverage": 5}
    opened = await http.post("/trading/v1/trade/open", json=order, headers=auth)
    assert opened.status_code == 200
    assert {"position_id", "order_id", "entry_price", "fee", "fee_breakdown", "status"} <= set(
        opened.json()
    )
    closed = await http.post(
        "/trading/v1/trade/close", json={"position_id": opened.json()["position_id"]}, headers=auth
    )
    assert closed.status_code == 200
    assert set(closed.json()) == {
        "position_id", "coin", "ticker", "side", "entry_price", "exit_price", "size_usd",
        "leverage", "pnl", "pnl_percent", "fee", "hl_order_id", "execution", "status", INFO,
    }  # fmt: skip


async def test_bad_key_gets_the_real_401(http: httpx.AsyncClient) -> None:
    """An unknown key gets the casino's exact 401 body."""
    r = await http.get(
        "/casino/api/v1/auth/balance", headers={"Authorization": "Bearer sk_live_" + "0" * 48}
    )
    assert r.status_code == 401
    body = r.json()
    body.pop(INFO)
    assert body == {
        "error": "unauthorized",
        "message": "Invalid API key",
        "suggestion": "Register at POST /api/v1/auth/register to get an API key",
    }


async def test_hang_fault_times_the_client_out_after_the_bet_executed(
    http: httpx.AsyncClient,
) -> None:
    """A timeout fault over HTTP: the client's read timeout fires, yet the bet executed."""
    agent = await register(http)
    await http.post("/_sim/credit", json={"agent_id": agent["agent_id"], "amount": 10})
    await http.post("/_sim/faults", json={"service": "casino", "timeout_rate": 1, "hang_s": 5})
    with pytest.raises(httpx.ReadTimeout):
        await http.post(
            "/casino/api/v1/games/coin-flip",
            json={"side": "heads", "amount": 1},
            headers={"Authorization": f"Bearer {agent['api_key']}"},
            timeout=0.3,
        )
    await http.delete("/_sim/faults")
    log = (await http.get("/_sim/requests", params={"service": "casino"})).json()["requests"]
    assert log[-1]["path"] == "/api/v1/games/coin-flip"
    assert log[-1]["status"] == 200


async def test_drop_fault_closes_the_connection_mid_response(http: httpx.AsyncClient) -> None:
    """A dropped connection over HTTP surfaces as httpx.RemoteProtocolError."""
    await http.post("/_sim/faults", json={"service": "casino", "drop_rate": 1})
    with pytest.raises(httpx.RemoteProtocolError):
        await http.get("/casino/health")
    await http.delete("/_sim/faults")
