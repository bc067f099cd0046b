"""The transport's dead letters: nothing secret anywhere, and no row lost under concurrency."""

from __future__ import annotations

import asyncio
import io
import sqlite3
from pathlib import Path

import httpx
from loguru import logger
from typer.testing import CliRunner

import guard
from guard import AsyncGuardTransport, GuardSettings
from guard.cli import app

CANARY = "c4n4ry-7f3a9e"  # never a key format: only its field names mark it as secret
URL = "https://casino.purpleflea.com/api/v1/games/coin-flip"


async def no_sleep(seconds: float) -> None:
    """Retries wait on nothing in tests."""


def outage(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        503,
        headers={"content-type": "application/json"},
        stream=httpx.ByteStream(b'{"error":"service_unavailable"}'),
    )


async def test_a_canary_secret_appears_nowhere(tmp_path: Path) -> None:
    """A secret in a header, a JSON field and the query string is in no file, log or output."""
    db = tmp_path / "guard.db"
    sink = io.StringIO()
    handler_id = guard.configure_logging(json=True, sink=sink, level="TRACE")
    try:
        transport = AsyncGuardTransport(
            httpx.MockTransport(outage), settings=GuardSettings(db_path=db), sleep=no_sleep
        )
        async with httpx.AsyncClient(transport=transport) as client:
            r = await client.post(
                URL,
                params={"api_key": CANARY, "amount": "1"},
                json={"side": "heads", "amount": 1, "private_key": CANARY},
                headers={
                    "Authorization": f"Bearer {CANARY}",
                    "X-API-Key": CANARY,
                    "Cookie": f"session={CANARY}",
                },
            )
            assert r.status_code == 503
            files = [p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("guard.db")]
        assert len(files) >= 2  # the database and its WAL, read while the guard was open
    finally:
        logger.remove(handler_id)
    files += [p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("guard.db")]
    assert all(CANARY.encode() not in data for data in files)
    assert CANARY not in sink.getvalue()
    assert "dead_letter" in sink.getvalue()
    runner = CliRunner()
    for args in (
        ["dlq", "list", "--json"],
        ["dlq", "list"],
        ["dlq", "show", "1", "--json"],
        ["dlq", "show", "1"],
        ["dlq", "export"],
        ["dlq", "export", "--format", "csv"],
        ["dlq", "stats"],
        ["status", "--json"],
    ):
        result = runner.invoke(app, [*args, "--db", str(db)], env={"COLUMNS": "250"})
        assert result.exit_code == 0, (args, result.output)
        assert CANARY not in result.output, args


async def test_200_concurrent_failing_money_calls_leave_200_rows(tmp_path: Path) -> None:
    """200 money calls failing at once: exactly 200 dead letters, none lost, none doubled."""
    db = tmp_path / "guard.db"

    async def refused(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)  # let the 200 calls interleave
        raise httpx.ConnectError("refused", request=request)

    settings = GuardSettings(db_path=db, error_rate_pct=0, retry_attempts=1)
    transport = AsyncGuardTransport(httpx.MockTransport(refused), settings=settings)
    async with httpx.AsyncClient(transport=transport) as client:
        results = await asyncio.gather(
            *(client.post(URL, json={"n": n}) for n in range(200)), return_exceptions=True
        )
    assert all(isinstance(r, httpx.ConnectError) for r in results)
    with sqlite3.connect(db) as conn:
        count, keys = conn.execute(
            "SELECT count(*), count(DISTINCT idempotency_key) FROM dead_letters"
        ).fetchone()
    assert (count, keys) == (200, 200)
    assert transport.snapshot()["counts"]["dead_letters"] == 200
