"""Prometheus metrics read from the transport's snapshot, on a registry the app owns."""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client import CollectorRegistry, generate_latest

from guard import AsyncGuardTransport, GuardSettings, metrics

LOSS = (
    b'{"bet_id":"b","game":"dice","amount_bet":1.5,"won":false,"amount_won":0,"new_balance":8.5,'
    b'"result":{"roll":3}}'
)


async def test_metrics_expose_breakers_pnl_and_counts(tmp_path: Path) -> None:
    """A scrape shows the open breaker, the negative P&L and the call counts."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"content-type": "application/json"}, stream=httpx.ByteStream(LOSS)
        )

    settings = GuardSettings(db_path=tmp_path / "g.db", consecutive_loss_limit=1)
    transport = AsyncGuardTransport(httpx.MockTransport(handler), settings=settings)
    registry = CollectorRegistry()
    metrics.register(transport, registry)
    async with httpx.AsyncClient(transport=transport) as client:
        await client.post("https://casino.purpleflea.com/api/v1/games/dice", json={})
    text = generate_latest(registry).decode()
    assert 'guard_breaker_state{agent="agent",breaker="consecutive_loss",scope="agent"} 2.0' in text
    assert 'guard_realized_pnl{agent="agent"} -1.5' in text
    assert 'guard_calls_total{agent="agent"} 1.0' in text


def test_two_transports_on_two_registries_do_not_clash(tmp_path: Path) -> None:
    """Nothing is global: each registry gets its own collector without a duplicate error."""
    for n in range(2):
        transport = AsyncGuardTransport(settings=GuardSettings(db_path=tmp_path / f"{n}.db"))
        metrics.register(transport, CollectorRegistry())
