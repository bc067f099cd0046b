"""The simulated casino: every route's success shape and its main errors, as the real server."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import httpx
import pytest

from guard.sim import SimClock, create_app
from tests.conftest import CASINO, T0, bearer, casino_agent

INFO = {
    "service": "agent-casino",
    "docs": "https://casino.purpleflea.com/llms.txt",
    "referral": "GET /api/v1/gossip for passive income info",
    "version": "1.0.0",
}
SUGGESTION = "Register at POST /api/v1/auth/register to get an API key"
ADDRESS = "0x" + "ab" * 20
BET_KEYS = {
    "bet_id",
    "game",
    "amount_bet",
    "result",
    "won",
    "payout_multiplier",
    "amount_won",
    "new_balance",
    "proof",
    "kelly",
    "_info",
}
GAMES: list[tuple[str, dict[str, Any], str, set[str]]] = [
    ("coin-flip", {"side": "heads"}, "coin_flip", {"side_chosen", "outcome", "roll"}),
    (
        "dice",
        {"direction": "over", "threshold": 50},
        "dice",
        {"direction", "threshold", "dice_value", "win_probability", "roll"},
    ),
    (
        "multiplier",
        {"target_multiplier": 2},
        "multiplier",
        {"target_multiplier", "crash_point", "win_probability", "roll"},
    ),
    (
        "crash",
        {"cash_out_at": 2},
        "crash",
        {"cash_out_at", "crash_point", "cashed_out", "win_probability", "roll"},
    ),
    (
        "roulette",
        {"bet_type": "red"},
        "roulette",
        {"bet_type", "number", "color", "win_probability", "roll"},
    ),
    (
        "custom",
        {"win_probability": 40},
        "custom",
        {"win_probability_pct", "payout_multiplier", "roll", "threshold"},
    ),
]


async def flip(client: httpx.AsyncClient, key: str, amount: float = 1, **extra: Any) -> Any:
    body = {"side": "heads", "amount": amount, **extra}
    return await client.post(f"{CASINO}/games/coin-flip", json=body, headers=bearer(key))


async def advance(client: httpx.AsyncClient, seconds: float) -> None:
    r = await client.post("/_sim/clock", json={"advance_s": seconds})
    assert r.status_code == 200, r.text


# --- registration and authentication -------------------------------------------------------


async def test_register_returns_201_with_the_documented_body(client: httpx.AsyncClient) -> None:
    """POST /auth/register answers 201 with exactly the server's fields and key formats."""
    r = await client.post(f"{CASINO}/auth/register", json={"username": "ignored"})
    assert r.status_code == 201
    body = r.json()
    assert set(body) == {
        "agent_id",
        "api_key",
        "referral_code",
        "balance",
        "tier",
        "risk_factor",
        "referral_commission",
        "message",
        "next_steps",
        "_info",
    }
    assert re.fullmatch(r"ag_[0-9a-f]{12}", body["agent_id"])
    assert re.fullmatch(r"sk_live_[0-9a-f]{48}", body["api_key"])
    assert re.fullmatch(r"ref_[0-9a-f]{8}", body["referral_code"])
    assert (body["balance"], body["tier"], body["risk_factor"]) == (0, "free", 0.25)
    assert body["message"] == "Store your API key securely — it cannot be recovered."
    assert body["_info"] == INFO


async def test_register_leaves_a_new_agent_at_zero_without_auto_faucet(
    client: httpx.AsyncClient,
) -> None:
    """By default a new agent has $0, as when the real faucet does not answer."""
    _, key = await casino_agent(client, balance=0)
    r = await client.get(f"{CASINO}/auth/balance", headers=bearer(key))
    assert r.json()["balance_usd"] == 0


async def test_register_with_auto_faucet_credits_one_dollar() -> None:
    """With auto_faucet on, registration credits $1 from the faucet and marks it claimed."""
    app = create_app(seed=1, clock=SimClock(start=T0), auto_faucet=True)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
        _, key = await casino_agent(client, balance=0)
        body = (await client.get(f"{CASINO}/auth/balance", headers=bearer(key))).json()
    assert body["balance_usd"] == 1.0
    assert body["recent_activity"][0]["service"] == "faucet"


async def test_register_is_limited_to_10_per_ip_per_minute(client: httpx.AsyncClient) -> None:
    """The 11th registration from one IP in a minute is a bare 429; the window then resets."""
    for _ in range(10):
        assert (await client.post(f"{CASINO}/auth/register")).status_code == 201
    r = await client.post(f"{CASINO}/auth/register")
    assert r.status_code == 429
    assert r.json() == {
        "error": "rate_limited",
        "message": "Too many requests. Limit: 10 per 60s",
        "_info": INFO,
    }
    assert "retry-after" not in r.headers
    await advance(client, 61)
    assert (await client.post(f"{CASINO}/auth/register")).status_code == 201


async def test_missing_authorization_header_is_401(client: httpx.AsyncClient) -> None:
    """No Bearer header gives the casino's exact 401 body."""
    r = await client.get(f"{CASINO}/auth/balance")
    assert r.status_code == 401
    assert r.json() == {
        "error": "unauthorized",
        "message": "Missing or invalid Authorization header. Use: Bearer {api_key}",
        "suggestion": SUGGESTION,
        "_info": INFO,
    }


async def test_unknown_api_key_is_401_invalid_api_key(client: httpx.AsyncClient) -> None:
    """A well-formed but unknown key gives the 401 with message "Invalid API key"."""
    r = await client.get(f"{CASINO}/auth/balance", headers=bearer("sk_live_" + "0" * 48))
    assert r.status_code == 401
    assert r.json() == {
        "error": "unauthorized",
        "message": "Invalid API key",
        "suggestion": SUGGESTION,
        "_info": INFO,
    }


async def test_loopback_path_prefix_reaches_the_casino(client: httpx.AsyncClient) -> None:
    """/casino/api/v1/... on the loopback base URL is the same casino."""
    r = await client.post("/casino/api/v1/auth/register", json={})
    assert r.status_code == 201
    registered = r.json()
    r = await client.get("/casino/api/v1/auth/balance", headers=bearer(registered["api_key"]))
    assert r.status_code == 200
    assert r.json()["agent_id"] == registered["agent_id"]
    same_host = await client.get(f"{CASINO}/auth/balance", headers=bearer(registered["api_key"]))
    assert same_host.json()["agent_id"] == registered["agent_id"]


async def test_health_reports_agents(client: httpx.AsyncClient) -> None:
    """GET /health on the casino host has the server's health fields."""
    await casino_agent(client)
    body = (await client.get("https://casino.purpleflea.com/health")).json()
    assert body["status"] == "ok"
    assert body["service"] == "agent-casino"
    assert body["registered_agents"] == 1
    assert {"version", "uptime_seconds", "database", "timestamp"} <= set(body)


# --- account --------------------------------------------------------------------------------


async def test_balance_has_lifetime_and_recent_activity(client: httpx.AsyncClient) -> None:
    """GET /auth/balance returns the account, lifetime totals and ledger rows."""
    agent_id, key = await casino_agent(client, 100)
    body = (await client.get(f"{CASINO}/auth/balance", headers=bearer(key))).json()
    assert body["agent_id"] == agent_id
    assert (body["balance_usd"], body["tier"], body["risk_factor"]) == (100, "free", 0.25)
    assert set(body["lifetime"]) == {
        "total_deposited",
        "total_withdrawn",
        "total_wagered",
        "total_won",
        "net_profit",
    }
    assert body["lifetime"]["total_deposited"] == 100
    row = body["recent_activity"][0]
    assert set(row) == {"type", "amount", "balance_after", "reason", "service", "at"}
    assert (row["type"], row["amount"], row["balance_after"]) == ("credit", 100, 100)


async def test_balance_is_a_raw_float(client: httpx.AsyncClient) -> None:
    """balance_usd is not rounded: 0.1 + 0.2 shows its float tail, like the real server."""
    agent_id, key = await casino_agent(client, 0.1)
    await client.post("/_sim/credit", json={"agent_id": agent_id, "amount": 0.2})
    body = (await client.get(f"{CASINO}/auth/balance", headers=bearer(key))).json()
    assert body["balance_usd"] == 0.1 + 0.2 != 0.3


async def test_bets_write_reservation_and_release_rows(client: httpx.AsyncClient) -> None:
    """A bet debits its stake as "reservation"; a win credits "reservation_release"."""
    _, key = await casino_agent(client, 100)
    results: list[dict[str, Any]] = []
    while {r["won"] for r in results} != {True, False} and len(results) < 40:
        results.append((await flip(client, key)).json())
    entries = (await client.get(f"{CASINO}/auth/ledger", headers=bearer(key))).json()["entries"]
    bet_rows = [e for e in reversed(entries) if e["reference"] and e["reference"][:4] == "bet_"]
    expected = []
    for r in results:
        expected.append(("debit", "reservation", 1, r["bet_id"]))
        if r["won"]:
            expected.append(("credit", "reservation_release", 1.99, r["bet_id"]))
    got = [(e["type"], e["reason"], e["amount"], e["reference"]) for e in bet_rows]
    assert got == expected
    assert set(entries[0]) >= {"id", "agentId", "balanceAfter", "service", "createdAt", "at"}


async def test_deposit_address_is_201_then_200(client: httpx.AsyncClient) -> None:
    """The first deposit-address call creates (201), the next returns the same (200)."""
    _, key = await casino_agent(client)
    first = await client.post(f"{CASINO}/auth/deposit-address", json={}, headers=bearer(key))
    again = await client.post(
        f"{CASINO}/auth/deposit-address", json={"chain": "base"}, headers=bearer(key)
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["address"] == again.json()["address"]
    assert re.fullmatch(r"0x[0-9a-f]{40}", first.json()["address"])
    assert first.json()["send_token"] == "USDC"
    assert {"send_instructions", "auto_swap", "swap_fee", "minimum", "note"} <= set(first.json())


async def test_deposit_address_rejects_an_unknown_chain(client: httpx.AsyncClient) -> None:
    """An unsupported chain is 400 unsupported_chain listing the supported ones."""
    _, key = await casino_agent(client)
    r = await client.post(
        f"{CASINO}/auth/deposit-address", json={"chain": "dogecoin"}, headers=bearer(key)
    )
    assert r.status_code == 400
    assert r.json()["error"] == "unsupported_chain"
    assert "base" in r.json()["supported"]


async def test_withdraw_completes_with_fee(client: httpx.AsyncClient) -> None:
    """A withdrawal up to $1,000 completes, charging the flat $0.50 fee."""
    _, key = await casino_agent(client, 100)
    r = await client.post(
        f"{CASINO}/auth/withdraw", json={"amount": 10, "address": ADDRESS}, headers=bearer(key)
    )
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "completed"
    assert (body["amount"], body["fee"], body["chain"], body["token"]) == (10, 0.5, "base", "USDC")
    assert body["new_balance"] == 89.5
    assert re.fullmatch(r"0x[0-9a-f]{64}", body["tx_hash"])
    assert body["explorer"].endswith(body["tx_hash"])
    listed = (await client.get(f"{CASINO}/auth/withdrawals", headers=bearer(key))).json()
    assert listed["withdrawals"][0]["id"] == body["withdrawal_id"]
    assert listed["withdrawals"][0]["status"] == "completed"


async def test_withdraw_over_1000_is_pending_review(client: httpx.AsyncClient) -> None:
    """Above $1,000 a withdrawal is held for review, the money already reserved."""
    _, key = await casino_agent(client, 2000)
    r = await client.post(
        f"{CASINO}/auth/withdraw", json={"amount": 1500, "address": ADDRESS}, headers=bearer(key)
    )
    assert r.json()["status"] == "pending_review"
    balance = (await client.get(f"{CASINO}/auth/balance", headers=bearer(key))).json()
    assert balance["balance_usd"] == 499.5


@pytest.mark.parametrize(
    ("amount", "address", "error"),
    [
        (0, ADDRESS, "invalid_amount"),
        ("5", ADDRESS, "invalid_amount"),
        (0.5, ADDRESS, "minimum_withdrawal"),
        (100_001, ADDRESS, "maximum_withdrawal"),
        (5, "0x123", "invalid_address"),
    ],
)
async def test_withdraw_validation_errors(
    client: httpx.AsyncClient, amount: Any, address: str, error: str
) -> None:
    """Each invalid withdrawal is a 400 with the server's error code and a suggestion."""
    _, key = await casino_agent(client, 100)
    r = await client.post(
        f"{CASINO}/auth/withdraw", json={"amount": amount, "address": address}, headers=bearer(key)
    )
    assert r.status_code == 400
    assert r.json()["error"] == error
    assert "suggestion" in r.json()


async def test_withdraw_more_than_the_balance_is_insufficient_balance(
    client: httpx.AsyncClient,
) -> None:
    """The fee counts: withdrawing the whole balance is short by $0.50."""
    _, key = await casino_agent(client, 10)
    r = await client.post(
        f"{CASINO}/auth/withdraw", json={"amount": 10, "address": ADDRESS}, headers=bearer(key)
    )
    assert r.status_code == 400
    body = r.json()
    assert body["error"] == "insufficient_balance"
    assert (body["requested"], body["fee"], body["total_needed"], body["available"]) == (
        10,
        0.5,
        10.5,
        10,
    )


async def test_withdraw_is_limited_to_5_per_ip_per_minute(client: httpx.AsyncClient) -> None:
    """The 6th withdraw call from one IP in a minute is 429 rate_limited."""
    _, key = await casino_agent(client, 100)
    for _ in range(5):
        r = await client.post(f"{CASINO}/auth/withdraw", json={}, headers=bearer(key))
        assert r.status_code == 400
    r = await client.post(f"{CASINO}/auth/withdraw", json={}, headers=bearer(key))
    assert r.status_code == 429
    assert r.json()["message"] == "Too many requests. Limit: 5 per 60s"


# --- games ----------------------------------------------------------------------------------


async def test_games_list_is_public(client: httpx.AsyncClient) -> None:
    """GET /games needs no key and lists every playable game with its endpoint."""
    body = (await client.get(f"{CASINO}/games")).json()
    ids = {g["id"] for g in body["games"]}
    assert {"coin_flip", "dice", "multiplier", "crash", "roulette", "custom"} <= ids
    assert body["batch_endpoint"] == "POST /api/v1/bets/batch"
    assert all(g["endpoint"].startswith("POST /api/v1/games/") for g in body["games"])


@pytest.mark.parametrize(("path", "params", "game", "result_keys"), GAMES)
async def test_each_game_returns_a_bet_result(
    client: httpx.AsyncClient, path: str, params: dict[str, Any], game: str, result_keys: set[str]
) -> None:
    """Each game answers with the BetResult fields and its own result fields."""
    _, key = await casino_agent(client, 100)
    r = await client.post(
        f"{CASINO}/games/{path}", json={**params, "amount": 1}, headers=bearer(key)
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == BET_KEYS
    assert body["game"] == game
    assert set(body["result"]) == result_keys
    assert re.fullmatch(r"bet_[0-9a-f-]{36}", body["bet_id"])
    assert set(body["proof"]) == {"server_seed_hash", "client_seed", "nonce", "result_hash"}
    assert set(body["kelly"]) == {
        "bankroll",
        "risk_factor",
        "max_bet_this_game",
        "bets_until_ruin",
        "suggested_bet",
    }
    assert body["amount_won"] == (round(body["payout_multiplier"], 2) if body["won"] else 0)
    assert body["new_balance"] == round(99 + body["amount_won"], 2)


async def test_payouts_match_the_server_code(client: httpx.AsyncClient) -> None:
    """Coin flip and dice over 50 pay 1.99x, dice under 10 pays 9.95x."""
    _, key = await casino_agent(client, 1000)
    h = bearer(key)
    assert (await flip(client, key)).json()["payout_multiplier"] == 1.99
    over = {"direction": "over", "threshold": 50, "amount": 1}
    under = {"direction": "under", "threshold": 10, "amount": 1}
    r_over = await client.post(f"{CASINO}/games/dice", json=over, headers=h)
    r_under = await client.post(f"{CASINO}/games/dice", json=under, headers=h)
    assert r_over.json()["payout_multiplier"] == 1.99
    assert r_under.json()["payout_multiplier"] == 9.95


async def test_client_seed_is_used_in_the_proof(client: httpx.AsyncClient) -> None:
    """A sent client_seed appears in the proof; without one it is auto_<ms>."""
    _, key = await casino_agent(client, 100)
    mine = (await flip(client, key, client_seed="lucky")).json()["proof"]
    auto = (await flip(client, key)).json()["proof"]
    assert (mine["client_seed"], mine["nonce"]) == ("lucky", 0)
    assert (auto["client_seed"], auto["nonce"]) == (f"auto_{int(T0 * 1000)}", 1)


@pytest.mark.parametrize(
    ("path", "params", "error"),
    [
        ("coin-flip", {"side": "edge"}, "invalid_side"),
        ("dice", {"direction": "sideways", "threshold": 50}, "invalid_direction"),
        ("dice", {"direction": "over", "threshold": 100}, "invalid_threshold"),
        ("multiplier", {"target_multiplier": 1.0}, "invalid_multiplier"),
        ("crash", {"cash_out_at": 101}, "invalid_cashout"),
        ("custom", {"win_probability": 0}, "invalid_probability"),
        ("roulette", {"bet_type": "purple"}, "invalid_bet_type"),
        ("roulette", {"bet_type": "number", "bet_value": 37}, "invalid_number"),
    ],
)
async def test_game_parameter_errors(
    client: httpx.AsyncClient, path: str, params: dict[str, Any], error: str
) -> None:
    """A bad game parameter is a 400 with the game's error code and a message."""
    _, key = await casino_agent(client, 100)
    r = await client.post(
        f"{CASINO}/games/{path}", json={**params, "amount": 1}, headers=bearer(key)
    )
    assert r.status_code == 400
    assert r.json()["error"] == error
    assert r.json()["message"]


@pytest.mark.parametrize(
    ("amount", "error", "message"),
    [
        (-1, "invalid_amount", "Bet amount must be a positive finite number"),
        ("1", "invalid_amount", "Bet amount must be a positive finite number"),
        (0.005, "minimum_bet", "Minimum bet is $0.01"),
    ],
)
async def test_bet_amount_errors(
    client: httpx.AsyncClient, amount: Any, error: str, message: str
) -> None:
    """A bad amount is 400 invalid_amount, a tiny one 400 minimum_bet."""
    _, key = await casino_agent(client, 100)
    r = await flip(client, key, amount=amount)
    assert r.status_code == 400
    assert (r.json()["error"], r.json()["message"]) == (error, message)


async def test_bet_above_balance_is_insufficient_balance(client: httpx.AsyncClient) -> None:
    """A stake above the balance is 400 insufficient_balance with required and suggestion."""
    _, key = await casino_agent(client, 0.5)
    r = await flip(client, key, amount=1)
    assert r.status_code == 400
    body = r.json()
    assert body["error"] == "insufficient_balance"
    assert body["required"] == 1
    assert body["message"] == "Balance $0.50 is less than bet $1.00"
    assert body["suggestion"] == "Deposit at least $0.50 or reduce bet size"


async def test_bet_above_kelly_cap_is_rejected(client: httpx.AsyncClient) -> None:
    """A coin flip above balance x 0.25 x 0.5 is 400 kelly_limit_exceeded with the cap."""
    _, key = await casino_agent(client, 1)
    r = await flip(client, key, amount=0.14)
    body = r.json()
    assert body["error"] == "kelly_limit_exceeded"
    assert body["max_bet"] == 0.13
    assert body["kelly"]["max_bet"] == 0.13
    assert body["message"] == "Bet $0.14 exceeds Kelly limit of $0.13"
    assert body["suggestion"].startswith("Reduce bet to $0.13 or lower.")


async def test_bet_at_the_kelly_cap_is_accepted(client: httpx.AsyncClient) -> None:
    """A faucet-sized $1 balance allows a $0.13 flip (the cap 0.125 rounds to 0.13)."""
    _, key = await casino_agent(client, 1)
    assert (await flip(client, key, amount=0.13)).status_code == 200


async def test_unknown_game_path_is_404(client: httpx.AsyncClient) -> None:
    """A game the simulator does not play is the casino's 404 body."""
    _, key = await casino_agent(client)
    r = await client.post(f"{CASINO}/games/lottery", json={}, headers=bearer(key))
    assert r.status_code == 404
    assert r.json()["error"] == "not_found"


async def test_games_are_limited_to_60_per_agent_per_minute(client: httpx.AsyncClient) -> None:
    """The 61st play of one agent in a minute, over two games, is 429 with reset_at."""
    _, key = await casino_agent(client, 10_000)
    dice = {"direction": "over", "threshold": 50, "amount": 0.01}
    for i in range(60):
        if i % 2:
            r = await flip(client, key, amount=0.01)
        else:
            r = await client.post(f"{CASINO}/games/dice", json=dice, headers=bearer(key))
        assert r.status_code == 200, r.text
    r = await flip(client, key, amount=0.01)
    assert r.status_code == 429
    assert r.json() == {
        "error": "rate_limit_exceeded",
        "message": "Max 60 game requests/min",
        "reset_at": "2026-01-01T00:01:00.000Z",
        "_info": INFO,
    }
    await advance(client, 61)
    assert (await flip(client, key, amount=0.01)).status_code == 200


async def test_one_game_path_hits_the_ip_limit_first(client: httpx.AsyncClient) -> None:
    """60 plays on one path, then the per-IP limiter (before auth) answers rate_limited."""
    _, key = await casino_agent(client, 10_000)
    for _ in range(60):
        assert (await flip(client, key, amount=0.01)).status_code == 200
    r = await flip(client, key, amount=0.01)
    assert r.status_code == 429
    assert r.json()["error"] == "rate_limited"
    assert r.json()["message"] == "Too many requests. Limit: 60 per 60s"
    r = await client.post(f"{CASINO}/games/coin-flip", json={})
    assert r.status_code == 429  # still before authentication


async def test_rate_limits_can_be_switched_off() -> None:
    """With rate_limits off, neither limiter answers."""
    app = create_app(seed=3, clock=SimClock(start=T0), rate_limits=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8765") as client:
        _, key = await casino_agent(client, 10_000)
        codes = {(await flip(client, key, amount=0.01)).status_code for _ in range(70)}
    assert codes == {200}


# --- batch and history ----------------------------------------------------------------------


async def test_batch_reports_total_wagered_zero_like_upstream(client: httpx.AsyncClient) -> None:
    """The batch summary keeps the server's bug: total_wagered 0, so net_pnl = total_won."""
    _, key = await casino_agent(client, 100)
    bets = [{"game": "coin_flip", "side": "tails", "amount": 1} for _ in range(8)]
    r = await client.post(f"{CASINO}/bets/batch", json={"bets": bets}, headers=bearer(key))
    assert r.status_code == 200
    body = r.json()
    summary = body["summary"]
    won = sum(1 for x in body["results"] if x["won"])
    assert (summary["total"], summary["won"], summary["lost"], summary["errors"]) == (
        8,
        won,
        8 - won,
        0,
    )
    assert summary["total_wagered"] == 0
    assert summary["total_won"] == round(won * 1.99, 2) == summary["net_pnl"]
    assert summary["win_rate_pct"] == round(won / 8 * 100, 2)
    assert body["balance_after"] == round(100 - 8 + won * 1.99, 2)
    assert body["kelly_max_next_bet"] == round(body["balance_after"] * 0.25, 2)


async def test_batch_keeps_failed_items_inline(client: httpx.AsyncClient) -> None:
    """Failed batch items are error objects in place; the others still settle."""
    _, key = await casino_agent(client, 100)
    bets = [
        {"game": "coin_flip", "amount": 1},
        {"game": "keno", "amount": 1},
        {"game": "dice", "threshold": 100, "amount": 1},
        {"game": "crash", "amount": 1000},
    ]
    body = (
        await client.post(f"{CASINO}/bets/batch", json={"bets": bets}, headers=bearer(key))
    ).json()
    results = body["results"]
    assert results[0]["result"]["side_chosen"] == "heads"  # the server's default side
    assert results[1] == {"error": "unknown_game", "message": "Unknown game: keno"}
    assert results[2]["error"] == "invalid_threshold"
    assert results[3]["error"] == "insufficient_balance"
    assert body["summary"]["errors"] == 3


@pytest.mark.parametrize(
    ("bets", "error"),
    [(None, "invalid_bets"), ([], "invalid_bets"), ([{"game": "dice"}] * 21, "too_many_bets")],
)
async def test_batch_rejects_bad_bet_lists(
    client: httpx.AsyncClient, bets: Any, error: str
) -> None:
    """A missing or empty bet list, or more than 20 bets, is a 400."""
    _, key = await casino_agent(client, 100)
    r = await client.post(f"{CASINO}/bets/batch", json={"bets": bets}, headers=bearer(key))
    assert r.status_code == 400
    assert r.json()["error"] == error


async def test_batch_is_limited_to_10_per_agent_per_minute(client: httpx.AsyncClient) -> None:
    """The 11th batch call of an agent in a minute is 429 "Max 10 batch calls/min"."""
    _, key = await casino_agent(client, 1000)
    batch = {"bets": [{"game": "coin_flip", "amount": 0.01}]}
    for _ in range(10):
        r = await client.post(f"{CASINO}/bets/batch", json=batch, headers=bearer(key))
        assert r.status_code == 200
    r = await client.post(f"{CASINO}/bets/batch", json=batch, headers=bearer(key))
    assert r.status_code == 429
    body = r.json()
    assert (body["error"], body["message"]) == ("rate_limit_exceeded", "Max 10 batch calls/min")
    assert body["reset_at"] == "2026-01-01T00:01:00.000Z"
    await advance(client, 61)
    r = await client.post(f"{CASINO}/bets/batch", json=batch, headers=bearer(key))
    assert r.status_code == 200


async def test_history_lists_bets_newest_first_with_pagination(
    client: httpx.AsyncClient,
) -> None:
    """GET /bets/history pages newest first and summarises the filtered set."""
    _, key = await casino_agent(client, 100)
    ids = [(await flip(client, key)).json()["bet_id"] for _ in range(5)]
    r = await client.get(f"{CASINO}/bets/history?limit=2&offset=1", headers=bearer(key))
    body = r.json()
    assert [b["id"] for b in body["bets"]] == [ids[3], ids[2]]
    assert body["pagination"] == {"total": 5, "limit": 2, "offset": 1, "has_more": True}
    row = body["bets"][0]
    assert set(row) == {"id", "game", "amount", "amount_won", "multiplier", "won", "net"} | {
        "verify",
        "at",
    }
    assert row["net"] == round(row["amount_won"] - row["amount"], 2)
    assert body["summary"]["total_bets"] == 5
    assert body["summary"]["total_wagered"] == 5
    assert body["filters"] == {"game": None, "outcome": None, "since": None}


async def test_history_filters_by_game_and_outcome(client: httpx.AsyncClient) -> None:
    """game= and outcome= narrow the history and its summary."""
    _, key = await casino_agent(client, 100)
    for _ in range(40):
        if (await flip(client, key)).json()["won"]:
            break
    await client.post(
        f"{CASINO}/games/crash", json={"cash_out_at": 2, "amount": 1}, headers=bearer(key)
    )
    r = await client.get(f"{CASINO}/bets/history?game=coin_flip&outcome=won", headers=bearer(key))
    bets = r.json()["bets"]
    assert bets
    assert all(b["game"] == "coin_flip" and b["won"] for b in bets)
    assert r.json()["summary"]["win_rate_pct"] == 100


async def test_history_rejects_an_unknown_game(client: httpx.AsyncClient) -> None:
    """An unknown game filter is 400 invalid_game."""
    _, key = await casino_agent(client)
    r = await client.get(f"{CASINO}/bets/history?game=poker", headers=bearer(key))
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_game"


# --- Kelly ----------------------------------------------------------------------------------


async def test_kelly_limits_follow_balance_and_risk(client: httpx.AsyncClient) -> None:
    """GET /kelly/limits gives each game's Kelly block for the balance and risk factor."""
    _, key = await casino_agent(client, 100)
    body = (await client.get(f"{CASINO}/kelly/limits", headers=bearer(key))).json()
    assert (body["bankroll"], body["risk_factor"]) == (100, 0.25)
    coin = body["limits"]["coin_flip"]
    assert coin["max_bet"] == 12.5
    assert coin["suggested_bet"] == 6.25
    assert coin["bets_until_ruin"] == 8
    assert set(coin) == {
        "max_bet",
        "kelly_fraction",
        "adjusted_fraction",
        "edge",
        "expected_value_per_bet",
        "bets_until_ruin",
        "suggested_bet",
        "growth_rate",
    }


async def test_kelly_config_changes_the_cap(client: httpx.AsyncClient) -> None:
    """PUT /kelly/config {risk_factor: 1} lets a coin flip reach half the balance."""
    _, key = await casino_agent(client, 100)
    r = await client.put(f"{CASINO}/kelly/config", json={"risk_factor": 1}, headers=bearer(key))
    assert r.status_code == 200
    assert r.json()["message"] == "Risk factor updated to 1"
    assert r.json()["new_limits"]["limits"]["coin_flip"]["max_bet"] == 50
    assert (await flip(client, key, amount=50)).status_code == 200


@pytest.mark.parametrize("risk", [0.05, 1.5, "0.5", None])
async def test_kelly_config_rejects_out_of_range(client: httpx.AsyncClient, risk: Any) -> None:
    """A risk_factor outside 0.1-1.0 (or not a number) is 400 invalid_risk_factor."""
    _, key = await casino_agent(client)
    r = await client.put(f"{CASINO}/kelly/config", json={"risk_factor": risk}, headers=bearer(key))
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_risk_factor"


# --- fairness -------------------------------------------------------------------------------


async def test_seed_hash_is_the_commitment_in_proofs(client: httpx.AsyncClient) -> None:
    """GET /fairness/seed-hash returns the hash every following proof carries."""
    _, key = await casino_agent(client)
    committed = (await client.get(f"{CASINO}/fairness/seed-hash", headers=bearer(key))).json()[
        "server_seed_hash"
    ]
    assert (await flip(client, key)).json()["proof"]["server_seed_hash"] == committed


async def test_verify_before_rotation_is_not_yet_revealed(client: httpx.AsyncClient) -> None:
    """Verifying a bet whose seed is still active says seed_not_yet_revealed."""
    _, key = await casino_agent(client)
    bet = (await flip(client, key)).json()
    r = await client.post(
        f"{CASINO}/fairness/verify", json={"bet_id": bet["bet_id"]}, headers=bearer(key)
    )
    assert r.status_code == 200
    assert r.json()["status"] == "seed_not_yet_revealed"
    assert r.json()["result_hash"] == bet["proof"]["result_hash"]
    assert "server_seed" not in r.json()


async def test_verify_unknown_bet_is_404(client: httpx.AsyncClient) -> None:
    """An unknown bet_id is 404 bet_not_found."""
    _, key = await casino_agent(client)
    r = await client.post(
        f"{CASINO}/fairness/verify", json={"bet_id": "bet_x"}, headers=bearer(key)
    )
    assert r.status_code == 404
    assert r.json()["error"] == "bet_not_found"
    assert r.json()["message"] == "No bet found with id: bet_x"


async def test_verify_without_bet_or_seeds_is_missing_params(client: httpx.AsyncClient) -> None:
    """Neither bet_id nor the manual seeds is 400 missing_params."""
    _, key = await casino_agent(client)
    r = await client.post(f"{CASINO}/fairness/verify", json={}, headers=bearer(key))
    assert r.status_code == 400
    assert r.json()["error"] == "missing_params"


async def test_rotate_reveals_the_seed_and_resets_the_nonce(client: httpx.AsyncClient) -> None:
    """POST /fairness/rotate reveals the committed seed; the next bet uses nonce 0 again."""
    _, key = await casino_agent(client)
    first = (await flip(client, key)).json()
    await flip(client, key)
    body = (await client.post(f"{CASINO}/fairness/rotate", headers=bearer(key))).json()
    old = body["previous_seed"]
    assert old["seed_hash"] == first["proof"]["server_seed_hash"]
    assert hashlib.sha256(old["seed"].encode()).hexdigest() == old["seed_hash"]
    assert old["bets_made"] == 2
    after = (await flip(client, key)).json()["proof"]
    assert (after["nonce"], after["server_seed_hash"]) == (0, body["new_seed_hash"])


async def test_rotate_without_a_seed_says_so(client: httpx.AsyncClient) -> None:
    """Before any bet or seed-hash call there is no seed to rotate."""
    _, key = await casino_agent(client)
    r = await client.post(f"{CASINO}/fairness/rotate", headers=bearer(key))
    assert r.json()["message"] == "No active seed to rotate"


async def test_verify_after_rotation_proves_the_bet(client: httpx.AsyncClient) -> None:
    """After rotation, verify returns the seed, the recomputed roll and hash_matches."""
    _, key = await casino_agent(client)
    bet = (await flip(client, key)).json()
    await client.post(f"{CASINO}/fairness/rotate", headers=bearer(key))
    r = await client.post(
        f"{CASINO}/fairness/verify", json={"bet_id": bet["bet_id"]}, headers=bearer(key)
    )
    body = r.json()
    assert (body["verified"], body["proof"]["hash_matches"]) == (True, True)
    assert body["proof"]["computed_result"] == bet["result"]["roll"]
    assert body["result"] == bet["result"]
    assert body["amount_won"] == bet["amount_won"]


async def test_manual_verify_recomputes_any_roll(client: httpx.AsyncClient) -> None:
    """Verify with explicit seeds computes the roll and checks the commitment."""
    _, key = await casino_agent(client)
    seed = "00" * 32
    body = {
        "server_seed": seed,
        "server_seed_hash": hashlib.sha256(seed.encode()).hexdigest(),
        "client_seed": "abc",
        "nonce": 3,
    }
    r = await client.post(f"{CASINO}/fairness/verify", json=body, headers=bearer(key))
    assert set(r.json()) == {"verified", "result", "result_hash", "hash_matches", "_info"}
    assert r.json()["verified"] is True
    assert 0 <= r.json()["result"] < 100


async def test_lost_bet_pays_the_referrer_ten_percent(client: httpx.AsyncClient) -> None:
    """An agent registered with a referral code pays its referrer 10% of lost stakes."""
    referrer = (await client.post(f"{CASINO}/auth/register", json={})).json()
    body = {"referral_code": referrer["referral_code"]}
    player = (await client.post(f"{CASINO}/auth/register", json=body)).json()
    await client.post("/_sim/credit", json={"agent_id": player["agent_id"], "amount": 100})
    results = [(await flip(client, player["api_key"], amount=2)).json() for _ in range(6)]
    losses = sum(1 for x in results if not x["won"])
    assert losses
    r = await client.get(f"{CASINO}/auth/balance", headers=bearer(referrer["api_key"]))
    assert r.json()["balance_usd"] == pytest.approx(0.2 * losses)
    assert r.json()["recent_activity"][0]["reason"].startswith("referral_commission_l1:bet_")
