"""A short scripted agent against the Purple Flea simulator (no guard yet).

It registers at the casino, claims the faucet, plays 20 dice rolls, opens and closes a trade,
and prints what each step returned. Run it with ``make demo`` or ``python examples/sim_tour.py``.
Everything runs in process: the simulator answers on the real hostnames through
``httpx.ASGITransport``, so the same code works against the real API by dropping ``transport=``.
"""

from __future__ import annotations

import asyncio
import sys
from decimal import Decimal

import httpx

from guard.sim import SimClock, create_app

CASINO = "https://casino.purpleflea.com/api/v1"
FAUCET = "https://faucet.purpleflea.com/faucet"
TRADING = "https://trading.purpleflea.com/v1"


def money(value: object) -> Decimal:
    return Decimal(str(value))


async def tour(seed: int = 7) -> int:
    app = create_app(seed=seed, clock=SimClock(start=1_767_225_600))  # frozen: repeatable
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8765") as client:
        r = await client.post(f"{CASINO}/auth/register", json={})
        r.raise_for_status()
        agent = r.json()
        auth = {"Authorization": f"Bearer {agent['api_key']}"}
        print(f"registered casino agent {agent['agent_id']} (key {agent['api_key'][:12]}…)")

        r = await client.post(f"{FAUCET}/claim", json={"agent_casino_id": agent["agent_id"]})
        r.raise_for_status()
        print(f"faucet credited ${r.json()['credited']}")

        pnl = Decimal(0)
        wins = 0
        for n in range(1, 21):
            body = {"direction": "over", "threshold": 50, "amount": 0.05}
            r = await client.post(f"{CASINO}/games/dice", json=body, headers=auth)
            r.raise_for_status()
            bet = r.json()
            delta = money(bet["amount_won"]) - money(bet["amount_bet"])
            pnl += delta
            wins += bet["won"]
            outcome = "won " if bet["won"] else "lost"
            roll = bet["result"]["dice_value"]
            balance = f"balance ${bet['new_balance']:.2f}"
            print(f"  bet {n:2d}: dice {roll:3d} {outcome} {delta:+.2f}  {balance}")
        print(f"20 bets: {wins} won, P&L {pnl:+.2f} (amount_won - amount_bet, summed as Decimal)")

        r = await client.post(f"{TRADING}/auth/register", json={})
        r.raise_for_status()
        trade_auth = {"Authorization": f"Bearer {r.json()['api_key']}"}
        order = {"coin": "BTC", "side": "long", "size_usd": 100, "leverage": 5}
        r = await client.post(f"{TRADING}/trade/open", json=order, headers=trade_auth)
        r.raise_for_status()
        opened = r.json()
        what = f"{opened['side']} {opened['coin']} ${opened['size_usd']}"
        print(f"opened {what} at {opened['entry_price']}")
        await client.post("/_sim/clock", json={"advance_s": 600})  # simulator-only: let prices move
        r = await client.post(
            f"{TRADING}/trade/close",
            json={"position_id": opened["position_id"]},
            headers=trade_auth,
        )
        r.raise_for_status()
        closed = r.json()
        print(
            f"closed at {closed['exit_price']}: pnl {closed['pnl']:+.2f}, fee {closed['fee']:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(tour()))
