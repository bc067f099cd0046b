"""Structured events through loguru. The library adds no sink: apps opt in.

``configure_logging()`` enables guard's events and adds one sink: JSON lines (one object per
event: ``ts``, ``level``, ``event``, ``msg`` and the event's fields) or readable text.
"""

from __future__ import annotations

import contextlib
import json
import sys
from decimal import Decimal
from typing import Any, TextIO

from loguru import logger

from ._engine import Event


def emit(level: str, event: str, message: str, **fields: Any) -> None:
    """One event; ``message`` is never used as a format template (it may hold braces)."""
    logger.bind(event=event, **fields).log(level, "{}", message)


def emit_engine_event(event: Event, agent_id: str) -> None:
    emit(
        event.level,
        event.kind,
        event.message,
        agent_id=agent_id,
        breaker=event.breaker,
        scope=event.scope,
        **event.data,
    )


def _default(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    return repr(value)


def configure_logging(
    *,
    json: bool = True,
    level: str | None = None,
    sink: TextIO | None = None,
    quiet_default: bool = True,
) -> int:
    """Enable guard's events and send them to ``sink`` (stderr); returns the loguru handler id.

    ``level`` defaults to ``GUARD_LOG_LEVEL`` (INFO). ``quiet_default`` removes loguru's
    out-of-the-box stderr handler (id 0) if it is still installed, so each event is not printed
    twice; an app that configured its own handlers is not touched.
    """
    if quiet_default:
        with contextlib.suppress(ValueError):
            logger.remove(0)
    if level is None:
        from ._settings import GuardSettings

        level = GuardSettings().log_level
    stream = sink if sink is not None else sys.stderr
    logger.enable("guard")

    def only_guard(record: Any) -> bool:
        return str(record["name"]).startswith("guard")

    if not json:
        return logger.add(
            stream,
            level=level.upper(),
            filter=only_guard,
            format="{time:HH:mm:ss} {level: <8} {message}",
        )

    def write(message: Any) -> None:
        record = message.record
        line = {
            "ts": record["time"].isoformat(),
            "level": record["level"].name,
            "event": record["extra"].get("event", "log"),
            "msg": record["message"],
            **{k: v for k, v in record["extra"].items() if k != "event"},
        }
        stream.write(_dumps(line) + "\n")
        stream.flush()

    return logger.add(write, level=level.upper(), filter=only_guard, format="{message}")


def _dumps(line: dict[str, Any]) -> str:
    return json.dumps(line, default=_default, separators=(",", ":"))
