"""The SQLite memory: breaker state, retired keys, the audit trail and the ledger.

SQL is written once, here. :class:`SyncStore` runs it with the standard library (the CLI, the
sync transport, every transport's start-up load); :class:`AsyncStore` runs the same statements
through aiosqlite on one long-lived connection (the async transport). WAL lets several agent
processes share one file; ``synchronous=FULL`` makes every committed transition survive a power
cut.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from ._breakers import Breaker, Transition

SCHEMA_VERSION = 3
SCHEMA = """
CREATE TABLE IF NOT EXISTS breakers (
    agent_id   TEXT NOT NULL,
    name       TEXT NOT NULL,
    scope      TEXT NOT NULL,
    state      TEXT NOT NULL,
    reason     TEXT NOT NULL,
    opened_at  REAL,
    cooldown_s REAL,
    failures   INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL,
    PRIMARY KEY (agent_id, name, scope)
);
CREATE TABLE IF NOT EXISTS retired_keys (
    agent_id    TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    retired_at  REAL NOT NULL,
    PRIMARY KEY (agent_id, fingerprint)
);
CREATE TABLE IF NOT EXISTS audit (
    id         INTEGER PRIMARY KEY,
    at         REAL NOT NULL,
    agent_id   TEXT NOT NULL,
    breaker    TEXT NOT NULL,
    scope      TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state   TEXT NOT NULL,
    reason     TEXT NOT NULL,
    actor      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_agent_at ON audit (agent_id, at);
CREATE TABLE IF NOT EXISTS agent_state (
    agent_id   TEXT PRIMARY KEY,
    updated_at REAL NOT NULL,
    ledger     TEXT NOT NULL,
    snapshot   TEXT NOT NULL
);
"""
# Version 2: the dead-letter queue. Every text in a row is redacted before it is written.
SCHEMA_V2 = """
CREATE TABLE IF NOT EXISTS dead_letters (
    id              INTEGER PRIMARY KEY,
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    agent_id        TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'replayed', 'resolved', 'discarded')),
    outcome         TEXT NOT NULL CHECK (outcome IN ('not_executed', 'unknown')),
    service         TEXT NOT NULL,
    operation       TEXT NOT NULL,
    method          TEXT NOT NULL,
    url             TEXT NOT NULL,
    request_headers TEXT NOT NULL,
    request_body    TEXT,
    redacted        TEXT NOT NULL DEFAULT '[]',
    error_type      TEXT NOT NULL,
    error           TEXT NOT NULL,
    http_status     INTEGER,
    attempts        INTEGER NOT NULL,
    trace_id        TEXT,
    idempotency_key TEXT UNIQUE,
    replays         INTEGER NOT NULL DEFAULT 0,
    replayed_at     TEXT,
    result          TEXT,
    note            TEXT
);
CREATE INDEX IF NOT EXISTS dead_letters_status_created ON dead_letters (status, created_at);
CREATE INDEX IF NOT EXISTS dead_letters_agent_status ON dead_letters (agent_id, status);
"""
# Version 3: what an auth breaker's key is for, and the mode a breaker tripped under.
SCHEMA_V3 = """
ALTER TABLE breakers ADD COLUMN realm TEXT;
ALTER TABLE breakers ADD COLUMN mode TEXT NOT NULL DEFAULT 'enforce';
"""
MIGRATIONS = {1: SCHEMA, 2: SCHEMA_V2, 3: SCHEMA_V3}  # user_version -> the script to get there
PRAGMAS = ("PRAGMA synchronous=FULL", "PRAGMA busy_timeout=5000", "PRAGMA foreign_keys=ON")

UPSERT_BREAKER = """
INSERT INTO breakers (agent_id, name, scope, state, reason, opened_at, cooldown_s, failures,
                      realm, mode, updated_at)
VALUES (:agent_id, :name, :scope, :state, :reason, :opened_at, :cooldown_s, :failures,
        :realm, :mode, :updated_at)
ON CONFLICT (agent_id, name, scope) DO UPDATE SET
    state = excluded.state, reason = excluded.reason, opened_at = excluded.opened_at,
    cooldown_s = excluded.cooldown_s, failures = excluded.failures, realm = excluded.realm,
    mode = excluded.mode, updated_at = excluded.updated_at
"""
INSERT_AUDIT = """
INSERT INTO audit (at, agent_id, breaker, scope, from_state, to_state, reason, actor)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
"""
UPSERT_RETIRED = (
    "INSERT OR IGNORE INTO retired_keys (agent_id, fingerprint, retired_at) VALUES (?, ?, ?)"
)
DELETE_RETIRED = "DELETE FROM retired_keys WHERE agent_id = ?"
UPSERT_STATE = """
INSERT INTO agent_state (agent_id, updated_at, ledger, snapshot) VALUES (?, ?, ?, ?)
ON CONFLICT (agent_id) DO UPDATE SET
    updated_at = excluded.updated_at, ledger = excluded.ledger, snapshot = excluded.snapshot
"""
UPDATE_LEDGER = "UPDATE agent_state SET ledger = ? WHERE agent_id = ?"
SELECT_BREAKERS = "SELECT * FROM breakers WHERE agent_id = ? ORDER BY name, scope"
SELECT_RETIRED = "SELECT fingerprint FROM retired_keys WHERE agent_id = ?"
SELECT_STATE = "SELECT * FROM agent_state WHERE agent_id = ?"
SELECT_AGENTS = "SELECT agent_id FROM agent_state UNION SELECT agent_id FROM breakers ORDER BY 1"
SELECT_AUDIT = "SELECT * FROM audit WHERE agent_id = ? ORDER BY id DESC LIMIT ?"
LAST_CHANGE = "SELECT max(updated_at) FROM breakers WHERE agent_id = ?"

Statement = tuple[str, Sequence[Any] | dict[str, Any]]


def transition_statements(
    agent_id: str,
    breakers: Iterable[Breaker],
    transitions: Iterable[Transition],
    retired: Iterable[str],
    now: float,
) -> list[Statement]:
    """One transaction: the breakers as they are now, an audit row per transition."""
    out: list[Statement] = [
        (UPSERT_BREAKER, {**b.to_row(), "agent_id": agent_id, "updated_at": now}) for b in breakers
    ]
    out += [
        (
            INSERT_AUDIT,
            (t.at, agent_id, t.breaker, t.scope, t.before.value, t.after.value, t.reason, t.actor),
        )
        for t in transitions
    ]
    out.append((DELETE_RETIRED, (agent_id,)))  # the set is small: write it whole
    out += [(UPSERT_RETIRED, (agent_id, fp, now)) for fp in retired]
    return out


def ledger_statement(agent_id: str, ledger: dict[str, Any]) -> Statement:
    return UPDATE_LEDGER, (json.dumps(ledger), agent_id)


def state_statement(
    agent_id: str, ledger: dict[str, Any], snapshot: dict[str, Any], now: float
) -> Statement:
    return UPSERT_STATE, (agent_id, now, json.dumps(ledger), json.dumps(snapshot))


class SyncStore:
    """The store through the standard library's sqlite3 (one connection, explicit close)."""

    def __init__(self, path: Path | str, *, create: bool = True) -> None:
        self.path = Path(path)
        if not create and not self.path.exists():
            raise FileNotFoundError(self.path)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        for pragma in PRAGMAS:
            self._db.execute(pragma)
        if create:
            migrate(self._db)

    def close(self) -> None:
        self._db.close()

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        """Rows of one read-only statement, as dicts."""
        return [dict(r) for r in self._db.execute(sql, params)]

    def write(self, statements: Sequence[Statement]) -> None:
        if not statements:
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for sql, params in statements:
                self._db.execute(sql, params)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def load(self, agent_id: str) -> tuple[list[dict[str, Any]], list[str], dict[str, Any] | None]:
        """Breaker rows, retired key fingerprints and the ledger state of one agent."""
        rows = [dict(r) for r in self._db.execute(SELECT_BREAKERS, (agent_id,))]
        retired = [r[0] for r in self._db.execute(SELECT_RETIRED, (agent_id,))]
        state = self._db.execute(SELECT_STATE, (agent_id,)).fetchone()
        return rows, retired, json.loads(state["ledger"]) if state else None

    def snapshot(self, agent_id: str) -> tuple[float, dict[str, Any]] | None:
        state = self._db.execute(SELECT_STATE, (agent_id,)).fetchone()
        return (state["updated_at"], json.loads(state["snapshot"])) if state else None

    def agents(self) -> list[str]:
        return [r[0] for r in self._db.execute(SELECT_AGENTS)]

    def audit(self, agent_id: str, limit: int = 20) -> list[dict[str, Any]]:
        return [dict(r) for r in self._db.execute(SELECT_AUDIT, (agent_id, limit))]

    def last_change(self, agent_id: str) -> float:
        value = self._db.execute(LAST_CHANGE, (agent_id,)).fetchone()[0]
        return float(value or 0.0)


def migrate(db: sqlite3.Connection) -> None:
    """Create or upgrade the schema (``PRAGMA user_version`` says which it is)."""
    db.execute("PRAGMA journal_mode=WAL")
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise RuntimeError(
            f"the database was written by a newer guard (schema {version} > {SCHEMA_VERSION}): "
            "upgrade guard"
        )
    if version == SCHEMA_VERSION:
        return
    # One writer at a time: several agent processes may open a new file at once, so the version
    # is read again inside the write transaction and each step applied by exactly one of them.
    db.execute("BEGIN IMMEDIATE")
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        for target in range(version + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[target].split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {target}")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


class AsyncStore:
    """The same statements through aiosqlite: opened lazily, one connection, explicit close."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()  # one transaction at a time on the shared connection

    async def _connect(self) -> aiosqlite.Connection:
        if self._db is None:
            db = await aiosqlite.connect(self.path, isolation_level=None)
            for pragma in PRAGMAS:
                await db.execute(pragma)
            self._db = db
        return self._db

    async def write(self, statements: Sequence[Statement]) -> None:
        if not statements:
            return
        async with self._lock:
            db = await self._connect()
            await db.execute("BEGIN IMMEDIATE")
            try:
                for sql, params in statements:
                    await db.execute(sql, params)
            except BaseException:
                await db.execute("ROLLBACK")
                raise
            await db.execute("COMMIT")

    async def last_change(self, agent_id: str) -> float:
        async with self._lock:
            db = await self._connect()
            async with db.execute(LAST_CHANGE, (agent_id,)) as cursor:
                row = await cursor.fetchone()
        return float(row[0] or 0.0) if row else 0.0

    async def aclose(self) -> None:
        async with self._lock:
            if self._db is None:
                return
            db, self._db = self._db, None
            await db.close()
