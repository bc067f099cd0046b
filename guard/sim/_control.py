"""Simulator-only controls under ``/_sim/``: NOT part of the Purple Flea API.

They let a test or a demo do what production does by other means (fund an account on chain,
rotate a key, suffer an outage) or cannot do at all (move time, replay a seed).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ._bank import Bank
from ._core import Call, Fault, Service, SimError, is_number

service = Service("_sim", realm=None, info={})
REALM_PREFIX = {
    "casino": "sk_live_",
    "trading": "sk_trade_",
    "wallet": "pk_live_",
    "domains": "sk_domains_",
}
FAULT_SERVICES = ("casino", "trading", "wallet", "escrow", "faucet", "domains")


@service.route("GET", "/")
def index(call: Call) -> dict[str, Any]:
    return {
        "simulator": "Purple Flea (local)",
        "note": "/_sim routes are simulator controls, not part of the real API",
        "seed": call.state.seed,
        "now": call.now(),
        "controls": [f"{r.method} /_sim{r.path}" for r in service.routes],
    }


@service.route("POST", "/credit")
def credit(call: Call) -> dict[str, Any]:
    """Fund a balance, as an on-chain deposit would (casino by default, or domains)."""
    agent_id, amount = call.body.get("agent_id"), call.body.get("amount")
    target = call.body.get("service", "casino")
    if not isinstance(agent_id, str) or not is_number(amount) or amount <= 0:
        raise SimError(400, "invalid_request", "Body must be {agent_id, amount > 0[, service]}")
    if target == "domains":
        from ._domains import DomainsBook

        balance = call.state.book(DomainsBook).credit(agent_id, float(amount))
        if balance is None:
            raise SimError(404, "agent_not_found", f"No domains agent {agent_id}")
        return {"agent_id": agent_id, "service": "domains", "balance_usdc": balance}
    if target != "casino":
        raise SimError(400, "invalid_service", "service must be 'casino' or 'domains'")
    bank = call.state.book(Bank)
    account = bank.get(agent_id)
    if account is None:
        raise SimError(404, "agent_not_found", f"No casino agent {agent_id}")
    if call.body.get("deposit", True):
        account.total_deposited += float(amount)
    bank.credit(agent_id, float(amount), "deposit (simulated)")
    return {"agent_id": agent_id, "service": "casino", "balance_usd": account.balance}


def _key_from(call: Call) -> str:
    key = call.body.get("api_key")
    if not isinstance(key, str) or call.state.keys.record(key) is None:
        raise SimError(404, "key_not_found", "No such api_key")
    return key


@service.route("POST", "/keys/revoke")
def revoke(call: Call) -> dict[str, Any]:
    """Revoke one key (``api_key``) or every key of an agent (``agent_id``)."""
    agent_id = call.body.get("agent_id")
    if isinstance(agent_id, str) and "api_key" not in call.body:
        count = call.state.keys.revoke_agent(agent_id)
        if not count:
            raise SimError(404, "agent_not_found", f"No keys for agent {agent_id}")
        return {"revoked": count, "agent_id": agent_id}
    record = call.state.keys.revoke(_key_from(call))
    assert record is not None
    return {"revoked": 1, "agent_id": record.agent_id}


@service.route("POST", "/keys/rotate")
def rotate(call: Call) -> dict[str, Any]:
    """Revoke ``api_key`` and issue a new key for the same agent (a midnight rotation)."""
    record = call.state.keys.revoke(_key_from(call))
    assert record is not None
    new_key = call.state.keys.issue(record.realm, record.agent_id, REALM_PREFIX[record.realm])
    return {"agent_id": record.agent_id, "realm": record.realm, "api_key": new_key}


@service.route("POST", "/keys/expire")
def expire(call: Call) -> dict[str, Any]:
    """Make ``api_key`` stop working ``after_s`` seconds from now (simulator time)."""
    key = _key_from(call)
    after = call.body.get("after_s", 0)
    if not is_number(after) or after < 0:
        raise SimError(400, "invalid_request", "after_s must be a number >= 0")
    record = call.state.keys.expire(key, float(after))
    assert record is not None
    return {"agent_id": record.agent_id, "expires_at": record.expires_at}


def _faults(call: Call) -> dict[str, Any]:
    return {"faults": {name: dataclasses.asdict(f) for name, f in call.state.faults.items()}}


@service.route("GET", "/faults")
def list_faults(call: Call) -> dict[str, Any]:
    return _faults(call)


@service.route("POST", "/faults")
def set_fault(call: Call) -> dict[str, Any]:
    """Inject failures into a service (``"*"`` for all); replaces what that service had."""
    body = dict(call.body)
    target = body.pop("service", None)
    names = FAULT_SERVICES if target == "*" else (target,)
    if not all(name in FAULT_SERVICES for name in names):
        raise SimError(400, "invalid_service", f"service must be one of {FAULT_SERVICES} or '*'")
    fields = {f.name: f for f in dataclasses.fields(Fault)}
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise SimError(
            400, "invalid_fault", f"Unknown fault fields: {unknown}", allowed=sorted(fields)
        )
    for name, value in body.items():
        if name == "path":
            ok = isinstance(value, str)
        elif name == "remaining":
            ok = value is None or (
                isinstance(value, int) and not isinstance(value, bool) and value >= 0
            )
        elif name.endswith("_rate"):
            ok = is_number(value) and 0 <= value <= 1
        elif name == "status":
            ok = isinstance(value, int) and 400 <= value <= 599
        else:
            ok = is_number(value) and value >= 0
        if not ok:
            raise SimError(400, "invalid_fault", f"Bad value for {name}: {value!r}")
    for name in names:
        call.state.faults[name] = Fault(**body)
    return _faults(call)


@service.route("DELETE", "/faults")
def clear_faults(call: Call) -> dict[str, Any]:
    target = call.query.get("service")
    if target:
        call.state.faults.pop(target, None)
    else:
        call.state.faults.clear()
    return _faults(call)


@service.route("GET", "/clock")
def get_clock(call: Call) -> dict[str, Any]:
    return {"now": call.now(), "frozen": call.state.clock.frozen}


@service.route("POST", "/clock")
def move_clock(call: Call) -> dict[str, Any]:
    """Move simulator time: ``{"advance_s": 60}`` or ``{"set": <epoch seconds>}``."""
    advance, at = call.body.get("advance_s"), call.body.get("set")
    if is_number(advance) and advance >= 0:
        call.state.clock.advance(float(advance))
    elif is_number(at) and at >= call.now():
        call.state.clock.set(float(at))
    else:
        raise SimError(
            400, "invalid_request", "Body must be {advance_s >= 0} or {set: epoch >= now}"
        )
    return get_clock(call)


@service.route("POST", "/price")
def set_price(call: Call) -> dict[str, Any]:
    """Set a coin's mark price; the seeded walk continues from there."""
    from ._trading import TradingBook

    coin, price = call.body.get("coin"), call.body.get("price")
    if not isinstance(coin, str) or not is_number(price) or price <= 0:
        raise SimError(400, "invalid_request", "Body must be {coin, price > 0}")
    if not call.state.book(TradingBook).set_price(coin.upper(), float(price)):
        raise SimError(404, "no_price", f"Unknown coin {coin}", coin=coin)
    return {"coin": coin.upper(), "price": float(price)}


@service.route("POST", "/seed")
def reseed(call: Call) -> dict[str, Any]:
    """Forget everything and start again from ``seed``."""
    seed = call.body.get("seed")
    if not (seed is None or (isinstance(seed, int) and not isinstance(seed, bool))):
        raise SimError(400, "invalid_request", "seed must be an integer or null")
    call.state.reset(seed)
    return {"seed": seed, "reset": True}


@service.route("POST", "/reset")
def reset(call: Call) -> dict[str, Any]:
    """Forget every agent, key, fault and limit; keep the seed, the clock and the config."""
    call.state.reset(call.state.seed)
    return {"seed": call.state.seed, "reset": True}


@service.route("GET", "/requests")
def requests(call: Call) -> dict[str, Any]:
    """What reached the simulator, newest last (never the keys)."""
    wanted = call.query.get("service")
    rows = [r for r in call.state.requests if not wanted or r["service"] == wanted]
    try:
        limit = int(call.query.get("limit", "1000"))
    except ValueError:
        raise SimError(400, "invalid_request", "limit must be an integer") from None
    return {"requests": rows[-limit:] if limit > 0 else [], "count": len(rows)}


@service.route("GET", "/config")
def get_config(call: Call) -> dict[str, Any]:
    return dataclasses.asdict(call.state.config)


@service.route("POST", "/config")
def set_config(call: Call) -> dict[str, Any]:
    """Switch ``rate_limits``, ``retry_after`` (adds Retry-After to 429s) or ``auto_faucet``."""
    config = call.state.config
    for name, value in call.body.items():
        if not hasattr(config, name) or not isinstance(value, bool):
            raise SimError(400, "invalid_config", f"Unknown or non-boolean setting: {name}")
        setattr(config, name, value)
    return get_config(call)
