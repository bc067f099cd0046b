"""The SQLite store: migrations, and what a restart keeps (realm, mode)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest

from guard import BreakerOpenError, GuardSettings, GuardTransport
from guard._store import SCHEMA, SCHEMA_V2, SCHEMA_VERSION, SyncStore

BET = "https://casino.purpleflea.com/api/v1/games/dice"
LOSS = (
    b'{"bet_id":"b","game":"dice","amount_bet":1,"won":false,"amount_won":0,"new_balance":9,'
    b'"result":{"roll":3}}'
)


def losing(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        200, headers={"content-type": "application/json"}, stream=httpx.ByteStream(LOSS)
    )


def test_a_version_2_database_is_upgraded_in_place(tmp_path: Path) -> None:
    """Opening a database written by an older guard adds the new columns and keeps the rows."""
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(SCHEMA + SCHEMA_V2)
        conn.execute(
            "INSERT INTO breakers (agent_id, name, scope, state, reason, opened_at, cooldown_s,"
            " failures, updated_at) VALUES ('agent', 'auth', 'key:1', 'open', 'x', 1, NULL, 0, 1)"
        )
        conn.execute("PRAGMA user_version = 2")
    store = SyncStore(db)
    try:
        (row,) = store.load("agent")[0]
    finally:
        store.close()
    assert (row["mode"], row["realm"]) == ("enforce", None)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_newer_database_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    """A database from a newer guard is not touched: the error says to upgrade."""
    db = tmp_path / "new.db"
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(RuntimeError, match="upgrade guard"):
        SyncStore(db)


def test_trips_from_a_shadow_trial_do_not_block_in_enforce_mode(tmp_path: Path) -> None:
    """A breaker tripped in shadow mode does not block once the same file runs in enforce."""
    db = tmp_path / "guard.db"
    shadow = GuardSettings(db_path=db, consecutive_loss_limit=1, mode="shadow")
    with httpx.Client(transport=GuardTransport(httpx.MockTransport(losing), settings=shadow)) as c:
        c.post(BET, json={})
    enforce = GuardSettings(db_path=db, consecutive_loss_limit=2)
    transport = GuardTransport(httpx.MockTransport(losing), settings=enforce)
    with httpx.Client(transport=transport) as client:
        assert client.post(BET, json={}).status_code == 200  # the shadow trip is not enforced
        client.post(BET, json={})  # the second loss since the switch trips it for real
        with pytest.raises(BreakerOpenError):
            client.post(BET, json={})


def test_an_enforced_trip_still_blocks_after_a_restart(tmp_path: Path) -> None:
    """The shadow rule does not weaken real trips: an enforced one still latches."""
    db = tmp_path / "guard.db"
    settings = GuardSettings(db_path=db, consecutive_loss_limit=1)
    with httpx.Client(
        transport=GuardTransport(httpx.MockTransport(losing), settings=settings)
    ) as c:
        c.post(BET, json={})
    with (
        httpx.Client(transport=GuardTransport(httpx.MockTransport(losing), settings=settings)) as c,
        pytest.raises(BreakerOpenError),
    ):
        c.post(BET, json={})
