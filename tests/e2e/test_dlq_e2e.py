"""Dead letters end to end: a 503 storm, safe replay from the CLI, a read timeout (loopback)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from guard import AsyncGuardTransport, GuardSettings


async def no_sleep(seconds: float) -> None:
    """Retries wait on nothing in tests."""


@pytest.fixture
async def sim(live_sim: str) -> AsyncIterator[httpx.AsyncClient]:
    """An unguarded client on a freshly reset simulator without rate limits."""
    async with httpx.AsyncClient(base_url=live_sim, timeout=10) as control:
        await control.post("/_sim/reset")
        await control.post("/_sim/config", json={"rate_limits": False})
        yield control
        await control.delete("/_sim/faults")


async def agent(sim: httpx.AsyncClient, balance: float = 20) -> tuple[str, str]:
    body = (await sim.post("/casino/api/v1/auth/register", json={})).json()
    await sim.post("/_sim/credit", json={"agent_id": body["agent_id"], "amount": balance})
    return body["agent_id"], body["api_key"]


async def balance(sim: httpx.AsyncClient, key: str) -> float:
    r = await sim.get("/casino/api/v1/auth/balance", headers={"Authorization": f"Bearer {key}"})
    return float(r.json()["balance_usd"])


def rows(db: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM dead_letters ORDER BY id")]


def guard_cli(db: Path, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUARD_")}
    env.update(GUARD_DB_PATH=str(db), GUARD_API_KEY=key)
    return subprocess.run(
        [sys.executable, "-m", "guard", "dlq", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_503_storm_then_safe_replay_spends_exactly_once(
    sim: httpx.AsyncClient, live_sim: str, tmp_path: Path
) -> None:
    """A 503 storm: N attempts with one key, a pending not_executed row; replays spend once."""
    db = tmp_path / "guard.db"
    _, key = await agent(sim)
    before = await balance(sim, key)
    await sim.post("/_sim/faults", json={"service": "casino", "error_rate": 1, "status": 503})
    transport = AsyncGuardTransport(settings=GuardSettings(db_path=db), sleep=no_sleep)
    async with httpx.AsyncClient(transport=transport, base_url=live_sim) as client:
        r = await client.post(
            "/casino/api/v1/games/coin-flip",
            json={"side": "heads", "amount": 1},
            headers={"Authorization": f"Bearer {key}"},
        )
    assert r.status_code == 503
    log = (await sim.get("/_sim/requests", params={"service": "casino"})).json()["requests"]
    storm = [e for e in log if e["path"] == "/api/v1/games/coin-flip"]
    assert len(storm) == 5
    assert len({e["idempotency_key"] for e in storm}) == 1
    (row,) = rows(db)
    assert (row["status"], row["outcome"], row["attempts"]) == ("pending", "not_executed", 5)
    assert row["idempotency_key"] == storm[0]["idempotency_key"]
    await sim.delete("/_sim/faults")
    assert await balance(sim, key) == before  # nothing executed
    first = guard_cli(db, key, "replay", str(row["id"]), "--yes")
    assert first.returncode == 0, first.stdout + first.stderr
    after_one = await balance(sim, key)
    assert after_one != before
    assert rows(db)[0]["status"] == "replayed"

    second = guard_cli(db, key, "replay", str(row["id"]), "--yes", "--force")
    assert second.returncode == 0, second.stdout + second.stderr
    assert await balance(sim, key) == after_one  # the server answered from its idempotency cache
    log = (await sim.get("/_sim/requests", params={"service": "casino"})).json()["requests"]
    bets = [e for e in log if e["path"] == "/api/v1/games/coin-flip" and e["status"] == 200]
    assert [e["replayed"] for e in bets] == [False, True]


async def test_read_timeout_on_a_bet_is_one_attempt_and_unknown(
    sim: httpx.AsyncClient, live_sim: str, tmp_path: Path
) -> None:
    """A read timeout on a bet: exactly one attempt and a dead letter whose outcome is unknown."""
    db = tmp_path / "guard.db"
    _, key = await agent(sim)
    await sim.post("/_sim/faults", json={"service": "casino", "timeout_rate": 1, "hang_s": 5})
    transport = AsyncGuardTransport(settings=GuardSettings(db_path=db), sleep=no_sleep)
    async with httpx.AsyncClient(transport=transport, base_url=live_sim, timeout=0.5) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post(
                "/casino/api/v1/games/coin-flip",
                json={"side": "heads", "amount": 1},
                headers={"Authorization": f"Bearer {key}"},
            )
    await sim.delete("/_sim/faults")
    log = (await sim.get("/_sim/requests", params={"service": "casino"})).json()["requests"]
    assert len([e for e in log if e["path"] == "/api/v1/games/coin-flip"]) == 1
    (row,) = rows(db)
    assert (row["outcome"], row["attempts"], row["error_type"]) == ("unknown", 1, "ReadTimeout")
    refused = guard_cli(db, key, "replay", str(row["id"]), "--yes")
    assert refused.returncode == 2
    assert "--force" in refused.stderr
    assert json.loads(row["request_body"]) == {"side": "heads", "amount": 1}
