"""The transports: thin shells around :class:`~guard._guard.Guard` that only send, sleep and
write. The async and sync twins differ in nothing but ``await`` and the store they write with.

One request's life: admit (or raise the denial, nothing sent) → give a money request its
``Idempotency-Key`` → buffer the request body once → send. A retryable failure builds a
tenacity retrying object (the happy path never does); each retry is admitted again, so a
breaker that trips mid-storm stops it. A money request that finally failed is dead-lettered,
committed, before its error or response reaches the agent. The final response's body is
observed through a tee and settled when the agent has read it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

import httpx
from tenacity import (
    AsyncRetrying,
    Retrying,
    retry_if_result,
    stop_after_attempt,
    stop_before_delay,
)

from ._alerts import TIMEOUT_S
from ._dlq import insert_statement
from ._exceptions import BreakerOpenError
from ._guard import Attempt, Call, Clock, Guard, buffered
from ._log import emit
from ._settings import GuardSettings
from ._store import AsyncStore, Statement, SyncStore
from ._stream import tee


class AsyncGuardTransport(httpx.AsyncBaseTransport):
    """An httpx async transport that guards every call it forwards to ``transport``."""

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        settings: GuardSettings | None = None,
        clock: Clock = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._inner = transport if transport is not None else httpx.AsyncHTTPTransport()
        self._guard = Guard(settings if settings is not None else GuardSettings(), clock)
        self._store = AsyncStore(self._guard.settings.db_path)
        self._sleep = sleep
        self._alert_client: httpx.AsyncClient | None = None
        self._alert_tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        guard = self._guard
        try:
            call = guard.admit(request)
        except BreakerOpenError:
            await self._persist()  # the denial's events (and any transition) are logged
            raise
        guard.prepare(request, call)
        await request.aread()  # every attempt, and the dead letter, see the same bytes
        history = [await self._attempt(request, call)]
        if guard.should_retry(history[0]):
            await self._retry(request, history)
        return await self._finish(request, history)

    async def _attempt(self, request: httpx.Request, call: Call) -> Attempt:
        guard = self._guard
        try:
            response = await self._inner.handle_async_request(request)
        except BaseException as exc:
            failure = guard.failed(call, exc)
            await self._persist()
            if failure is None:
                raise  # a cancellation or a bug, not an outcome to retry or dead-letter
            return Attempt(call, error=exc, failure=failure)
        raw = None
        if buffered(response.status_code):
            stream = response.stream
            assert isinstance(stream, httpx.AsyncByteStream)
            raw = b"".join([chunk async for chunk in stream])
            await response.aclose()
            response = _rebuilt(response, raw)
        failure = guard.responded(call, response, raw)
        await self._persist()
        return Attempt(call, response=response, failure=failure, raw=raw)

    async def _retry(self, request: httpx.Request, history: list[Attempt]) -> None:
        guard, trace_id = self._guard, history[0].call.trace_id
        first_wait = guard.retry_delay(1, history[0])
        await self._sleep(first_wait)

        async def again() -> Attempt:
            try:
                call = guard.admit(request, trace_id)
            except BreakerOpenError as denied:  # the last response stays the answer
                await self._persist()
                attempt = Attempt(history[-1].call, denied=denied)
            else:
                await _adiscard(_last_sent(history))  # superseded: close it
                attempt = await self._attempt(request, call)
            history.append(attempt)
            return attempt

        await AsyncRetrying(sleep=self._sleep, **_policy(guard, first_wait))(again)

    async def _finish(self, request: httpx.Request, history: list[Attempt]) -> httpx.Response:
        guard = self._guard
        sent = [a for a in history if a.denied is None]
        last = sent[-1]  # the answer: later attempts, if any, were refused before sending
        if last.failure is not None and last.call.ticket.op.financial:
            record = guard.dead_letter(request, last, len(sent))
            try:
                await self._store.write([insert_statement(record)])
            except Exception as exc:  # the agent still gets its error; the log keeps the record
                guard.dead_lettered(record, exc)
            else:
                guard.dead_lettered(record)
            self._send_alerts()
        if last.error is not None:
            raise last.error
        assert last.response is not None
        response, call = last.response, last.call

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
        self._send_alerts()

    def _send_alerts(self) -> None:
        """Post due alerts in the background: the agent's call never waits for the webhook."""
        for payload in self._guard.alerts.take():
            task = asyncio.ensure_future(self._post_alert(payload))
            self._alert_tasks.add(task)
            task.add_done_callback(self._alert_tasks.discard)

    async def _post_alert(self, payload: dict[str, Any]) -> None:
        url = self._guard.alerts.url
        assert url is not None
        try:
            if self._alert_client is None:
                self._alert_client = httpx.AsyncClient(timeout=TIMEOUT_S)
            (await self._alert_client.post(url, json=payload)).raise_for_status()
        except Exception as exc:
            _alert_failed(self._guard, exc)

    def snapshot(self) -> dict[str, Any]:
        """Breakers, ledger, per-service latency and errors, counts (JSON-ready)."""
        return self._guard.snapshot()

    def reset(self, breaker: str | None = None, *, reason: str) -> None:
        """Close ``breaker`` (all breakers when None); written to the audit table."""
        _write_now(self._guard, self._guard.reset(breaker, reason))

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
            await self._finish_close()

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._inner.aclose()
            await self._finish_close()

    async def _finish_close(self) -> None:
        await self._persist(force_state=True)
        await self._store.aclose()
        if self._alert_tasks:
            await asyncio.wait(self._alert_tasks, timeout=TIMEOUT_S)
        if self._alert_client is not None:
            await self._alert_client.aclose()


class GuardTransport(httpx.BaseTransport):
    """The sync twin of :class:`AsyncGuardTransport`, for ``httpx.Client``."""

    def __init__(
        self,
        transport: httpx.BaseTransport | None = None,
        *,
        settings: GuardSettings | None = None,
        clock: Clock = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._inner = transport if transport is not None else httpx.HTTPTransport()
        self._guard = Guard(settings if settings is not None else GuardSettings(), clock)
        self._store = SyncStore(self._guard.settings.db_path)
        self._sleep = sleep
        self._write_lock = threading.Lock()
        self._alert_client: httpx.Client | None = None
        self._closed = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        guard = self._guard
        try:
            call = guard.admit(request)
        except BreakerOpenError:
            self._persist()
            raise
        guard.prepare(request, call)
        request.read()
        history = [self._attempt(request, call)]
        if guard.should_retry(history[0]):
            self._retry(request, history)
        return self._finish(request, history)

    def _attempt(self, request: httpx.Request, call: Call) -> Attempt:
        guard = self._guard
        try:
            response = self._inner.handle_request(request)
        except BaseException as exc:
            failure = guard.failed(call, exc)
            self._persist()
            if failure is None:
                raise
            return Attempt(call, error=exc, failure=failure)
        raw = None
        if buffered(response.status_code):
            stream = response.stream
            assert isinstance(stream, httpx.SyncByteStream)
            raw = b"".join(list(stream))
            response.close()
            response = _rebuilt(response, raw)
        failure = guard.responded(call, response, raw)
        self._persist()
        return Attempt(call, response=response, failure=failure, raw=raw)

    def _retry(self, request: httpx.Request, history: list[Attempt]) -> None:
        guard, trace_id = self._guard, history[0].call.trace_id
        first_wait = guard.retry_delay(1, history[0])
        self._sleep(first_wait)

        def again() -> Attempt:
            try:
                call = guard.admit(request, trace_id)
            except BreakerOpenError as denied:
                self._persist()
                attempt = Attempt(history[-1].call, denied=denied)
            else:
                _discard(_last_sent(history))
                attempt = self._attempt(request, call)
            history.append(attempt)
            return attempt

        Retrying(sleep=self._sleep, **_policy(guard, first_wait))(again)

    def _finish(self, request: httpx.Request, history: list[Attempt]) -> httpx.Response:
        guard = self._guard
        sent = [a for a in history if a.denied is None]
        last = sent[-1]  # the answer: later attempts, if any, were refused before sending
        if last.failure is not None and last.call.ticket.op.financial:
            record = guard.dead_letter(request, last, len(sent))
            try:
                with self._write_lock:
                    self._store.write([insert_statement(record)])
            except Exception as exc:
                guard.dead_lettered(record, exc)
            else:
                guard.dead_lettered(record)
            self._send_alerts()
        if last.error is not None:
            raise last.error
        assert last.response is not None
        response, call = last.response, last.call

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
        self._send_alerts()

    def _send_alerts(self) -> None:
        """Post due alerts (rare: transitions and dead letters, once per key per cooldown)."""
        url = self._guard.alerts.url
        for payload in self._guard.alerts.take():
            assert url is not None
            try:
                if self._alert_client is None:
                    self._alert_client = httpx.Client(timeout=TIMEOUT_S)
                self._alert_client.post(url, json=payload).raise_for_status()
            except Exception as exc:
                _alert_failed(self._guard, exc)

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
            self._finish_close()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._inner.close()
            self._finish_close()

    def _finish_close(self) -> None:
        self._persist(force_state=True)
        self._store.close()
        if self._alert_client is not None:
            self._alert_client.close()


def _policy(guard: Guard, first_wait: float) -> dict[str, Any]:
    """The tenacity settings for the retries after the first one (built only on a failure)."""
    settings = guard.settings
    return {
        "stop": stop_after_attempt(settings.retry_attempts - 1)
        | stop_before_delay(max(0.0, settings.retry_max_delay_s - first_wait)),
        "wait": lambda state: guard.retry_delay(state.attempt_number + 1, state.outcome.result()),
        "retry": retry_if_result(guard.should_retry),
        "retry_error_callback": lambda state: state.outcome.result(),  # the last attempt
        "reraise": True,
    }


def _rebuilt(response: httpx.Response, raw: bytes) -> httpx.Response:
    """A fresh response around a body already read, so the agent can still stream it."""
    return httpx.Response(
        response.status_code,
        headers=response.headers,
        stream=httpx.ByteStream(raw),
        extensions=response.extensions,
    )


def _alert_failed(guard: Guard, exc: Exception) -> None:
    # Never the URL: webhook addresses usually carry their token.
    emit(
        "WARNING",
        "alert_failed",
        f"alert not delivered: {type(exc).__name__}",
        agent_id=guard.agent_id,
    )


def _last_sent(history: list[Attempt]) -> Attempt:
    return next(a for a in reversed(history) if a.denied is None)


async def _adiscard(attempt: Attempt) -> None:
    if attempt.response is not None:
        await attempt.response.aclose()


def _discard(attempt: Attempt) -> None:
    if attempt.response is not None:
        attempt.response.close()


def _write_now(guard: Guard, statements: list[Statement]) -> None:
    store = SyncStore(guard.settings.db_path)
    try:
        store.write(statements)
    finally:
        store.close()
