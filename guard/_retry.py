"""Retry policy: which failures may be tried again, how long to wait, what a failure means.

Pure decisions; the transports run them with tenacity. The rule that matters for money: a
financial call is only retried when the request certainly did not execute (it never left, or
the server said 429/503), never after a read timeout or a 500/502/504, unless the server is
known to honour ``Idempotency-Key`` (``GUARD_IDEMPOTENT_RETRIES``).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Literal

import httpx

from ._exceptions import BreakerOpenError
from ._model import Operation

Outcome = Literal["not_executed", "unknown"]

# The request never reached the server: safe to send again, whatever it does.
NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
NOT_EXECUTED_STATUS = frozenset({429, 503})


@dataclass(frozen=True)
class Failure:
    """How an attempt failed: a transport error, or a status that is a failure."""

    status: int | None = None
    error: BaseException | None = None
    auth: bool = False  # a 401, or a 403 whose body says the key is invalid

    @property
    def outcome(self) -> Outcome:
        """``not_executed`` (safe to replay) or ``unknown`` (may have executed)."""
        if self.error is not None:
            return "not_executed" if isinstance(self.error, NEVER_SENT) else "unknown"
        if self.auth or self.status in NOT_EXECUTED_STATUS:
            return "not_executed"
        return "unknown"

    @property
    def describe(self) -> str:
        if self.error is not None:
            return f"{type(self.error).__name__}: {self.error}"
        return f"HTTP {self.status}"


def failure_of(
    status: int | None, error: BaseException | None, *, auth: bool = False
) -> Failure | None:
    """The failure an attempt ended in, or None for a success or a 4xx the caller caused."""
    if error is not None:
        if isinstance(error, httpx.TransportError) and not isinstance(error, BreakerOpenError):
            return Failure(error=error)
        return None
    if auth:
        return Failure(status=status, auth=True)
    if status is not None and (status == 429 or status >= 500):
        return Failure(status=status)
    return None


def retryable(op: Operation, failure: Failure | None, *, idempotent_server: bool) -> bool:
    """May this failure be tried again without risking to spend twice?"""
    if failure is None or failure.auth:
        return False
    if not op.financial:
        return True  # reads: transport errors, 429 and 5xx
    return failure.outcome == "not_executed" or idempotent_server


def backoff(attempt: int, base_s: float, cap_s: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter before retry number ``attempt`` (1 = the first retry)."""
    exp = base_s * 2.0 ** min(attempt - 1, 30)
    jitter: float = (rng or random).uniform(0, base_s)
    return min(exp + jitter, cap_s)


def server_delay(headers: httpx.Headers, body: bytes | None, now: float) -> float | None:
    """What the server asked us to wait: ``Retry-After`` (seconds or a date), else the real
    API's ``reset_at`` body field; None when it said nothing usable."""
    value = headers.get("retry-after")
    if value:
        value = value.strip()
        if value.isdigit():
            return float(value)
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - now)
        except (TypeError, ValueError):
            pass
    if body:
        try:
            reset_at = json.loads(body).get("reset_at")
            at = datetime.fromisoformat(str(reset_at).replace("Z", "+00:00"))
        except (ValueError, AttributeError, TypeError):
            return None
        return max(0.0, at.timestamp() - now)
    return None


def delay(
    attempt: int, headers: httpx.Headers | None, body: bytes | None, now: float,
    *, base_s: float, cap_s: float,
) -> float:  # fmt: skip
    """The wait before retry ``attempt``: the server's hint when longer than the backoff,
    never more than ``cap_s``."""
    wait = backoff(attempt, base_s, cap_s)
    hint = server_delay(headers, body, now) if headers is not None else None
    if hint is not None:
        wait = max(wait, hint)
    return min(wait, cap_s)
