"""An async casino agent behind the guard: a losing streak is stopped before it leaves the process.

The agent keeps its ``httpx.AsyncClient``; only the transport changes. It runs against the
embedded simulator on the real hostnames (``httpx.ASGITransport``); against the real API, drop
the simulator and use ``guard.AsyncGuardTransport(httpx.AsyncHTTPTransport(), ...)``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path

import httpx

import guard
from guard.sim import SimClock, create_app

CASINO = "https://casino.purpleflea.com/api/v1"


async def main() -> int:
    sim = create_app(seed=7, clock=SimClock(start=1_767_225_600))  # frozen: repeatable
    db = Path(tempfile.mkdtemp(prefix="guard-example-")) / "guard.db"
    settings = guard.GuardSettings(db_path=db, consecutive_loss_limit=5)
    transport = guard.AsyncGuardTransport(httpx.ASGITransport(app=sim), settings=settings)
    async with (
        httpx.AsyncClient(mounts={"all://*purpleflea.com": transport}) as client,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=sim), base_url="http://sim") as control,
    ):
        agent = (await client.post(f"{CASINO}/auth/register", json={})).json()
        # Simulator-only: fund the account as an on-chain deposit would.
        await control.post("/_sim/credit", json={"agent_id": agent["agent_id"], "amount": 50})
        auth = {"Authorization": f"Bearer {agent['api_key']}"}
        bet = {"win_probability": 10, "amount": 0.5}  # a 10 % game: losing streaks come fast
        for n in range(1, 200):
            try:
                r = await client.post(f"{CASINO}/games/custom", json=bet, headers=auth)
            except guard.BreakerOpenError as denied:
                print(f"bet {n} refused locally, nothing sent:")
                print(json.dumps(denied.to_dict(), indent=2))
                break
            body = r.json()
            print(f"bet {n}: {'won ' if body['won'] else 'lost'} balance ${body['new_balance']}")
        snapshot = transport.snapshot()
        print("ledger:", json.dumps(snapshot["ledger"]))
        print(f"state kept in {db}: try `guard status --db {db}`")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
