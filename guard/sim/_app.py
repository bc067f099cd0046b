"""The ASGI shell: find the service, apply faults and limits, authenticate, run the handler.

The order follows the real servers: the per-IP limiter runs before authentication, the handler
(validation, per-agent limits, the money) after it. Simulator additions (faults, the
``Idempotency-Key`` cache, the request log) wrap that order without changing it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.requests import Request

from . import _casino, _control, _domains, _escrow, _faucet, _trading, _wallet
from ._core import (
    HOST_SUFFIX,
    IDEMPOTENCY_TTL_S,
    SERVICES,
    Call,
    Config,
    Fault,
    Reply,
    Service,
    SimClock,
    SimError,
    SimState,
    Stored,
    bearer,
    iso,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

SERVICE_TABLE: dict[str, Service] = {
    s.name: s
    for s in (
        _casino.service,
        _trading.service,
        _wallet.service,
        _escrow.service,
        _faucet.service,
        _domains.service,
    )
}
FAULT_ERRORS = {
    500: ("internal_error", "An unexpected error occurred"),
    502: ("bad_gateway", "Upstream service unavailable"),
    503: ("service_unavailable", "Service temporarily unavailable"),
    504: ("gateway_timeout", "Upstream timed out"),
}


@dataclass
class Late:
    """A fault that strikes after the request executed: a hang or a dropped connection."""

    kind: str
    hang_s: float


class SimApp:
    """The Purple Flea simulator as an ASGI application (see :func:`create_app`)."""

    def __init__(self, state: SimState) -> None:
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":  # pragma: no cover - websockets are not part of the API
            return
        request = Request(scope, receive)
        reply, service, late = await self._handle(request)
        if late is not None and late.kind == "timeout":
            await _hang(receive, late.hang_s)
        await self._send(send, reply, service, drop=late is not None and late.kind == "drop")

    async def _handle(self, request: Request) -> tuple[Reply, Service, Late | None]:
        method = request.method
        found = resolve(request.headers.get("host", ""), request.url.path, method)
        if found is None:
            path = request.url.path
            return _error(SimError(404, "not_found", f"{method} {path} not found")), _ROOT, None
        service, path = found
        if service is _control.service:
            return await self._run(request, service, path, idempotent=False), service, None
        fault = self.state.faults.get(service.name)
        if fault is None or not fault.applies(path):
            return await self._run(request, service, path, idempotent=True), service, None
        if fault.remaining is not None:
            fault.remaining -= 1
        if fault.latency_ms:
            await asyncio.sleep(fault.latency_ms / 1000)
        early = self._early_fault(fault, service, path)
        if early is not None:
            key = request.headers.get("idempotency-key")
            self._log(service, method, path, early.status, None, key, fault="injected")
            return early, service, None
        reply = await self._run(request, service, path, idempotent=True)
        return reply, service, self._late_fault(fault)

    def _early_fault(self, fault: Fault, service: Service, path: str) -> Reply | None:
        rng = self.state.rng("faults")
        if fault.rate_limit_rate and rng.random() < fault.rate_limit_rate:
            if service.name == "casino" and "/games/" in path:
                return _error(
                    SimError(
                        429,
                        "rate_limit_exceeded",
                        "Max 60 game requests/min",
                        reset_at=iso(self.state.now() + 60),
                    )
                )
            return _error(SimError(429, "rate_limited", "Too many requests. Limit: 60 per 60s"))
        if fault.error_rate and rng.random() < fault.error_rate:
            code, message = FAULT_ERRORS.get(fault.status, ("simulated_error", "Injected fault"))
            return _error(SimError(fault.status, code, message))
        return None

    def _late_fault(self, fault: Fault) -> Late | None:
        rng = self.state.rng("faults")
        if fault.timeout_rate and rng.random() < fault.timeout_rate:
            return Late("timeout", fault.hang_s)
        if fault.drop_rate and rng.random() < fault.drop_rate:
            return Late("drop", 0.0)
        return None

    async def _run(
        self, request: Request, service: Service, path: str, *, idempotent: bool
    ) -> Reply:
        state = self.state
        method = request.method
        matched = service.match(method, path)
        if matched is None:
            reply = _error(service.not_found(method, path))
            self._log(service, method, path, reply.status, None, None)
            return reply
        route, params = matched
        headers = request.headers
        ip = _client_ip(headers)
        if route.ip_limit is not None and state.config.rate_limits:
            over = state.limits.hit(f"ip:{service.name}:{path}:{ip}", route.ip_limit)
            if over is not None:
                limit = route.ip_limit
                msg = f"Too many requests. Limit: {limit} per 60s"
                reply = _error(SimError(429, "rate_limited", msg))
                self._log(service, method, path, 429, None, None)
                return reply
        raw = await request.body()
        body: Any = {}
        if raw.strip() and method not in ("GET", "HEAD"):
            try:
                body = json.loads(raw)
            except ValueError:
                reply = _error(SimError(400, "invalid_json", "Request body must be valid JSON"))
                self._log(service, method, path, 400, None, None)
                return reply
        call = Call(
            state=state,
            service=service.name,
            method=method,
            path=path,
            params=params,
            query=request.query_params,
            headers=headers,
            body=body if isinstance(body, dict) else {},
            ip=ip,
        )
        if route.auth != "none":
            key = bearer(headers)
            agent = state.keys.lookup(service.realm or "", key) if key else None
            if agent is None and route.auth == "required":
                assert service.unauthorized is not None
                reply = _error(service.unauthorized(key is None))
                self._log(service, method, path, 401, None, None)
                return reply
            call.agent_id, call.api_key = agent, key if agent else None

        idem_key = headers.get("idempotency-key") if idempotent else None
        if idem_key and method in ("GET", "HEAD"):
            idem_key = None
        if idem_key:
            scope = (service.realm or service.name, call.agent_id or "-", idem_key)
            fingerprint = hashlib.sha256(f"{method} {path} ".encode() + raw).hexdigest()
            stored = state.idempotency.get(scope)
            if stored is not None and state.now() - stored.at < IDEMPOTENCY_TTL_S:
                if stored.fingerprint != fingerprint:
                    reply = _error(
                        SimError(
                            422,
                            "idempotency_key_reused",
                            "This Idempotency-Key was used with a different request",
                        )
                    )
                else:
                    reply = Reply(
                        dict(stored.reply.body),
                        stored.reply.status,
                        {**stored.reply.headers, "idempotent-replayed": "true"},
                    )
                self._log(service, method, path, reply.status, call.agent_id, idem_key, True)
                return reply

        state.run_due()
        try:
            result = route.handler(call)
            reply = result if isinstance(result, Reply) else Reply(result)
        except SimError as exc:
            reply = _error(exc)
        if idem_key and reply.status not in (401, 429) and reply.status < 500:
            state.idempotency[scope] = Stored(state.now(), fingerprint, reply)
        self._log(service, method, path, reply.status, call.agent_id, idem_key)
        return reply

    def _log(
        self,
        service: Service,
        method: str,
        path: str,
        status: int,
        agent_id: str | None,
        idempotency_key: str | None,
        replayed: bool = False,
        fault: str | None = None,
    ) -> None:
        self.state.requests.append(
            {
                "at": self.state.now(),
                "service": service.name,
                "method": method,
                "path": path,
                "status": status,
                "agent_id": agent_id,
                "idempotency_key": idempotency_key,
                "replayed": replayed,
                "fault": fault,
            }
        )

    async def _send(self, send: Send, reply: Reply, service: Service, *, drop: bool) -> None:
        body = dict(reply.body)
        if service.info:
            body["_info"] = service.info
        payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        headers = {"content-type": "application/json", **reply.headers}
        if reply.status == 429 and self.state.config.retry_after:
            headers["retry-after"] = "60"
        raw_headers = [(k.encode(), v.encode()) for k, v in headers.items()]
        raw_headers.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": reply.status, "headers": raw_headers})
        if drop:
            # Half a body, then the connection goes: over real HTTP the client sees the peer
            # close mid-response; in process (httpx.ASGITransport) the same exception surfaces.
            cut = payload[: len(payload) // 2]
            await send({"type": "http.response.body", "body": cut, "more_body": True})
            raise httpx.RemoteProtocolError("simulated dropped connection (fault injection)")
        await send({"type": "http.response.body", "body": payload})


_ROOT = Service("simulator", realm=None, info={})


def resolve(host: str, path: str, method: str) -> tuple[Service, str] | None:
    """Find the service for a request: by ``*.purpleflea.com`` host, else by path prefix."""
    name = host.split(":")[0].lower()
    if name.endswith(HOST_SUFFIX):
        service = SERVICE_TABLE.get(name[: -len(HOST_SUFFIX)])
        return (service, path) if service else None
    first, _, rest = path.lstrip("/").partition("/")
    if first == "_sim":
        return _control.service, "/" + rest
    if first not in SERVICES:
        return None
    service = SERVICE_TABLE[first]
    stripped = "/" + rest
    # Escrow and faucet paths already start with their name (/escrow/create): accept both
    # /escrow/escrow/create and the shorter /escrow/create on loopback.
    if service.match(method, stripped) is None and service.match(method, path) is not None:
        return service, path
    return service, stripped


def _client_ip(headers: Any) -> str:
    forwarded: str = headers.get("x-forwarded-for", "")
    ip = forwarded.split(",")[0].strip() or headers.get("x-real-ip", "")
    return ip or "unknown"  # the real servers put every unproxied client in one bucket


def _error(exc: SimError) -> Reply:
    return Reply(exc.body, exc.status)


async def _hang(receive: Receive, seconds: float) -> None:
    """Hold the response until the client gives up (disconnects) or ``seconds`` pass."""

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(disconnected(), seconds)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def create_app(
    seed: int | None = None,
    *,
    clock: SimClock | None = None,
    rate_limits: bool = True,
    retry_after: bool = False,
    auto_faucet: bool = False,
) -> SimApp:
    """Build the Purple Flea simulator, an ASGI app.

    ``seed`` makes every draw (keys, ids, fairness seeds, prices, faults) repeatable; ``clock``
    (a :class:`SimClock`) sets its time, frozen when built with ``SimClock(start=...)``. A whole
    session is repeatable only on a frozen clock: on the wall clock, bets without a
    ``client_seed`` take ``auto_<ms>`` (as the real casino does) and prices walk each second.
    ``rate_limits`` turns the real per-IP and per-agent limiters on; ``retry_after`` adds a
    ``Retry-After`` header to 429s, which the real API never sends; ``auto_faucet`` credits $1
    on casino registration, as the real casino tries to in the background.
    """
    config = Config(rate_limits=rate_limits, retry_after=retry_after, auto_faucet=auto_faucet)
    return SimApp(SimState(seed, clock or SimClock(), config))
