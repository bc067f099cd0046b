"""The transports: thin shells around the engine that only send, sleep and write.

``_Guard`` holds what both share (classify, admit, learn, what to write and when); the async and
sync transports differ only in how they call the inner transport and the store.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from types import TracebackType
from typing import Any

import httpx

from ._engine import Denial, Engine, Ticket, fingerprint
from ._exceptions import BreakerOpenError, KeyExpiredError
from ._log import emit, emit_engine_event
from ._profile import classify, is_auth_failure
from ._settings import GuardSettings
from ._settle import Unsettleable, settle
from ._store import AsyncStore, Statement, SyncStore, state_statement, transition_statements
from ._stream import decode_json, tee

Clock = Callable[[], float]
STATE_EVERY_S = 1.0  # the ledger is written behind, at most this late
SYNC_EVERY_S = 1.0  # how often a denial may look for an operator reset in the database
BREAKER_NAMES = ("consecutive_loss", "balance_drop", "error_rate", "latency", "auth")


@dataclass
class _Call:
    ticket: Ticket
    trace_id: str
    status: int | None = None


class _Guard:
    """The shared, synchronous part of both transports (one per transport)."""

    def __init__(self, settings: GuardSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.agent_id = settings.agent_id
        self.engine = Engine(settings)
        self.lock = threading.Lock()  # covers state transitions, never a request
        self._last_state_write = clock()
        self._last_sync = float("-inf")
        store = SyncStore(settings.db_path)
        try:
            rows, retired, ledger = store.load(self.agent_id)
        finally:
            store.close()
        self.engine.restore(rows, retired, ledger, clock())

    # --- the call's life ---------------------------------------------------------------------

    def begin(self, request: httpx.Request) -> _Call:
        """Classify and admit ``request``, or raise the denial before anything is sent."""
        op = classify(request.method, request.url.host, request.url.path)
        key = _key_fingerprint(request.headers)
        with self.lock:
            result = self.engine.admit(op, key, self.clock())
        if isinstance(result, Denial):
            raise _denial_error(result, op.name, request)
        trace_id = request.headers.get("x-request-id") or uuid.uuid4().hex[:16]
        request.extensions = {
            **request.extensions,
            "guard": {
                "trace_id": trace_id,
                "service": op.service,
                "operation": op.name,
                "kind": op.kind.value,
            },
        }
        return _Call(result, trace_id)

    def admit(self, request: httpx.Request) -> _Call:
        """:meth:`begin`, but a denial first looks (at most once a second) for a ``guard reset``
        done meanwhile by another process, and admits the call if one cleared the way."""
        try:
            return self.begin(request)
        except BreakerOpenError:
            now = self.clock()
            if now - self._last_sync < SYNC_EVERY_S:
                raise
            self._last_sync = now
            store = SyncStore(self.settings.db_path)
            try:
                rows, retired, _ = store.load(self.agent_id)
            finally:
                store.close()
            with self.lock:
                blocked = self._blocked()
                self.engine.sync_operator_resets(rows, retired, now)
                if self._blocked() == blocked:
                    raise
        return self.begin(request)

    def _blocked(self) -> int:
        return sum(b.state != "closed" for b in self.engine.breakers.values()) + len(
            self.engine.retired_keys
        )

    def responded(self, call: _Call, response: httpx.Response) -> None:
        call.status = response.status_code
        with self.lock:
            self.engine.on_response(
                call.ticket,
                response.status_code,
                auth_failed=response.status_code == 401,
                now=self.clock(),
            )
        response.extensions = {**response.extensions, "guard": {"trace_id": call.trace_id}}

    def failed(self, call: _Call, exc: BaseException) -> None:
        with self.lock:
            if isinstance(exc, Exception):
                self.engine.on_response(call.ticket, None, auth_failed=False, now=self.clock())
            else:  # cancelled: no outcome, give the probe slot back
                self.engine.release(call.ticket)
        op = call.ticket.op
        emit(
            "WARNING",
            "call",
            f"{op.service} {op.name} failed: {type(exc).__name__}",
            trace_id=call.trace_id,
            agent_id=self.agent_id,
            service=op.service,
            operation=op.name,
            status=None,
            error=type(exc).__name__,
            latency_ms=round((self.clock() - call.ticket.started) * 1000, 1),
        )

    def body_closed(
        self, call: _Call, headers: httpx.Headers, body: bytes | None, error: BaseException | None
    ) -> None:
        """The response body ended: settle what it says and log the call."""
        op, status = call.ticket.op, call.status or 0
        settlement, skipped = None, False
        wants_body = 200 <= status < 300 or status == 403
        if wants_body and body is not None and error is None:
            try:
                parsed, decoded = decode_json(status, headers, body), True
            except ValueError:
                parsed, decoded = None, False
                skipped = 200 <= status < 300 and op.financial
            if decoded:
                if status == 403 and is_auth_failure(status, parsed):
                    with self.lock:
                        self.engine.on_auth_failure(call.ticket, status, self.clock())
                try:
                    settlement = settle(op, status, parsed)
                except Unsettleable:
                    skipped = True
        elif 200 <= status < 300 and op.financial:
            skipped = True  # the body never arrived whole: nothing to settle from
        with self.lock:
            if settlement is not None or skipped:
                self.engine.on_settlement(settlement, self.clock())
        emit(
            "INFO",
            "call",
            f"{op.service} {op.name} {status}",
            trace_id=call.trace_id,
            agent_id=self.agent_id,
            service=op.service,
            operation=op.name,
            status=status,
            latency_ms=round((self.clock() - call.ticket.started) * 1000, 1),
            pnl=_money(settlement.pnl) if settlement else None,
            balance=_money(settlement.balance) if settlement else None,
            unsettled=skipped,
        )

    # --- persistence -----------------------------------------------------------------------

    def pending_writes(self, *, force_state: bool = False) -> list[Statement]:
        """Transitions to write now, and the ledger when it is due; logs the events."""
        now = self.clock()
        with self.lock:
            transitions, events = self.engine.drain()
            statements: list[Statement] = []
            if transitions:
                touched = {(t.breaker, t.scope) for t in transitions}
                breakers = [self.engine.breakers[k] for k in touched]
                statements += transition_statements(
                    self.agent_id, breakers, transitions, self.engine.retired_keys, now
                )
            if force_state or transitions or now - self._last_state_write >= STATE_EVERY_S:
                self._last_state_write = now
                statements.append(
                    state_statement(
                        self.agent_id, self.engine.ledger.to_state(), self.engine.snapshot(now), now
                    )
                )
        for event in events:
            emit_engine_event(event, self.agent_id)
        return statements

    def write_failed(self, exc: BaseException, statements: list[Statement]) -> None:
        emit(
            "CRITICAL",
            "store_error",
            f"could not write guard state to {self.settings.db_path}: {exc}",
            agent_id=self.agent_id,
            statements=len(statements),
        )

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return self.engine.snapshot(self.clock())

    def reset(self, breaker: str | None, reason: str) -> list[Statement]:
        if breaker is not None and breaker not in BREAKER_NAMES:
            raise ValueError(f"unknown breaker {breaker!r}; one of {', '.join(BREAKER_NAMES)}")
        if not reason.strip():
            raise ValueError("a reset needs a reason (it is audited)")
        with self.lock:
            self.engine.reset(breaker, reason=reason, now=self.clock())
        return self.pending_writes(force_state=True)


class AsyncGuardTransport(httpx.AsyncBaseTransport):
    """An httpx async transport that guards every call it forwards to ``transport``."""

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        settings: GuardSettings | None = None,
        clock: Clock = time.time,
    ) -> None:
        self._inner = transport if transport is not None else httpx.AsyncHTTPTransport()
        self._guard = _Guard(settings if settings is not None else GuardSettings(), clock)
        self._store = AsyncStore(self._guard.settings.db_path)
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        guard = self._guard
        try:
            call = guard.admit(request)
        except BreakerOpenError:
            await self._persist()  # the denial's events (and any transition) are logged
            raise
        try:
            response = await self._inner.handle_async_request(request)
        except BaseException as exc:
            guard.failed(call, exc)
            await self._persist()
            raise
        guard.responded(call, response)
        await self._persist()

        async def on_close(body: bytes | None, error: BaseException | None) -> None:
            guard.body_closed(call, response.headers, body, error)
            await self._persist()

        tee(response, on_close)
        return response

    async def _persist(self, *, force_state: bool = False) -> None:
        statements = self._guard.pending_writes(force_state=force_state)
        try:
            await self._store.write(statements)
        except Exception as exc:  # the agent's call must not fail because the disk did
            self._guard.write_failed(exc, statements)

    def snapshot(self) -> dict[str, Any]:
        """Breakers, ledger, per-service latency and errors, counts (JSON-ready)."""
        return self._guard.snapshot()

    def reset(self, breaker: str | None = None, *, reason: str) -> None:
        """Close ``breaker`` (all breakers when None); written to the audit table."""
        _write_sync(self._guard, self._guard.reset(breaker, reason))

    async def __aenter__(self) -> AsyncGuardTransport:
        await self._inner.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        if not self._closed:
            self._closed = True
            await self._inner.__aexit__(exc_type, exc_value, traceback)
            await self._finish()

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._inner.aclose()
            await self._finish()

    async def _finish(self) -> None:
        await self._persist(force_state=True)
        await self._store.aclose()


class GuardTransport(httpx.BaseTransport):
    """The sync twin of :class:`AsyncGuardTransport`, for ``httpx.Client``."""

    def __init__(
        self,
        transport: httpx.BaseTransport | None = None,
        *,
        settings: GuardSettings | None = None,
        clock: Clock = time.time,
    ) -> None:
        self._inner = transport if transport is not None else httpx.HTTPTransport()
        self._guard = _Guard(settings if settings is not None else GuardSettings(), clock)
        self._store = SyncStore(self._guard.settings.db_path)
        self._write_lock = threading.Lock()
        self._closed = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        guard = self._guard
        try:
            call = guard.admit(request)
        except BreakerOpenError:
            self._persist()
            raise
        try:
            response = self._inner.handle_request(request)
        except BaseException as exc:
            guard.failed(call, exc)
            self._persist()
            raise
        guard.responded(call, response)
        self._persist()

        def on_close(body: bytes | None, error: BaseException | None) -> None:
            guard.body_closed(call, response.headers, body, error)
            self._persist()

        tee(response, on_close)
        return response

    def _persist(self, *, force_state: bool = False) -> None:
        statements = self._guard.pending_writes(force_state=force_state)
        try:
            with self._write_lock:
                self._store.write(statements)
        except Exception as exc:
            self._guard.write_failed(exc, statements)

    def snapshot(self) -> dict[str, Any]:
        """Breakers, ledger, per-service latency and errors, counts (JSON-ready)."""
        return self._guard.snapshot()

    def reset(self, breaker: str | None = None, *, reason: str) -> None:
        """Close ``breaker`` (all breakers when None); written to the audit table."""
        statements = self._guard.reset(breaker, reason)
        with self._write_lock:
            self._store.write(statements)

    def __enter__(self) -> GuardTransport:
        self._inner.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        if not self._closed:
            self._closed = True
            self._inner.__exit__(exc_type, exc_value, traceback)
            self._finish()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._inner.close()
            self._finish()

    def _finish(self) -> None:
        self._persist(force_state=True)
        self._store.close()


def _write_sync(guard: _Guard, statements: list[Statement]) -> None:
    store = SyncStore(guard.settings.db_path)
    try:
        store.write(statements)
    finally:
        store.close()


def _key_fingerprint(headers: httpx.Headers) -> str | None:
    value = headers.get("authorization", "")
    scheme, _, key = value.partition(" ")
    key = key.strip()
    return fingerprint(key) if scheme.lower() == "bearer" and key else None


def _denial_error(denial: Denial, operation: str, request: httpx.Request) -> BreakerOpenError:
    cls = KeyExpiredError if denial.breaker == "auth" else BreakerOpenError
    return cls(
        denial.breaker,
        denial.scope,
        denial.reason,
        denial.retry_after,
        operation=operation,
        request=request,
    )


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
