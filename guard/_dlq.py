"""The dead-letter queue: its SQL, its queries and the public shape of a row.

Every dead-letter SQL string lives here, written once: the transports write new rows with
:func:`insert_statement` (through :class:`~guard._store.SyncStore` or the aiosqlite store), and
the ``guard dlq`` command line reads and updates them with :class:`DeadLetters`.

Rows are redacted (:mod:`guard._redact`) before they are written. The shaping functions
(:func:`public_row`, :func:`detail_row`) redact again, so a secret the first pass missed is still
never printed, and header values are shown only for ``idempotency-key`` and ``content-type``.

The ``redacted`` column is the JSON list of what the redactor masked: ``"query:api_key"``,
``"body.private_key"``, ``"body:not-json"`` (the body was not kept), ``"path"``, ... A request
whose body or path lost something cannot be re-sent as it was.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ._redact import REDACTED, is_secret_name, redact_json, redact_url, scrub
from ._store import Statement, SyncStore

STATUSES = ("pending", "replayed", "resolved", "discarded")
OUTCOMES = ("not_executed", "unknown")
SHOWN_HEADERS = ("idempotency-key", "content-type")  # the only header values ever printed
# The public JSON shape of a row (``list --json``, ``export``): the design's list, then more.
PUBLIC_FIELDS = (
    "id",
    "created_at",
    "status",
    "outcome",
    "service",
    "operation",
    "method",
    "url",
    "error",
    "http_status",
    "attempts",
    "idempotency_key",
    "trace_id",
    "error_type",
    "updated_at",
    "replays",
    "replayed_at",
    "note",
    "redacted",
)
RECORD_FIELDS = (
    "agent_id",
    "outcome",
    "service",
    "operation",
    "method",
    "url",
    "request_headers",
    "request_body",
    "redacted",
    "error_type",
    "error",
    "http_status",
    "attempts",
    "trace_id",
    "idempotency_key",
)

NOW_SQL = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
ISO_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"

# The same operation failing again (one idempotency key) updates its row instead of adding one.
INSERT_DEAD_LETTER = f"""
INSERT INTO dead_letters ({", ".join(RECORD_FIELDS)}, created_at, updated_at)
VALUES ({", ".join(":" + f for f in RECORD_FIELDS)}, :created_at, :created_at)
ON CONFLICT (idempotency_key) DO UPDATE SET
    attempts = attempts + excluded.attempts,
    error = excluded.error,
    error_type = excluded.error_type,
    http_status = excluded.http_status,
    outcome = CASE WHEN outcome = 'unknown' OR excluded.outcome = 'unknown'
                   THEN 'unknown' ELSE 'not_executed' END,
    updated_at = excluded.created_at
"""
SELECT_ONE = "SELECT * FROM dead_letters WHERE id = ?"
SELECT_BY_STATUS = (
    "SELECT * FROM dead_letters WHERE status = ? ORDER BY created_at DESC, id DESC LIMIT ?"
)
SELECT_ALL = "SELECT * FROM dead_letters ORDER BY created_at DESC, id DESC LIMIT ?"
SELECT_EXPORT = "SELECT * FROM dead_letters ORDER BY id"
COUNT_BY_STATUS = "SELECT status, count(*) AS n FROM dead_letters GROUP BY status"
COUNT_PENDING_BY_OUTCOME = (
    "SELECT outcome, count(*) AS n FROM dead_letters WHERE status = 'pending' GROUP BY outcome"
)
COUNT_PENDING_BY_OPERATION = """
SELECT service, operation, count(*) AS n FROM dead_letters WHERE status = 'pending'
GROUP BY service, operation ORDER BY n DESC, service, operation
"""
OLDEST_PENDING = "SELECT min(created_at) AS oldest FROM dead_letters WHERE status = 'pending'"
RESOLVE = f"""
UPDATE dead_letters SET status = ?, note = coalesce(?, note), updated_at = {NOW_SQL}
WHERE id = ? AND status = 'pending'
"""
RECORD_REPLAY = f"""
UPDATE dead_letters SET
    status = CASE WHEN :ok THEN 'replayed' ELSE status END,
    replayed_at = CASE WHEN :ok THEN {NOW_SQL} ELSE replayed_at END,
    outcome = CASE WHEN :unknown THEN 'unknown' ELSE outcome END,
    replays = replays + 1,
    result = :result,
    updated_at = {NOW_SQL}
WHERE id = :id
"""
PURGE = "DELETE FROM dead_letters WHERE {where}"
COUNT_PURGE = "SELECT count(*) AS n FROM dead_letters WHERE {where}"

Row = dict[str, Any]
Rows = list[Row]


def insert_statement(record: Mapping[str, Any]) -> Statement:
    """The upsert that stores one dead letter (see :data:`RECORD_FIELDS` for the keys)."""
    missing = [f for f in RECORD_FIELDS if f not in record]
    if missing:
        raise ValueError(f"dead-letter record lacks {', '.join(missing)}")
    if record["outcome"] not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}")
    params = {f: record[f] for f in RECORD_FIELDS}
    # The guard passes its own clock's time; without one, now.
    params["created_at"] = record.get("created_at") or iso(time.time())
    return INSERT_DEAD_LETTER, params


def iso(epoch: float) -> str:
    """``epoch`` in the format of the table's timestamps (UTC, milliseconds, ``Z``)."""
    return datetime.fromtimestamp(epoch, UTC).strftime(ISO_FORMAT)[:-3] + "Z"


def epoch(stamp: str) -> float:
    """The reverse of :func:`iso`."""
    return datetime.strptime(stamp.rstrip("Z"), ISO_FORMAT).replace(tzinfo=UTC).timestamp()


class DeadLetters:
    """The dead-letter queries over a :class:`~guard._store.SyncStore` (the CLI's side)."""

    def __init__(self, store: SyncStore) -> None:
        self.store = store

    def get(self, id: int) -> Row | None:
        rows = self.store.query(SELECT_ONE, (id,))
        return rows[0] if rows else None

    def list(self, status: str = "pending", limit: int | None = None) -> Rows:
        """Rows of one status (or ``"all"``), newest first."""
        if status != "all" and status not in STATUSES:
            raise ValueError(f"status must be all or one of {', '.join(STATUSES)}")
        n = -1 if limit is None else limit  # SQLite: a negative LIMIT is no limit
        if status == "all":
            return self.store.query(SELECT_ALL, (n,))
        return self.store.query(SELECT_BY_STATUS, (status, n))

    def export(self) -> Rows:
        """Every row, oldest first."""
        return self.store.query(SELECT_EXPORT)

    def stats(self, now: float | None = None) -> dict[str, Any]:
        """Counts by status; pending rows by outcome and by operation; the oldest one's age."""
        now = time.time() if now is None else now
        by_status = dict.fromkeys(STATUSES, 0)
        by_status.update({r["status"]: r["n"] for r in self.store.query(COUNT_BY_STATUS)})
        by_outcome = dict.fromkeys(OUTCOMES, 0)
        by_outcome.update(
            {r["outcome"]: r["n"] for r in self.store.query(COUNT_PENDING_BY_OUTCOME)}
        )
        oldest = self.store.query(OLDEST_PENDING)[0]["oldest"]
        return {
            "total": sum(by_status.values()),
            "by_status": by_status,
            "pending_by_outcome": by_outcome,
            "pending_by_operation": [
                {"service": r["service"], "operation": r["operation"], "count": r["n"]}
                for r in self.store.query(COUNT_PENDING_BY_OPERATION)
            ],
            "oldest_pending_age_s": None if oldest is None else round(now - epoch(oldest), 3),
        }

    def resolve(self, id: int, note: str | None = None, *, discard: bool = False) -> bool:
        """Mark a pending row ``resolved`` (or ``discarded``); False when none was pending."""
        before = self.get(id)
        if before is None or before["status"] != "pending":
            return False
        status = "discarded" if discard else "resolved"
        self.store.write([(RESOLVE, (status, note, id))])
        after = self.get(id)
        return after is not None and after["status"] == status

    def purge(
        self,
        status: str | None = None,
        older_than_days: float | None = None,
        *,
        now: float | None = None,
    ) -> int:
        """Delete rows of ``status`` (default: every row that is not pending), optionally only
        those created more than ``older_than_days`` ago; returns how many went."""
        if status is not None and status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}")
        where, params = ["status = ?" if status else "status != 'pending'"], []
        if status:
            params.append(status)
        if older_than_days is not None:
            now = time.time() if now is None else now
            where.append("created_at < ?")
            params.append(iso(now - older_than_days * 86400))
        clause = " AND ".join(where)
        count = int(self.store.query(COUNT_PURGE.format(where=clause), params)[0]["n"])
        if count:
            self.store.write([(PURGE.format(where=clause), params)])
        return count

    def record_replay(
        self, id: int, ok: bool, result: Mapping[str, Any], *, unknown: bool = False
    ) -> None:
        """Note one replay: ``ok`` makes the row ``replayed``; otherwise it keeps its status
        (``unknown``: the replay may have executed, so the outcome becomes ``unknown``)."""
        params = {
            "id": id,
            "ok": int(ok),
            "unknown": int(unknown),
            "result": json.dumps(result, default=str),
        }
        self.store.write([(RECORD_REPLAY, params)])


# --- shapes and masks --------------------------------------------------------------------


def mask_url(url: str) -> str:
    """``url`` redacted again (secret query values, userinfo, key-shaped text)."""
    return redact_url(url)[0]


def mask_body(body: str | None) -> str | None:
    """A stored body redacted again: JSON field by field, other text by shape."""
    if not body:
        return body
    try:
        parsed = json.loads(body)
    except ValueError:
        return scrub(body)
    return json.dumps(redact_json(parsed)[0], ensure_ascii=False, separators=(",", ":"))


def headers_of(row: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The stored request headers as (name, value) pairs (a JSON object or list of pairs)."""
    try:
        stored = json.loads(row.get("request_headers") or "{}")
    except ValueError:
        return []
    pairs: Iterable[Any] = stored.items() if isinstance(stored, dict) else stored
    out = []
    for pair in pairs:
        if isinstance(pair, list | tuple) and len(pair) == 2:
            out.append((str(pair[0]), str(pair[1])))
    return out


def shown_headers(row: Mapping[str, Any]) -> dict[str, str]:
    """Header names with their values hidden, except ``idempotency-key`` and ``content-type``."""
    return {
        name: value if name.lower() in SHOWN_HEADERS else REDACTED
        for name, value in headers_of(row)
    }


def redactions(row: Mapping[str, Any]) -> list[str]:
    """What the redactor replaced in this row (see the module docstring)."""
    try:
        value = json.loads(row.get("redacted") or "[]")
    except ValueError:
        return ["unreadable"]
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def redacted_body_fields(row: Mapping[str, Any]) -> list[str]:
    """The redactions that changed the body (a body with any cannot be re-sent)."""
    return [r for r in redactions(row) if re.match(r"body\b", r, re.IGNORECASE)]


def redacted_url_parts(row: Mapping[str, Any]) -> list[str]:
    """The redactions that broke the URL's path (masked query values are dropped instead)."""
    return [r for r in redactions(row) if r in ("path", "url:unparsed")]


def public_row(row: Mapping[str, Any]) -> Row:
    """The public JSON shape of a row (``list --json``, ``export``)."""
    out = {f: row.get(f) for f in PUBLIC_FIELDS}
    out["url"] = mask_url(str(row.get("url") or ""))
    out["error"] = scrub(str(row["error"])) if row.get("error") else row.get("error")
    out["redacted"] = redactions(row)
    return out


def detail_row(row: Mapping[str, Any]) -> Row:
    """:func:`public_row` plus the agent, the request's headers (values hidden), its body and
    the last replay's result."""
    try:
        result = json.loads(row["result"]) if row.get("result") else None
    except ValueError:
        result = None
    return {
        **public_row(row),
        "agent_id": row.get("agent_id"),
        "request_headers": shown_headers(row),
        "request_body": mask_body(row.get("request_body")),
        "result": result,
    }


def key_fields(body: Any, limit: int = 10) -> dict[str, Any]:
    """The top-level scalar fields of a JSON reply, secrets left out (what a replay prints)."""
    if not isinstance(body, dict):
        return {}
    body = redact_json(body)[0]
    assert isinstance(body, dict)
    scalars = {
        k: v
        for k, v in body.items()
        if not k.startswith("_")
        and not is_secret_name(k)
        and (v is None or isinstance(v, str | int | float | bool))
    }
    return dict(list(scalars.items())[:limit])


# --- replay: what may be re-sent, and how -------------------------------------------------

# Never copied from a stored request: hop-by-hop and framing headers (httpx sets its own),
# the old credentials, and the key the row's column carries.
NOT_RESENT = frozenset(
    {
        "authorization",
        "accept-encoding",
        "connection",
        "content-length",
        "host",
        "idempotency-key",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)


def replay_refusal(row: Mapping[str, Any], *, force: bool = False) -> str | None:
    """Why ``row`` must not be replayed (one line saying what to do), or None."""
    id = row["id"]
    lost = redacted_body_fields(row)
    if lost:
        return (
            f"dead letter {id} cannot be replayed: its stored body lost redacted fields "
            f"({', '.join(lost)}); redo the operation by hand, then `guard dlq resolve {id}`"
        )
    if redacted_url_parts(row):
        return (
            f"dead letter {id} cannot be replayed: its stored URL lost a redacted part of its "
            f"path; redo the operation by hand, then `guard dlq resolve {id}`"
        )
    if force:
        return None
    if row["status"] == "replayed":
        return (
            f"dead letter {id} was already replayed at {row['replayed_at']}; "
            "pass --force to send it again (with the same Idempotency-Key)"
        )
    if row["status"] != "pending":
        return (
            f"dead letter {id} is {row['status']} (at {row['updated_at']}); "
            "pass --force to replay it anyway"
        )
    if row["outcome"] == "unknown":
        return (
            f"dead letter {id} has outcome unknown: it may already have executed: "
            "check the account first; pass --force to replay anyway"
        )
    return None


def replay_request(
    row: Mapping[str, Any], api_key: str
) -> tuple[str, str, list[tuple[str, str]], bytes | None]:
    """Method, URL, headers and body to re-send ``row`` with the current ``api_key``."""
    headers = [
        (name, value)
        for name, value in headers_of(row)
        if name.lower() not in NOT_RESENT and REDACTED not in value
    ]
    if row.get("idempotency_key"):
        headers.append(("Idempotency-Key", str(row["idempotency_key"])))
    headers.append(("Authorization", f"Bearer {api_key}"))
    body = row.get("request_body")
    if body and not any(name.lower() == "content-type" for name, _ in headers):
        try:
            json.loads(body)
            headers.append(("Content-Type", "application/json"))
        except ValueError:
            pass
    parts = urlsplit(str(row["url"]))
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if REDACTED not in v]
    if len(kept) < len(pairs):  # a key that was in the query now travels in Authorization
        parts = parts._replace(query=urlencode(kept))
    return str(row["method"]), urlunsplit(parts), headers, body.encode() if body else None
