"""Webhook alerts: a JSON POST to ``GUARD_ALERT_WEBHOOK_URL`` on breaker transitions, key
expiries and dead letters, at most one per key per ``GUARD_ALERT_COOLDOWN_S``.

Choosing what to send is pure (:class:`Alerts`); the transports post. A failed post is logged
(without the URL, which often carries a token) and never reaches the agent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ._engine import Event
from ._settings import GuardSettings

ALERTING = ("transition", "key_expired")
TIMEOUT_S = 5.0


class Alerts:
    """What to alert, with the cooldown per key; empty when no webhook is set."""

    def __init__(self, settings: GuardSettings) -> None:
        self.url = (
            settings.alert_webhook_url.get_secret_value() if settings.alert_webhook_url else None
        )
        self.cooldown_s = settings.alert_cooldown_s
        self.agent_id = settings.agent_id
        self._last: dict[str, float] = {}
        self.outbox: list[dict[str, Any]] = []

    def events(self, events: list[Event], now: float) -> None:
        for e in events:
            if e.kind in ALERTING:
                key = f"{e.kind}:{e.breaker}:{e.scope}:{e.data.get('to', '')}"
                self._queue(
                    key,
                    now,
                    kind=e.kind,
                    level=e.level,
                    message=e.message,
                    breaker=e.breaker,
                    scope=e.scope,
                    data=e.data,
                )

    def dead_letter(self, record: dict[str, Any], now: float) -> None:
        key = f"dead_letter:{record['service']}:{record['operation']}"
        self._queue(
            key,
            now,
            kind="dead_letter",
            level="ERROR",
            message=f"{record['service']} {record['operation']} dead-lettered "
            f"({record['outcome']}): {record['error']}",
            data={
                k: record[k]
                for k in (
                    "service",
                    "operation",
                    "outcome",
                    "http_status",
                    "attempts",
                    "trace_id",
                    "idempotency_key",
                )
            },
        )

    def take(self) -> list[dict[str, Any]]:
        out, self.outbox = self.outbox, []
        return out

    def _queue(self, key: str, now: float, **payload: Any) -> None:
        if self.url is None:
            return
        last = self._last.get(key)
        if last is not None and now - last < self.cooldown_s:
            return
        self._last[key] = now
        at = datetime.fromtimestamp(now, UTC).isoformat()
        self.outbox.append({"source": "guard", "agent_id": self.agent_id, "at": at, **payload})
