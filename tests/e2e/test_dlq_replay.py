"""guard dlq replay end to end: a real ``guard dlq`` process replays a dead letter to a real
``guard sim`` over loopback, through the guard, and the simulator's books say what happened."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from guard._dlq import DeadLetters, insert_statement
from guard._store import SyncStore

IDEMPOTENCY_KEY = "replay-e2e-0001"
BET = '{"side":"heads","amount":1}'


@dataclass
class Agent:
    agent_id: str
    api_key: str


@pytest.fixture
def sim(live_sim: str) -> Iterator[httpx.Client]:
    """An unguarded client on a freshly reset simulator without rate limits or faults."""
    with httpx.Client(base_url=live_sim, timeout=10) as client:
        assert client.post("/_sim/reset").status_code == 200
        assert client.post("/_sim/config", json={"rate_limits": False}).status_code == 200
        client.delete("/_sim/faults")
        yield client
        client.delete("/_sim/faults")


@pytest.fixture
def agent(sim: httpx.Client) -> Agent:
    """A casino agent funded with 100."""
    r = sim.post("/casino/api/v1/auth/register", json={})
    assert r.status_code == 201, r.text
    body = r.json()
    credit = sim.post("/_sim/credit", json={"agent_id": body["agent_id"], "amount": 100})
    assert credit.status_code == 200, credit.text
    return Agent(body["agent_id"], body["api_key"])


@pytest.fixture
def dead_letter(tmp_path: Path, live_sim: str) -> tuple[Path, int]:
    """A pending, not-executed coin-flip bet in a fresh guard database; (path, id)."""
    db = tmp_path / "guard.db"
    headers = {
        "authorization": "[REDACTED]",
        "content-type": "application/json",
        "idempotency-key": IDEMPOTENCY_KEY,
    }
    record = {
        "agent_id": "agent",
        "outcome": "not_executed",
        "service": "casino",
        "operation": "coin_flip",
        "method": "POST",
        "url": f"{live_sim}/casino/api/v1/games/coin-flip",
        "request_headers": json.dumps(headers),
        "request_body": BET,
        "redacted": "[]",
        "error_type": "HTTPStatus",
        "error": "503 Service Unavailable",
        "http_status": 503,
        "attempts": 5,
        "trace_id": "trace-e2e",
        "idempotency_key": IDEMPOTENCY_KEY,
    }
    store = SyncStore(db)
    try:
        store.write([insert_statement(record)])
        id = int(store.query("SELECT max(id) AS id FROM dead_letters")[0]["id"])
    finally:
        store.close()
    return db, id


def guard_dlq(db: Path, api_key: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m guard dlq ...`` with only the database, the key and fast retries set."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("GUARD_")}
    env.update(GUARD_DB_PATH=str(db), GUARD_API_KEY=api_key, GUARD_RETRY_BASE_DELAY_S="0.01")
    return subprocess.run(
        [sys.executable, "-m", "guard", "dlq", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def balance(sim: httpx.Client, agent: Agent) -> dict[str, Any]:
    r = sim.get("/casino/api/v1/auth/balance", headers={"Authorization": f"Bearer {agent.api_key}"})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def row(db: Path, id: int) -> dict[str, Any]:
    store = SyncStore(db)
    try:
        found = DeadLetters(store).get(id)
    finally:
        store.close()
    assert found is not None
    return found


def coin_flips(sim: httpx.Client) -> list[dict[str, Any]]:
    log = sim.get("/_sim/requests", params={"service": "casino"}).json()["requests"]
    return [r for r in log if r["path"].endswith("/games/coin-flip")]


def test_a_replay_bets_once_and_a_forced_second_replay_is_answered_from_cache(
    sim: httpx.Client, agent: Agent, dead_letter: tuple[Path, int]
) -> None:
    """replay --yes places the bet once (row replayed); replay --force again is answered from
    the simulator's idempotency cache and the balance does not move again."""
    db, id = dead_letter
    before = balance(sim, agent)

    first = guard_dlq(db, agent.api_key, "replay", str(id), "--yes")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith(f"replayed dead letter {id}: 200 OK")
    assert agent.api_key not in first.stdout + first.stderr
    replayed = row(db, id)
    assert (replayed["status"], replayed["replays"]) == ("replayed", 1)
    assert replayed["replayed_at"] is not None
    after_one = balance(sim, agent)
    bet = json.loads(replayed["result"])["response"]
    assert after_one["lifetime"]["total_wagered"] == before["lifetime"]["total_wagered"] + 1
    assert after_one["balance_usd"] == pytest.approx(
        before["balance_usd"] - 1 + bet["amount_won"], abs=0.005
    )
    assert bet["new_balance"] == pytest.approx(after_one["balance_usd"], abs=0.005)

    again = guard_dlq(db, agent.api_key, "replay", str(id), "--yes")
    assert again.returncode == 2
    assert f"dead letter {id} was already replayed at" in again.stderr

    forced = guard_dlq(db, agent.api_key, "replay", str(id), "--yes", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "answered from the server's idempotency cache" in forced.stdout
    flips = coin_flips(sim)
    assert [(f["idempotency_key"], f["replayed"]) for f in flips] == [
        (IDEMPOTENCY_KEY, False),
        (IDEMPOTENCY_KEY, True),
    ]
    assert all(f["agent_id"] == agent.agent_id for f in flips)
    final = balance(sim, agent)
    assert final["balance_usd"] == after_one["balance_usd"]
    assert final["lifetime"]["total_wagered"] == after_one["lifetime"]["total_wagered"]
    forced_row = row(db, id)
    assert (forced_row["status"], forced_row["replays"]) == ("replayed", 2)
    assert json.loads(forced_row["result"])["idempotent_replayed"] is True


def test_a_replay_during_an_outage_fails_and_stays_pending(
    sim: httpx.Client, agent: Agent, dead_letter: tuple[Path, int]
) -> None:
    """The casino answers 503 to everything: exit 1, the row is still pending with one replay
    counted, and no bet was placed."""
    db, id = dead_letter
    before = balance(sim, agent)
    fault = sim.post("/_sim/faults", json={"service": "casino", "error_rate": 1})
    assert fault.status_code == 200, fault.text

    out = guard_dlq(db, agent.api_key, "replay", str(id), "--yes")
    sim.delete("/_sim/faults")

    assert out.returncode == 1
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith(f"replay of dead letter {id} failed: 503")
    assert line.endswith("it stays pending")
    assert agent.api_key not in out.stdout + out.stderr
    after = row(db, id)
    assert (after["status"], after["replays"], after["outcome"]) == ("pending", 1, "not_executed")
    assert after["http_status"] == 503
    assert json.loads(after["result"])["http_status"] == 503
    assert balance(sim, agent)["lifetime"]["total_wagered"] == before["lifetime"]["total_wagered"]
