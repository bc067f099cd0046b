"""The simulated trading service: registration, markets, fees, pnl, limits and limit orders."""

from __future__ import annotations

import math
import re
from typing import Any

import httpx
import pytest

from guard.sim import SimApp, SimClock, create_app
from tests.conftest import T0, TRADING, bearer

INFO = {
    "service": "agent-trading",
    "docs": "https://trading.purpleflea.com/llms.txt",
    "referral": "GET /v1/gossip for passive income info",
    "version": "3.0.0",
}
WALLET = "0x" + "ab" * 20
SIGNING_KEY = "0x" + "cd" * 32


def round2(x: float) -> float:
    """JavaScript's Math.round(x * 100) / 100."""
    return math.floor(x * 100 + 0.5) / 100


def expected_fees(size: float) -> tuple[float, float, float]:
    hl, ours = round2(size * 0.00035), round2(size * 0.0002)
    return hl, ours, round2(hl + ours)


async def register(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    r = await client.post(f"{TRADING}/auth/register", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


@pytest.fixture
async def key(client: httpx.AsyncClient) -> str:
    """A registered agent with a generated (ready to trade) wallet."""
    return str((await register(client))["api_key"])


async def open_(client: httpx.AsyncClient, key: str, **body: Any) -> httpx.Response:
    order = {"coin": "BTC", "side": "long", "size_usd": 1000, **body}
    return await client.post(f"{TRADING}/trade/open", json=order, headers=bearer(key))


async def close(client: httpx.AsyncClient, key: str, position_id: Any) -> httpx.Response:
    body = {"position_id": position_id}
    return await client.post(f"{TRADING}/trade/close", json=body, headers=bearer(key))


async def set_price(client: httpx.AsyncClient, coin: str, price: float) -> None:
    r = await client.post("/_sim/price", json={"coin": coin, "price": price})
    assert r.status_code == 200, r.text


async def advance(client: httpx.AsyncClient, seconds: float) -> None:
    r = await client.post("/_sim/clock", json={"advance_s": seconds})
    assert r.status_code == 200, r.text


async def price_of(client: httpx.AsyncClient, coin: str) -> float:
    r = await client.get(f"{TRADING}/markets/{coin}/price")
    assert r.status_code == 200, r.text
    return float(r.json()["price"])


# --- auth -------------------------------------------------------------------------------------


async def test_register_generates_a_wallet_and_a_trade_key(client: httpx.AsyncClient) -> None:
    """POST /v1/auth/register with no wallet answers 201 with keys and a generated wallet."""
    body = await register(client)
    assert re.fullmatch(r"ag_[0-9a-f]{12}", body["agent_id"])
    assert re.fullmatch(r"sk_trade_[0-9a-f]{48}", body["api_key"])
    assert re.fullmatch(r"ref_[0-9a-f]{8}", body["referral_code"])
    assert body["tier"] == "free"
    assert re.fullmatch(r"0x[0-9a-f]{40}", body["deposit_address"])
    assert body["hl_wallet"]["address"] == body["deposit_address"]
    assert body["hl_wallet"]["generated"] is True
    assert body["hl_wallet"]["execution"] == "real"
    assert {"fee_structure", "referral_commission", "next_steps"} <= body.keys()
    assert body["_info"] == INFO


async def test_register_keeps_a_supplied_wallet_lowercased(client: httpx.AsyncClient) -> None:
    """A supplied wallet and signing key are stored; the address comes back lower-case."""
    body = await register(client, hl_wallet_address=WALLET.upper().replace("0X", "0x"),
                          hl_signing_key=SIGNING_KEY)  # fmt: skip
    assert body["hl_wallet"]["address"] == WALLET
    assert body["hl_wallet"]["generated"] is False
    assert body["hl_wallet"]["signing_key_stored"] is True


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("hl_wallet_address", "0x1234", "invalid_wallet"),
        ("hl_signing_key", "0xnothex", "invalid_signing_key"),
    ],
)
async def test_register_rejects_malformed_wallets(
    client: httpx.AsyncClient, field: str, value: str, error: str
) -> None:
    """A malformed wallet address or signing key is a 400 with the real error code."""
    r = await client.post(f"{TRADING}/auth/register", json={field: value})
    assert r.status_code == 400
    assert r.json()["error"] == error


async def test_register_is_limited_to_ten_per_minute(client: httpx.AsyncClient) -> None:
    """The eleventh registration from one IP within 60 s is 429 rate_limited."""
    for _ in range(10):
        await register(client)
    r = await client.post(f"{TRADING}/auth/register", json={})
    assert r.status_code == 429
    assert r.json()["message"] == "Too many requests. Limit: 10 per 60s"


async def test_missing_header_is_the_real_401(client: httpx.AsyncClient) -> None:
    """No Authorization header: 401 unauthorized with the trading service's own message."""
    r = await client.get(f"{TRADING}/auth/account")
    assert r.status_code == 401
    body = r.json()
    del body["_info"]
    assert body == {"error": "unauthorized", "message": "Provide Authorization: Bearer <api_key>"}


async def test_unknown_key_is_a_bare_invalid_key(client: httpx.AsyncClient) -> None:
    """An unknown Bearer key: 401 with the bare {"error": "invalid_key"}."""
    r = await client.get(f"{TRADING}/trade/positions", headers=bearer("sk_trade_" + "0" * 48))
    assert r.status_code == 401
    body = r.json()
    del body["_info"]
    assert body == {"error": "invalid_key"}


async def test_account_starts_on_the_free_tier(client: httpx.AsyncClient, key: str) -> None:
    """GET /v1/auth/account shows the free tier's caps and zero totals."""
    r = await client.get(f"{TRADING}/auth/account", headers=bearer(key))
    assert r.status_code == 200
    body = r.json()
    assert body["tier"] == "free"
    assert (body["max_leverage"], body["max_position_usd"]) == (10, 10_000)
    assert (body["total_volume"], body["total_fees_paid"], body["total_pnl"]) == (0, 0, 0)
    assert body["hl_wallet"]["connected"] is True


# --- markets ----------------------------------------------------------------------------------


async def test_markets_lists_grouped_markets(client: httpx.AsyncClient) -> None:
    """GET /v1/markets groups markets by category; crypto is listed on include_crypto=true."""
    r = await client.get(f"{TRADING}/markets", params={"include_crypto": "true"})
    assert r.status_code == 200
    body = r.json()
    crypto = {m["coin"] for m in body["categories"]["crypto"]["markets"]}
    assert {"BTC", "ETH", "SOL"} <= crypto
    stock = body["categories"]["stocks"]["markets"][0]
    assert stock == {**stock, "coin": "xyz:TSLA", "display_name": "TSLA", "dex": "xyz"}
    assert body["total_markets"] == body["crypto_markets"] + body["rwa_markets"]


async def test_market_details_carry_fee_examples(client: httpx.AsyncClient) -> None:
    """GET /v1/markets/:coin answers the market with fee examples at 5.5 bps."""
    r = await client.get(f"{TRADING}/markets/eth")
    assert r.status_code == 200
    body = r.json()
    assert (body["coin"], body["ticker"], body["dex"], body["category"]) == (
        "ETH", "ETH", "main", "crypto",
    )  # fmt: skip
    assert body["fee_examples"][1] == {
        "size_usd": 1000, "hlFee": 0.35, "ourFee": 0.2, "totalFee": 0.55,
    }  # fmt: skip
    assert set(body["trade_example"]) == {"long", "short"}


async def test_unknown_market_is_404(client: httpx.AsyncClient) -> None:
    """GET /v1/markets/:coin for an unknown coin is 404 market_not_found."""
    r = await client.get(f"{TRADING}/markets/NOPE")
    assert r.status_code == 404
    assert r.json()["error"] == "market_not_found"


async def test_price_answers_coin_ticker_price_and_ms(client: httpx.AsyncClient) -> None:
    """GET /v1/markets/:coin/price resolves stock tickers and stamps milliseconds."""
    r = await client.get(f"{TRADING}/markets/TSLA/price")
    assert r.status_code == 200
    body = r.json()
    assert (body["coin"], body["ticker"]) == ("xyz:TSLA", "TSLA")
    assert body["price"] > 0
    assert body["timestamp"] == int(T0 * 1000)


async def test_unknown_price_is_404_no_price(client: httpx.AsyncClient) -> None:
    """GET /v1/markets/:coin/price for an unknown coin is 404 {"error":"no_price","coin"}."""
    r = await client.get(f"{TRADING}/markets/nope/price")
    assert r.status_code == 404
    body = r.json()
    del body["_info"]
    assert body == {"error": "no_price", "coin": "NOPE"}


async def test_prices_hold_on_a_frozen_clock_and_walk_when_it_moves(
    client: httpx.AsyncClient,
) -> None:
    """The mark stays put on a frozen clock and moves once simulated time advances."""
    first = await price_of(client, "BTC")
    assert await price_of(client, "BTC") == first
    await advance(client, 600)
    moved = await price_of(client, "BTC")
    assert moved != first
    assert abs(moved / first - 1) < 0.05


async def test_same_seed_gives_the_same_prices() -> None:
    """Two simulators with one seed walk every coin identically."""

    async def walk(app: SimApp) -> list[float]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sim") as c:
            prices = []
            for _ in range(3):
                await advance(c, 90)
                prices += [await price_of(c, coin) for coin in ("BTC", "ETH", "SOL", "GOLD")]
            return prices

    one = await walk(create_app(seed=11, clock=SimClock(start=T0)))
    two = await walk(create_app(seed=11, clock=SimClock(start=T0)))
    other = await walk(create_app(seed=12, clock=SimClock(start=T0)))
    assert one == two
    assert one != other


async def test_loopback_prefix_reaches_trading(client: httpx.AsyncClient) -> None:
    """On loopback, /trading/v1/... reaches the trading service."""
    r = await client.get("/trading/v1/markets/BTC/price")
    assert r.status_code == 200
    assert r.json()["coin"] == "BTC"
    assert r.json()["_info"] == INFO


# --- open -------------------------------------------------------------------------------------


async def test_open_answers_the_real_fields(client: httpx.AsyncClient, key: str) -> None:
    """POST /v1/trade/open fills at the mark and charges 3.5 + 2 bps, each in cents."""
    await set_price(client, "BTC", 100_000)
    r = await open_(client, key, size_usd=2345, leverage=4)
    assert r.status_code == 200, r.text
    body = r.json()
    assert re.fullmatch(r"pos_[0-9a-f-]{36}", body["position_id"])
    assert re.fullmatch(r"ord_[0-9a-f-]{36}", body["order_id"])
    hl, ours, total = expected_fees(2345)
    assert body["fee"] == total == 1.29
    assert body["fee_breakdown"] == {"hyperliquid": hl, "purple_flea_builder": ours}
    assert body == {
        **body, "coin": "BTC", "ticker": "BTC", "category": "crypto", "dex": "main",
        "side": "long", "size_usd": 2345, "entry_price": 100_000, "leverage": 4,
        "max_leverage": 40, "margin_used": 586.25, "liquidation_price": 75_500,
        "execution": "real", "status": "open",
    }  # fmt: skip
    assert isinstance(body["hl_order_id"], int)


async def test_open_defaults_to_5x_and_caps_at_10x(client: httpx.AsyncClient, key: str) -> None:
    """Leverage defaults to 5 and is silently capped at the free tier's 10."""
    assert (await open_(client, key)).json()["leverage"] == 5
    assert (await open_(client, key, leverage=25)).json()["leverage"] == 10


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"coin": "BTC", "side": "long"}, "invalid_request"),
        ({"coin": "BTC", "side": "long", "size_usd": "100"}, "invalid_size"),
        ({"coin": "BTC", "side": "long", "size_usd": -5}, "invalid_size"),
        ({"coin": "BTC", "side": "up", "size_usd": 100}, "invalid_side"),
        ({"coin": "BTC", "side": "long", "size_usd": 100, "leverage": 0.5}, "invalid_leverage"),
        ({"coin": "BTC", "side": "long", "size_usd": 10_001}, "position_too_large"),
        ({"coin": "NOPE", "side": "long", "size_usd": 100}, "trade_failed"),
        ({"coin": "PURR", "side": "long", "size_usd": 100, "leverage": 5}, "trade_failed"),
    ],
)
async def test_open_rejects_bad_orders(
    client: httpx.AsyncClient, key: str, body: dict[str, Any], error: str
) -> None:
    """Each invalid order is a 400 with the real error code."""
    r = await client.post(f"{TRADING}/trade/open", json=body, headers=bearer(key))
    assert r.status_code == 400
    assert r.json()["error"] == error


async def test_invalid_request_carries_examples(client: httpx.AsyncClient, key: str) -> None:
    """A missing field is invalid_request with the real message and order examples."""
    r = await client.post(f"{TRADING}/trade/open", json={}, headers=bearer(key))
    body = r.json()
    assert body["message"] == "Provide coin, side (long/short), size_usd"
    crypto = {"coin": "BTC", "side": "long", "size_usd": 5000, "leverage": 3}
    assert body["examples"]["crypto"] == crypto


async def test_position_too_large_names_the_cap(client: httpx.AsyncClient, key: str) -> None:
    """position_too_large carries max_position_usd and the real message."""
    r = await open_(client, key, size_usd=20_000)
    body = r.json()
    assert body["max_position_usd"] == 10_000
    assert body["message"] == "Max position size is $10000. Upgrade tier for higher limits."


async def test_wallet_without_signing_key_cannot_trade(client: httpx.AsyncClient) -> None:
    """An agent registered with an address but no signing key gets wallet_not_configured."""
    key = (await register(client, hl_wallet_address=WALLET))["api_key"]
    r = await open_(client, key)
    assert r.status_code == 400
    assert r.json()["error"] == "wallet_not_configured"


async def test_open_is_limited_per_ip_and_resets(client: httpx.AsyncClient, key: str) -> None:
    """The 31st open within 60 s is 429; 61 s later opens work again."""
    for _ in range(30):
        assert (await open_(client, key, size_usd=10)).status_code == 200
    r = await open_(client, key, size_usd=10)
    assert r.status_code == 429
    body = r.json()
    del body["_info"]
    assert body == {"error": "rate_limited", "message": "Too many requests. Limit: 30 per 60s"}
    await advance(client, 61)
    assert (await open_(client, key, size_usd=10)).status_code == 200


# --- close and pnl ----------------------------------------------------------------------------


async def test_set_price_moves_the_long_close_pnl_exactly(
    client: httpx.AsyncClient, key: str
) -> None:
    """A long's pnl is size × Δprice / entry (not × leverage); the close pays the fee."""
    await set_price(client, "ETH", 3000)
    opened = (await open_(client, key, coin="ETH", size_usd=1234.56, leverage=7)).json()
    await set_price(client, "ETH", 3210.5)
    r = await close(client, key, opened["position_id"])
    assert r.status_code == 200, r.text
    body = r.json()
    change = (3210.5 - 3000) / 3000
    assert body["pnl"] == round2(1234.56 * change) == 86.62
    assert body["pnl_percent"] == round2(change * 100) == 7.02
    assert body["fee"] == expected_fees(1234.56)[2] == 0.68
    assert body == {
        **body, "position_id": opened["position_id"], "coin": "ETH", "side": "long",
        "entry_price": 3000, "exit_price": 3210.5, "size_usd": 1234.56, "leverage": 7,
        "execution": "real", "status": "closed",
    }  # fmt: skip


async def test_short_pnl_has_the_sign_flipped(client: httpx.AsyncClient, key: str) -> None:
    """A short gains when the price falls, by the same notional formula."""
    await set_price(client, "SOL", 200)
    opened = (await open_(client, key, coin="SOL", side="short", size_usd=5000)).json()
    await set_price(client, "SOL", 190)
    body = (await close(client, key, opened["position_id"])).json()
    assert body["pnl"] == round2(5000 * -((190 - 200) / 200)) == 250
    assert body["pnl_percent"] == -5


async def test_close_needs_a_position_id(client: httpx.AsyncClient, key: str) -> None:
    """POST /v1/trade/close without position_id is 400 {"error":"provide position_id"}."""
    r = await client.post(f"{TRADING}/trade/close", json={}, headers=bearer(key))
    assert r.status_code == 400
    body = r.json()
    del body["_info"]
    assert body == {"error": "provide position_id"}


async def test_close_twice_is_position_not_found(client: httpx.AsyncClient, key: str) -> None:
    """Closing an unknown or already closed position is 404 {"error":"position_not_found"}."""
    position_id = (await open_(client, key)).json()["position_id"]
    assert (await close(client, key, position_id)).status_code == 200
    r = await close(client, key, position_id)
    assert r.status_code == 404
    body = r.json()
    del body["_info"]
    assert body == {"error": "position_not_found"}


async def test_another_agents_position_is_not_found(client: httpx.AsyncClient, key: str) -> None:
    """An agent cannot close someone else's position."""
    position_id = (await open_(client, key)).json()["position_id"]
    other = (await register(client))["api_key"]
    assert (await close(client, other, position_id)).status_code == 404


async def test_account_totals_follow_trades(client: httpx.AsyncClient, key: str) -> None:
    """Volume, fees and pnl accumulate on the account over an open and a close."""
    await set_price(client, "BTC", 50_000)
    position_id = (await open_(client, key, size_usd=4000)).json()["position_id"]
    await set_price(client, "BTC", 49_000)
    await close(client, key, position_id)
    body = (await client.get(f"{TRADING}/auth/account", headers=bearer(key))).json()
    assert body["total_volume"] == 8000
    assert body["total_fees_paid"] == pytest.approx(2 * expected_fees(4000)[2])
    assert body["total_pnl"] == -80


# --- daily loss limit -------------------------------------------------------------------------


async def test_daily_loss_limit_blocks_opens_until_midnight(
    client: httpx.AsyncClient, key: str
) -> None:
    """Once today's net realized loss reaches the agent's limit, opens are 403 until 00:00 UTC."""
    r = await client.post(
        f"{TRADING}/trade/risk-settings", json={"max_daily_loss_usd": 50}, headers=bearer(key)
    )
    assert r.status_code == 200, r.text
    assert r.json()["risk_settings"]["max_daily_loss_usd"] == 50
    await set_price(client, "BTC", 100_000)
    position_id = (await open_(client, key, size_usd=5000)).json()["position_id"]
    await set_price(client, "BTC", 99_000)
    assert (await close(client, key, position_id)).json()["pnl"] == -50
    r = await open_(client, key)
    assert r.status_code == 403
    body = r.json()
    assert body["error"] == "daily_loss_limit_reached"
    assert body["resets_at"] == "2026-01-02T00:00:00.000Z"
    assert body["daily_loss_limit_usd"] == 50
    assert body["current_daily_loss_usd"] == round2(50 + 2 * expected_fees(5000)[2])
    await advance(client, 86_400)
    assert (await open_(client, key)).status_code == 200


async def test_no_daily_loss_limit_by_default(client: httpx.AsyncClient, key: str) -> None:
    """Without a limit set (the real default), losses never block opens."""
    await set_price(client, "BTC", 100_000)
    position_id = (await open_(client, key, size_usd=9000)).json()["position_id"]
    await set_price(client, "BTC", 50_000)
    await close(client, key, position_id)
    assert (await open_(client, key)).status_code == 200


async def test_risk_settings_validates_values(client: httpx.AsyncClient, key: str) -> None:
    """POST /v1/trade/risk-settings rejects a non-positive limit and an empty body."""
    url = f"{TRADING}/trade/risk-settings"
    r = await client.post(url, json={"max_daily_loss_usd": -1}, headers=bearer(key))
    assert (r.status_code, r.json()["error"]) == (400, "invalid_value")
    r = await client.post(url, json={}, headers=bearer(key))
    assert (r.status_code, r.json()["error"]) == (400, "no_changes")


# --- positions and history --------------------------------------------------------------------


async def test_positions_show_unrealized_pnl(client: httpx.AsyncClient, key: str) -> None:
    """GET /v1/trade/positions lists open positions with live unrealized pnl."""
    await set_price(client, "BTC", 80_000)
    position_id = (await open_(client, key, size_usd=800, leverage=2)).json()["position_id"]
    await set_price(client, "BTC", 82_000)
    r = await client.get(f"{TRADING}/trade/positions", headers=bearer(key))
    assert r.status_code == 200
    body = r.json()
    assert (body["count"], body["source"]) == (1, "hyperliquid")
    row = body["positions"][0]
    assert row == {
        **row, "position_id": position_id, "coin": "BTC", "side": "long", "size_usd": 800,
        "entry_price": 80_000, "current_price": 82_000, "leverage": 2, "margin_used": 400,
        "unrealized_pnl": 20, "size": 0.01,
    }  # fmt: skip
    assert "liquidation_price" in row


async def test_positions_all_returns_database_rows(client: httpx.AsyncClient, key: str) -> None:
    """?status=all adds closed positions as camelCase rows keeping their realized pnl."""
    await set_price(client, "BTC", 100_000)
    first = (await open_(client, key, size_usd=1000)).json()["position_id"]
    await set_price(client, "BTC", 110_000)
    await close(client, key, first)
    await open_(client, key, size_usd=500)
    open_only = (await client.get(f"{TRADING}/trade/positions", headers=bearer(key))).json()
    assert open_only["count"] == 1
    r = await client.get(f"{TRADING}/trade/positions?status=all", headers=bearer(key))
    body = r.json()
    assert (body["count"], body["source"]) == (2, "database")
    closed = next(p for p in body["positions"] if p["id"] == first)
    assert closed == {**closed, "status": "closed", "unrealized_pnl": 100, "sizeUsd": 1000}
    assert {"agentId", "entryPrice", "openedAt", "closedAt", "hlOrderId"} <= closed.keys()


async def test_history_rows_are_camel_case(client: httpx.AsyncClient, key: str) -> None:
    """GET /v1/trade/history answers raw trade rows, newest first, with realizedPnl."""
    await set_price(client, "BTC", 100_000)
    position_id = (await open_(client, key, size_usd=1000)).json()["position_id"]
    await set_price(client, "BTC", 95_000)
    await close(client, key, position_id)
    r = await client.get(f"{TRADING}/trade/history", headers=bearer(key))
    assert r.status_code == 200
    body = r.json()
    assert body["count"] == 2
    sell, buy = body["trades"]
    assert set(sell) - {"_info"} == {
        "id", "agentId", "orderId", "coin", "side", "sizeUsd", "price", "fee",
        "realizedPnl", "createdAt",
    }  # fmt: skip
    assert (sell["side"], sell["price"], sell["realizedPnl"]) == ("sell", 95_000, -50)
    assert (buy["side"], buy["price"], buy["realizedPnl"]) == ("buy", 100_000, 0)
    assert sell["createdAt"] == int(T0)
    limited = await client.get(f"{TRADING}/trade/history?limit=1", headers=bearer(key))
    assert limited.json()["count"] == 1


# --- limit orders -----------------------------------------------------------------------------


async def place(client: httpx.AsyncClient, key: str, **body: Any) -> httpx.Response:
    order = {"coin": "BTC", "side": "long", "size_usd": 1000, "limit_price": 90_000, **body}
    return await client.post(f"{TRADING}/trade/limit", json=order, headers=bearer(key))


async def test_limit_order_is_pending(client: httpx.AsyncClient, key: str) -> None:
    """POST /v1/trade/limit answers 201 pending with the direction it waits for."""
    await set_price(client, "BTC", 100_000)
    r = await place(client, key)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body == {
        **body, "coin": "BTC", "side": "long", "size_usd": 1000, "leverage": 5,
        "limit_price": 90_000, "current_price": 100_000, "direction": "below",
        "status": "pending",
    }  # fmt: skip
    assert {"order_id", "message", "next"} <= body.keys()


async def test_limit_order_fills_when_the_price_crosses(
    client: httpx.AsyncClient, key: str
) -> None:
    """Once the mark reaches the limit, the order fills at the limit price into a position."""
    await set_price(client, "BTC", 100_000)
    order_id = (await place(client, key)).json()["order_id"]
    await set_price(client, "BTC", 89_000)
    r = await client.get(f"{TRADING}/trade/limit-orders", headers=bearer(key))
    body = r.json()
    assert (body["pending_count"], len(body["filled"])) == (0, 1)
    filled = body["filled"][0]
    assert filled["order_id"] == order_id
    positions = (await client.get(f"{TRADING}/trade/positions", headers=bearer(key))).json()
    assert positions["positions"][0]["position_id"] == filled["position_id"]
    assert positions["positions"][0]["entry_price"] == 90_000


async def test_limit_order_can_be_cancelled_once(client: httpx.AsyncClient, key: str) -> None:
    """DELETE /v1/trade/limit-orders/:id cancels a pending order; a second time is 404."""
    order_id = (await place(client, key, limit_price=1)).json()["order_id"]
    url = f"{TRADING}/trade/limit-orders/{order_id}"
    r = await client.delete(url, headers=bearer(key))
    assert r.status_code == 200
    assert r.json()["status"] == "cancelled"
    listed = (await client.get(f"{TRADING}/trade/limit-orders", headers=bearer(key))).json()
    assert [o["order_id"] for o in listed["cancelled"]] == [order_id]
    r = await client.delete(url, headers=bearer(key))
    assert (r.status_code, r.json()["error"]) == (404, "not_found")


async def test_at_most_ten_pending_limit_orders(client: httpx.AsyncClient, key: str) -> None:
    """The eleventh pending limit order is 400 limit_reached."""
    for _ in range(10):
        assert (await place(client, key, limit_price=1)).status_code == 201
    r = await place(client, key, limit_price=1)
    assert (r.status_code, r.json()["error"]) == (400, "limit_reached")


async def test_limit_order_needs_a_positive_price(client: httpx.AsyncClient, key: str) -> None:
    """A missing or non-positive limit_price is 400 invalid_price."""
    r = await place(client, key, limit_price=0)
    assert (r.status_code, r.json()["error"]) == (400, "invalid_price")


# --- health -----------------------------------------------------------------------------------


async def test_health_counts_agents(client: httpx.AsyncClient, key: str) -> None:
    """GET /health answers ok with the service name and the registered agents."""
    r = await client.get("https://trading.purpleflea.com/health")
    assert r.status_code == 200
    body = r.json()
    assert body == {**body, "status": "ok", "service": "agent-trading", "registered_agents": 1}
