"""What both transports share: classify, admit, learn, retry decisions, dead letters, writes.

Synchronous and free of network I/O: the shells (``_transport.py``) send, sleep and write what
this part tells them to. Its one disk access is the start-up load and, on a denial, a look
(at most once a second) for an operator reset.
"""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from ._alerts import Alerts
from ._dlq import iso as dlq_time
from ._engine import Denial, Engine, Ticket, fingerprint
from ._exceptions import BreakerOpenError, KeyExpiredError
from ._log import emit, emit_engine_event
from ._profile import classify, is_auth_failure, settlement_rule
from ._redact import redact_body, redact_headers, redact_url, scrub
from ._retry import Failure, delay, failure_of, retryable
from ._settings import GuardSettings
from ._settle import settle
from ._store import Statement, SyncStore, state_statement, transition_statements
from ._stream import decode_json

Clock = Callable[[], float]
STATE_EVERY_S = 1.0  # the ledger is written behind, at most this late
SYNC_EVERY_S = 1.0  # how often a denial may look for an operator reset in the database
BREAKER_NAMES = ("consecutive_loss", "balance_drop", "error_rate", "latency", "auth")


def buffered(status: int) -> bool:
    """Statuses whose (small, error) body is read at once: to see ``reset_at`` before a retry,
    to tell an invalid key from a forbidden action, and to dead-letter what the server said."""
    return status in (401, 403, 429) or status >= 500


@dataclass
class Call:
    """One attempt of a request, from admission to its outcome."""

    ticket: Ticket
    trace_id: str
    status: int | None = None


@dataclass
class Attempt:
    """How one attempt ended: a response (its body read when ``buffered``) or an error."""

    call: Call
    response: httpx.Response | None = None
    error: BaseException | None = None
    failure: Failure | None = None
    raw: bytes | None = None
    denied: BreakerOpenError | None = None  # a retry the breakers refused: nothing was sent


class Guard:
    """The shared, synchronous part of both transports (one per transport)."""

    def __init__(self, settings: GuardSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.agent_id = settings.agent_id
        self.engine = Engine(settings)
        self.alerts = Alerts(settings)
        self.lock = threading.Lock()  # covers state transitions, never a request
        self._last_state_write = clock()
        self._last_sync = float("-inf")
        rows, retired, ledger = self._load()
        self.engine.restore(rows, retired, ledger, clock())
        self.engine.drop_shadow_trips(clock())

    # --- the call's life ---------------------------------------------------------------------

    def begin(self, request: httpx.Request, trace_id: str | None = None) -> Call:
        """Classify and admit ``request``, or raise the denial before anything is sent."""
        op = classify(request.method, request.url.host, request.url.path)
        key = _key_fingerprint(request.headers)
        with self.lock:
            result = self.engine.admit(op, key, self.clock())
        if isinstance(result, Denial):
            raise _denial_error(result, op.name, request)
        trace_id = trace_id or request.headers.get("x-request-id") or uuid.uuid4().hex[:16]
        request.extensions = {
            **request.extensions,
            "guard": {
                "trace_id": trace_id,
                "service": op.service,
                "operation": op.name,
                "kind": op.kind.value,
            },
        }
        return Call(result, trace_id)

    def admit(self, request: httpx.Request, trace_id: str | None = None) -> Call:
        """:meth:`begin`, but a denial first looks (at most once a second) for a ``guard reset``
        done meanwhile by another process, and admits the call if one cleared the way."""
        try:
            return self.begin(request, trace_id)
        except BreakerOpenError:
            now = self.clock()
            if now - self._last_sync < SYNC_EVERY_S:
                raise
            self._last_sync = now
            rows, retired, _ = self._load()
            with self.lock:
                blocked = self._blocked()
                self.engine.sync_operator_resets(rows, retired, now)
                if self._blocked() == blocked:
                    raise
        return self.begin(request, trace_id)

    def _load(self) -> tuple[list[dict[str, Any]], list[str], dict[str, Any] | None]:
        """This agent's stored breakers, retired keys and ledger (a short-lived connection)."""
        store = SyncStore(self.settings.db_path)
        try:
            return store.load(self.agent_id)
        finally:
            store.close()

    def _blocked(self) -> int:
        return sum(b.state != "closed" for b in self.engine.breakers.values()) + len(
            self.engine.retired_keys
        )

    def prepare(self, request: httpx.Request, call: Call) -> None:
        """Give a money request its ``Idempotency-Key`` (kept across retries and replays)."""
        if call.ticket.op.financial and "idempotency-key" not in request.headers:
            request.headers["Idempotency-Key"] = str(uuid.uuid4())

    def responded(
        self, call: Call, response: httpx.Response, raw: bytes | None = None
    ) -> Failure | None:
        """Headers arrived (``raw``: the body, when it was read at once): learn, and say
        whether this is a failure (5xx, 429, a rejected key)."""
        status = call.status = response.status_code
        auth = status == 401
        if status == 403 and raw is not None:
            try:
                auth = is_auth_failure(403, decode_json(403, response.headers, raw))
            except ValueError:
                auth = False
        with self.lock:
            self.engine.on_response(call.ticket, status, auth_failed=auth, now=self.clock())
        response.extensions = {**response.extensions, "guard": {"trace_id": call.trace_id}}
        return failure_of(status, None, auth=auth)

    def failed(self, call: Call, exc: BaseException) -> Failure | None:
        """The attempt raised: an outcome for ordinary errors, none for a cancellation."""
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
        return failure_of(None, exc)

    # --- retries and dead letters -----------------------------------------------------------

    def should_retry(self, attempt: Attempt) -> bool:
        if attempt.denied is not None or self.settings.retry_attempts < 2:
            return False
        op = attempt.call.ticket.op
        return retryable(op, attempt.failure, idempotent_server=self.settings.idempotent_retries)

    def retry_delay(self, number: int, attempt: Attempt) -> float:
        """The wait before retry ``number`` (1 = the first), logged."""
        headers = attempt.response.headers if attempt.response is not None else None
        s = self.settings
        wait = delay(
            number,
            headers,
            attempt.raw,
            self.clock(),
            base_s=s.retry_base_delay_s,
            cap_s=s.retry_max_delay_s,
        )
        op, failure = attempt.call.ticket.op, attempt.failure
        emit(
            "WARNING",
            "retry",
            f"{op.service} {op.name}: {failure.describe if failure else '?'}; "
            f"retry {number} in {wait:.2f}s",
            trace_id=attempt.call.trace_id,
            agent_id=self.agent_id,
            service=op.service,
            operation=op.name,
            wait_s=wait,
        )
        return wait

    def dead_letter(
        self, request: httpx.Request, attempt: Attempt, attempts: int
    ) -> dict[str, Any]:
        """The redacted record of a money request that finally failed."""
        op, failure = attempt.call.ticket.op, attempt.failure
        assert failure is not None
        url, url_redacted = redact_url(str(request.url))
        body, body_redacted = redact_body(request.content, request.headers.get("content-type"))
        if body is not None and not body_redacted:
            # Nothing hid a secret: keep the exact bytes, so a replay matches the original for
            # a server that checks an Idempotency-Key against its request.
            with contextlib.suppress(UnicodeDecodeError):
                body = request.content.decode("utf-8")
        error = failure.describe
        if attempt.raw:
            error += f": {_error_text(attempt.raw)}"
        with self.lock:
            self.engine.dead_letters += 1
        return {
            "agent_id": self.agent_id,
            "outcome": failure.outcome,
            "service": op.service,
            "operation": op.name,
            "method": request.method,
            "url": url,
            "request_headers": json.dumps(
                redact_headers(
                    (k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw
                )
            ),
            "request_body": body,
            "redacted": json.dumps(url_redacted + body_redacted),
            "error_type": type(failure.error).__name__ if failure.error else "HTTPStatus",
            "error": scrub(error)[:2000],
            "http_status": failure.status,
            "attempts": attempts,
            "trace_id": attempt.call.trace_id,
            "idempotency_key": request.headers.get("idempotency-key"),
            "created_at": dlq_time(self.clock()),
        }

    def dead_lettered(self, record: dict[str, Any], error: BaseException | None = None) -> None:
        """Log (and alert) the dead letter; if it could not be stored, log the whole (redacted)
        record."""
        self.alerts.dead_letter(record, self.clock())
        what = f"{record['service']} {record['operation']} ({record['outcome']})"
        fields = {
            k: record[k]
            for k in (
                "trace_id",
                "idempotency_key",
                "attempts",
                "outcome",
                "service",
                "operation",
                "http_status",
            )
        }
        if error is None:
            emit(
                "ERROR",
                "dead_letter",
                f"{what} dead-lettered: {record['error']}",
                agent_id=self.agent_id,
                **fields,
            )
        else:
            emit(
                "CRITICAL",
                "dead_letter_unsaved",
                f"{what} could not be dead-lettered "
                f"({type(error).__name__}: {scrub(str(error))}); the record follows",
                agent_id=self.agent_id,
                record=record,
            )

    def body_closed(
        self, call: Call, headers: httpx.Headers, body: bytes | None, error: BaseException | None
    ) -> None:
        """The response body ended: settle what it says and log the call."""
        op, status = call.ticket.op, call.status or 0
        settlement, skipped = None, False
        ok = 200 <= status < 300
        settles = ok and settlement_rule(op) is not None
        if settles and body is not None and error is None:
            try:
                settlement = settle(op, status, decode_json(status, headers, body))
            except ValueError:  # not JSON, or JSON that does not settle (Unsettleable)
                skipped = True
        elif settles:
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
        self.alerts.events(events, now)
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


def _error_text(raw: bytes) -> str:
    """The server's own words from an error body (``error``/``message``), or its start."""
    try:
        body = json.loads(raw)
    except ValueError:
        return raw[:200].decode("utf-8", "replace")
    if isinstance(body, dict):
        parts = [str(body[k]) for k in ("error", "message") if body.get(k)]
        if parts:
            return " - ".join(parts)
    return raw[:200].decode("utf-8", "replace")


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
