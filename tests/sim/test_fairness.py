"""Provably fair: every simulated bet recomputes from its revealed seed, and seeds replay.

The maths here is written out again from the casino's public formulas, independently of the
simulator's own code, so a drift in either shows up.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from typing import Any

import httpx

from guard.sim import SimClock, create_app
from tests.conftest import CASINO, T0, bearer, casino_agent

EDGE = 0.005
RED = {1, 3, 5, 7, 9, 12, 14, 16, 18, 19, 21, 23, 25, 27, 30, 32, 34, 36}
PLAYS: list[tuple[str, dict[str, Any]]] = [
    ("coin-flip", {"side": "heads"}),
    ("coin-flip", {"side": "tails"}),
    ("dice", {"direction": "over", "threshold": 50}),
    ("dice", {"direction": "under", "threshold": 10}),
    ("dice", {"direction": "over", "threshold": 97.5}),
    ("multiplier", {"target_multiplier": 2}),
    ("multiplier", {"target_multiplier": 1.37}),
    ("crash", {"cash_out_at": 1.5}),
    ("crash", {"cash_out_at": 10}),
    ("custom", {"win_probability": 33}),
    ("roulette", {"bet_type": "red"}),
    ("roulette", {"bet_type": "dozen_2"}),
    ("roulette", {"bet_type": "number", "bet_value": 17}),
]


def js_round(x: float, places: int) -> float:
    """JavaScript's Math.round(x * 10**places) / 10**places."""
    scale = 10**places
    return math.floor(x * scale + 0.5) / scale


def expected(path: str, params: dict[str, Any], roll: float) -> tuple[bool, float]:
    """(won, payout multiplier) of one play, from the casino's published rules."""
    if path == "coin-flip":
        return ("heads" if roll < 50 else "tails") == params["side"], 1.99
    if path == "dice":
        t, over = params["threshold"], params["direction"] == "over"
        p = (100 - t) / 100 if over else t / 100
        value = math.floor(roll) + 1
        return (value > t if over else value < t), js_round(1 / p * (1 - EDGE), 4)
    if path in ("multiplier", "crash"):
        target = params.get("target_multiplier", params.get("cash_out_at"))
        point = 10000 if roll >= 99.99 else js_round((1 - EDGE) / (1 - roll / 100), 2)
        return point >= target, target
    if path == "custom":
        pct = params["win_probability"]
        return roll < pct, js_round(1 / (pct / 100) * (1 - EDGE), 4)
    n = math.floor(roll * 37 / 100)
    kind = params["bet_type"]
    if kind == "number":
        return n == params["bet_value"], js_round(35 * (1 - EDGE), 4)
    if kind == "red":
        return n in RED, js_round(2 * (1 - EDGE), 4)
    assert kind == "dozen_2"
    return 13 <= n <= 24, js_round(3 * (1 - EDGE), 4)


async def play_all(client: httpx.AsyncClient, key: str, rounds: int) -> list[tuple[Any, ...]]:
    """Play every entry of PLAYS ``rounds`` times; (path, params, amount, BetResult) each."""
    played = []
    for i in range(rounds):
        for j, (path, params) in enumerate(PLAYS):
            amount = 0.5 + (i * 7 + j) % 5 / 4
            body: dict[str, Any] = {**params, "amount": amount}
            if (i + j) % 3:
                body["client_seed"] = f"agent-seed-{i}-{j}"
            r = await client.post(f"{CASINO}/games/{path}", json=body, headers=bearer(key))
            assert r.status_code == 200, r.text
            played.append((path, params, amount, r.json()))
    return played


async def test_every_bet_recomputes_from_the_revealed_seed(client: httpx.AsyncClient) -> None:
    """After rotation each bet's HMAC, roll, outcome and amount_won follow from the seed."""
    await client.post("/_sim/config", json={"rate_limits": False})
    _, key = await casino_agent(client, 100_000)
    committed = (await client.get(f"{CASINO}/fairness/seed-hash", headers=bearer(key))).json()[
        "server_seed_hash"
    ]
    played = await play_all(client, key, rounds=12)
    rotated = (await client.post(f"{CASINO}/fairness/rotate", headers=bearer(key))).json()
    seed = rotated["previous_seed"]["seed"]
    assert hashlib.sha256(seed.encode()).hexdigest() == committed
    assert rotated["previous_seed"]["bets_made"] == len(played)
    outcomes = set()
    for nonce, (path, params, amount, bet) in enumerate(played):
        proof = bet["proof"]
        assert (proof["nonce"], proof["server_seed_hash"]) == (nonce, committed)
        message = f"{proof['client_seed']}:{nonce}".encode()
        digest = hmac.new(seed.encode(), message, hashlib.sha256).hexdigest()
        assert proof["result_hash"] == digest
        roll = (int(digest[:8], 16) % 10000) / 100
        assert bet["result"]["roll"] == js_round(roll, 2)
        won, payout = expected(path, params, roll)
        assert (bet["won"], bet["payout_multiplier"]) == (won, payout), (path, params, roll)
        assert bet["amount_won"] == (js_round(amount * payout, 2) if won else 0)
        outcomes.add((path, won))
    assert {path for path, _ in PLAYS} == {path for path, _ in outcomes}
    assert len(outcomes) == 2 * len({path for path, _ in PLAYS})  # each game both won and lost


async def test_verify_agrees_with_every_bet_after_rotation(client: httpx.AsyncClient) -> None:
    """POST /fairness/verify confirms each bet once its seed is revealed."""
    await client.post("/_sim/config", json={"rate_limits": False})
    _, key = await casino_agent(client, 10_000)
    played = await play_all(client, key, rounds=1)
    await client.post(f"{CASINO}/fairness/rotate", headers=bearer(key))
    for *_, bet in played:
        r = await client.post(
            f"{CASINO}/fairness/verify", json={"bet_id": bet["bet_id"]}, headers=bearer(key)
        )
        body = r.json()
        assert body["verified"] is True
        assert body["proof"]["hash_matches"] is True
        assert body["proof"]["computed_result"] == bet["result"]["roll"]
        assert (body["won"], body["result"]) == (bet["won"], bet["result"])


async def test_seed_rotates_by_itself_after_1000_bets(client: httpx.AsyncClient) -> None:
    """The 1000th bet on a seed reveals it; the 1001st starts a new seed at nonce 0."""
    await client.post("/_sim/config", json={"rate_limits": False})
    _, key = await casino_agent(client, 1000)
    batch = {"bets": [{"game": "coin_flip", "amount": 0.01, "client_seed": "c"}] * 20}
    first = None
    for _ in range(50):
        r = await client.post(f"{CASINO}/bets/batch", json=batch, headers=bearer(key))
        results = r.json()["results"]
        first = first or results[0]
    assert first is not None
    assert results[-1]["proof"]["nonce"] == 999
    nxt = (await client.post(f"{CASINO}/bets/batch", json=batch, headers=bearer(key))).json()
    proof = nxt["results"][0]["proof"]
    assert proof["nonce"] == 0
    assert proof["server_seed_hash"] != first["proof"]["server_seed_hash"]
    r = await client.post(
        f"{CASINO}/fairness/verify", json={"bet_id": first["bet_id"]}, headers=bearer(key)
    )
    assert r.json()["verified"] is True


async def session(seed: int) -> list[dict[str, Any]]:
    """A fixed script of requests against a fresh simulator; every JSON body it got."""
    app = create_app(seed=seed, clock=SimClock(start=T0))
    transport = httpx.ASGITransport(app=app)
    bodies = []
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8765") as client:
        _, key = await casino_agent(client, 1000)
        for _, _, _, bet in await play_all(client, key, rounds=3):
            bodies.append(bet)
        batch = {"bets": [{"game": "dice", "amount": 1}, {"game": "crash", "amount": 1}]}
        r = await client.post(f"{CASINO}/bets/batch", json=batch, headers=bearer(key))
        bodies.append(r.json())
        bodies.append((await client.post(f"{CASINO}/fairness/rotate", headers=bearer(key))).json())
    return bodies


async def test_same_seed_gives_identical_bet_sequences() -> None:
    """Two simulators built with the same seed answer the same script identically."""
    first, second = await session(42), await session(42)
    assert first == second
    other = await session(43)
    assert [b.get("bet_id") for b in first] != [b.get("bet_id") for b in other]
    assert first[0]["proof"]["result_hash"] != other[0]["proof"]["result_hash"]
