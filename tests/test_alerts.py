"""Webhook alerts, health and the log level from the environment."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from loguru import logger

import guard
from guard import AsyncGuardTransport, GuardSettings, GuardTransport
from guard.sim import serve

BET = "https://casino.purpleflea.com/api/v1/games/dice"
KEY = "sk_live_" + "ab" * 24
LOSS = (
    b'{"bet_id":"b","game":"dice","amount_bet":1,"won":false,"amount_won":0,"new_balance":9,'
    b'"result":{"roll":3}}'
)


class Hook:
    """A webhook receiver on loopback that remembers what was posted."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.posts.append(json.loads(body))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@pytest.fixture
def hook() -> Iterator[tuple[Hook, str]]:
    receiver = Hook()
    with serve(receiver) as base:
        yield receiver, f"{base}/hooks/T0KEN"


def answer(body: bytes, status: int = 200) -> Any:
    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            status, headers={"content-type": "application/json"}, stream=httpx.ByteStream(body)
        )

    return respond


async def test_a_trip_posts_one_alert(tmp_path: Path, hook: tuple[Hook, str]) -> None:
    """A breaker opening posts one JSON alert naming the breaker, without the key."""
    receiver, url = hook
    settings = GuardSettings(
        db_path=tmp_path / "g.db", consecutive_loss_limit=1, alert_webhook_url=url
    )
    transport = AsyncGuardTransport(httpx.MockTransport(answer(LOSS)), settings=settings)
    async with httpx.AsyncClient(transport=transport) as client:
        await client.post(BET, json={}, headers={"Authorization": f"Bearer {KEY}"})
    (alert,) = receiver.posts
    assert (alert["kind"], alert["breaker"], alert["scope"]) == (
        "transition",
        "consecutive_loss",
        "agent",
    )
    assert alert["agent_id"] == "agent"
    assert KEY not in json.dumps(alert)


async def test_alerts_respect_the_cooldown(tmp_path: Path, hook: tuple[Hook, str]) -> None:
    """The same alert twice within GUARD_ALERT_COOLDOWN_S is posted once."""
    receiver, url = hook
    settings = GuardSettings(
        db_path=tmp_path / "g.db",
        consecutive_loss_limit=1,
        alert_webhook_url=url,
        alert_cooldown_s=300,
    )
    transport = AsyncGuardTransport(httpx.MockTransport(answer(LOSS)), settings=settings)
    async with httpx.AsyncClient(transport=transport) as client:
        await client.post(BET, json={})
        transport.reset("consecutive_loss", reason="test")
        await client.post(BET, json={})
    opened = [a for a in receiver.posts if a.get("data", {}).get("to") == "open"]
    assert len(opened) == 1


async def test_a_dead_letter_posts_an_alert(tmp_path: Path, hook: tuple[Hook, str]) -> None:
    """A dead-lettered money call is alerted with its outcome."""
    receiver, url = hook
    settings = GuardSettings(db_path=tmp_path / "g.db", retry_attempts=1, alert_webhook_url=url)
    transport = AsyncGuardTransport(httpx.MockTransport(answer(b"{}", 500)), settings=settings)
    async with httpx.AsyncClient(transport=transport) as client:
        await client.post(BET, json={})
    (alert,) = [a for a in receiver.posts if a["kind"] == "dead_letter"]
    assert alert["data"]["outcome"] == "unknown"


def test_the_sync_transport_posts_alerts_too(tmp_path: Path, hook: tuple[Hook, str]) -> None:
    """GuardTransport posts the same alert."""
    receiver, url = hook
    settings = GuardSettings(
        db_path=tmp_path / "g.db", consecutive_loss_limit=1, alert_webhook_url=url
    )
    with httpx.Client(
        transport=GuardTransport(httpx.MockTransport(answer(LOSS)), settings=settings)
    ) as c:
        c.post(BET, json={})
    assert [a["breaker"] for a in receiver.posts] == ["consecutive_loss"]


async def test_a_dead_webhook_never_fails_the_call(tmp_path: Path) -> None:
    """With the webhook unreachable the agent's call succeeds; the log says so without the URL."""
    sink = io.StringIO()
    handler_id = guard.configure_logging(json=True, sink=sink, level="DEBUG")
    url = "http://127.0.0.1:9/hooks/S3CRET"
    try:
        settings = GuardSettings(
            db_path=tmp_path / "g.db", consecutive_loss_limit=1, alert_webhook_url=url
        )
        transport = AsyncGuardTransport(httpx.MockTransport(answer(LOSS)), settings=settings)
        async with httpx.AsyncClient(transport=transport) as client:
            assert (await client.post(BET, json={})).status_code == 200
    finally:
        logger.remove(handler_id)
    assert "alert_failed" in sink.getvalue()
    assert "S3CRET" not in sink.getvalue()


async def test_health_is_degraded_while_a_breaker_is_open(tmp_path: Path) -> None:
    """The snapshot's health says degraded, and why, while a breaker is open."""
    settings = GuardSettings(db_path=tmp_path / "g.db", consecutive_loss_limit=1)
    transport = AsyncGuardTransport(httpx.MockTransport(answer(LOSS)), settings=settings)
    async with httpx.AsyncClient(transport=transport) as client:
        assert transport.snapshot()["health"] == {"status": "ok", "reasons": []}
        await client.post(BET, json={})
    health = transport.snapshot()["health"]
    assert health["status"] == "degraded"
    assert health["reasons"] == ["consecutive_loss open for agent"]


async def test_health_is_degraded_after_silence(tmp_path: Path) -> None:
    """No call for GUARD_SILENCE_WARN_S turns health degraded."""
    now = [1_767_225_600.0]
    settings = GuardSettings(db_path=tmp_path / "g.db", silence_warn_s=300)
    transport = AsyncGuardTransport(
        httpx.MockTransport(answer(b"{}")), settings=settings, clock=lambda: now[0]
    )
    async with httpx.AsyncClient(transport=transport) as client:
        await client.get("https://casino.purpleflea.com/health")
        now[0] += 299
        assert transport.snapshot()["health"]["status"] == "ok"
        now[0] += 1
        assert transport.snapshot()["health"]["reasons"] == [
            "no call for 300s (GUARD_SILENCE_WARN_S=300)"
        ]


def test_log_level_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """configure_logging() without a level uses GUARD_LOG_LEVEL."""
    monkeypatch.setenv("GUARD_LOG_LEVEL", "ERROR")
    sink = io.StringIO()
    handler_id = guard.configure_logging(json=True, sink=sink)
    try:
        from guard._log import emit

        emit("INFO", "call", "quiet")
        emit("ERROR", "dead_letter", "loud")
    finally:
        logger.remove(handler_id)
    assert [json.loads(line)["msg"] for line in sink.getvalue().splitlines()] == ["loud"]
