"""What the guard costs per call, against the same client without it, measured in one run.

    .venv/bin/python benchmarks/overhead.py [--calls 5000]

Both clients talk to an in-memory httpx.MockTransport that answers a real casino bet body, so
the figures are the guard's own work (classify, admit, tee, decode, settle, record), not the
network's. It also shows that the breaker windows cost the same per call at any traffic.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from guard import AsyncGuardTransport, GuardSettings
from guard._window import CountWindow, LatencyWindow

BODY = (
    b'{"bet_id":"bet_1","game":"coin_flip","amount_bet":0.1,"result":{"side_chosen":"heads",'
    b'"outcome":"tails","roll":63.21},"won":false,"payout_multiplier":1.99,"amount_won":0,'
    b'"new_balance":9.9,"proof":{"server_seed_hash":"ab","client_seed":"auto_1","nonce":1,'
    b'"result_hash":"cd"},"kelly":{"bankroll":9.9,"risk_factor":0.25,"max_bet_this_game":1.23,'
    b'"bets_until_ruin":99,"suggested_bet":0.6}}'
)
URL = "https://casino.purpleflea.com/api/v1/games/coin-flip"


def handler(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        200, headers={"content-type": "application/json"}, stream=httpx.ByteStream(BODY)
    )


async def per_call_us(client: httpx.AsyncClient, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        await client.post(URL, json={"side": "heads", "amount": 0.1})
    return (time.perf_counter() - start) / calls * 1e6


async def main(calls: int, rounds: int) -> None:
    db = Path(tempfile.mkdtemp()) / "bench.db"
    settings = GuardSettings(db_path=db, consecutive_loss_limit=0, balance_drop_pct=0)
    plain = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    guarded_transport = AsyncGuardTransport(httpx.MockTransport(handler), settings=settings)
    guarded = httpx.AsyncClient(transport=guarded_transport)
    base, with_guard = [], []
    async with plain, guarded:
        await per_call_us(plain, 200)  # warm up both
        await per_call_us(guarded, 200)
        for _ in range(rounds):  # interleaved rounds: both see the same machine state
            base.append(await per_call_us(plain, calls))
            with_guard.append(await per_call_us(guarded, calls))
    b, g = statistics.median(base), statistics.median(with_guard)
    print(f"calls per round: {calls}, rounds: {rounds} (medians)")
    print(f"httpx client alone:        {b:8.1f} us/call")
    print(f"httpx client + guard:      {g:8.1f} us/call")
    print(f"guard overhead:            {g - b:8.1f} us/call  (x{g / b:.2f} of the bare client)")

    for events in (1_000, 100_000):
        counts, latency = CountWindow(60), LatencyWindow(60)
        start = time.perf_counter()
        for i in range(events):
            now = i * 60 / events
            counts.add(now, errors=i % 7 == 0)
            latency.add(now, 50 + i % 400)
            counts.totals(now)
        per = (time.perf_counter() - start) / events * 1e6
        print(f"window add+totals at {events:>7,} events/minute: {per:6.2f} us/event")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.rounds))
