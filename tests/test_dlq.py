"""The dead-letter queue's SQL and queries, on a real SQLite file."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from guard._dlq import (
    PUBLIC_FIELDS,
    DeadLetters,
    detail_row,
    insert_statement,
    iso,
    key_fields,
    public_row,
    replay_refusal,
    replay_request,
)
from guard._store import SyncStore

COIN_FLIP = "https://casino.purpleflea.com/api/v1/games/coin-flip"


def record(**overrides: Any) -> dict[str, Any]:
    """A dead-letter record as the transport writes it."""
    base: dict[str, Any] = {
        "agent_id": "agent",
        "outcome": "not_executed",
        "service": "casino",
        "operation": "coin_flip",
        "method": "POST",
        "url": COIN_FLIP,
        "request_headers": json.dumps(
            {
                "authorization": "[REDACTED]",
                "content-type": "application/json",
                "idempotency-key": "idem-1",
            }
        ),
        "request_body": '{"side":"heads","amount":1}',
        "redacted": "[]",
        "error_type": "HTTPStatus",
        "error": "503 Service Unavailable",
        "http_status": 503,
        "attempts": 1,
        "trace_id": "trace-1",
        "idempotency_key": "idem-1",
    }
    return {**base, **overrides}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SyncStore]:
    s = SyncStore(tmp_path / "guard.db")
    yield s
    s.close()


@pytest.fixture
def dlq(store: SyncStore) -> DeadLetters:
    return DeadLetters(store)


def add(store: SyncStore, **overrides: Any) -> int:
    """Insert one dead letter; its id."""
    store.write([insert_statement(record(**overrides))])
    return int(store.query("SELECT max(id) AS id FROM dead_letters")[0]["id"])


def set_created(store: SyncStore, id: int, epoch: float) -> None:
    store.write([("UPDATE dead_letters SET created_at = ? WHERE id = ?", (iso(epoch), id))])


def set_status(store: SyncStore, id: int, status: str) -> None:
    store.write([("UPDATE dead_letters SET status = ? WHERE id = ?", (status, id))])


# --- insert / upsert ---------------------------------------------------------------------


def test_a_new_dead_letter_is_pending_and_never_replayed(
    store: SyncStore, dlq: DeadLetters
) -> None:
    """A fresh row is pending, with no replay, no note and timestamps set by SQLite."""
    row = dlq.get(add(store))
    assert row is not None
    assert (row["status"], row["replays"], row["replayed_at"], row["note"]) == (
        "pending",
        0,
        None,
        None,
    )
    assert row["created_at"].endswith("Z")
    assert row["created_at"] == row["updated_at"]


def test_the_same_idempotency_key_updates_the_row(store: SyncStore, dlq: DeadLetters) -> None:
    """A repeat of one operation adds its attempts and takes the new error, in the same row."""
    first = add(store, attempts=5)
    set_created(store, first, time.time() - 60)  # so updated_at visibly moves on
    store.write([("UPDATE dead_letters SET updated_at = created_at WHERE id = ?", (first,))])
    again = add(
        store,
        attempts=2,
        error="ConnectError: refused",
        error_type="ConnectError",
        http_status=None,
    )
    assert again == first
    (row,) = dlq.list("all")
    assert row["attempts"] == 7
    assert (row["error"], row["error_type"], row["http_status"]) == (
        "ConnectError: refused",
        "ConnectError",
        None,
    )
    assert row["updated_at"] > row["created_at"]
    assert row["trace_id"] == "trace-1"


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ("not_executed", "not_executed", "not_executed"),
        ("not_executed", "unknown", "unknown"),
        ("unknown", "not_executed", "unknown"),
        ("unknown", "unknown", "unknown"),
    ],
)
def test_an_unknown_outcome_is_never_forgotten(
    store: SyncStore, dlq: DeadLetters, before: str, after: str, expected: str
) -> None:
    """The outcome of a repeated operation is unknown if either failure's was."""
    id = add(store, outcome=before)
    add(store, outcome=after)
    row = dlq.get(id)
    assert row is not None
    assert row["outcome"] == expected


def test_rows_without_an_idempotency_key_always_insert(store: SyncStore, dlq: DeadLetters) -> None:
    """No key, no way to tell two failures apart: each is its own row."""
    add(store, idempotency_key=None)
    add(store, idempotency_key=None)
    assert len(dlq.list()) == 2


def test_a_record_missing_a_field_or_with_a_bad_outcome_is_refused() -> None:
    """insert_statement names the missing fields and the accepted outcomes."""
    incomplete = record()
    del incomplete["trace_id"]
    with pytest.raises(ValueError, match="trace_id"):
        insert_statement(incomplete)
    with pytest.raises(ValueError, match="not_executed, unknown"):
        insert_statement(record(outcome="maybe"))


# --- list / get / export -----------------------------------------------------------------


def test_list_shows_pending_rows_newest_first(store: SyncStore, dlq: DeadLetters) -> None:
    """The default list is the pending rows, newest first."""
    now = time.time()
    ids = [add(store, idempotency_key=f"k{i}") for i in range(3)]
    for i, id in enumerate(ids):
        set_created(store, id, now - 100 + i)
    set_status(store, ids[1], "resolved")
    assert [r["id"] for r in dlq.list()] == [ids[2], ids[0]]


def test_list_filters_by_status_or_all_and_limits(store: SyncStore, dlq: DeadLetters) -> None:
    """--status picks one status or all; --limit keeps the newest N."""
    ids = [add(store, idempotency_key=f"k{i}") for i in range(4)]
    set_status(store, ids[0], "replayed")
    set_status(store, ids[1], "discarded")
    assert [r["id"] for r in dlq.list("replayed")] == [ids[0]]
    assert [r["id"] for r in dlq.list("discarded")] == [ids[1]]
    assert dlq.list("resolved") == []
    assert [r["id"] for r in dlq.list("all")] == ids[::-1]
    assert [r["id"] for r in dlq.list("all", limit=2)] == ids[:1:-1]


def test_list_refuses_an_unknown_status(dlq: DeadLetters) -> None:
    """A typo in the status is an error, not an empty list."""
    with pytest.raises(ValueError, match="all or one of pending, replayed, resolved, discarded"):
        dlq.list("done")


def test_get_an_unknown_id_is_none(dlq: DeadLetters) -> None:
    """get() of an id that does not exist returns None."""
    assert dlq.get(42) is None


def test_export_is_every_row_oldest_first(store: SyncStore, dlq: DeadLetters) -> None:
    """export() returns all statuses in id order."""
    ids = [add(store, idempotency_key=f"k{i}") for i in range(3)]
    set_status(store, ids[2], "resolved")
    assert [r["id"] for r in dlq.export()] == ids


# --- stats -------------------------------------------------------------------------------


def test_stats_count_by_status_outcome_and_operation(store: SyncStore, dlq: DeadLetters) -> None:
    """stats() counts every status, and pending rows by outcome and by operation."""
    add(store, idempotency_key="a")
    add(store, idempotency_key="b", outcome="unknown")
    add(store, idempotency_key="c", service="trading", operation="trade_open")
    set_status(store, add(store, idempotency_key="d"), "replayed")
    report = dlq.stats()
    assert report["total"] == 4
    assert report["by_status"] == {"pending": 3, "replayed": 1, "resolved": 0, "discarded": 0}
    assert report["pending_by_outcome"] == {"not_executed": 2, "unknown": 1}
    assert report["pending_by_operation"] == [
        {"service": "casino", "operation": "coin_flip", "count": 2},
        {"service": "trading", "operation": "trade_open", "count": 1},
    ]


def test_stats_give_the_age_of_the_oldest_pending_row(store: SyncStore, dlq: DeadLetters) -> None:
    """The oldest pending row's age is measured from created_at; done rows do not count."""
    now = 1_800_000_000.0
    set_created(store, add(store, idempotency_key="old"), now - 7200)
    set_created(store, add(store, idempotency_key="new"), now - 60)
    done = add(store, idempotency_key="done")
    set_created(store, done, now - 90000)
    set_status(store, done, "resolved")
    assert dlq.stats(now)["oldest_pending_age_s"] == pytest.approx(7200, abs=0.01)


def test_stats_of_an_empty_queue(dlq: DeadLetters) -> None:
    """An empty queue: zero counts and no age."""
    report = dlq.stats()
    assert report["total"] == 0
    assert report["oldest_pending_age_s"] is None
    assert report["pending_by_operation"] == []


# --- resolve -----------------------------------------------------------------------------


def test_resolve_marks_a_pending_row_and_keeps_the_note(store: SyncStore, dlq: DeadLetters) -> None:
    """resolve() sets status resolved, the note and updated_at."""
    id = add(store)
    set_created(store, id, time.time() - 60)
    assert dlq.resolve(id, "refunded by hand")
    row = dlq.get(id)
    assert row is not None
    assert (row["status"], row["note"]) == ("resolved", "refunded by hand")
    assert row["updated_at"] > row["created_at"]


def test_discard_marks_the_row_discarded(store: SyncStore, dlq: DeadLetters) -> None:
    """resolve(discard=True) sets status discarded."""
    id = add(store)
    assert dlq.resolve(id, None, discard=True)
    row = dlq.get(id)
    assert row is not None
    assert (row["status"], row["note"]) == ("discarded", None)


def test_resolve_changes_nothing_but_pending_rows(store: SyncStore, dlq: DeadLetters) -> None:
    """A row already replayed, or an unknown id, is not resolved (False)."""
    id = add(store)
    set_status(store, id, "replayed")
    assert not dlq.resolve(id, "late")
    assert not dlq.resolve(999, "nothing")
    row = dlq.get(id)
    assert row is not None
    assert (row["status"], row["note"]) == ("replayed", None)


# --- purge -------------------------------------------------------------------------------


def test_purge_by_default_deletes_every_row_that_is_not_pending(
    store: SyncStore, dlq: DeadLetters
) -> None:
    """Without a status, purge keeps pending rows and deletes the others."""
    ids = [add(store, idempotency_key=f"k{i}") for i in range(4)]
    for id, status in zip(ids[1:], ("replayed", "resolved", "discarded"), strict=True):
        set_status(store, id, status)
    assert dlq.purge() == 3
    assert [r["id"] for r in dlq.list("all")] == [ids[0]]


def test_purge_deletes_pending_rows_only_when_asked(store: SyncStore, dlq: DeadLetters) -> None:
    """--status pending deletes pending rows; a status only touches its own rows."""
    pending = add(store, idempotency_key="p")
    resolved = add(store, idempotency_key="r")
    set_status(store, resolved, "resolved")
    assert dlq.purge("replayed") == 0
    assert dlq.purge("pending") == 1
    assert [r["id"] for r in dlq.list("all")] == [resolved]
    assert dlq.get(pending) is None


def test_purge_older_than_looks_at_created_at(store: SyncStore, dlq: DeadLetters) -> None:
    """--older-than DAYS keeps younger rows, whatever their status."""
    now = 1_800_000_000.0
    old, young = add(store, idempotency_key="old"), add(store, idempotency_key="young")
    set_created(store, old, now - 8 * 86400)
    set_created(store, young, now - 6 * 86400)
    for id in (old, young):
        set_status(store, id, "resolved")
    assert dlq.purge(older_than_days=7, now=now) == 1
    assert [r["id"] for r in dlq.list("all")] == [young]


def test_purge_refuses_an_unknown_status(dlq: DeadLetters) -> None:
    """purge() names the accepted statuses."""
    with pytest.raises(ValueError, match="pending, replayed"):
        dlq.purge("all")


# --- record_replay -----------------------------------------------------------------------


def test_a_successful_replay_marks_the_row_replayed(store: SyncStore, dlq: DeadLetters) -> None:
    """ok: status replayed, replayed_at set, one replay counted, the result kept as JSON."""
    id = add(store)
    dlq.record_replay(id, True, {"http_status": 200, "response": {"won": True}})
    row = dlq.get(id)
    assert row is not None
    assert (row["status"], row["replays"]) == ("replayed", 1)
    assert row["replayed_at"] is not None
    assert json.loads(row["result"]) == {"http_status": 200, "response": {"won": True}}


def test_a_failed_replay_leaves_the_row_pending(store: SyncStore, dlq: DeadLetters) -> None:
    """not ok: still pending, no replayed_at, the replay counted and its result kept."""
    id = add(store)
    dlq.record_replay(id, False, {"http_status": 503})
    dlq.record_replay(id, False, {"http_status": 502})
    row = dlq.get(id)
    assert row is not None
    assert (row["status"], row["replays"], row["replayed_at"]) == ("pending", 2, None)
    assert row["outcome"] == "not_executed"
    assert json.loads(row["result"]) == {"http_status": 502}


def test_a_replay_that_may_have_executed_makes_the_outcome_unknown(
    store: SyncStore, dlq: DeadLetters
) -> None:
    """A replay that timed out after sending: the row needs --force from now on."""
    id = add(store)
    dlq.record_replay(id, False, {"error": "ReadTimeout"}, unknown=True)
    row = dlq.get(id)
    assert row is not None
    assert (row["status"], row["outcome"]) == ("pending", "unknown")


# --- shapes and replay decisions (pure) --------------------------------------------------


def test_the_public_shape_has_the_documented_fields(store: SyncStore, dlq: DeadLetters) -> None:
    """public_row has exactly the public fields; redacted is a list, not JSON text."""
    row = dlq.get(add(store, redacted='["query:api_key"]'))
    assert row is not None
    shaped = public_row(row)
    assert tuple(shaped) == PUBLIC_FIELDS
    assert shaped["redacted"] == ["query:api_key"]
    assert "request_headers" not in shaped
    assert "agent_id" not in shaped


def test_the_detail_shows_no_header_value_but_two(store: SyncStore, dlq: DeadLetters) -> None:
    """detail_row: headers as an object, values hidden except idempotency-key and content-type;
    secret fields that slipped through redaction are masked again."""
    headers = {
        "authorization": "[REDACTED]",
        "x-trace-note": "canary-h",
        "content-type": "application/json",
        "idempotency-key": "idem-1",
    }
    row = dlq.get(
        add(
            store,
            request_headers=json.dumps(headers),
            request_body='{"side":"heads","private_key":"canary-b"}',
            url=COIN_FLIP + "?token=canary-u",
        )
    )
    assert row is not None
    detail = detail_row(row)
    assert detail["request_headers"] == {
        "authorization": "[REDACTED]",
        "x-trace-note": "[REDACTED]",
        "content-type": "application/json",
        "idempotency-key": "idem-1",
    }
    assert "canary" not in json.dumps(detail)
    assert json.loads(detail["request_body"])["side"] == "heads"
    assert detail["result"] is None
    assert detail["agent_id"] == "agent"


@pytest.mark.parametrize(
    ("changes", "force", "why"),
    [
        ({}, False, None),
        ({"outcome": "unknown"}, False, "may already have executed"),
        ({"outcome": "unknown"}, True, None),
        ({"status": "replayed", "replayed_at": "2026-01-01T00:00:00.000Z"}, False, "already"),
        ({"status": "replayed"}, True, None),
        ({"status": "discarded"}, False, "is discarded"),
        ({"redacted": '["body.private_key"]'}, False, "body.private_key"),
        ({"redacted": '["body.private_key"]'}, True, "cannot be replayed"),
        ({"redacted": '["body:not-json"]'}, True, "cannot be replayed"),
        ({"redacted": '["path"]'}, True, "URL"),
        ({"redacted": '["query:api_key"]'}, False, None),
    ],
)
def test_replay_refusals(changes: dict[str, Any], force: bool, why: str | None) -> None:
    """Unknown outcomes and done rows need --force; a body that lost fields is never re-sent."""
    row = {
        "id": 7,
        "status": "pending",
        "updated_at": "2026-01-01T00:00:00.000Z",
        "replayed_at": None,
        **record(),
        **changes,
    }
    refusal = replay_refusal(row, force=force)
    if why is None:
        assert refusal is None
    else:
        assert refusal is not None
        assert why in refusal
        assert "\n" not in refusal


def test_a_replay_request_carries_the_current_key_and_the_stored_idempotency_key() -> None:
    """Stored credentials, hop-by-hop and length headers are dropped; the key column is sent;
    masked query values are dropped (the key travels in Authorization now)."""
    headers = {
        "authorization": "[REDACTED]",
        "x-api-key": "[REDACTED]",
        "content-length": "27",
        "connection": "keep-alive",
        "host": "casino.purpleflea.com",
        "idempotency-key": "stale",
        "content-type": "application/json",
        "user-agent": "agent/1.0",
    }
    row = record(
        request_headers=json.dumps(headers), url=COIN_FLIP + "?api_key=[REDACTED]&mode=fast"
    )
    method, url, sent, body = replay_request(row, "sk_live_new")
    assert method == "POST"
    assert url == COIN_FLIP + "?mode=fast"
    assert sent == [
        ("content-type", "application/json"),
        ("user-agent", "agent/1.0"),
        ("Idempotency-Key", "idem-1"),
        ("Authorization", "Bearer sk_live_new"),
    ]
    assert body == b'{"side":"heads","amount":1}'


def test_a_json_body_without_a_stored_content_type_is_sent_as_json() -> None:
    """Content-Type is added for a JSON body when the stored headers lack one."""
    _, _, sent, _ = replay_request(record(request_headers="{}"), "k")
    assert ("Content-Type", "application/json") in sent


def test_key_fields_keep_scalars_and_drop_secrets() -> None:
    """What a replay prints of a reply: top-level scalars, no secret, no _info."""
    reply = {
        "bet_id": "bet_1",
        "won": True,
        "new_balance": 100.99,
        "api_key": "sk_live_abcdefabcdefabcdef",
        "result": {"roll": 3},
        "_info": {"service": "agent-casino"},
    }
    assert key_fields(reply) == {"bet_id": "bet_1", "won": True, "new_balance": 100.99}
    assert key_fields(["not", "a", "dict"]) == {}
