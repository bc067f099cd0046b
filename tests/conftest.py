"""Shared fixtures: a seeded simulator on a frozen clock, reached in process by its real hosts."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import httpx
import hypothesis
import pytest

from guard.sim import SimApp, SimClock, create_app

# No per-example deadline (a loaded 2-core CI box is slow, not wrong); in CI, a fixed search
# seed, so a run is repeatable and a red build always reproduces.
hypothesis.settings.register_profile("dev", deadline=None)
hypothesis.settings.register_profile("ci", deadline=None, derandomize=True)
hypothesis.settings.load_profile("ci" if os.environ.get("CI") else "dev")

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
CASINO = "https://casino.purpleflea.com/api/v1"
TRADING = "https://trading.purpleflea.com/v1"
ESCROW = "https://escrow.purpleflea.com/escrow"
FAUCET = "https://faucet.purpleflea.com/faucet"
DOMAINS = "https://domains.purpleflea.com"
WALLET = "https://wallet.purpleflea.com/v1"


@pytest.fixture
def clock() -> SimClock:
    return SimClock(start=T0)


@pytest.fixture
def app(clock: SimClock) -> SimApp:
    return create_app(seed=7, clock=clock)


@pytest.fixture
async def client(app: SimApp) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client whose every request goes to the in-process simulator."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8765") as c:
        yield c


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def casino_agent(client: httpx.AsyncClient, balance: float = 100.0) -> tuple[str, str]:
    """Register a casino agent and fund it through the simulator control; (agent_id, key)."""
    r = await client.post(f"{CASINO}/auth/register", json={})
    assert r.status_code == 201, r.text
    body = r.json()
    if balance:
        c = await client.post(
            "/_sim/credit", json={"agent_id": body["agent_id"], "amount": balance}
        )
        assert c.status_code == 200, c.text
    return body["agent_id"], body["api_key"]


@pytest.fixture(autouse=True)
def _clean_guard_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the GUARD_* variables of the shell that runs the suite."""
    import os

    for name in list(os.environ):
        if name.upper().startswith("GUARD_"):
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def _guard_logs_off_again() -> Any:
    """A test that enabled guard's log events (configure_logging) leaves them off again."""
    yield
    from loguru import logger

    logger.disable("guard")
