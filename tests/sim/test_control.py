"""The /_sim controls, faults, limits and idempotency of the simulator shell."""

from __future__ import annotations

import httpx
import pytest

from guard.sim import SimClock, create_app
from tests.conftest import CASINO, T0, bearer, casino_agent

COIN_FLIP = f"{CASINO}/games/coin-flip"
BET = {"side": "heads", "amount": 1}


async def balance(client: httpx.AsyncClient, key: str) -> float:
    r = await client.get(f"{CASINO}/auth/balance", headers=bearer(key))
    assert r.status_code == 200, r.text
    return float(r.json()["balance_usd"])


async def test_index_lists_controls_and_says_they_are_not_the_real_api(
    client: httpx.AsyncClient,
) -> None:
    """GET /_sim lists every control and labels them simulator-only."""
    body = (await client.get("/_sim")).json()
    assert "not part of the real API" in body["note"]
    assert "POST /_sim/faults" in body["controls"]
    assert body["seed"] == 7


async def test_unknown_path_outside_any_service_is_404(client: httpx.AsyncClient) -> None:
    """A loopback path that names no service gets the real-style 404 body."""
    r = await client.post("/nowhere/x")
    assert r.status_code == 404
    assert r.json()["error"] == "not_found"


async def test_unknown_purpleflea_host_is_404(client: httpx.AsyncClient) -> None:
    """A purpleflea.com host that is no service is a 404."""
    r = await client.get("https://nope.purpleflea.com/health")
    assert r.status_code == 404


async def test_credit_funds_the_casino_balance(client: httpx.AsyncClient) -> None:
    """POST /_sim/credit adds to the casino balance the API reports."""
    agent, key = await casino_agent(client, balance=0)
    r = await client.post("/_sim/credit", json={"agent_id": agent, "amount": 12.5})
    assert r.json()["balance_usd"] == 12.5
    assert await balance(client, key) == 12.5


async def test_credit_unknown_agent_is_404(client: httpx.AsyncClient) -> None:
    """Crediting an agent that does not exist says so."""
    r = await client.post("/_sim/credit", json={"agent_id": "ag_000000000000", "amount": 1})
    assert r.status_code == 404
    assert r.json()["error"] == "agent_not_found"


@pytest.mark.parametrize("body", [{}, {"agent_id": "ag_x"}, {"agent_id": "ag_x", "amount": -1}])
async def test_credit_rejects_a_bad_body(
    client: httpx.AsyncClient, body: dict[str, object]
) -> None:
    """A credit without an agent or with a non-positive amount is a 400."""
    r = await client.post("/_sim/credit", json=body)
    assert r.status_code == 400


async def test_invalid_json_is_the_real_400(client: httpx.AsyncClient) -> None:
    """A body that is not JSON gets the real invalid_json error."""
    r = await client.post(f"{CASINO}/auth/register", content=b"{nope")
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_json"
    assert r.json()["message"] == "Request body must be valid JSON"


async def test_every_json_body_carries_info(client: httpx.AsyncClient) -> None:
    """Service replies, errors included, end with the _info block."""
    r = await client.get(f"{CASINO}/auth/balance")
    assert set(r.json()["_info"]) == {"service", "docs", "referral", "version"}


async def test_revoked_key_gets_the_real_invalid_key_401(client: httpx.AsyncClient) -> None:
    """After /_sim/keys/revoke the key is refused with the casino's 'Invalid API key' body."""
    _, key = await casino_agent(client)
    r = await client.post("/_sim/keys/revoke", json={"api_key": key})
    assert r.json()["revoked"] == 1
    r = await client.get(f"{CASINO}/auth/balance", headers=bearer(key))
    assert r.status_code == 401
    assert r.json()["error"] == "unauthorized"
    assert r.json()["message"] == "Invalid API key"


async def test_revoke_by_agent_revokes_all_its_keys(client: httpx.AsyncClient) -> None:
    """Revoking by agent id removes every key of that agent."""
    agent, key = await casino_agent(client)
    assert (await client.post("/_sim/keys/revoke", json={"agent_id": agent})).json()["revoked"] == 1
    assert (await client.get(f"{CASINO}/auth/balance", headers=bearer(key))).status_code == 401


async def test_rotated_key_replaces_the_old_one_for_the_same_agent(
    client: httpx.AsyncClient,
) -> None:
    """/_sim/keys/rotate kills the old key and the new one reaches the same account."""
    agent, old = await casino_agent(client, balance=5)
    rotated = (await client.post("/_sim/keys/rotate", json={"api_key": old})).json()
    assert rotated["agent_id"] == agent
    assert rotated["api_key"].startswith("sk_live_")
    assert (await client.get(f"{CASINO}/auth/balance", headers=bearer(old))).status_code == 401
    assert await balance(client, rotated["api_key"]) == 5


async def test_unknown_key_control_is_404(client: httpx.AsyncClient) -> None:
    """Rotating a key the simulator never issued is a 404."""
    r = await client.post("/_sim/keys/rotate", json={"api_key": "sk_live_nope"})
    assert r.status_code == 404


async def test_key_expiry_follows_the_simulator_clock(client: httpx.AsyncClient) -> None:
    """An expiring key works until the clock passes its expiry."""
    _, key = await casino_agent(client)
    await client.post("/_sim/keys/expire", json={"api_key": key, "after_s": 60})
    assert (await client.get(f"{CASINO}/auth/balance", headers=bearer(key))).status_code == 200
    await client.post("/_sim/clock", json={"advance_s": 60})
    assert (await client.get(f"{CASINO}/auth/balance", headers=bearer(key))).status_code == 401


async def test_clock_advances_and_refuses_to_go_back(client: httpx.AsyncClient) -> None:
    """The clock moves forward on request and never backward."""
    assert (await client.get("/_sim/clock")).json() == {"now": T0, "frozen": True}
    assert (await client.post("/_sim/clock", json={"advance_s": 90})).json()["now"] == T0 + 90
    assert (await client.post("/_sim/clock", json={"set": T0})).status_code == 400


async def test_error_fault_answers_before_executing(client: httpx.AsyncClient) -> None:
    """A 503 fault answers with the status and never touches the balance."""
    _, key = await casino_agent(client, balance=10)
    await client.post(
        "/_sim/faults", json={"service": "casino", "error_rate": 1, "path": "/api/v1/games"}
    )
    r = await client.post(COIN_FLIP, json=BET, headers=bearer(key))
    assert r.status_code == 503
    assert r.json()["error"] == "service_unavailable"
    assert await balance(client, key) == 10


async def test_fault_status_is_configurable(client: httpx.AsyncClient) -> None:
    """The injected status code and its error code follow the fault's status."""
    _, key = await casino_agent(client)
    await client.post("/_sim/faults", json={"service": "casino", "error_rate": 1, "status": 500})
    r = await client.post(COIN_FLIP, json=BET, headers=bearer(key))
    assert (r.status_code, r.json()["error"]) == (500, "internal_error")


async def test_fault_remaining_limits_how_many_requests_fail(client: httpx.AsyncClient) -> None:
    """A fault with remaining=2 fails exactly the next two requests."""
    _, key = await casino_agent(client)
    await client.post("/_sim/faults", json={"service": "casino", "error_rate": 1, "remaining": 2})
    codes = [
        (await client.post(COIN_FLIP, json=BET, headers=bearer(key))).status_code for _ in range(3)
    ]
    assert codes == [503, 503, 200]


async def test_fault_on_one_service_leaves_the_others_alone(client: httpx.AsyncClient) -> None:
    """A casino outage does not touch trading."""
    await client.post("/_sim/faults", json={"service": "casino", "error_rate": 1})
    assert (await client.get("https://trading.purpleflea.com/health")).status_code == 200
    assert (await client.get("https://casino.purpleflea.com/health")).status_code == 503


async def test_star_fault_hits_every_service(client: httpx.AsyncClient) -> None:
    """service '*' injects the fault into all services."""
    r = await client.post("/_sim/faults", json={"service": "*", "error_rate": 1})
    assert set(r.json()["faults"]) == {"casino", "trading", "wallet", "escrow", "faucet", "domains"}


async def test_rate_limit_storm_on_games_carries_reset_at(client: httpx.AsyncClient) -> None:
    """A 429 storm on a game path answers the per-agent body with reset_at and no Retry-After."""
    _, key = await casino_agent(client)
    await client.post("/_sim/faults", json={"service": "casino", "rate_limit_rate": 1})
    r = await client.post(COIN_FLIP, json=BET, headers=bearer(key))
    assert r.status_code == 429
    assert r.json()["error"] == "rate_limit_exceeded"
    assert r.json()["reset_at"] == "2026-01-01T00:01:00.000Z"
    assert "retry-after" not in r.headers


async def test_retry_after_header_can_be_switched_on(client: httpx.AsyncClient) -> None:
    """With config retry_after on, 429s carry a Retry-After header."""
    await client.post("/_sim/config", json={"retry_after": True})
    await client.post("/_sim/faults", json={"service": "trading", "rate_limit_rate": 1})
    r = await client.get("https://trading.purpleflea.com/health")
    assert r.status_code == 429
    assert r.headers["retry-after"] == "60"


async def test_bad_fault_fields_are_rejected(client: httpx.AsyncClient) -> None:
    """Unknown fault fields, rates above 1 and unknown services are 400s."""
    for body in (
        {"service": "casino", "nope": 1},
        {"service": "casino", "error_rate": 2},
        {"service": "bank", "error_rate": 1},
    ):
        assert (await client.post("/_sim/faults", json=body)).status_code == 400


async def test_clearing_faults_restores_service(client: httpx.AsyncClient) -> None:
    """DELETE /_sim/faults ends an outage."""
    await client.post("/_sim/faults", json={"service": "casino", "error_rate": 1})
    r = await client.delete("/_sim/faults")
    assert r.json()["faults"] == {}
    assert (await client.get("https://casino.purpleflea.com/health")).status_code == 200


async def test_timeout_fault_executes_then_holds_the_reply(client: httpx.AsyncClient) -> None:
    """A timeout fault lets the bet execute, then holds the response (outcome unknown)."""
    _, key = await casino_agent(client, balance=10)
    await client.post("/_sim/faults", json={"service": "casino", "timeout_rate": 1, "hang_s": 0.01})
    r = await client.post(COIN_FLIP, json=BET, headers=bearer(key))
    assert r.status_code == 200
    await client.delete("/_sim/faults")
    assert await balance(client, key) == r.json()["new_balance"] != 10


async def test_drop_fault_raises_a_protocol_error_after_executing(
    client: httpx.AsyncClient,
) -> None:
    """A dropped connection surfaces as httpx.RemoteProtocolError and the bet still executed."""
    _, key = await casino_agent(client, balance=10)
    await client.post("/_sim/faults", json={"service": "casino", "drop_rate": 1})
    with pytest.raises(httpx.RemoteProtocolError):
        await client.post(COIN_FLIP, json=BET, headers=bearer(key))
    await client.delete("/_sim/faults")
    assert await balance(client, key) != 10


async def test_idempotency_key_executes_once(client: httpx.AsyncClient) -> None:
    """The same Idempotency-Key twice: one bet, the same reply, marked as replayed."""
    _, key = await casino_agent(client, balance=10)
    headers = {**bearer(key), "Idempotency-Key": "k-1"}
    first = await client.post(COIN_FLIP, json=BET, headers=headers)
    second = await client.post(COIN_FLIP, json=BET, headers=headers)
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert await balance(client, key) == first.json()["new_balance"]


async def test_idempotency_key_reused_with_another_body_is_422(client: httpx.AsyncClient) -> None:
    """An Idempotency-Key reused for a different request is refused."""
    _, key = await casino_agent(client, balance=10)
    headers = {**bearer(key), "Idempotency-Key": "k-2"}
    await client.post(COIN_FLIP, json=BET, headers=headers)
    r = await client.post(COIN_FLIP, json={**BET, "amount": 0.5}, headers=headers)
    assert r.status_code == 422
    assert r.json()["error"] == "idempotency_key_reused"


async def test_idempotency_key_expires_after_a_day(client: httpx.AsyncClient) -> None:
    """After 24 h the same key executes again."""
    _, key = await casino_agent(client, balance=10)
    headers = {**bearer(key), "Idempotency-Key": "k-3"}
    first = await client.post(COIN_FLIP, json=BET, headers=headers)
    await client.post("/_sim/clock", json={"advance_s": 24 * 3600})
    second = await client.post(COIN_FLIP, json=BET, headers=headers)
    assert "idempotent-replayed" not in second.headers
    assert second.json()["bet_id"] != first.json()["bet_id"]


async def test_injected_failures_are_not_remembered_by_idempotency(
    client: httpx.AsyncClient,
) -> None:
    """A request failed by an injected 503 executes when replayed with its key after the storm."""
    _, key = await casino_agent(client, balance=10)
    headers = {**bearer(key), "Idempotency-Key": "k-4"}
    await client.post("/_sim/faults", json={"service": "casino", "error_rate": 1})
    assert (await client.post(COIN_FLIP, json=BET, headers=headers)).status_code == 503
    await client.delete("/_sim/faults")
    r = await client.post(COIN_FLIP, json=BET, headers=headers)
    assert r.status_code == 200
    assert "idempotent-replayed" not in r.headers


async def test_per_ip_limit_uses_the_forwarded_address(client: httpx.AsyncClient) -> None:
    """Register's 10/min per-IP limit counts each X-Forwarded-For address apart."""
    url = f"{CASINO}/auth/register"
    codes = [
        (await client.post(url, headers={"X-Forwarded-For": "10.0.0.1"})).status_code
        for _ in range(11)
    ]
    assert codes[-1] == 429
    other = await client.post(url, headers={"X-Forwarded-For": "10.0.0.2"})
    assert other.status_code == 201


async def test_rate_limits_can_be_switched_off(client: httpx.AsyncClient) -> None:
    """With config rate_limits off, the per-IP limiter never answers 429."""
    await client.post("/_sim/config", json={"rate_limits": False})
    codes = {(await client.post(f"{CASINO}/auth/register")).status_code for _ in range(15)}
    assert codes == {201}


async def test_bad_config_is_rejected(client: httpx.AsyncClient) -> None:
    """Only known boolean switches can be set."""
    assert (await client.post("/_sim/config", json={"rate_limits": "no"})).status_code == 400
    assert (await client.post("/_sim/config", json={"turbo": True})).status_code == 400


async def test_reset_forgets_agents_and_keys(client: httpx.AsyncClient) -> None:
    """After /_sim/reset an old key is unknown."""
    _, key = await casino_agent(client)
    await client.post("/_sim/reset")
    assert (await client.get(f"{CASINO}/auth/balance", headers=bearer(key))).status_code == 401


async def test_reseed_repeats_the_same_world(client: httpx.AsyncClient) -> None:
    """The same seed gives the same agent ids and keys again."""
    await client.post("/_sim/seed", json={"seed": 99})
    first = (await client.post(f"{CASINO}/auth/register")).json()
    await client.post("/_sim/seed", json={"seed": 99})
    second = (await client.post(f"{CASINO}/auth/register")).json()
    assert (first["agent_id"], first["api_key"]) == (second["agent_id"], second["api_key"])


async def test_request_log_records_calls_without_keys(client: httpx.AsyncClient) -> None:
    """/_sim/requests lists what reached the server and never holds a key."""
    _, key = await casino_agent(client)
    await client.get(f"{CASINO}/auth/balance", headers=bearer(key))
    r = await client.get("/_sim/requests", params={"service": "casino"})
    rows = r.json()["requests"]
    assert rows[-1]["path"] == "/api/v1/auth/balance"
    assert rows[-1]["status"] == 200
    assert key not in r.text


async def test_two_apps_with_one_seed_agree() -> None:
    """Two simulators built with the same seed and clock issue the same identities."""
    bodies = []
    for _ in range(2):
        app = create_app(seed=3, clock=SimClock(start=T0))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as c:
            bodies.append((await c.post(f"{CASINO}/auth/register")).json())
    assert bodies[0] == bodies[1]


async def test_loopback_prefix_reaches_the_casino(client: httpx.AsyncClient) -> None:
    """/casino/api/v1/... on loopback is the casino."""
    r = await client.post("/casino/api/v1/auth/register")
    assert r.status_code == 201
    assert r.json()["api_key"].startswith("sk_live_")
