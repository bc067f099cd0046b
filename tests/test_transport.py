"""The async and sync transports on httpx.MockTransport: transparency, settlement, failure paths."""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import sqlite3
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from loguru import logger

import guard
from guard import AsyncGuardTransport, BreakerOpenError, GuardSettings, GuardTransport
from guard._store import AsyncStore

BET_URL = "https://casino.purpleflea.com/api/v1/games/coin-flip"
KEY = "sk_live_" + "c4" * 24  # a canary: it must never be logged


def bet_body(
    won: bool, bet: str = "1.00", won_amount: str = "1.99", balance: str = "10.99"
) -> bytes:
    amount_won = won_amount if won else "0"
    flag = "true" if won else "false"
    return (
        f'{{"bet_id":"bet_1","game":"coin_flip","amount_bet":{bet},"result":{{"roll":1.5}},'
        f'"won":{flag},"payout_multiplier":1.99,"amount_won":{amount_won},"new_balance":{balance}}}'
    ).encode()


class Clock:
    def __init__(self) -> None:
        self.now = 1_767_225_600.0

    def __call__(self) -> float:
        return self.now


def settings(tmp_path: Path, **kw: Any) -> GuardSettings:
    """Settings on a temp database; no retries unless a test asks (tests/test_retry.py does)."""
    return GuardSettings(db_path=tmp_path / "guard.db", **{"retry_attempts": 1, **kw})


def json_response(body: bytes, status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(
        status,
        headers={
            "content-type": "application/json",
            **{k.replace("_", "-"): v for k, v in headers.items()},
        },
        stream=httpx.ByteStream(body),
    )


def guarded(
    tmp_path: Path, handler: Callable[[httpx.Request], Any], **kw: Any
) -> tuple[httpx.AsyncClient, AsyncGuardTransport]:
    transport = AsyncGuardTransport(
        httpx.MockTransport(handler), settings=settings(tmp_path, **kw), clock=Clock()
    )
    return httpx.AsyncClient(transport=transport), transport


async def test_response_reaches_the_agent_unchanged(tmp_path: Path) -> None:
    """The agent gets the same status, headers and body as without the guard."""
    client, _ = guarded(tmp_path, lambda r: json_response(bet_body(True), x_extra="1"))
    async with client:
        r = await client.post(BET_URL, json={"side": "heads", "amount": 1})
    assert r.status_code == 200
    assert r.headers["x-extra"] == "1"
    assert r.content == bet_body(True)
    assert r.elapsed.total_seconds() >= 0


async def test_gzip_body_is_decoded_for_the_agent_and_settled(tmp_path: Path) -> None:
    """A gzip JSON body still decodes for the agent, and the guard settles from it."""
    body = gzip.compress(bet_body(False, balance="9.00"))
    client, transport = guarded(tmp_path, lambda r: json_response(body, content_encoding="gzip"))
    async with client:
        r = await client.post(BET_URL, json={})
    assert r.json()["new_balance"] == 9.0
    ledger = transport.snapshot()["ledger"]
    assert (ledger["realized_pnl"], ledger["balance"], ledger["loss_streak"]) == (
        "-1.00",
        "9.00",
        1,
    )


async def test_streaming_keeps_raw_chunks(tmp_path: Path) -> None:
    """client.stream + aiter_raw yields the server's chunks as they come."""

    class Chunks(httpx.AsyncByteStream):
        async def __aiter__(self) -> Any:
            for part in (b'{"balance_usd":', b"12.5,", b'"agent_id":"a"}'):
                yield part

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "application/json"}, stream=Chunks())

    client, transport = guarded(tmp_path, handler)
    async with (
        client,
        client.stream("GET", "https://casino.purpleflea.com/api/v1/auth/balance") as r,
    ):
        chunks = [c async for c in r.aiter_raw()]
    assert chunks == [b'{"balance_usd":', b"12.5,", b'"agent_id":"a"}']
    assert transport.snapshot()["ledger"]["balance"] == "12.5"


@pytest.mark.parametrize(
    "body",
    [b"<html>oops</html>", b'{"won": true', b'{"won": "yes", "amount_won": "a"}', b"[]", b"null"],
)
async def test_odd_bodies_are_counted_unsettled_and_passed_through(
    tmp_path: Path, body: bytes
) -> None:
    """Non-JSON, truncated or odd bodies never crash: the agent gets them, the guard counts them."""
    client, transport = guarded(tmp_path, lambda r: json_response(body))
    async with client:
        r = await client.post(BET_URL, json={})
    assert r.content == body
    assert transport.snapshot()["counts"]["unsettled"] == 1


async def test_huge_body_is_not_settled_but_delivered(tmp_path: Path) -> None:
    """A body over the cap reaches the agent whole and is skipped by the settlement."""
    body = b'{"pad":"' + b"x" * (2 << 20) + b'"}'
    client, transport = guarded(tmp_path, lambda r: json_response(body))
    async with client:
        r = await client.post(BET_URL, json={})
    assert len(r.content) == len(body)
    assert transport.snapshot()["counts"]["unsettled"] == 1


async def test_mounts_guard_only_purple_flea_hosts(tmp_path: Path) -> None:
    """With mounts, other hosts bypass the guard."""
    transport = AsyncGuardTransport(
        httpx.MockTransport(lambda r: json_response(b"{}")), settings=settings(tmp_path)
    )
    other = httpx.MockTransport(lambda r: json_response(b"{}"))
    async with httpx.AsyncClient(
        transport=other, mounts={"all://*purpleflea.com": transport}
    ) as client:
        await client.get("https://example.org/x")
        await client.get("https://casino.purpleflea.com/health")
    assert transport.snapshot()["counts"]["calls"] == 1


async def test_denial_is_a_transport_error_with_details(tmp_path: Path) -> None:
    """A denied call raises BreakerOpenError, an httpx.TransportError with agent-readable fields."""
    client, _ = guarded(
        tmp_path, lambda r: json_response(bet_body(False)), consecutive_loss_limit=1
    )
    async with client:
        await client.post(BET_URL, json={})
        with pytest.raises(httpx.TransportError) as info:
            await client.post(BET_URL, json={})
    error = info.value
    assert isinstance(error, BreakerOpenError)
    assert json.loads(json.dumps(error.to_dict()))["breaker"] == "consecutive_loss"
    assert "consecutive_loss" in str(error)


@pytest.mark.parametrize(
    ("status", "body", "latched"),
    [
        (403, b'{"error":"invalid_key"}', True),
        (403, b'{"error":"forbidden","message":"Only the creator can release"}', False),
        (403, b'{"error":"daily_loss_limit_reached"}', False),
        (401, b'{"error":"unauthorized"}', True),
    ],
)
async def test_auth_latches_on_401_and_on_a_403_that_says_the_key_is_bad(
    tmp_path: Path, status: int, body: bytes, latched: bool
) -> None:
    """401, or a 403 whose body says the key is invalid, latches auth; other 403s do not."""
    client, transport = guarded(tmp_path, lambda r: json_response(body, status))
    async with client:
        await client.post(BET_URL, json={}, headers={"Authorization": f"Bearer {KEY}"})
    assert (transport.snapshot()["breakers"]["auth"]["state"] == "open") is latched


async def test_connect_errors_count_toward_the_error_rate(tmp_path: Path) -> None:
    """Transport errors count as errors: enough of them open error_rate for the service."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client, transport = guarded(tmp_path, handler, error_min_calls=3)
    async with client:
        for _ in range(3):
            with pytest.raises(httpx.ConnectError):
                await client.get("https://trading.purpleflea.com/health")
        with pytest.raises(BreakerOpenError):
            await client.get("https://trading.purpleflea.com/health")
    assert transport.snapshot()["breakers"]["error_rate"]["scope"] == "trading"


async def test_cancelled_probe_gives_its_slot_back(tmp_path: Path) -> None:
    """A half-open probe that is cancelled lets the next call be the probe."""
    clock = Clock()
    hang = asyncio.Event()
    mode = {"fail": True}

    async def handler(request: httpx.Request) -> httpx.Response:
        if mode["fail"]:
            return json_response(b"{}", 503)
        if not hang.is_set():
            hang.set()
            await asyncio.sleep(3600)
        return json_response(b"{}")

    transport = AsyncGuardTransport(
        httpx.MockTransport(handler), settings=settings(tmp_path, error_min_calls=2), clock=clock
    )
    async with httpx.AsyncClient(transport=transport) as client:
        for _ in range(2):
            await client.get("https://casino.purpleflea.com/health")
        clock.now += 60
        mode["fail"] = False
        probe = asyncio.ensure_future(client.get("https://casino.purpleflea.com/health"))
        await hang.wait()
        probe.cancel()
        with pytest.raises(asyncio.CancelledError):
            await probe
        r = await client.get("https://casino.purpleflea.com/health")
    assert r.status_code == 200
    assert transport.snapshot()["breakers"]["error_rate"]["state"] == "closed"


async def test_shadow_mode_never_blocks(tmp_path: Path) -> None:
    """In shadow mode a tripped breaker only counts would-be denials."""
    client, transport = guarded(
        tmp_path, lambda r: json_response(bet_body(False)), consecutive_loss_limit=1, mode="shadow"
    )
    async with client:
        for _ in range(3):
            assert (await client.post(BET_URL, json={})).status_code == 200
    counts = transport.snapshot()["counts"]
    assert (counts["denied"], counts["would_deny"]) == (0, 2)


async def test_close_is_forwarded_and_idempotent(tmp_path: Path) -> None:
    """aclose closes the inner transport once, however often it is called."""
    closed = []

    class Inner(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            return json_response(b"{}")

        async def aclose(self) -> None:
            closed.append(1)

    transport = AsyncGuardTransport(Inner(), settings=settings(tmp_path))
    async with transport:
        pass
    await transport.aclose()
    assert closed == [1]


async def test_database_failure_is_logged_and_the_call_still_succeeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the state cannot be written, a critical event says so and the agent gets its response."""

    async def broken(self: AsyncStore, statements: Any) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(AsyncStore, "write", broken)
    sink = io.StringIO()
    handler_id = guard.configure_logging(json=True, sink=sink)
    try:
        client, _ = guarded(
            tmp_path, lambda r: json_response(bet_body(False)), consecutive_loss_limit=1
        )
        async with client:
            assert (await client.post(BET_URL, json={})).status_code == 200
    finally:
        logger.remove(handler_id)
    events = [json.loads(line) for line in sink.getvalue().splitlines()]
    assert any(e["event"] == "store_error" and e["level"] == "CRITICAL" for e in events)


async def test_successful_calls_write_the_ledger_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """100 successful calls in one second cost no per-call disk write."""
    writes: list[int] = []
    real = AsyncStore.write

    async def counting(self: AsyncStore, statements: Any) -> None:
        writes.append(len(statements))
        await real(self, statements)

    monkeypatch.setattr(AsyncStore, "write", counting)
    client, _ = guarded(tmp_path, lambda r: json_response(bet_body(True)))
    async with client:
        for _ in range(100):
            await client.post(BET_URL, json={})
        assert sum(1 for n in writes if n) == 0
    assert writes[-1] == 1  # close writes the final state


async def test_ledger_survives_a_restart(tmp_path: Path) -> None:
    """The loss streak and the realized P&L are reloaded by a new transport on the same file."""
    client, _ = guarded(tmp_path, lambda r: json_response(bet_body(False, balance="9.00")))
    async with client:
        await client.post(BET_URL, json={})
        await client.post(BET_URL, json={})
    _, again = guarded(tmp_path, lambda r: json_response(b"{}"))
    ledger = again.snapshot()["ledger"]
    assert (ledger["loss_streak"], Decimal(ledger["realized_pnl"])) == (2, Decimal("-2.00"))


async def test_call_events_are_json_lines_without_the_key(tmp_path: Path) -> None:
    """Each call logs one JSON event with its trace id and P&L, and never the API key."""
    sink = io.StringIO()
    handler_id = guard.configure_logging(json=True, sink=sink, level="DEBUG")
    try:
        client, _ = guarded(tmp_path, lambda r: json_response(b'{"error":"x"}', 401))
        async with client:
            await client.post(BET_URL, json={"k": KEY}, headers={"Authorization": f"Bearer {KEY}"})
            with pytest.raises(guard.KeyExpiredError):
                await client.post(BET_URL, json={}, headers={"Authorization": f"Bearer {KEY}"})
    finally:
        logger.remove(handler_id)
    text = sink.getvalue()
    assert KEY not in text
    events = [json.loads(line) for line in text.splitlines()]
    call = next(e for e in events if e["event"] == "call")
    assert {"trace_id", "service", "operation", "status", "latency_ms", "pnl", "balance"} <= set(
        call
    )
    assert [e["level"] for e in events if e["event"] == "key_expired"] == ["CRITICAL"]


def test_sync_transport_settles_and_denies(tmp_path: Path) -> None:
    """The sync twin settles the bodies and refuses calls once a breaker trips."""
    transport = GuardTransport(
        httpx.MockTransport(lambda r: json_response(bet_body(False))),
        settings=settings(tmp_path, consecutive_loss_limit=2),
        clock=Clock(),
    )
    with httpx.Client(transport=transport) as client:
        client.post(BET_URL, json={})
        client.post(BET_URL, json={})
        with pytest.raises(BreakerOpenError):
            client.post(BET_URL, json={})
    assert transport.snapshot()["ledger"]["realized_pnl"] == "-2.00"


def test_reset_needs_a_known_breaker_and_a_reason(tmp_path: Path) -> None:
    """transport.reset refuses an unknown breaker name or an empty reason."""
    transport = GuardTransport(httpx.MockTransport(lambda r: json_response(b"{}")),
                               settings=settings(tmp_path))  # fmt: skip
    with pytest.raises(ValueError, match="unknown breaker"):
        transport.reset("nope", reason="x")
    with pytest.raises(ValueError, match="reason"):
        transport.reset(reason=" ")
    transport.close()
