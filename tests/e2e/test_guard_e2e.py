"""The guard end to end against the simulator: in process, over loopback HTTP, async and sync.

Every scenario runs three ways: the async transport on the simulator in process
(``httpx.ASGITransport``), the async transport over real HTTP to ``guard sim`` on loopback, and
the sync transport over the same loopback server. The guard's clock is a fake the test moves.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from guard import (
    AsyncGuardTransport,
    BreakerOpenError,
    GuardSettings,
    GuardTransport,
    KeyExpiredError,
)
from guard.cli import app as cli
from guard.sim import SimClock, create_app
from tests.conftest import T0

FLAVOURS = ["async-inprocess", "async-loopback", "sync-loopback"]


async def no_sleep(seconds: float) -> None:
    """Retries wait on the test's clock, not the wall's."""


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class World:
    """One simulator, one guarded client, and the URLs to reach each service."""

    flavour: str
    base: str  # "" for real hostnames, else the loopback origin
    control: httpx.AsyncClient  # unguarded: the /_sim controls and set-up calls
    clock: FakeClock
    db: Path
    make: Callable[..., Any]  # settings overrides -> (client, transport)
    client: Any = None
    transport: Any = None

    def url(self, service: str, path: str) -> str:
        if self.base:
            return f"{self.base}/{service}{path}"
        return f"https://{service}.purpleflea.com{path}"

    def open(self, **overrides: Any) -> None:
        self.client, self.transport = self.make(**overrides)

    async def call(self, method: str, service: str, path: str, **kw: Any) -> httpx.Response:
        url = self.url(service, path)
        if isinstance(self.client, httpx.AsyncClient):
            return await self.client.request(method, url, **kw)
        return await asyncio.to_thread(self.client.request, method, url, **kw)

    async def close(self) -> None:
        if isinstance(self.client, httpx.AsyncClient):
            await self.client.aclose()
        elif self.client is not None:
            self.client.close()

    async def sim_requests(self, service: str) -> list[dict[str, Any]]:
        r = await self.control.get("/_sim/requests", params={"service": service})
        rows: list[dict[str, Any]] = r.json()["requests"]
        return rows

    async def casino_agent(self, balance: float = 100) -> tuple[str, dict[str, str]]:
        r = await self.control.post(self.url("casino", "/api/v1/auth/register"), json={})
        body = r.json()
        await self.control.post(
            "/_sim/credit", json={"agent_id": body["agent_id"], "amount": balance}
        )
        return body["agent_id"], {"Authorization": f"Bearer {body['api_key']}"}

    async def trading_agent(self) -> dict[str, str]:
        r = await self.control.post(self.url("trading", "/v1/auth/register"), json={})
        return {"Authorization": f"Bearer {r.json()['api_key']}"}


@pytest.fixture(params=FLAVOURS)
async def world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[World]:
    flavour: str = request.param
    clock = FakeClock()
    db = tmp_path / "guard.db"
    if flavour == "async-inprocess":
        sim = create_app(seed=7, clock=SimClock(start=T0), rate_limits=False)
        base = ""
        control = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=sim), base_url="http://127.0.0.1:8765"
        )
    else:
        base = request.getfixturevalue("live_sim")
        control = httpx.AsyncClient(base_url=base)
        await control.post("/_sim/reset")
        await control.post("/_sim/config", json={"rate_limits": False})

    def make(**overrides: Any) -> tuple[Any, Any]:
        settings = GuardSettings(db_path=db, **{"error_min_calls": 5, **overrides})
        if flavour == "async-inprocess":
            inner: Any = httpx.ASGITransport(app=sim)
        elif flavour == "async-loopback":
            inner = httpx.AsyncHTTPTransport()
        else:
            sync_transport = GuardTransport(
                httpx.HTTPTransport(), settings=settings, clock=clock, sleep=lambda s: None
            )
            return httpx.Client(transport=sync_transport, timeout=10), sync_transport
        transport = AsyncGuardTransport(inner, settings=settings, clock=clock, sleep=no_sleep)
        return httpx.AsyncClient(transport=transport, timeout=10), transport

    w = World(flavour, base, control, clock, db, make)
    w.open()
    try:
        yield w
    finally:
        await w.close()
        await control.delete("/_sim/faults")
        await control.aclose()


LOSE = {"win_probability": 1, "amount": 0.01}  # a 1 % game: a losing streak is near certain


async def test_losing_streak_trips_consecutive_loss_but_a_close_still_goes(world: World) -> None:
    """A losing streak trips consecutive_loss: bets are refused locally, a trade close succeeds."""
    await world.close()
    world.open(consecutive_loss_limit=3)
    _, casino = await world.casino_agent()
    trading = await world.trading_agent()
    order = {"coin": "BTC", "side": "long", "size_usd": 100, "leverage": 2}
    opened = (
        await world.call("POST", "trading", "/v1/trade/open", json=order, headers=trading)
    ).json()
    losses = 0
    while losses < 3:
        r = await world.call("POST", "casino", "/api/v1/games/custom", json=LOSE, headers=casino)
        losses = 0 if r.json()["won"] else losses + 1
    sent = len(await world.sim_requests("casino"))
    with pytest.raises(BreakerOpenError) as denied:
        await world.call("POST", "casino", "/api/v1/games/custom", json=LOSE, headers=casino)
    assert denied.value.breaker == "consecutive_loss"
    assert denied.value.retry_after is None
    assert len(await world.sim_requests("casino")) == sent  # nothing left the process
    close = {"position_id": opened["position_id"]}
    r = await world.call("POST", "trading", "/v1/trade/close", json=close, headers=trading)
    assert r.status_code == 200
    assert world.transport.snapshot()["breakers"]["consecutive_loss"]["state"] == "open"


async def test_revoked_key_trips_auth_after_one_401_and_a_rotated_key_works(world: World) -> None:
    """After a key rotation exactly one 401 reaches the server; the new key works."""
    _, old = await world.casino_agent()
    key = old["Authorization"].removeprefix("Bearer ")
    rotated = (await world.control.post("/_sim/keys/rotate", json={"api_key": key})).json()
    first = await world.call("GET", "casino", "/api/v1/auth/balance", headers=old)
    assert first.status_code == 401
    for _ in range(5):
        with pytest.raises(KeyExpiredError) as denied:
            await world.call("GET", "casino", "/api/v1/auth/balance", headers=old)
    assert denied.value.breaker == "auth"
    statuses = [r["status"] for r in await world.sim_requests("casino")]
    assert statuses.count(401) == 1
    new = {"Authorization": f"Bearer {rotated['api_key']}"}
    assert (
        await world.call("GET", "casino", "/api/v1/auth/balance", headers=new)
    ).status_code == 200
    assert world.transport.snapshot()["breakers"]["auth"]["state"] == "closed"
    with pytest.raises(KeyExpiredError):
        await world.call("GET", "casino", "/api/v1/auth/balance", headers=old)


async def test_casino_5xx_storm_trips_error_rate_for_the_casino_only(world: World) -> None:
    """A 503 storm opens error_rate for the casino; escrow still works; one probe closes it."""
    await world.control.post("/_sim/faults", json={"service": "casino", "error_rate": 1})
    assert (await world.call("GET", "casino", "/health")).status_code == 503  # 5 attempts
    assert len(await world.sim_requests("casino")) == 5  # the retries fed the window honestly
    with pytest.raises(BreakerOpenError) as denied:
        await world.call("GET", "casino", "/health")
    assert (denied.value.breaker, denied.value.scope) == ("error_rate", "casino")
    assert (await world.call("GET", "escrow", "/escrow/stats")).status_code == 200
    await world.control.delete("/_sim/faults")
    world.clock.advance(60)
    before = len(await world.sim_requests("casino"))
    assert (await world.call("GET", "casino", "/health")).status_code == 200
    assert len(await world.sim_requests("casino")) == before + 1
    assert (
        world.transport.snapshot()["breakers"]["error_rate"]["scopes"]["casino"]["state"]
        == "closed"
    )


async def test_failed_probe_doubles_the_cooldown(world: World) -> None:
    """A probe that fails reopens the breaker for twice the cooldown."""
    await world.control.post("/_sim/faults", json={"service": "casino", "error_rate": 1})
    await world.call("GET", "casino", "/health")  # 5 failed attempts: the breaker opens
    world.clock.advance(60)
    before = len(await world.sim_requests("casino"))
    assert (await world.call("GET", "casino", "/health")).status_code == 503  # the probe
    assert len(await world.sim_requests("casino")) == before + 1  # its retry was refused
    with pytest.raises(BreakerOpenError) as denied:
        await world.call("GET", "casino", "/health")
    assert denied.value.retry_after == 120


async def test_restart_keeps_a_latched_breaker_until_guard_reset(world: World) -> None:
    """A tripped breaker survives a restart on the same database until `guard reset`."""
    await world.close()
    world.open(consecutive_loss_limit=1)
    _, casino = await world.casino_agent()
    while (
        await world.call("POST", "casino", "/api/v1/games/custom", json=LOSE, headers=casino)
    ).json()["won"]:
        pass
    await world.close()
    world.open(consecutive_loss_limit=1)  # a new process on the same file
    with pytest.raises(BreakerOpenError):
        await world.call("POST", "casino", "/api/v1/games/custom", json=LOSE, headers=casino)
    result = CliRunner().invoke(
        cli, ["reset", "consecutive_loss", "--reason", "reviewed", "--db", str(world.db)]
    )
    assert result.exit_code == 0, result.output
    world.clock.advance(2)  # the running guard looks for operator resets at most once a second
    r = await world.call("POST", "casino", "/api/v1/games/custom", json=LOSE, headers=casino)
    assert r.status_code == 200


async def test_realized_pnl_matches_the_bodies_over_1000_bets(world: World) -> None:
    """Over 1,000 bets the snapshot's realized P&L is the exact sum of amount_won - amount_bet."""
    await world.close()
    world.open(consecutive_loss_limit=0, balance_drop_pct=0)
    _, casino = await world.casino_agent(balance=1000)
    expected = Decimal(0)
    for _ in range(1000):
        r = await world.call(
            "POST",
            "casino",
            "/api/v1/games/coin-flip",
            json={"side": "heads", "amount": 0.37},
            headers=casino,
        )
        body = r.json(parse_float=Decimal)
        expected += body["amount_won"] - body["amount_bet"]
    snapshot = world.transport.snapshot()
    assert Decimal(snapshot["ledger"]["realized_pnl"]) == expected
    assert snapshot["counts"]["unsettled"] == 0


async def test_half_open_admits_exactly_one_of_50_concurrent_calls(tmp_path: Path) -> None:
    """50 concurrent calls at a half-open breaker: exactly one reaches the server."""
    gate = asyncio.Event()
    seen: list[str] = []
    failing = True

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if failing:
            return httpx.Response(503, stream=httpx.ByteStream(b'{"error":"down"}'))
        await gate.wait()
        return httpx.Response(200, stream=httpx.ByteStream(b'{"status":"ok"}'))

    clock = FakeClock()
    settings = GuardSettings(db_path=tmp_path / "g.db", error_min_calls=5, retry_attempts=1)
    transport = AsyncGuardTransport(httpx.MockTransport(handler), settings=settings, clock=clock)
    async with httpx.AsyncClient(transport=transport) as client:
        for _ in range(5):
            await client.get("https://casino.purpleflea.com/health")
        clock.advance(60)
        failing = False
        seen.clear()
        calls = [client.get("https://casino.purpleflea.com/health") for _ in range(50)]
        tasks = [asyncio.ensure_future(c) for c in calls]
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        gate.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    assert len(seen) == 1
    assert sum(isinstance(r, httpx.Response) for r in results) == 1
    assert sum(isinstance(r, BreakerOpenError) for r in results) == 49


def test_sync_half_open_admits_exactly_one_of_50_threads(tmp_path: Path) -> None:
    """50 threads calling at a half-open breaker through the sync transport: one is sent."""
    gate = threading.Event()
    seen: list[str] = []
    failing = True

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if failing:
            return httpx.Response(503, stream=httpx.ByteStream(b'{"error":"down"}'))
        gate.wait(10)
        return httpx.Response(200, stream=httpx.ByteStream(b'{"status":"ok"}'))

    clock = FakeClock()
    settings = GuardSettings(db_path=tmp_path / "g.db", error_min_calls=5, retry_attempts=1)
    transport = GuardTransport(httpx.MockTransport(handler), settings=settings, clock=clock)
    with httpx.Client(transport=transport) as client:
        for _ in range(5):
            client.get("https://casino.purpleflea.com/health")
        clock.advance(60)
        failing = False
        seen.clear()

        def call() -> object:
            try:
                return client.get("https://casino.purpleflea.com/health")
            except BreakerOpenError as exc:
                return exc

        with ThreadPoolExecutor(max_workers=50) as pool:
            futures = [pool.submit(call) for _ in range(50)]
            while sum(f.done() for f in futures) < 49:
                threading.Event().wait(0.01)
            gate.set()
            results = [f.result() for f in futures]
    assert len(seen) == 1
    assert sum(isinstance(r, httpx.Response) for r in results) == 1
