"""``guard dlq``: inspect, resolve and replay the money operations that finally failed.

Mounted on the ``guard`` app by :mod:`guard.cli`. The SQL lives in :mod:`guard._dlq`; this
module only parses options, prints and, for ``replay``, sends through the guard itself so its
breakers apply. Stored header values are never printed except ``idempotency-key`` and
``content-type``; the API key of a replay comes from ``GUARD_API_KEY`` and is never shown.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ._dlq import (
    PUBLIC_FIELDS,
    STATUSES,
    DeadLetters,
    detail_row,
    epoch,
    iso,
    key_fields,
    mask_url,
    public_row,
    replay_refusal,
    replay_request,
)
from ._exceptions import BreakerOpenError, KeyExpiredError
from ._redact import scrub
from ._settings import GuardSettings
from ._transport import GuardTransport

dlq_app = typer.Typer(
    help="Inspect, resolve and replay failed money operations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DB_HELP = "SQLite file of the guard (default: GUARD_DB_PATH)."
JSON_HELP = "Print JSON for machines."
FORMATS = ("jsonl", "csv")
REPLAY_TIMEOUT_S = 30.0
NOTHING_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def _fail(message: str, code: int = 2) -> typer.Exit:
    from .cli import fail  # guard.cli imports this module: look it up when called

    return fail(message, code)


@contextmanager
def _queue(db: Path | None) -> Iterator[tuple[GuardSettings, DeadLetters]]:
    """The settings and the dead letters of the database; its errors become one line."""
    from .cli import load_settings, open_store

    settings = load_settings()
    store = open_store(db, settings)
    try:
        yield settings, DeadLetters(store)
    except sqlite3.Error as exc:
        if "no such table" in str(exc):
            raise _fail(
                f"no dead-letter table in {store.path}: it was written by an older guard "
                "(a guard transport upgrades it when it starts)",
                1,
            ) from None
        raise _fail(f"cannot read {store.path}: {exc}", 1) from None
    finally:
        store.close()


def _found(queue: DeadLetters, id: int) -> dict[str, Any]:
    row = queue.get(id)
    if row is None:
        raise _fail(f"no dead letter {id} in {queue.store.path}", 1)
    return row


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(max(0.0, seconds))}s"


def _age(created_at: str | None, now: float) -> str:
    return "-" if not created_at else _duration(now - epoch(created_at))


def _text(value: Any) -> Text:
    """A table cell that is never read as rich markup (values may hold ``[REDACTED]``)."""
    return Text("-" if value is None else str(value))


def _echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2))


@dlq_app.command("list")
def list_(
    status: str = typer.Option(
        "pending", "--status", help=f"all or one of: {', '.join(STATUSES)}."
    ),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    limit: int | None = typer.Option(None, "--limit", min=1, help="At most this many rows."),
    db: Path | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """List dead letters, newest first (pending ones unless --status says otherwise)."""
    if status != "all" and status not in STATUSES:
        raise _fail(f"unknown status {status!r}; accepted: all, {', '.join(STATUSES)}")
    with _queue(db) as (_, queue):
        rows = queue.list(status, limit)
    if as_json:
        _echo_json([public_row(r) for r in rows])
        return
    where = queue.store.path
    if not rows:
        typer.echo(f"no {'' if status == 'all' else status + ' '}dead letters in {where}")
        return
    now = time.time()
    table = Table(title=Text(f"dead letters ({status}) in {where}"), title_justify="left")
    mixed = status == "all"  # one status listed: no need for a column repeating it
    names = ["id", "age", *(["status"] if mixed else []), "outcome", "operation", "http", "tries"]
    for name in names:
        table.add_column(name, no_wrap=True)
    table.add_column("error", overflow="fold", min_width=24)  # the one column that gives way
    for r in map(public_row, rows):
        cells = [r["id"], _age(r["created_at"], now), *([r["status"]] if mixed else [])]
        cells += [r["outcome"], f"{r['service']} {r['operation']}", r["http_status"], r["attempts"]]
        table.add_row(*map(_text, cells), _text(r["error"]))
    Console().print(table)


@dlq_app.command()
def show(
    id: int = typer.Argument(..., help="The dead letter's id (see guard dlq list)."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    db: Path | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Show one dead letter: the request (secrets hidden), the error and the last replay."""
    with _queue(db) as (_, queue):
        detail = detail_row(_found(queue, id))
    if as_json:
        _echo_json(detail)
        return
    table = Table(show_header=False, title=f"dead letter {id}", title_justify="left")
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value")
    for name, value in detail.items():
        nested = name in ("request_headers", "result", "redacted")
        table.add_row(name, _text((json.dumps(value) if value else None) if nested else value))
    Console().print(table)


@dlq_app.command()
def replay(
    id: int = typer.Argument(..., help="The dead letter's id (see guard dlq list)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    force: bool = typer.Option(
        False, "--force", help="Replay even if the outcome is unknown or it is not pending."
    ),
    db: Path | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Re-send a failed request through the guard (same Idempotency-Key, current API key)."""
    with _queue(db) as (settings, queue):
        row = _found(queue, id)
        refusal = replay_refusal(row, force=force)
        if refusal:
            raise _fail(refusal)
        key = settings.api_key.get_secret_value() if settings.api_key else ""
        if not key:
            raise _fail("set GUARD_API_KEY to the current API key")
        method, url, headers, body = replay_request(row, key)
        what = f"{method} {mask_url(url)} ({row['service']} {row['operation']})"
        if not yes:
            _confirm(f"replay dead letter {id}: {what}, Idempotency-Key {row['idempotency_key']}?")
        update = {"db_path": queue.store.path, "agent_id": row["agent_id"]}
        sent = _send(settings.model_copy(update=update), method, url, headers, body)
        if sent.result is None:  # the guard refused: nothing was sent, nothing to record
            raise _fail(f"replay of dead letter {id} refused: {sent.message}", 1)
        queue.record_replay(id, sent.ok, sent.result, unknown=sent.maybe_executed)
    if not sent.ok:
        stays = f"{row['status']}, outcome now unknown" if sent.maybe_executed else row["status"]
        raise _fail(f"replay of dead letter {id} failed: {sent.message}; it stays {stays}", 1)
    typer.echo(f"replayed dead letter {id}: {sent.message}")
    for name, value in sent.result.get("response", {}).items():
        typer.echo(f"  {name}: {value}")


def _confirm(question: str) -> None:
    try:
        confirmed = typer.confirm(question, default=False)
    except typer.Abort:
        typer.echo()  # end the question's line
        raise _fail("not replayed: no answer (pass --yes to replay without asking)", 1) from None
    if not confirmed:
        raise _fail("not replayed", 1)


@dataclass
class _Sent:
    """What one replay did."""

    ok: bool
    message: str  # one line, secrets scrubbed
    result: dict[str, Any] | None = None  # what to record; None: the guard sent nothing
    maybe_executed: bool = False  # failed after sending: the outcome is unknown now


def _send(
    settings: GuardSettings,
    method: str,
    url: str,
    headers: list[tuple[str, str]],
    body: bytes | None,
) -> _Sent:
    """Send once through the guard, so its breakers (and retries) apply."""
    result: dict[str, Any] = {"at": iso(time.time()), "http_status": None, "error": None}
    transport = GuardTransport(httpx.HTTPTransport(), settings=settings)
    with httpx.Client(transport=transport, timeout=REPLAY_TIMEOUT_S) as client:
        try:
            response = client.request(method, url, headers=headers, content=body)
        except KeyExpiredError as exc:
            return _Sent(False, f"the guard refuses GUARD_API_KEY ({exc.reason}): set the new key")
        except BreakerOpenError as exc:
            wait = f", retry in {exc.retry_after:.0f} s" if exc.retry_after else ""
            return _Sent(
                False,
                f"the guard's {exc.breaker} breaker ({exc.scope}) is open: {exc.reason}{wait}; "
                "nothing was sent (see guard status, guard reset)",
            )
        except httpx.HTTPError as exc:
            result["error"] = error = f"{type(exc).__name__}: {scrub(str(exc))}"
            if isinstance(exc, NOTHING_SENT):
                return _Sent(False, f"{error} (nothing was sent)", result)
            # It may have executed: from now on the entry needs --force, like any unknown one.
            return _Sent(False, f"{error} (it may have executed: check the account)", result, True)
    try:
        reply = json.loads(response.content)
    except ValueError:
        reply = None
    cached = response.headers.get("idempotent-replayed", "").lower() == "true"
    result.update(
        http_status=response.status_code, idempotent_replayed=cached, response=key_fields(reply)
    )
    line = f"{response.status_code} {response.reason_phrase}"
    if response.is_success:
        cache = " (answered from the server's idempotency cache)" if cached else ""
        return _Sent(True, line + cache, result)
    if isinstance(reply, dict) and reply.get("error"):
        said = f"{reply['error']}: {reply.get('message', '')}".rstrip(": ")
        result["error"] = scrub(said)
        line += f" ({result['error']})"
    return _Sent(False, line, result)


@dlq_app.command()
def resolve(
    id: int = typer.Argument(..., help="The dead letter's id (see guard dlq list)."),
    note: str | None = typer.Option(None, "--note", help="What was done about it."),
    discard: bool = typer.Option(False, "--discard", help="Mark it discarded, not resolved."),
    db: Path | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Mark a pending dead letter resolved (handled by hand) or discarded (--discard)."""
    with _queue(db) as (_, queue):
        row = _found(queue, id)
        if not queue.resolve(id, note, discard=discard):
            raise _fail(f"dead letter {id} is already {row['status']}: nothing done", 1)
    typer.echo(f"dead letter {id} {'discarded' if discard else 'resolved'}")


@dlq_app.command()
def purge(
    status: str | None = typer.Option(
        None,
        "--status",
        help=f"Only this status, one of: {', '.join(STATUSES)} "
        "(default: every status but pending).",
    ),
    older_than: float | None = typer.Option(
        None, "--older-than", min=0, help="Only rows created more than DAYS ago.", metavar="DAYS"
    ),
    db: Path | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Delete dead letters that are done with (pending ones only when --status pending)."""
    if status is not None and status not in STATUSES:
        raise _fail(f"unknown status {status!r}; accepted: {', '.join(STATUSES)}")
    with _queue(db) as (_, queue):
        count = queue.purge(status, older_than)
    which = status or "non-pending"
    age = "" if older_than is None else f" older than {older_than:g} days"
    if not count:
        raise _fail(f"nothing to purge: no {which} dead letters{age}", 1)
    typer.echo(f"purged {count} {which} dead letter{'s' if count != 1 else ''}{age}")


@dlq_app.command()
def export(
    fmt: str = typer.Option("jsonl", "--format", help=f"One of: {', '.join(FORMATS)}."),
    db: Path | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Write every dead letter to stdout (JSON lines or CSV), oldest first."""
    if fmt not in FORMATS:
        raise _fail(f"unknown format {fmt!r}; accepted: {', '.join(FORMATS)}")
    with _queue(db) as (_, queue):
        rows = [public_row(r) for r in queue.export()]
    if fmt == "jsonl":
        for r in rows:
            typer.echo(json.dumps(r))
        return
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=PUBLIC_FIELDS, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({**r, "redacted": json.dumps(r["redacted"])})
    typer.echo(out.getvalue(), nl=False)


@dlq_app.command()
def stats(
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    db: Path | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Count dead letters by status; pending ones by outcome and operation; the oldest's age."""
    with _queue(db) as (_, queue):
        report = queue.stats()
    if as_json:
        _echo_json(report)
        return
    typer.echo(f"dead letters in {queue.store.path}: {report['total']}")
    typer.echo("  " + ", ".join(f"{k} {v}" for k, v in report["by_status"].items()))
    pending = report["pending_by_outcome"]
    typer.echo("  pending: " + ", ".join(f"{k} {v}" for k, v in pending.items()))
    for op in report["pending_by_operation"]:
        typer.echo(f"    {op['service']} {op['operation']}: {op['count']}")
    age = report["oldest_pending_age_s"]
    if age is not None:
        typer.echo(f"  oldest pending: {_duration(age)} old")
