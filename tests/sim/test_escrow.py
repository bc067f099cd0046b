"""The simulated escrow service: casino key, casino balance, commission, timeouts."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from guard.sim import SimApp
from guard.sim._bank import Bank
from tests.conftest import CASINO, ESCROW, T0, bearer, casino_agent

CREATE_401 = {
    "error": "unauthorized",
    "message": "Bearer {casino_api_key} required. Register at casino.purpleflea.com.",
}
INFO = {
    "service": "agent-escrow",
    "docs": "https://escrow.purpleflea.com/llms.txt",
    "referral": "GET /gossip — 15% referral commission on escrow fees",
    "version": "1.0.0",
}


async def casino_balance(client: httpx.AsyncClient, key: str) -> float:
    r = await client.get(f"{CASINO}/auth/balance", headers=bearer(key))
    assert r.status_code == 200, r.text
    return float(r.json()["balance_usd"])


async def create(
    client: httpx.AsyncClient, key: str, counterparty: str, amount: Any = 10, **extra: Any
) -> httpx.Response:
    body = {
        "amount_usd": amount,
        "description": "scrape data",
        "counterparty_agent_id": counterparty,
    }
    return await client.post(f"{ESCROW}/create", json={**body, **extra}, headers=bearer(key))


@pytest.fixture
async def pair(client: httpx.AsyncClient) -> tuple[str, str, str, str]:
    """A funded creator ($100) and an unfunded counterparty: (creator, key, counterparty, key)."""
    creator, creator_key = await casino_agent(client, balance=100)
    counterparty, counterparty_key = await casino_agent(client, balance=0)
    return creator, creator_key, counterparty, counterparty_key


async def funded_escrow(client: httpx.AsyncClient, pair: tuple[str, str, str, str]) -> str:
    r = await create(client, pair[1], pair[2])
    assert r.status_code == 201, r.text
    return str(r.json()["escrow_id"])


# --- create -------------------------------------------------------------------------------


async def test_create_returns_the_real_fields(
    client: httpx.AsyncClient, pair: tuple[str, str, str, str]
) -> None:
    """POST /escrow/create answers 201 with the escrow, 1 % commission and next steps."""
    creator, key, counterparty, _ = pair
    r = await create(client, key, counterparty)
    assert r.status_code == 201
    body = r.json()
    escrow_id = body["escrow_id"]
    assert re.fullmatch(r"esc_[0-9a-f]{16}", escrow_id)
    assert body == {
        "escrow_id": escrow_id,
        "amount_usd": 10,
        "commission_usd": 0.1,
        "net_to_counterparty": 9.9,
        "description": "scrape data",
        "creator_id": creator,
        "counterparty_id": counterparty,
        "status": "funded",
        "timeout_hours": 24,
        "auto_release_at": "2026-01-02T00:00:00.000Z",
        "next_steps": {
            "counterparty": f"POST /escrow/complete/{escrow_id} when task is done",
            "creator": f"POST /escrow/release/{escrow_id} to release funds",
            "dispute": f"POST /escrow/dispute/{escrow_id} if something goes wrong",
        },
        "_info": INFO,
    }


async def test_create_debits_the_creator_casino_balance_at_once(
    client: httpx.AsyncClient, pair: tuple[str, str, str, str]
) -> None:
    """The amount leaves the creator's casino balance when the escrow is created."""
    await create(client, pair[1], pair[2], amount=12.5)
    assert await casino_balance(client, pair[1]) == 87.5


async def test_create_writes_an_escrow_lock_ledger_row(
    client: httpx.AsyncClient, app: SimApp, pair: tuple[str, str, str, str]
) -> None:
    """The debit is a casino ledger row ``escrow_lock: esc_...`` from service escrow."""
    escrow_id = await funded_escrow(client, pair)
    row = app.state.book(Bank).require(pair[0]).ledger[-1]
    assert row["type"] == "debit"
    assert row["amount"] == 10
    assert row["reason"] == f"escrow_lock: {escrow_id}"
    assert row["service"] == "escrow"


async def test_commission_is_rounded_to_six_decimals(
    client: httpx.AsyncClient, pair: tuple[str, str, str, str]
) -> None:
    """1 % of an odd amount is rounded to 6 dp, and the net follows it."""
    body = (await create(client, pair[1], pair[2], amount=0.123456)).json()
    assert body["commission_usd"] == 0.001235
    assert body["net_to_counterparty"] == 0.122221


async def test_a_numeric_string_amount_is_accepted(
    client: httpx.AsyncClient, pair: tuple[str, str, str, str]
) -> None:
    """Like the real server's parseFloat, ``"5"`` is an amount of 5."""
    r = await create(client, pair[1], pair[2], amount="5")
    assert r.status_code == 201
    assert r.json()["amount_usd"] == 5


@pytest.mark.parametrize(("sent", "kept"), [(None, 24), (0, 1), (5.9, 5), (10_000, 720)])
async def test_timeout_hours_default_and_clamp(
    client: httpx.AsyncClient, pair: tuple[str, str, str, str], sent: Any, kept: int
) -> None:
    """timeout_hours defaults to 24, is floored and clamped to 1..720."""
    extra = {} if sent is None else {"timeout_hours": sent}
    body = (await create(client, pair[1], pair[2], **extra)).json()
    assert body["timeout_hours"] == kept


async def test_create_without_a_key_is_401(
    client: httpx.AsyncClient, pair: tuple[str, str, str, str]
) -> None:
    """No Authorization header: 401 naming the casino key."""
    r = await client.post(f"{ESCROW}/create", json={"amount_usd": 1})
    assert r.status_code == 401
    assert r.json() == {**CREATE_401, "_info": INFO}


async def test_create_with_an_unknown_key_is_the_same_401(client: httpx.AsyncClient) -> None:
    """An unknown key gets the same 401 body as a missing one."""
    r = await create(client, "sk_live_" + "0" * 48, "ag_000000000000")
    assert r.status_code == 401
    assert r.json() == {**CREATE_401, "_info": INFO}


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"amount_usd": 0.05}, "invalid_amount", "Minimum escrow amount is $0.1"),
        ({"amount_usd": "abc"}, "invalid_amount", "Minimum escrow amount is $0.1"),
        ({"amount_usd": None}, "invalid_amount", "Minimum escrow amount is $0.1"),
        ({"description": " ab "}, "invalid_description", "description is required (min 3 chars)"),
        (
            {"counterparty_agent_id": "bob"},
            "invalid_counterparty",
            "counterparty_agent_id must be in ag_xxx format",
        ),
    ],
)
async def test_create_validation_errors_are_400(
    client: httpx.AsyncClient,
    pair: tuple[str, str, str, str],
    change: dict[str, Any],
    error: str,
    message: str,
) -> None:
    """Each invalid field is a 400 with the real code and message."""
    body = {"amount_usd": 10, "description": "scrape data", "counterparty_agent_id": pair[2]}
    r = await client.post(f"{ESCROW}/create", json={**body, **change}, headers=bearer(pair[1]))
    assert r.status_code == 400
    assert r.json()["error"] == error
    assert r.json()["message"] == message


async def test_escrow_with_yourself_is_400(
    client: httpx.AsyncClient, pair: tuple[str, str, str, str]
) -> None:
    """The creator cannot be the counterparty."""
    r = await create(client, pair[1], pair[0])
    assert r.status_code == 400
    assert r.json()["error"] == "self_escrow"


async def test_unknown_counterparty_is_404(
    client: httpx.AsyncClient, pair: tuple[str, str, str, str]
) -> None:
    """A counterparty that is no casino agent is 404 counterparty_not_found."""
    r = await create(client, pair[1], "ag_000000000000")
    assert r.status_code == 404
    assert r.json()["error"] == "counterparty_not_found"
    assert r.json()["message"] == "Counterparty agent not found in casino"


async def test_insufficient_balance_is_402_with_the_balance(
    client: httpx.AsyncClient, pair: tuple[str, str, str, str]
) -> None:
    """More than the balance: 402 with the balance, and nothing is debited."""
    r = await create(client, pair[1], pair[2], amount=150)
    assert r.status_code == 402
    body = r.json()
    assert body["error"] == "insufficient_balance"
    assert body["message"] == "Balance $100.00 < escrow amount $150.00"
    assert body["balance"] == 100
    assert await casino_balance(client, pair[1]) == 100


# --- complete, release, dispute -----------------------------------------------------------


async def test_counterparty_completes(
    client: httpx.AsyncClient, pair: tuple[str, str, str, str]
) -> None:
    """The counterparty marks the task complete."""
    escrow_id = await funded_escrow(client, pair)
    r = await client.post(f"{ESCROW}/complete/{escrow_id}", headers=bearer(pair[3]))
    assert r.status_code == 200
    assert {k: v for k, v in r.json().items() if k != "_info"} == {
        "escrow_id": escrow_id,
        "status": "completed",
        "message": "Task marked complete. Waiting for creator to release funds.",
        "next_step": f"Creator should call POST /escrow/release/{escrow_id}",
        "auto_release_at": "2026-01-02T00:00:00.000Z",
    }


async def test_creator_cannot_complete(
    client: httpx.AsyncClient, pair: tuple[str, str, str, str]
) -> None:
    """Only the counterparty may complete: 403 forbidden."""
    escrow_id = await funded_escrow(client, pair)
    r = await client.post(f"{ESCROW}/complete/{escrow_id}", headers=bearer(pair[1]))
    assert r.status_code == 403
    assert r.json()["message"] == "Only the counterparty can mark the task complete"


async def test_completing_twice_is_409(
    client: httpx.AsyncClient, pair: tuple[str, str, str, str]
) -> None:
    """A completed escrow cannot be completed again."""
    escrow_id = await funded_escrow(client, pair)
    await client.post(f"{ESCROW}/complete/{escrow_id}", headers=bearer(pair[3]))
    r = await client.post(f"{ESCROW}/complete/{escrow_id}", headers=bearer(pair[3]))
    assert r.status_code == 409
    assert r.json()["error"] == "invalid_status"
    assert r.json()["message"] == "Cannot complete escrow in status 'completed'"


async def test_complete_unknown_escrow_is_404(
    client: httpx.AsyncClient, pair: tuple[str, str, str, str]
) -> None:
    """An unknown escrow id is 404 not_found."""
    r = await client.post(f"{ESCROW}/complete/esc_0000000000000000", headers=bearer(pair[3]))
    assert r.status_code == 404
    assert r.json() == {"error": "not_found", "message": "Escrow not found", "_info": INFO}


@pytest.mark.parametrize("action", ["complete", "release", "dispute"])
async def test_actions_without_a_key_get_a_bare_401(
    client: httpx.AsyncClient, pair: tuple[str, str, str, str], action: str
) -> None:
    """complete, release and dispute answer a bare 401 without a valid key."""
    escrow_id = await funded_escrow(client, pair)
    r = await client.post(f"{ESCROW}/{action}/{escrow_id}")
    assert r.status_code == 401
    assert r.json() == {"error": "unauthorized", "_info": INFO}


async def test_release_pays_the_counterparty_net_of_commission(
    client: httpx.AsyncClient, pair: tuple[str, str, str, str]
) -> None:
    """Release credits amount minus commission to the counterparty's casino balance."""
    escrow_id = await funded_escrow(client, pair)
    r = await client.post(f"{ESCROW}/release/{escrow_id}", headers=bearer(pair[1]))
    assert r.status_code == 200
    assert {k: v for k, v in r.json().items() if k != "_info"} == {
        "escrow_id": escrow_id,
        "status": "released",
        "amount_released": 9.9,
        "commission": 0.1,
        "referral_commission": 0,
        "counterparty_id": pair[2],
        "message": "$9.90 released to counterparty.",
    }
    assert await casino_balance(client, pair[3]) == 9.9
    assert await casino_balance(client, pair[1]) == 90


async def test_release_writes_an_escrow_release_ledger_row(
    client: httpx.AsyncClient, app: SimApp, pair: tuple[str, str, str, str]
) -> None:
    """The counterparty's credit is a ledger row ``escrow_release: esc_...``."""
    escrow_id = await funded_escrow(client, pair)
    await client.post(f"{ESCROW}/release/{escrow_id}", headers=bearer(pair[1]))
    row = app.state.book(Bank).require(pair[2]).ledger[-1]
    assert (row["type"], row["reason"], row["service"]) == (
        "credit",
        f"escrow_release: {escrow_id}",
        "escrow",
    )


async def test_release_after_complete(
    client: httpx.AsyncClient, pair: tuple[str, str, str, str]
) -> None:
    """A completed escrow can be released."""
    escrow_id = await funded_escrow(client, pair)
    await client.post(f"{ESCROW}/complete/{escrow_id}", headers=bearer(pair[3]))
    r = await client.post(f"{ESCROW}/release/{escrow_id}", headers=bearer(pair[1]))
    assert r.json()["status"] == "released"


async def test_counterparty_cannot_release(
    client: httpx.AsyncClient, pair: tuple[str, str, str, str]
) -> None:
    """Only the creator may release: 403 forbidden."""
    escrow_id = await funded_escrow(client, pair)
    r = await client.post(f"{ESCROW}/release/{escrow_id}", headers=bearer(pair[3]))
    assert r.status_code == 403
    assert r.json()["message"] == "Only the escrow creator can release funds"


async def test_releasing_twice_is_409_and_pays_once(
    client: httpx.AsyncClient, pair: tuple[str, str, str, str]
) -> None:
    """A second release is 409 invalid_status and moves no money."""
    escrow_id = await funded_escrow(client, pair)
    await client.post(f"{ESCROW}/release/{escrow_id}", headers=bearer(pair[1]))
    r = await client.post(f"{ESCROW}/release/{escrow_id}", headers=bearer(pair[1]))
    assert r.status_code == 409
    assert r.json()["message"] == "Cannot release escrow in status 'released'"
    assert await casino_balance(client, pair[3]) == 9.9


async def test_referral_code_earns_15_percent_of_the_commission(
    client: httpx.AsyncClient, pair: tuple[str, str, str, str]
) -> None:
    """With a referrer's code on create, release pays the referrer 15 % of the commission."""
    r = await client.post(f"{CASINO}/auth/register", json={})
    referrer_key, code = r.json()["api_key"], r.json()["referral_code"]
    created = await create(client, pair[1], pair[2], amount=100, referral_code=code)
    escrow_id = created.json()["escrow_id"]
    r = await client.post(f"{ESCROW}/release/{escrow_id}", headers=bearer(pair[1]))
    assert r.json()["referral_commission"] == 0.15
    assert await casino_balance(client, referrer_key) == 0.15


async def test_registration_referrer_earns_without_a_code(client: httpx.AsyncClient) -> None:
    """A creator registered with a referral code pays its referrer on release."""
    r = await client.post(f"{CASINO}/auth/register", json={})
    referrer_key, code = r.json()["api_key"], r.json()["referral_code"]
    r = await client.post(f"{CASINO}/auth/register", json={"referral_code": code})
    creator, creator_key = r.json()["agent_id"], r.json()["api_key"]
    await client.post("/_sim/credit", json={"agent_id": creator, "amount": 50})
    counterparty, _ = await casino_agent(client, balance=0)
    escrow_id = (await create(client, creator_key, counterparty, amount=20)).json()["escrow_id"]
    r = await client.post(f"{ESCROW}/release/{escrow_id}", headers=bearer(creator_key))
    assert r.json()["referral_commission"] == 0.03
    assert await casino_balance(client, referrer_key) == 0.03


@pytest.mark.parametrize("party", [1, 3])
async def test_either_party_can_dispute(
    client: httpx.AsyncClient, pair: tuple[str, str, str, str], party: int
) -> None:
    """Creator or counterparty can dispute; the reason defaults to "No reason provided"."""
    escrow_id = await funded_escrow(client, pair)
    r = await client.post(f"{ESCROW}/dispute/{escrow_id}", headers=bearer(pair[party]))
    assert r.status_code == 200
    assert {k: v for k, v in r.json().items() if k != "_info"} == {
        "escrow_id": escrow_id,
        "status": "disputed",
        "reason": "No reason provided",
        "message": "Escrow flagged for manual review. Purple Flea team will investigate.",
        "contact": "support@purpleflea.com",
    }


async def test_dispute_keeps_the_given_reason(
    client: httpx.AsyncClient, pair: tuple[str, str, str, str]
) -> None:
    """The dispute reason is echoed, trimmed."""
    escrow_id = await funded_escrow(client, pair)
    r = await client.post(
        f"{ESCROW}/dispute/{escrow_id}", json={"reason": " no delivery "}, headers=bearer(pair[1])
    )
    assert r.json()["reason"] == "no delivery"


async def test_outsider_cannot_dispute(
    client: httpx.AsyncClient, pair: tuple[str, str, str, str]
) -> None:
    """A third agent's dispute is 403 forbidden."""
    escrow_id = await funded_escrow(client, pair)
    _, outsider_key = await casino_agent(client, balance=0)
    r = await client.post(f"{ESCROW}/dispute/{escrow_id}", headers=bearer(outsider_key))
    assert r.status_code == 403
    assert r.json()["message"] == "Only escrow participants can dispute"


async def test_dispute_unknown_escrow_is_a_bare_404(
    client: httpx.AsyncClient, pair: tuple[str, str, str, str]
) -> None:
    """The dispute route's 404 has no message, as in the real code."""
    r = await client.post(f"{ESCROW}/dispute/esc_0000000000000000", headers=bearer(pair[1]))
    assert r.status_code == 404
    assert r.json() == {"error": "not_found", "_info": INFO}


async def test_released_escrow_cannot_be_disputed(
    client: httpx.AsyncClient, pair: tuple[str, str, str, str]
) -> None:
    """Dispute after release is 409 invalid_status."""
    escrow_id = await funded_escrow(client, pair)
    await client.post(f"{ESCROW}/release/{escrow_id}", headers=bearer(pair[1]))
    r = await client.post(f"{ESCROW}/dispute/{escrow_id}", headers=bearer(pair[3]))
    assert r.status_code == 409
    assert r.json()["message"] == "Cannot dispute escrow in status 'released'"


# --- reads --------------------------------------------------------------------------------


async def test_public_read_has_no_events(
    client: httpx.AsyncClient, pair: tuple[str, str, str, str]
) -> None:
    """GET /escrow/:id without a key shows the record but not its events."""
    escrow_id = await funded_escrow(client, pair)
    body = (await client.get(f"{ESCROW}/{escrow_id}")).json()
    assert {k: v for k, v in body.items() if k != "_info"} == {
        "escrow_id": escrow_id,
        "status": "funded",
        "amount_usd": 10,
        "commission_usd": 0.1,
        "net_to_counterparty": 9.9,
        "description": "scrape data",
        "creator_id": pair[0],
        "counterparty_id": pair[2],
        "timeout_hours": 24,
        "created_at": "2026-01-01T00:00:00.000Z",
        "auto_release_at": "2026-01-02T00:00:00.000Z",
        "completed_at": None,
        "released_at": None,
        "disputed_at": None,
    }


async def test_participants_also_get_events(
    client: httpx.AsyncClient, pair: tuple[str, str, str, str]
) -> None:
    """A participant's read adds the escrow's events, oldest first."""
    escrow_id = await funded_escrow(client, pair)
    await client.post(f"{ESCROW}/complete/{escrow_id}", headers=bearer(pair[3]))
    body = (await client.get(f"{ESCROW}/{escrow_id}", headers=bearer(pair[1]))).json()
    assert [e["event"] for e in body["events"]] == ["created", "completed"]
    assert body["events"][0] == {
        "id": f"{escrow_id}_created",
        "escrow_id": escrow_id,
        "event": "created",
        "actor_id": pair[0],
        "note": 'Escrow created: $10 for "scrape data"',
        "created_at": int(T0),
    }
    assert body["completed_at"] == "2026-01-01T00:00:00.000Z"


async def test_outsider_read_has_no_events(
    client: httpx.AsyncClient, pair: tuple[str, str, str, str]
) -> None:
    """A valid key that is no party to the escrow reads it like the public."""
    escrow_id = await funded_escrow(client, pair)
    _, outsider_key = await casino_agent(client, balance=0)
    body = (await client.get(f"{ESCROW}/{escrow_id}", headers=bearer(outsider_key))).json()
    assert "events" not in body


async def test_read_unknown_escrow_is_404(client: httpx.AsyncClient) -> None:
    """GET of an unknown escrow is 404 not_found."""
    r = await client.get(f"{ESCROW}/esc_0000000000000000")
    assert r.status_code == 404
    assert r.json()["message"] == "Escrow not found"


async def test_stats_count_created_released_and_disputed(
    client: httpx.AsyncClient, pair: tuple[str, str, str, str]
) -> None:
    """GET /escrow/stats counts escrows, volume and commission earned on release."""
    first = await funded_escrow(client, pair)
    second = await funded_escrow(client, pair)
    await client.post(f"{ESCROW}/release/{first}", headers=bearer(pair[1]))
    await client.post(f"{ESCROW}/dispute/{second}", headers=bearer(pair[1]))
    body = (await client.get(f"{ESCROW}/stats")).json()
    assert {k: v for k, v in body.items() if k != "_info"} == {
        "total_created": 2,
        "total_released": 1,
        "total_disputed": 1,
        "total_volume_usd": 20,
        "total_commission_usd": 0.1,
        "commission_rate": "1%",
        "referral_commission_rate": "15% of fees",
    }


# --- timeouts -----------------------------------------------------------------------------


async def test_timed_out_escrow_is_refunded_minus_commission(
    client: httpx.AsyncClient, pair: tuple[str, str, str, str]
) -> None:
    """Past auto_release_at the creator gets amount - commission back; status refunded."""
    r = await create(client, pair[1], pair[2], amount=10, timeout_hours=1)
    escrow_id = r.json()["escrow_id"]
    await client.post("/_sim/clock", json={"advance_s": 3600})
    body = (await client.get(f"{ESCROW}/{escrow_id}")).json()
    assert body["status"] == "refunded"
    assert body["released_at"] == "2026-01-01T01:00:00.000Z"
    assert await casino_balance(client, pair[1]) == pytest.approx(99.9)
    assert await casino_balance(client, pair[3]) == 0


async def test_timeout_refund_shows_in_the_casino_balance_alone(
    client: httpx.AsyncClient, pair: tuple[str, str, str, str]
) -> None:
    """A casino balance read after the timeout already shows the refund (jobs run lazily)."""
    await create(client, pair[1], pair[2], amount=10, timeout_hours=1)
    await client.post("/_sim/clock", json={"advance_s": 3600})
    assert await casino_balance(client, pair[1]) == pytest.approx(99.9)


async def test_escrow_is_not_refunded_before_its_timeout(
    client: httpx.AsyncClient, pair: tuple[str, str, str, str]
) -> None:
    """One second before auto_release_at the escrow is still funded."""
    r = await create(client, pair[1], pair[2], timeout_hours=1)
    await client.post("/_sim/clock", json={"advance_s": 3599})
    body = (await client.get(f"{ESCROW}/{r.json()['escrow_id']}")).json()
    assert body["status"] == "funded"


async def test_refunded_escrow_cannot_be_released(
    client: httpx.AsyncClient, pair: tuple[str, str, str, str]
) -> None:
    """After the timeout refund, release is 409 in status 'refunded'."""
    escrow_id = (await create(client, pair[1], pair[2], timeout_hours=1)).json()["escrow_id"]
    await client.post("/_sim/clock", json={"advance_s": 7200})
    r = await client.post(f"{ESCROW}/release/{escrow_id}", headers=bearer(pair[1]))
    assert r.status_code == 409
    assert r.json()["message"] == "Cannot release escrow in status 'refunded'"


async def test_disputed_escrow_is_never_refunded(
    client: httpx.AsyncClient, pair: tuple[str, str, str, str]
) -> None:
    """A disputed escrow waits for review and is not swept by the timeout."""
    escrow_id = (await create(client, pair[1], pair[2], timeout_hours=1)).json()["escrow_id"]
    await client.post(f"{ESCROW}/dispute/{escrow_id}", headers=bearer(pair[3]))
    await client.post("/_sim/clock", json={"advance_s": 7200})
    assert (await client.get(f"{ESCROW}/{escrow_id}")).json()["status"] == "disputed"
    assert await casino_balance(client, pair[1]) == 90


# --- service ------------------------------------------------------------------------------


async def test_health_has_the_escrow_shape(client: httpx.AsyncClient, clock: Any) -> None:
    """GET /health is {status, service, uptime} only."""
    clock.advance(5)
    body = (await client.get("https://escrow.purpleflea.com/health")).json()
    assert body == {"status": "ok", "service": "agent-escrow", "uptime": 5, "_info": INFO}


async def test_unknown_route_is_a_bare_404(client: httpx.AsyncClient) -> None:
    """An unknown escrow path answers {"error":"not_found"} only."""
    r = await client.post(f"{ESCROW}/cancel/esc_0000000000000000")
    assert r.status_code == 404
    assert r.json() == {"error": "not_found", "_info": INFO}


@pytest.mark.parametrize("path", ["/escrow/escrow/create", "/escrow/create"])
async def test_loopback_prefix_paths_reach_escrow(
    client: httpx.AsyncClient, pair: tuple[str, str, str, str], path: str
) -> None:
    """On loopback both /escrow/escrow/create and the short /escrow/create work."""
    body = {"amount_usd": 1, "description": "loopback", "counterparty_agent_id": pair[2]}
    r = await client.post(path, json=body, headers=bearer(pair[1]))
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "funded"


async def test_create_is_limited_to_20_per_minute_per_ip(client: httpx.AsyncClient) -> None:
    """The 21st create from one IP in a minute is 429, checked before auth."""
    for _ in range(20):
        assert (await client.post(f"{ESCROW}/create", json={})).status_code == 401
    r = await client.post(f"{ESCROW}/create", json={})
    assert r.status_code == 429
    assert r.json()["message"] == "Too many requests. Limit: 20 per 60s"
