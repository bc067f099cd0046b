"""The simulator's machinery, shared by every service: state, clock, keys, routing, replies.

A service module (``_casino.py``, ``_trading.py``, ...) builds a :class:`Service`, registers
synchronous handlers on it with ``@service.route(...)`` and keeps its own data in a *book*: a
class constructed once per simulator state (``call.state.book(CasinoBook)``) and dropped on
reset. Handlers never sleep and never await, so each request mutates the state atomically on
the event loop; everything slow (injected latency, hangs, dropped connections) happens in the
ASGI shell (``_app.py``).
"""

from __future__ import annotations

import hashlib
import math
import os
import random
import re
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeGuard, TypeVar

SERVICES = ("casino", "trading", "wallet", "escrow", "faucet", "domains")
HOST_SUFFIX = ".purpleflea.com"
WINDOW_S = 60.0
IDEMPOTENCY_TTL_S = 24 * 3600.0

T = TypeVar("T")
Auth = Literal["none", "required", "optional"]


# --- small helpers shared by the services -------------------------------------------------


def round2(x: float) -> float:
    """Round like JavaScript's ``Math.round(x * 100) / 100`` (half away from zero for x >= 0)."""
    return math.floor(x * 100 + 0.5) / 100


def round4(x: float) -> float:
    """Round like ``Math.round(x * 10000) / 10000``."""
    return math.floor(x * 10000 + 0.5) / 10000


def round6(x: float) -> float:
    """Round like ``Math.round(x * 1e6) / 1e6``."""
    return math.floor(x * 1_000_000 + 0.5) / 1_000_000


def is_number(value: object) -> TypeGuard[float]:
    """True for a finite JSON number (``typeof x === "number"``, booleans excluded)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def iso(epoch: float) -> str:
    """An epoch as JavaScript's ``Date.toISOString()`` writes it."""
    dt = datetime.fromtimestamp(epoch, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def health(call: Call, service: str, version: str, agents: int, **extra: Any) -> dict[str, Any]:
    """The ``GET /health`` body most services share."""
    return {
        "status": "ok",
        "service": service,
        "version": version,
        **extra,
        "uptime_seconds": math.floor(call.now() - call.state.started_at),
        "database": "ok",
        "registered_agents": agents,
        "timestamp": iso(call.now()),
    }


class SimError(Exception):
    """An API error reply: ``{"error": code, "message": ..., **extra}`` with an HTTP status."""

    def __init__(self, status: int, error: str, message: str | None = None, **extra: Any) -> None:
        super().__init__(f"{status} {error}")
        self.status = status
        self.body: dict[str, Any] = {"error": error}
        if message is not None:
            self.body["message"] = message
        self.body.update(extra)


@dataclass
class Reply:
    """A handler's answer; a handler may also return a plain dict, meaning 200."""

    body: dict[str, Any]
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


# --- clock, keys, limits ------------------------------------------------------------------


class SimClock:
    """The simulator's time. Follows the wall clock unless ``start`` freezes it.

    ``advance`` moves it forward in both modes, which is how tests expire rate-limit windows,
    escrow timeouts and idempotency keys without sleeping.
    """

    def __init__(self, start: float | None = None) -> None:
        self._start = start
        self._offset = 0.0

    def now(self) -> float:
        base = time.time() if self._start is None else self._start
        return base + self._offset

    def advance(self, seconds: float) -> None:
        self._offset += seconds

    def set(self, epoch: float) -> None:
        base = time.time() if self._start is None else self._start
        self._offset = epoch - base

    @property
    def frozen(self) -> bool:
        return self._start is not None


@dataclass
class KeyRecord:
    realm: str  # "casino" (also escrow), "trading", "wallet" or "domains"
    agent_id: str
    expires_at: float | None = None


class KeyRing:
    """API keys by SHA-256, as the real services store them. Revocation, rotation and expiry
    are simulator controls: the real API has none."""

    def __init__(self, state: SimState) -> None:
        self._state = state
        self._keys: dict[str, KeyRecord] = {}

    def issue(self, realm: str, agent_id: str, prefix: str) -> str:
        key = prefix + self._state.hex(24)
        self._keys[sha256_hex(key)] = KeyRecord(realm, agent_id)
        return key

    def lookup(self, realm: str, key: str) -> str | None:
        record = self._keys.get(sha256_hex(key))
        if record is None or record.realm != realm:
            return None
        if record.expires_at is not None and self._state.now() >= record.expires_at:
            return None
        return record.agent_id

    def record(self, key: str) -> KeyRecord | None:
        return self._keys.get(sha256_hex(key))

    def revoke(self, key: str) -> KeyRecord | None:
        return self._keys.pop(sha256_hex(key), None)

    def revoke_agent(self, agent_id: str) -> int:
        gone = [h for h, r in self._keys.items() if r.agent_id == agent_id]
        for h in gone:
            del self._keys[h]
        return len(gone)

    def expire(self, key: str, after_s: float) -> KeyRecord | None:
        record = self.record(key)
        if record is not None:
            record.expires_at = self._state.now() + after_s
        return record


class RateLimiter:
    """Fixed windows in memory, like the real services (reset when the simulator resets)."""

    def __init__(self, state: SimState) -> None:
        self._state = state
        self._windows: dict[str, tuple[float, int]] = {}

    def hit(self, key: str, limit: int, window_s: float = WINDOW_S) -> float | None:
        """Count one request; return the window's end when it is over ``limit``, else None."""
        now = self._state.now()
        start, count = self._windows.get(key, (now, 0))
        if now - start > window_s:
            start, count = now, 0
        count += 1
        self._windows[key] = (start, count)
        return start + window_s if count > limit else None


@dataclass
class Fault:
    """Failures injected into one service (simulator control, see ``POST /_sim/faults``).

    Rates are probabilities per request (0-1). ``error_rate`` and ``rate_limit_rate`` answer
    *before* the request executes; ``timeout_rate`` and ``drop_rate`` act *after* it executed,
    which is the dangerous case a client cannot tell apart from a failure.
    """

    error_rate: float = 0.0
    status: int = 503
    latency_ms: float = 0.0
    timeout_rate: float = 0.0
    hang_s: float = 30.0
    drop_rate: float = 0.0
    rate_limit_rate: float = 0.0
    path: str = ""  # only requests whose service path starts with this
    remaining: int | None = None  # how many more requests it may hit (None: no limit)

    def applies(self, path: str) -> bool:
        return path.startswith(self.path) and (self.remaining is None or self.remaining > 0)


@dataclass
class Stored:
    at: float
    fingerprint: str
    reply: Reply


@dataclass
class Config:
    """Simulator switches; none of them exists in the real API."""

    rate_limits: bool = True
    retry_after: bool = False  # the real API never sends Retry-After
    auto_faucet: bool = False  # the real casino credits $1 in the background on register


# --- state --------------------------------------------------------------------------------


class SimState:
    """Everything the simulator remembers. ``reset`` forgets it all but the config and clock."""

    def __init__(self, seed: int | None, clock: SimClock, config: Config) -> None:
        self.clock = clock
        self.config = config
        self.started_at = clock.now()
        self.reset(seed)

    def reset(self, seed: int | None) -> None:
        self.seed = seed
        self._entropy = seed if seed is not None else int.from_bytes(os.urandom(8), "big")
        self._rngs: dict[str, random.Random] = {}
        self._books: dict[type[Any], Any] = {}
        self.keys = KeyRing(self)
        self.limits = RateLimiter(self)
        self.faults: dict[str, Fault] = {}
        self.idempotency: dict[tuple[str, str, str], Stored] = {}
        self.requests: deque[dict[str, Any]] = deque(maxlen=10_000)
        self.epoch = self.clock.now()

    def now(self) -> float:
        return self.clock.now()

    def rng(self, stream: str) -> random.Random:
        """A random stream of its own per purpose, so one purpose never shifts another's draws."""
        rng = self._rngs.get(stream)
        if rng is None:
            rng = self._rngs[stream] = random.Random(f"{self._entropy}:{stream}")
        return rng

    def hex(self, nbytes: int, stream: str = "ids") -> str:
        return self.rng(stream).getrandbits(nbytes * 8).to_bytes(nbytes, "big").hex()

    def uuid4(self, stream: str = "ids") -> str:
        return str(uuid.UUID(int=self.rng(stream).getrandbits(128), version=4))

    def run_due(self) -> None:
        """Run the periodic jobs whose time has come (escrow timeouts...), lazily.

        The real services run them on timers; here every book with a ``sweep()`` method gets
        it called before each request, so moving the clock shows their effect everywhere.
        """
        for book in list(self._books.values()):
            sweep = getattr(book, "sweep", None)
            if sweep is not None:
                sweep()

    def book(self, cls: Callable[[SimState], T]) -> T:
        """The data of one service, created on first use and forgotten on reset."""
        book = self._books.get(cls)  # type: ignore[call-overload]
        if book is None:
            book = self._books[cls] = cls(self)  # type: ignore[index]
        return book  # type: ignore[no-any-return]


# --- requests and routing -----------------------------------------------------------------


@dataclass
class Call:
    """One request as a handler sees it."""

    state: SimState
    service: str
    method: str
    path: str
    params: dict[str, str]
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: dict[str, Any]
    ip: str
    agent_id: str | None = None
    api_key: str | None = None

    def now(self) -> float:
        return self.state.now()

    @property
    def agent(self) -> str:
        """The authenticated agent; only valid on routes declared with ``auth="required"``."""
        assert self.agent_id is not None
        return self.agent_id


Handler = Callable[[Call], "Reply | dict[str, Any]"]
H = TypeVar("H", bound=Handler)
Unauthorized = Callable[[bool], SimError]  # missing_header -> the service's real 401


@dataclass
class Route:
    method: str
    path: str
    pattern: re.Pattern[str]
    handler: Handler
    auth: Auth
    ip_limit: int | None


class Service:
    """One Purple Flea service: its routes, how it says 401 and 404, and its ``_info``."""

    def __init__(
        self,
        name: str,
        *,
        realm: str | None,
        unauthorized: Unauthorized | None = None,
        info: dict[str, str] | None = None,
        rich_404: bool = True,
    ) -> None:
        self.name = name
        self.realm = realm
        self.unauthorized = unauthorized
        self.info = (
            info
            if info is not None
            else {
                "service": f"agent-{name}",
                "docs": f"https://{name}{HOST_SUFFIX}/llms.txt",
                "referral": "Earn commission: share your referral_code with other agents",
                "version": "1.0.0",
            }
        )
        self.rich_404 = rich_404
        self.routes: list[Route] = []

    def route(
        self, method: str, path: str, *, auth: Auth = "none", ip_limit: int | None = None
    ) -> Callable[[H], H]:
        """Register a handler for ``METHOD /path/:param``."""
        regex = re.sub(r":(\w+)", r"(?P<\1>[^/]+)", path.rstrip("/") or "/")
        pattern = re.compile(f"^{regex}/?$")

        def register(handler: H) -> H:
            self.routes.append(Route(method, path, pattern, handler, auth, ip_limit))
            return handler

        return register

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            m = route.pattern.match(path)
            if m and (route.method == method or (method == "HEAD" and route.method == "GET")):
                return route, m.groupdict()
        return None

    def not_found(self, method: str, path: str) -> SimError:
        if not self.rich_404:
            return SimError(404, "not_found")
        return SimError(
            404,
            "not_found",
            f"{method} {path} not found",
            docs=self.info["docs"],
            openapi="/openapi.json",
        )


def bearer(headers: Mapping[str, str]) -> str | None:
    value = headers.get("authorization", "")
    if not value.startswith("Bearer "):
        return None
    return value[len("Bearer ") :].strip() or None
