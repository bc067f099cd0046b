"""Retries never spend twice: method x failure -> attempts and dead-letter outcome."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from guard import AsyncGuardTransport, GuardSettings, GuardTransport

BET = ("POST", "https://casino.purpleflea.com/api/v1/games/coin-flip")
WITHDRAW = ("POST", "https://casino.purpleflea.com/api/v1/auth/withdraw")
HEALTH = ("GET", "https://casino.purpleflea.com/health")
OK_BET = (
    b'{"bet_id":"b","game":"coin_flip","amount_bet":1,"won":true,"amount_won":1.99,'
    b'"new_balance":10.99,"result":{"roll":1}}'
)

Failure = Callable[[httpx.Request], httpx.Response]


def status(code: int, body: bytes = b'{"error":"x","message":"y"}', **headers: str) -> Failure:
    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            code,
            headers={"content-type": "application/json", **headers},
            stream=httpx.ByteStream(body),
        )

    return respond


def raises(exc: type[httpx.TransportError]) -> Failure:
    def fail(request: httpx.Request) -> httpx.Response:
        raise exc("simulated", request=request)

    return fail


# (request, failure, extra settings, attempts, dead-letter outcome or None)
TABLE: list[tuple[tuple[str, str], Failure, dict[str, Any], int, str | None]] = [
    (HEALTH, raises(httpx.ConnectError), {}, 5, None),
    (HEALTH, raises(httpx.ReadTimeout), {}, 5, None),
    (HEALTH, status(503), {}, 5, None),
    (HEALTH, status(500), {}, 5, None),
    (HEALTH, status(429), {}, 5, None),
    (HEALTH, status(404), {}, 1, None),
    (HEALTH, status(401), {}, 1, None),
    (BET, raises(httpx.ConnectError), {}, 5, "not_executed"),
    (BET, raises(httpx.ConnectTimeout), {}, 5, "not_executed"),
    (BET, raises(httpx.PoolTimeout), {}, 5, "not_executed"),
    (BET, status(429), {}, 5, "not_executed"),
    (BET, status(503), {}, 5, "not_executed"),
    (BET, status(500), {}, 1, "unknown"),
    (BET, status(502), {}, 1, "unknown"),
    (BET, status(504), {}, 1, "unknown"),
    (BET, raises(httpx.ReadTimeout), {}, 1, "unknown"),
    (BET, raises(httpx.WriteTimeout), {}, 1, "unknown"),
    (BET, raises(httpx.RemoteProtocolError), {}, 1, "unknown"),
    (BET, status(401), {}, 1, "not_executed"),
    (BET, status(403, b'{"error":"invalid_key"}'), {}, 1, "not_executed"),
    (BET, status(403, b'{"error":"forbidden"}'), {}, 1, None),
    (BET, status(400, b'{"error":"insufficient_balance"}'), {}, 1, None),
    (BET, status(400, b'{"error":"kelly_limit_exceeded"}'), {}, 1, None),
    (WITHDRAW, status(503), {}, 5, "not_executed"),
    (WITHDRAW, raises(httpx.ReadTimeout), {}, 1, "unknown"),
    (BET, status(500), {"idempotent_retries": True}, 5, "unknown"),
    (BET, raises(httpx.ReadTimeout), {"idempotent_retries": True}, 5, "unknown"),
    (BET, status(503), {"retry_attempts": 1}, 1, "not_executed"),
    (BET, status(503), {"retry_attempts": 3}, 3, "not_executed"),
]


def dead_letters(db: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM dead_letters ORDER BY id")]


class Recorder:
    """An inner transport that answers with ``failure`` and remembers every request."""

    def __init__(self, failure: Failure) -> None:
        self.failure = failure
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.failure(request)


@pytest.mark.parametrize(("target", "failure", "extra", "attempts", "outcome"), TABLE)
async def test_async_attempts_and_dead_letters(
    tmp_path: Path,
    target: tuple[str, str],
    failure: Failure,
    extra: dict[str, Any],
    attempts: int,
    outcome: str | None,
) -> None:
    """Each method x failure gives the expected number of attempts and dead-letter outcome."""
    db = tmp_path / "g.db"
    inner, sleeps = Recorder(failure), []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    settings = GuardSettings(db_path=db, **extra)
    transport = AsyncGuardTransport(httpx.MockTransport(inner), settings=settings, sleep=sleep)
    async with httpx.AsyncClient(transport=transport) as client:
        with contextlib.suppress(httpx.TransportError):
            await client.request(*target, json={"amount": 1})
    assert len(inner.requests) == attempts
    assert len(sleeps) == attempts - 1
    rows = dead_letters(db)
    assert [r["outcome"] for r in rows] == ([outcome] if outcome else [])
    if rows:
        assert rows[0]["attempts"] == attempts


@pytest.mark.parametrize(("target", "failure", "extra", "attempts", "outcome"), TABLE)
def test_sync_attempts_and_dead_letters(
    tmp_path: Path,
    target: tuple[str, str],
    failure: Failure,
    extra: dict[str, Any],
    attempts: int,
    outcome: str | None,
) -> None:
    """The sync transport follows the same table."""
    db = tmp_path / "g.db"
    inner, sleeps = Recorder(failure), []
    settings = GuardSettings(db_path=db, **extra)
    transport = GuardTransport(httpx.MockTransport(inner), settings=settings, sleep=sleeps.append)
    with httpx.Client(transport=transport) as client, contextlib.suppress(httpx.TransportError):
        client.request(*target, json={"amount": 1})
    assert len(inner.requests) == attempts
    assert [r["outcome"] for r in dead_letters(db)] == ([outcome] if outcome else [])


async def test_one_idempotency_key_across_attempts(tmp_path: Path) -> None:
    """Every attempt of a money request carries the same Idempotency-Key, stored with it."""
    inner = Recorder(status(503))

    async def sleep(seconds: float) -> None:
        return None

    transport = AsyncGuardTransport(
        httpx.MockTransport(inner), settings=GuardSettings(db_path=tmp_path / "g.db"), sleep=sleep
    )
    async with httpx.AsyncClient(transport=transport) as client:
        await client.post(BET[1], json={"amount": 1})
    keys = {r.headers["idempotency-key"] for r in inner.requests}
    assert len(keys) == 1
    assert dead_letters(tmp_path / "g.db")[0]["idempotency_key"] == keys.pop()


async def test_agent_idempotency_key_is_kept(tmp_path: Path) -> None:
    """A key the agent set itself is used as it is."""
    inner = Recorder(status(200, OK_BET))
    transport = AsyncGuardTransport(
        httpx.MockTransport(inner), settings=GuardSettings(db_path=tmp_path / "g.db")
    )
    async with httpx.AsyncClient(transport=transport) as client:
        await client.post(BET[1], json={}, headers={"Idempotency-Key": "mine"})
    assert inner.requests[0].headers["idempotency-key"] == "mine"


async def test_reads_get_no_idempotency_key(tmp_path: Path) -> None:
    """A read is sent without an Idempotency-Key."""
    inner = Recorder(status(200, b"{}"))
    transport = AsyncGuardTransport(
        httpx.MockTransport(inner), settings=GuardSettings(db_path=tmp_path / "g.db")
    )
    async with httpx.AsyncClient(transport=transport) as client:
        await client.get(HEALTH[1])
    assert "idempotency-key" not in inner.requests[0].headers


async def test_recovery_returns_the_success_and_stores_nothing(tmp_path: Path) -> None:
    """A 503 then a success: two attempts, the agent gets the success, no dead letter."""
    answers = [status(503), status(200, OK_BET)]
    inner = Recorder(lambda r: answers.pop(0)(r))

    async def sleep(seconds: float) -> None:
        return None

    db = tmp_path / "g.db"
    transport = AsyncGuardTransport(
        httpx.MockTransport(inner), settings=GuardSettings(db_path=db), sleep=sleep
    )
    async with httpx.AsyncClient(transport=transport) as client:
        r = await client.post(BET[1], json={})
    assert r.status_code == 200
    assert r.json()["won"] is True
    assert dead_letters(db) == []
    assert transport.snapshot()["ledger"]["realized_pnl"] == "0.99"


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        ({"retry-after": "7"}, b"{}", 7.0),
        ({"retry-after": "120"}, b"{}", 30.0),
        ({}, b'{"error":"rate_limit_exceeded","reset_at":"2026-01-01T00:00:12.000Z"}', 12.0),
    ],
)
async def test_server_hints_set_the_wait_capped(
    tmp_path: Path, headers: dict[str, str], body: bytes, expected: float
) -> None:
    """Retry-After and the body's reset_at set the wait, capped by GUARD_RETRY_MAX_DELAY_S."""
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    answers = [status(429, body, **headers), status(200, b"{}")]
    inner = Recorder(lambda r: answers.pop(0)(r))
    transport = AsyncGuardTransport(
        httpx.MockTransport(inner),
        settings=GuardSettings(db_path=tmp_path / "g.db", retry_base_delay_s=0),
        clock=lambda: 1_767_225_600.0,
        sleep=sleep,
    )
    async with httpx.AsyncClient(transport=transport) as client:
        await client.get(HEALTH[1])
    assert sleeps == [pytest.approx(expected)]


async def test_generator_body_is_sent_identically_each_time(tmp_path: Path) -> None:
    """A one-shot request body is buffered once: every attempt sends the same bytes."""
    inner = Recorder(raises(httpx.ConnectError))

    async def sleep(seconds: float) -> None:
        return None

    async def body() -> Any:
        yield b'{"side":'
        yield b'"heads","amount":1}'

    transport = AsyncGuardTransport(
        httpx.MockTransport(inner), settings=GuardSettings(db_path=tmp_path / "g.db"), sleep=sleep
    )
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(httpx.ConnectError):
            await client.post(BET[1], content=body())
    assert {r.content for r in inner.requests} == {b'{"side":"heads","amount":1}'}
    stored = dead_letters(tmp_path / "g.db")[0]
    assert json.loads(stored["request_body"]) == {"side": "heads", "amount": 1}


async def test_final_failed_response_reaches_the_agent_readable(tmp_path: Path) -> None:
    """After the last retry the agent gets the server's last response, body intact."""

    async def sleep(seconds: float) -> None:
        return None

    inner = Recorder(status(503, b'{"error":"service_unavailable"}'))
    transport = AsyncGuardTransport(
        httpx.MockTransport(inner), settings=GuardSettings(db_path=tmp_path / "g.db"), sleep=sleep
    )
    async with httpx.AsyncClient(transport=transport) as client:
        r = await client.post(BET[1], json={})
    assert r.status_code == 503
    assert r.json() == {"error": "service_unavailable"}
