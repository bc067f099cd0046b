"""Dead letters, from the agent's failed bet to the operator's replay with ``guard dlq``.

A 503 storm hits the casino. The agent's bet goes through ``guard.AsyncGuardTransport``, which
retries it (a 503 certainly did not execute, so a money call may be retried) and, when every
attempt failed, writes it to the dead-letter queue in ``GUARD_DB_PATH`` as ``not_executed``
before the agent sees the 503. Then an operator, from a shell, lists and inspects the queue,
waits for the outage to end, and replays the bet with ``guard dlq replay`` under the agent's
current key (rotated in the meantime). The replay carries the original ``Idempotency-Key``; the
bet executes exactly once and the balance moves once.

The simulator runs over real loopback HTTP in a thread (``guard.sim.serve``), so the CLI, a
separate process, reaches the same simulator. Simulator controls (``/_sim/...``: funding, faults,
key rotation) go through an unguarded client. Run it with::

    python examples/dead_letters.py
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

import httpx

import guard
from guard.sim import SimClock, create_app, serve

BET = {"direction": "over", "threshold": 50, "amount": 1}


async def no_sleep(_seconds: float) -> None:
    """Retries without waiting (the default waits back off from GUARD_RETRY_BASE_DELAY_S)."""


async def agent_bets(casino: str, api_key: str, db: Path) -> None:
    """The agent: one dice bet through the guard, during the outage."""
    settings = guard.GuardSettings(db_path=db, agent_id="dice-bot")
    transport = guard.AsyncGuardTransport(
        httpx.AsyncHTTPTransport(), settings=settings, sleep=no_sleep
    )
    async with httpx.AsyncClient(transport=transport) as client:
        r = await client.post(
            f"{casino}/games/dice", json=BET, headers={"Authorization": f"Bearer {api_key}"}
        )
        # The agent gets the last 503 as a response (not an exception); the guard has already
        # committed the dead letter by now.
        body = r.json()
        print(f"agent received: HTTP {r.status_code} {body['error']}: {body['message']}")
        counts = transport.snapshot()["counts"]
        print(f"guard counts: calls {counts['calls']}, dead_letters {counts['dead_letters']}")


def dlq(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run `guard dlq ...` as an operator would from a shell, and print what it said."""
    print(f"\n$ guard dlq {' '.join(args)}")
    proc = subprocess.run(
        [sys.executable, "-m", "guard", "dlq", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    print((proc.stdout + proc.stderr).rstrip())
    if proc.returncode:
        print(f"(exit code {proc.returncode})")
    return proc


def main() -> int:
    db = Path(tempfile.mkdtemp(prefix="guard-example-")) / "guard.db"
    print(f"guard database: {db}")
    sim = create_app(seed=5, clock=SimClock(start=1_767_225_600))
    with serve(sim) as base, httpx.Client(base_url=base) as control:
        casino = f"{base}/casino/api/v1"

        # Register and fund a casino agent (simulator-only credit, as an on-chain deposit).
        agent = control.post(f"{casino}/auth/register", json={}).json()
        control.post("/_sim/credit", json={"agent_id": agent["agent_id"], "amount": 10})

        def balance(key: str) -> Decimal:
            r = control.get(f"{casino}/auth/balance", headers={"Authorization": f"Bearer {key}"})
            return Decimal(str(r.json()["balance_usd"])).quantize(Decimal("0.01"))

        before = balance(agent["api_key"])
        print(f"casino agent {agent['agent_id']} funded: balance ${before}")

        # A 503 storm: every casino call is answered 503 before anything executes.
        control.post("/_sim/faults", json={"service": "casino", "error_rate": 1}).raise_for_status()
        asyncio.run(agent_bets(casino, agent["api_key"], db))

        # The operator's shell: GUARD_DB_PATH points at the agent's database. (The test runner
        # and this example's own environment have no GUARD_* variables of their own.)
        env = {k: v for k, v in os.environ.items() if not k.startswith("GUARD_")}
        env.update(GUARD_DB_PATH=str(db), COLUMNS="120")  # COLUMNS: room for rich's tables
        dlq("list", env=env)
        dlq("show", "1", env=env)

        # The outage ends; meanwhile the agent's key was rotated: replay with the current one.
        control.delete("/_sim/faults").raise_for_status()
        rotated = control.post("/_sim/keys/rotate", json={"api_key": agent["api_key"]}).json()
        # Against the real API, which ignores Idempotency-Key, only `not_executed` entries are
        # safe to replay; an `unknown` one (a timeout, a 500/502/504) may already have run, so
        # check the account first (`guard dlq replay` refuses it without --force).
        replay = dlq("replay", "1", "--yes", env={**env, "GUARD_API_KEY": rotated["api_key"]})
        assert replay.returncode == 0, "the replay failed"
        dlq("replay", "1", "--yes", env={**env, "GUARD_API_KEY": rotated["api_key"]})
        dlq("list", "--status", "all", env=env)

        # What reached the server: five refused attempts, one execution (the replay).
        sent = control.get("/_sim/requests", params={"service": "casino"}).json()["requests"]
        bets = [q for q in sent if q["path"].endswith("/games/dice")]
        print("\ndice bets that reached the simulator:")
        for q in bets:
            print(f"  HTTP {q['status']} fault={q['fault']} idempotency_key={q['idempotency_key']}")
        executed = [q for q in bets if q["status"] == 200]
        assert len(executed) == 1, "the bet should have executed exactly once"
        assert len({q["idempotency_key"] for q in bets}) == 1, "one key on every attempt"
        after = balance(rotated["api_key"])
        history = control.get(
            f"{casino}/bets/history", headers={"Authorization": f"Bearer {rotated['api_key']}"}
        ).json()
        print(
            f"balance ${before} -> ${after} ({after - before:+}): "
            f"{len(history['bets'])} bet in the history, executed once"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
