"""guard dlq: every command through typer's runner and as a real process, errors included.

Replays go over real loopback HTTP to a small recording server, through the guard itself.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from guard import GuardSettings, GuardTransport
from guard._dlq import PUBLIC_FIELDS, DeadLetters, insert_statement
from guard._store import SyncStore
from guard.cli import app

CANARY = "canary-7f3a9c2e"  # a secret the redactor "missed": it must never be printed
NEW_KEY = "sk_live_currentkey0123456789abcdef"
DROP = 0  # a reply status that makes the test server hang up instead
WIN = {
    "bet_id": "bet_1",
    "game": "coin_flip",
    "amount_bet": 1,
    "won": True,
    "amount_won": 1.99,
    "new_balance": 100.99,
    "api_key": "sk_live_neverprintme0123456789",
}


@dataclass
class Api:
    """A loopback HTTP server that records what reaches it and answers from a queue."""

    base: str
    seen: list[dict[str, Any]] = field(default_factory=list)
    replies: list[tuple[int, dict[str, Any]]] = field(default_factory=list)

    def url(self, path: str = "/casino/api/v1/games/coin-flip") -> str:
        return self.base + path


@pytest.fixture
def api() -> Iterator[Api]:
    state = Api("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            state.seen.append(
                {
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": self.rfile.read(length),
                }
            )
            status, body = state.replies.pop(0) if state.replies else (200, WIN)
            if status == DROP:  # read the request, then hang up without answering
                self.close_connection = True
                return
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def stored_row(url: str, **overrides: Any) -> dict[str, Any]:
    """A redacted dead letter as the transport stores it, with a canary the redactor missed in a
    secret-named header, body field and query parameter."""
    base: dict[str, Any] = {
        "agent_id": "agent",
        "outcome": "not_executed",
        "service": "casino",
        "operation": "coin_flip",
        "method": "POST",
        "url": f"{url}?api_key=[REDACTED]&session_token={CANARY}",
        "request_headers": json.dumps(
            {
                "authorization": "[REDACTED]",
                "x-agent-secret": CANARY,
                "x-note": CANARY,
                "content-type": "application/json",
                "idempotency-key": "idem-1",
            }
        ),
        "request_body": json.dumps({"side": "heads", "amount": 1, "private_key": CANARY}),
        "redacted": json.dumps(["query:api_key"]),
        "error_type": "HTTPStatus",
        "error": "503 Service Unavailable",
        "http_status": 503,
        "attempts": 1,
        "trace_id": "trace-1",
        "idempotency_key": "idem-1",
    }
    return {**base, **overrides}


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "guard.db"
    SyncStore(path).close()
    return path


def add(db: Path, url: str = "http://127.0.0.1:9/casino/api/v1/games/coin-flip", **kw: Any) -> int:
    store = SyncStore(db)
    try:
        store.write([insert_statement(stored_row(url, **kw))])
        return int(store.query("SELECT max(id) AS id FROM dead_letters")[0]["id"])
    finally:
        store.close()


def row(db: Path, id: int) -> dict[str, Any]:
    store = SyncStore(db)
    try:
        found = DeadLetters(store).get(id)
    finally:
        store.close()
    assert found is not None
    return found


def update(db: Path, sql: str, params: tuple[Any, ...]) -> None:
    store = SyncStore(db)
    try:
        store.write([(sql, params)])
    finally:
        store.close()


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str


Run = Callable[..., Outcome]
runner = CliRunner()
# No retries: a replay is one request, so the recording server sees exactly what was sent.
BASE_ENV = {"GUARD_RETRY_ATTEMPTS": "1", "COLUMNS": "200"}


def via_runner(db: Path, *args: str, env: dict[str, str] | None = None, input: str = "") -> Outcome:
    result = runner.invoke(
        app, ["dlq", *args], env={"GUARD_DB_PATH": str(db), **BASE_ENV, **(env or {})}, input=input
    )
    return Outcome(result.exit_code, result.stdout, result.stderr)


def via_process(
    db: Path, *args: str, env: dict[str, str] | None = None, input: str = ""
) -> Outcome:
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("GUARD_")}
    proc = subprocess.run(
        [sys.executable, "-m", "guard", "dlq", *args],
        env={**clean, "GUARD_DB_PATH": str(db), **BASE_ENV, **(env or {})},
        input=input,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return Outcome(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(params=["runner", "process"])
def cli(request: pytest.FixtureRequest, db: Path) -> Run:
    """``guard dlq ...`` against ``db``, through typer's runner or as a real process."""
    how = via_runner if request.param == "runner" else via_process

    def run(*args: str, env: dict[str, str] | None = None, input: str = "") -> Outcome:
        out = how(db, *args, env=env, input=input)
        assert CANARY not in out.stdout + out.stderr
        assert NEW_KEY not in out.stdout + out.stderr
        assert "Traceback" not in out.stderr
        return out

    return run


def one_line(out: Outcome) -> str:
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    return lines[0]


# --- list --------------------------------------------------------------------------------


def test_list_shows_the_pending_rows(cli: Run, db: Path) -> None:
    """The table lists pending rows with their operation and error; done rows are left out."""
    first = add(db, idempotency_key="a")
    done = add(db, idempotency_key="b", service="trading", operation="trade_open")
    update(db, "UPDATE dead_letters SET status = 'resolved' WHERE id = ?", (done,))
    out = cli("list")
    assert out.code == 0, out.stderr
    assert "coin_flip" in out.stdout
    assert "503 Service Unavailable" in out.stdout
    assert "trade_open" not in out.stdout
    assert str(first) in out.stdout


def test_list_json_has_the_public_shape(cli: Run, db: Path) -> None:
    """--json: a list of rows with the public fields, newest first; --status all, --limit."""
    ids = [add(db, idempotency_key=k) for k in "abc"]
    update(db, "UPDATE dead_letters SET status = 'replayed' WHERE id = ?", (ids[0],))
    rows = json.loads(cli("list", "--json").stdout)
    assert [r["id"] for r in rows] == ids[:0:-1]
    assert all(tuple(r) == PUBLIC_FIELDS for r in rows)
    assert rows[0]["redacted"] == ["query:api_key"]
    everything = json.loads(cli("list", "--status", "all", "--json", "--limit", "2").stdout)
    assert [r["id"] for r in everything] == ids[:0:-1]
    replayed = json.loads(cli("list", "--status", "replayed", "--json").stdout)
    assert [r["id"] for r in replayed] == [ids[0]]


def test_list_of_an_empty_queue_says_so(cli: Run, db: Path) -> None:
    """No rows is an answer, not an error."""
    out = cli("list")
    assert out.code == 0
    assert "no pending dead letters" in out.stdout


def test_list_with_a_bad_status_names_the_accepted_ones(cli: Run) -> None:
    """A bad --status: exit 2, one line with the accepted values."""
    out = cli("list", "--status", "done")
    assert out.code == 2
    assert one_line(out) == (
        "unknown status 'done'; accepted: all, pending, replayed, resolved, discarded"
    )


def test_a_missing_database_is_one_line_exit_1(cli: Run, tmp_path: Path) -> None:
    """No database at the path: exit 1 naming it, for every command."""
    missing = tmp_path / "nowhere.db"
    for args in (["list"], ["show", "1"], ["stats"], ["export"], ["purge"], ["resolve", "1"]):
        out = cli(*args, "--db", str(missing))
        assert out.code == 1
        assert one_line(out) == f"no guard database at {missing} (set GUARD_DB_PATH or pass --db)"
    assert not missing.exists()


def test_a_database_without_the_dead_letter_table_is_one_line_exit_1(
    cli: Run, tmp_path: Path
) -> None:
    """A database from before the dead-letter queue: exit 1 saying so, no traceback."""
    old = tmp_path / "old.db"
    sqlite3.connect(old).close()
    out = cli("stats", "--db", str(old))
    assert out.code == 1
    assert one_line(out).startswith(f"no dead-letter table in {old}")


# --- show --------------------------------------------------------------------------------


def test_show_json_hides_every_header_value_but_two(cli: Run, db: Path) -> None:
    """show --json: headers as an object (only idempotency-key and content-type values),
    the body with the missed secret masked again, the URL likewise."""
    id = add(db)
    out = cli("show", str(id), "--json")
    assert out.code == 0, out.stderr
    detail = json.loads(out.stdout)
    assert detail["request_headers"] == {
        "authorization": "[REDACTED]",
        "x-agent-secret": "[REDACTED]",
        "x-note": "[REDACTED]",
        "content-type": "application/json",
        "idempotency-key": "idem-1",
    }
    assert json.loads(detail["request_body"]) == {
        "side": "heads",
        "amount": 1,
        "private_key": "[REDACTED]",
    }
    assert detail["result"] is None
    assert set(PUBLIC_FIELDS) <= set(detail)


def test_show_prints_the_row_for_people(cli: Run, db: Path) -> None:
    """The human view names the fields and the idempotency key."""
    id = add(db)
    out = cli("show", str(id))
    assert out.code == 0, out.stderr
    assert "idempotency_key" in out.stdout
    assert "idem-1" in out.stdout
    assert "[REDACTED]" in out.stdout  # printed as text, never read as markup


def test_show_an_unknown_id_is_exit_1(cli: Run, db: Path) -> None:
    """An id that does not exist: exit 1, one line naming it and the database."""
    out = cli("show", "42")
    assert out.code == 1
    assert one_line(out) == f"no dead letter 42 in {db}"


# --- replay ------------------------------------------------------------------------------


def test_replay_sends_the_stored_request_with_the_current_key(cli: Run, db: Path, api: Api) -> None:
    """--yes: the stored method, path, body and Idempotency-Key, the current key as Bearer, no
    stored secret header; the row becomes replayed and the reply's key fields are printed."""
    id = add(db, api.url())
    out = cli("replay", str(id), "--yes", env={"GUARD_API_KEY": NEW_KEY})
    assert out.code == 0, out.stderr
    (sent,) = api.seen
    assert sent["path"] == f"/casino/api/v1/games/coin-flip?session_token={CANARY}"
    assert sent["headers"]["authorization"] == f"Bearer {NEW_KEY}"
    assert sent["headers"]["idempotency-key"] == "idem-1"
    assert sent["headers"]["x-agent-secret"] == CANARY  # sent as stored, never printed
    assert "[REDACTED]" not in json.dumps(sent["headers"])
    assert json.loads(sent["body"]) == {"side": "heads", "amount": 1, "private_key": CANARY}
    assert out.stdout.startswith(f"replayed dead letter {id}: 200 OK")
    assert "new_balance: 100.99" in out.stdout
    assert "sk_live_neverprintme" not in out.stdout
    after = row(db, id)
    assert (after["status"], after["replays"]) == ("replayed", 1)
    assert json.loads(after["result"])["response"]["bet_id"] == "bet_1"


def test_replay_asks_first_and_stops_without_an_answer(cli: Run, db: Path, api: Api) -> None:
    """Without --yes and no answer on stdin: exit 1, nothing sent, the row untouched."""
    id = add(db, api.url())
    out = cli("replay", str(id), env={"GUARD_API_KEY": NEW_KEY})
    assert out.code == 1
    assert "pass --yes" in one_line(out)
    assert api.seen == []
    assert row(db, id)["replays"] == 0


def test_replay_goes_ahead_when_confirmed(db: Path, api: Api) -> None:
    """Answering y to the question sends the request."""
    id = add(db, api.url())
    out = via_runner(db, "replay", str(id), env={"GUARD_API_KEY": NEW_KEY}, input="y\n")
    assert out.code == 0, out.stderr
    assert "Idempotency-Key idem-1?" in out.stdout
    assert len(api.seen) == 1


def test_replay_refused_when_answered_no(db: Path, api: Api) -> None:
    """Answering n: exit 1, nothing sent."""
    id = add(db, api.url())
    out = via_runner(db, "replay", str(id), env={"GUARD_API_KEY": NEW_KEY}, input="n\n")
    assert out.code == 1
    assert one_line(out) == "not replayed"
    assert api.seen == []


def test_replay_of_an_unknown_outcome_needs_force(cli: Run, db: Path, api: Api) -> None:
    """An entry that may have executed: exit 2 saying to check the account; --force sends."""
    id = add(db, api.url(), outcome="unknown")
    out = cli("replay", str(id), "--yes", env={"GUARD_API_KEY": NEW_KEY})
    assert out.code == 2
    assert one_line(out) == (
        f"dead letter {id} has outcome unknown: it may already have executed: "
        "check the account first; pass --force to replay anyway"
    )
    assert api.seen == []
    forced = cli("replay", str(id), "--yes", "--force", env={"GUARD_API_KEY": NEW_KEY})
    assert forced.code == 0, forced.stderr
    assert len(api.seen) == 1


def test_replay_of_a_replayed_entry_needs_force(db: Path, api: Api) -> None:
    """Already replayed: exit 2 saying when; --force sends it again with the same key."""
    id = add(db, api.url())
    assert via_runner(db, "replay", str(id), "--yes", env={"GUARD_API_KEY": NEW_KEY}).code == 0
    again = via_runner(db, "replay", str(id), "--yes", env={"GUARD_API_KEY": NEW_KEY})
    assert again.code == 2
    assert f"dead letter {id} was already replayed at 20" in again.stderr
    assert "--force" in again.stderr
    forced = via_runner(db, "replay", str(id), "--yes", "--force", env={"GUARD_API_KEY": NEW_KEY})
    assert forced.code == 0
    assert [s["headers"]["idempotency-key"] for s in api.seen] == ["idem-1", "idem-1"]
    assert row(db, id)["replays"] == 2


def test_replay_of_a_body_that_lost_fields_is_refused(cli: Run, db: Path, api: Api) -> None:
    """A body whose secret fields were redacted cannot be re-sent, even with --force."""
    id = add(
        db,
        api.url(),
        request_body='{"to":"0xabc","private_key":"[REDACTED]"}',
        redacted='["body.private_key"]',
    )
    out = cli("replay", str(id), "--yes", "--force", env={"GUARD_API_KEY": NEW_KEY})
    assert out.code == 2
    assert "body.private_key" in one_line(out)
    assert "redo the operation by hand" in out.stderr
    assert api.seen == []


def test_replay_without_an_api_key_says_which_variable(cli: Run, db: Path, api: Api) -> None:
    """GUARD_API_KEY unset: exit 2, one line naming it, nothing sent."""
    id = add(db, api.url())
    out = cli("replay", str(id), "--yes")
    assert out.code == 2
    assert one_line(out) == "set GUARD_API_KEY to the current API key"
    assert api.seen == []


def test_replay_of_an_unknown_id_is_exit_1(cli: Run, db: Path) -> None:
    """An id that does not exist: exit 1."""
    out = cli("replay", "9", "--yes", env={"GUARD_API_KEY": NEW_KEY})
    assert out.code == 1
    assert one_line(out) == f"no dead letter 9 in {db}"


def test_a_refused_replay_stays_pending(cli: Run, db: Path, api: Api) -> None:
    """The server answers 503: exit 1 with what happened; still pending, one replay counted."""
    api.replies.append((503, {"error": "service_unavailable", "message": "try later"}))
    id = add(db, api.url())
    out = cli("replay", str(id), "--yes", env={"GUARD_API_KEY": NEW_KEY})
    assert out.code == 1
    assert one_line(out) == (
        f"replay of dead letter {id} failed: 503 Service Unavailable "
        "(service_unavailable: try later); it stays pending"
    )
    after = row(db, id)
    assert (after["status"], after["replays"]) == ("pending", 1)
    assert json.loads(after["result"])["http_status"] == 503


def test_a_replay_that_cannot_connect_stays_pending(db: Path) -> None:
    """Nothing listening: exit 1 saying nothing was sent; still pending, still not_executed."""
    id = add(db, "http://127.0.0.1:9/casino/api/v1/games/coin-flip")
    out = via_runner(db, "replay", str(id), "--yes", env={"GUARD_API_KEY": NEW_KEY})
    assert out.code == 1
    assert "(nothing was sent); it stays pending" in one_line(out)
    after = row(db, id)
    assert (after["status"], after["outcome"], after["replays"]) == ("pending", "not_executed", 1)


def test_a_replay_cut_off_after_sending_makes_the_outcome_unknown(db: Path, api: Api) -> None:
    """The server hangs up after reading the request: the bet may have been placed, so the entry
    turns unknown and the next replay needs --force."""
    api.replies.append((DROP, {}))
    id = add(db, api.url())
    out = via_runner(db, "replay", str(id), "--yes", env={"GUARD_API_KEY": NEW_KEY})
    assert out.code == 1
    line = one_line(out)
    assert "it may have executed: check the account" in line
    assert line.endswith("it stays pending, outcome now unknown")
    after = row(db, id)
    assert (after["status"], after["outcome"], after["replays"]) == ("pending", "unknown", 1)
    again = via_runner(db, "replay", str(id), "--yes", env={"GUARD_API_KEY": NEW_KEY})
    assert again.code == 2
    assert "pass --force" in again.stderr


def test_a_replay_denied_by_an_open_breaker_sends_nothing(db: Path, api: Api) -> None:
    """The agent's consecutive_loss breaker is open: one line naming it, exit 1, nothing sent."""
    loss = (
        b'{"bet_id":"b","game":"dice","amount_bet":1,"won":false,"amount_won":0,'
        b'"new_balance":9.5,"result":{"roll":3}}'
    )

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"content-type": "application/json"}, stream=httpx.ByteStream(loss)
        )

    settings = GuardSettings(db_path=db, consecutive_loss_limit=2, retry_attempts=1)
    with httpx.Client(
        transport=GuardTransport(httpx.MockTransport(handler), settings=settings)
    ) as c:
        for _ in range(2):
            c.post("https://casino.purpleflea.com/api/v1/games/dice", json={})
    id = add(db, api.url())
    out = via_runner(db, "replay", str(id), "--yes", env={"GUARD_API_KEY": NEW_KEY})
    assert out.code == 1
    assert "consecutive_loss" in one_line(out)
    assert "nothing was sent" in out.stderr
    assert api.seen == []
    assert row(db, id)["replays"] == 0


# --- resolve -----------------------------------------------------------------------------


def test_resolve_marks_the_entry_with_its_note(cli: Run, db: Path) -> None:
    """resolve --note: status resolved, note kept, exit 0."""
    id = add(db)
    out = cli("resolve", str(id), "--note", "refunded by hand")
    assert out.code == 0, out.stderr
    assert out.stdout.strip() == f"dead letter {id} resolved"
    assert (row(db, id)["status"], row(db, id)["note"]) == ("resolved", "refunded by hand")


def test_resolve_discard(db: Path) -> None:
    """--discard: status discarded."""
    id = add(db)
    out = via_runner(db, "resolve", str(id), "--discard")
    assert out.code == 0
    assert row(db, id)["status"] == "discarded"


def test_resolve_of_a_done_entry_changes_nothing(cli: Run, db: Path) -> None:
    """Resolving twice: exit 1, nothing done; an unknown id: exit 1."""
    id = add(db)
    assert cli("resolve", str(id)).code == 0
    out = cli("resolve", str(id), "--discard")
    assert out.code == 1
    assert one_line(out) == f"dead letter {id} is already resolved: nothing done"
    assert row(db, id)["status"] == "resolved"
    missing = cli("resolve", "77")
    assert missing.code == 1
    assert one_line(missing) == f"no dead letter 77 in {db}"


# --- purge -------------------------------------------------------------------------------


def test_purge_deletes_what_is_done_with(cli: Run, db: Path) -> None:
    """By default purge keeps pending rows and deletes the rest."""
    keep = add(db, idempotency_key="keep")
    gone = add(db, idempotency_key="gone")
    update(db, "UPDATE dead_letters SET status = 'replayed' WHERE id = ?", (gone,))
    out = cli("purge")
    assert out.code == 0, out.stderr
    assert out.stdout.strip() == "purged 1 non-pending dead letter"
    again = cli("purge")
    assert again.code == 1
    assert one_line(again) == "nothing to purge: no non-pending dead letters"
    assert row(db, keep)["status"] == "pending"


def test_purge_pending_and_older_than(db: Path) -> None:
    """--status pending deletes pending rows; --older-than spares younger ones."""
    old, young = add(db, idempotency_key="old"), add(db, idempotency_key="young")
    update(
        db, "UPDATE dead_letters SET created_at = '2020-01-01T00:00:00.000Z' WHERE id = ?", (old,)
    )
    out = via_runner(db, "purge", "--status", "pending", "--older-than", "30")
    assert out.code == 0, out.stderr
    assert out.stdout.strip() == "purged 1 pending dead letter older than 30 days"
    assert row(db, young)["status"] == "pending"


def test_purge_with_a_bad_status_names_the_accepted_ones(cli: Run) -> None:
    """A bad --status: exit 2, one line."""
    out = cli("purge", "--status", "all")
    assert out.code == 2
    assert one_line(out) == (
        "unknown status 'all'; accepted: pending, replayed, resolved, discarded"
    )


# --- export ------------------------------------------------------------------------------


def test_export_jsonl_is_every_row_in_the_public_shape(cli: Run, db: Path) -> None:
    """export: one JSON object per line, every status, oldest first."""
    ids = [add(db, idempotency_key=k) for k in "ab"]
    update(db, "UPDATE dead_letters SET status = 'resolved' WHERE id = ?", (ids[1],))
    out = cli("export")
    assert out.code == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["id"] for r in rows] == ids
    assert all(tuple(r) == PUBLIC_FIELDS for r in rows)


def test_export_csv_has_a_header_and_a_line_per_row(cli: Run, db: Path) -> None:
    """--format csv: the public fields as the header, one line per row."""
    add(db)
    out = cli("export", "--format", "csv")
    assert out.code == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == ",".join(PUBLIC_FIELDS)
    assert len(lines) == 2
    assert "coin_flip" in lines[1]


def test_export_with_a_bad_format_names_the_accepted_ones(cli: Run) -> None:
    """A bad --format: exit 2, one line."""
    out = cli("export", "--format", "xml")
    assert out.code == 2
    assert one_line(out) == "unknown format 'xml'; accepted: jsonl, csv"


# --- stats -------------------------------------------------------------------------------


def test_stats_json(cli: Run, db: Path) -> None:
    """stats --json: counts by status, pending by outcome and operation, the oldest age."""
    add(db, idempotency_key="a")
    add(db, idempotency_key="b", outcome="unknown")
    out = cli("stats", "--json")
    assert out.code == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["by_status"]["pending"] == 2
    assert report["pending_by_outcome"] == {"not_executed": 1, "unknown": 1}
    assert report["pending_by_operation"] == [
        {"service": "casino", "operation": "coin_flip", "count": 2}
    ]
    assert report["oldest_pending_age_s"] >= 0


def test_stats_for_people(cli: Run, db: Path) -> None:
    """The human view gives the totals and the pending operations."""
    add(db)
    out = cli("stats")
    assert out.code == 0, out.stderr
    assert f"dead letters in {db}: 1" in out.stdout
    assert "casino coin_flip: 1" in out.stdout


# --- secrets -----------------------------------------------------------------------------


def test_no_command_prints_a_stored_secret(cli: Run, db: Path, api: Api) -> None:
    """Every command's output, success or error, is free of the canary and the API key
    (the cli fixture checks each run)."""
    id = add(db, api.url())
    key = {"GUARD_API_KEY": NEW_KEY}
    for args in (
        ["list"],
        ["list", "--json", "--status", "all"],
        ["show", str(id)],
        ["show", str(id), "--json"],
        ["stats"],
        ["stats", "--json"],
        ["export"],
        ["export", "--format", "csv"],
        ["replay", str(id)],
        ["replay", str(id), "--yes"],
        ["replay", str(id), "--yes"],
        ["show", str(id), "--json"],
        ["resolve", str(id)],
        ["purge", "--status", "replayed"],
        ["list", "--status", "all"],
    ):
        cli(*args, env=key)
    assert len(api.seen) == 1
