"""Settlement: real replies of the simulator read into exact Decimal amounts; odd ones refused."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from guard._model import Kind, Operation, Settlement, Step
from guard._profile import RULES as PROFILE_RULES
from guard._profile import classify
from guard._settle import RULES, Unsettleable, settle
from tests.conftest import CASINO, DOMAINS, ESCROW, FAUCET, TRADING, bearer, casino_agent

BET = Operation("casino", "bet", Kind.RISK_INCREASING)
BATCH = Operation("casino", "batch", Kind.RISK_INCREASING)
BALANCE = Operation("casino", "balance", Kind.READ)
WITHDRAW = Operation("casino", "withdraw", Kind.TRANSFER)
TRADE_OPEN = Operation("trading", "trade_open", Kind.RISK_INCREASING)
TRADE_CLOSE = Operation("trading", "trade_close", Kind.RISK_REDUCING)
FAUCET_CLAIM = Operation("faucet", "faucet_claim", Kind.TRANSFER)
ESCROW_CREATE = Operation("escrow", "escrow_create", Kind.RISK_INCREASING)
DOMAIN_PURCHASE = Operation("domains", "domain_purchase", Kind.RISK_INCREASING)
DOMAINS_BALANCE = Operation("domains", "wallet_balance", Kind.READ)
SETTLING = [
    BET,
    BATCH,
    BALANCE,
    WITHDRAW,
    TRADE_OPEN,
    TRADE_CLOSE,
    FAUCET_CLAIM,
    ESCROW_CREATE,
    DOMAIN_PURCHASE,
    DOMAINS_BALANCE,
]
ADDRESS = "0x" + "ab" * 20


def body_of(r: httpx.Response) -> Any:
    """The reply as the guard parses it: floats as Decimal."""
    return json.loads(r.text, parse_float=Decimal)


def settled(r: httpx.Response) -> Settlement | None:
    """Classify the request httpx sent and settle its reply, as the transport will."""
    url = r.request.url
    op = classify(r.request.method, url.netloc.decode(), url.path)
    return settle(op, r.status_code, body_of(r))


async def flip(client: httpx.AsyncClient, key: str, amount: float = 1) -> httpx.Response:
    body = {"side": "heads", "amount": amount}
    r = await client.post(f"{CASINO}/games/coin-flip", json=body, headers=bearer(key))
    assert r.status_code == 200, r.text
    return r


def test_every_profile_settlement_rule_exists() -> None:
    """Each settlement rule the profile names is implemented here."""
    assert {r.settle for r in PROFILE_RULES if r.settle} == set(RULES)


# --- real replies ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("game", "params"),
    [
        ("coin-flip", {"side": "tails"}),
        ("dice", {"direction": "under", "threshold": 10}),
        ("crash", {"cash_out_at": 1.5}),
        ("multiplier", {"target_multiplier": 3}),
        ("roulette", {"bet_type": "red"}),
        ("custom", {"win_probability": 50}),
    ],
)
async def test_bet_settles_amount_won_minus_amount_bet(
    client: httpx.AsyncClient, game: str, params: dict[str, Any]
) -> None:
    """A bet: pnl = amount_won − amount_bet, one step, balance = new_balance."""
    _, key = await casino_agent(client)
    r = await client.post(
        f"{CASINO}/games/{game}", json={**params, "amount": 0.37}, headers=bearer(key)
    )
    assert r.status_code == 200, r.text
    body = body_of(r)
    pnl = Decimal(str(body["amount_won"])) - Decimal(str(body["amount_bet"]))
    assert settled(r) == Settlement(
        pnl=pnl, balance=body["new_balance"], steps=(Step(pnl, body["won"]),)
    )


async def test_losing_and_winning_bets_are_steps(client: httpx.AsyncClient) -> None:
    """A lost flip is a losing step of −stake; a won flip a winning step of stake × 0.99."""
    _, key = await casino_agent(client)
    seen: dict[bool, Step] = {}
    for _ in range(40):
        settlement = settled(await flip(client, key))
        assert settlement is not None
        (step,) = settlement.steps
        seen[step.won] = step
        if len(seen) == 2:
            break
    assert seen[False] == Step(Decimal(-1), False)
    assert seen[True] == Step(Decimal("0.99"), True)


async def test_bet_on_loopback_prefix_settles(client: httpx.AsyncClient) -> None:
    """A bet sent to the simulator's /casino prefix settles the same way."""
    _, key = await casino_agent(client)
    body = {"side": "heads", "amount": 2}
    r = await client.post("/casino/api/v1/games/coin-flip", json=body, headers=bearer(key))
    settlement = settled(r)
    assert settlement is not None
    assert settlement.balance == body_of(r)["new_balance"]
    assert len(settlement.steps) == 1


async def test_batch_settles_its_items_not_the_summary(client: httpx.AsyncClient) -> None:
    """A batch: the sum of its bet items, one step each, balance_after; errors skipped."""
    _, key = await casino_agent(client)
    bets = [{"game": "coin_flip", "side": "heads", "amount": 1} for _ in range(6)]
    bets.insert(2, {"game": "poker", "amount": 1})  # an inline error item
    r = await client.post(f"{CASINO}/bets/batch", json={"bets": bets}, headers=bearer(key))
    assert r.status_code == 200, r.text
    body = body_of(r)
    items = [i for i in body["results"] if "error" not in i]
    assert len(items) == 6
    steps = tuple(
        Step(Decimal(i["amount_won"]) - Decimal(i["amount_bet"]), i["won"]) for i in items
    )
    pnl = sum((s.pnl for s in steps), Decimal(0))
    assert settled(r) == Settlement(pnl=pnl, balance=body["balance_after"], steps=steps)
    assert pnl != body["summary"]["net_pnl"]  # upstream's net_pnl ignores the stakes


async def test_balance_read_reports_balance_usd(client: httpx.AsyncClient) -> None:
    """GET /auth/balance reports the unrounded balance_usd, nothing else."""
    _, key = await casino_agent(client)
    await flip(client, key, 0.37)
    r = await client.get(f"{CASINO}/auth/balance", headers=bearer(key))
    assert settled(r) == Settlement(balance=body_of(r)["balance_usd"])


async def trader(client: httpx.AsyncClient) -> str:
    r = await client.post(f"{TRADING}/auth/register", json={})
    assert r.status_code == 201, r.text
    return str(r.json()["api_key"])


async def test_trade_open_costs_its_fee(client: httpx.AsyncClient) -> None:
    """Opening a trade: pnl = −fee, fees = fee, no step, trading account."""
    key = await trader(client)
    order = {"coin": "BTC", "side": "long", "size_usd": 1000}
    r = await client.post(f"{TRADING}/trade/open", json=order, headers=bearer(key))
    assert r.status_code == 200, r.text
    fee = body_of(r)["fee"]
    assert settled(r) == Settlement(pnl=-fee, fees=fee, account="trading")


@pytest.mark.parametrize(("move", "won"), [(Decimal("1.1"), True), (Decimal("0.9"), False)])
async def test_trade_close_settles_pnl_minus_fee(
    client: httpx.AsyncClient, move: Decimal, won: bool
) -> None:
    """Closing a trade: pnl − fee, fees = fee, one step won when that is positive."""
    key = await trader(client)
    order = {"coin": "ETH", "side": "long", "size_usd": 500}
    opened = await client.post(f"{TRADING}/trade/open", json=order, headers=bearer(key))
    entry = body_of(opened)["entry_price"]
    await client.post("/_sim/price", json={"coin": "ETH", "price": float(entry * move)})
    body = {"position_id": opened.json()["position_id"]}
    r = await client.post(f"{TRADING}/trade/close", json=body, headers=bearer(key))
    assert r.status_code == 200, r.text
    reply = body_of(r)
    net = reply["pnl"] - reply["fee"]
    assert settled(r) == Settlement(
        pnl=net, fees=reply["fee"], account="trading", steps=(Step(net, won),)
    )
    assert (net > 0) is won


async def test_limit_order_settles_nothing(client: httpx.AsyncClient) -> None:
    """Placing a limit order moves no money yet: nothing to settle."""
    key = await trader(client)
    order = {"coin": "BTC", "side": "long", "size_usd": 100, "limit_price": 1}
    r = await client.post(f"{TRADING}/trade/limit", json=order, headers=bearer(key))
    assert r.status_code == 201, r.text
    assert settled(r) is None


async def test_withdraw_is_a_cash_flow_with_its_fee(client: httpx.AsyncClient) -> None:
    """A withdrawal: cash flow −(amount + fee), fees = fee, no pnl, balance = new_balance."""
    _, key = await casino_agent(client)
    body = {"amount": 5, "address": ADDRESS}
    r = await client.post(f"{CASINO}/auth/withdraw", json=body, headers=bearer(key))
    assert r.status_code == 200, r.text
    reply = body_of(r)
    assert reply["status"] == "completed"
    assert settled(r) == Settlement(
        fees=reply["fee"],
        cash_flow=-(reply["amount"] + reply["fee"]),
        balance=reply["new_balance"],
    )


async def test_withdraw_pending_review_has_no_balance(client: httpx.AsyncClient) -> None:
    """A withdrawal held for review still leaves the balance; it reports none."""
    _, key = await casino_agent(client, balance=2000)
    body = {"amount": 1500, "address": ADDRESS}
    r = await client.post(f"{CASINO}/auth/withdraw", json=body, headers=bearer(key))
    reply = body_of(r)
    assert reply["status"] == "pending_review"
    assert settled(r) == Settlement(fees=reply["fee"], cash_flow=-(1500 + reply["fee"]))


async def test_faucet_claim_credits_the_casino(client: httpx.AsyncClient) -> None:
    """A faucet claim is a cash flow of +credited into the casino account."""
    agent, _ = await casino_agent(client, balance=0)
    r = await client.post(f"{FAUCET}/claim", json={"agent_casino_id": agent})
    assert r.status_code == 200, r.text
    assert settled(r) == Settlement(cash_flow=body_of(r)["credited"], account="casino")


async def test_escrow_create_locks_the_amount(client: httpx.AsyncClient) -> None:
    """Creating an escrow moves amount_usd out of the casino balance; release moves nothing."""
    _, key = await casino_agent(client)
    other, _ = await casino_agent(client, balance=0)
    body = {"amount_usd": 12.34, "description": "scrape data", "counterparty_agent_id": other}
    r = await client.post(f"{ESCROW}/create", json=body, headers=bearer(key))
    assert r.status_code == 201, r.text
    assert settled(r) == Settlement(cash_flow=-Decimal("12.34"), account="casino")
    released = await client.post(f"{ESCROW}/release/{r.json()['escrow_id']}", headers=bearer(key))
    assert released.status_code == 200, released.text
    assert settled(released) is None


async def test_domain_purchase_spends_from_the_domains_account(client: httpx.AsyncClient) -> None:
    """Buying a domain: cash flow −cost_usdc, balance = balance_remaining, domains account."""
    reg = (await client.post(f"{DOMAINS}/register", json={})).json()
    credit = {"agent_id": reg["agent_id"], "amount": 100, "service": "domains"}
    assert (await client.post("/_sim/credit", json=credit)).status_code == 200
    headers = bearer(reg["api_key"])
    r = await client.post(f"{DOMAINS}/domains/purchase", json={"domain": "q.xyz"}, headers=headers)
    assert r.status_code == 200, r.text
    reply = body_of(r)
    assert settled(r) == Settlement(
        cash_flow=-reply["cost_usdc"], balance=reply["balance_remaining"], account="domains"
    )
    r = await client.get(f"{DOMAINS}/wallet/balance", headers=headers)
    assert settled(r) == Settlement(balance=body_of(r)["balance_usdc"], account="domains")


async def test_error_replies_settle_nothing(client: httpx.AsyncClient) -> None:
    """A refused bet (400) settles nothing."""
    _, key = await casino_agent(client, balance=1)
    body = {"side": "heads", "amount": 50}
    r = await client.post(f"{CASINO}/games/coin-flip", json=body, headers=bearer(key))
    assert r.status_code == 400
    assert settled(r) is None


async def test_reads_without_a_balance_settle_nothing(client: httpx.AsyncClient) -> None:
    """History, markets and health report no balance: nothing to settle."""
    _, key = await casino_agent(client)
    await flip(client, key)
    for r in [
        await client.get(f"{CASINO}/bets/history", headers=bearer(key)),
        await client.get(f"{TRADING}/markets/BTC/price"),
        await client.get("https://casino.purpleflea.com/health"),
    ]:
        assert r.status_code == 200, r.text
        assert settled(r) is None


def test_other_hosts_settle_nothing() -> None:
    """An operation of a host the profile does not know settles nothing."""
    op = Operation("example.com", "request", Kind.RISK_INCREASING)
    assert settle(op, 200, {"amount_won": 1, "amount_bet": 1, "won": True}) is None


# --- odd bodies -----------------------------------------------------------------------------

GOOD_BET = {
    "amount_bet": Decimal("1"),
    "amount_won": Decimal("1.99"),
    "won": True,
    "new_balance": 5,
}
GOOD_CLOSE = {"pnl": Decimal("-2.5"), "fee": Decimal("0.28")}


@pytest.mark.parametrize(
    ("op", "body"),
    [
        (BET, None),
        (BET, []),
        (BET, [GOOD_BET]),
        (BET, "ok"),
        (BET, 3),
        (BET, {}),
        (BET, {**GOOD_BET, "amount_won": None}),
        (BET, {k: v for k, v in GOOD_BET.items() if k != "amount_bet"}),
        (BET, {k: v for k, v in GOOD_BET.items() if k != "new_balance"}),
        (BET, {**GOOD_BET, "amount_bet": "1.00"}),
        (BET, {**GOOD_BET, "amount_bet": 1.0}),
        (BET, {**GOOD_BET, "amount_won": float("nan")}),
        (BET, {**GOOD_BET, "amount_won": Decimal("NaN")}),
        (BET, {**GOOD_BET, "amount_won": Decimal("sNaN")}),
        (BET, {**GOOD_BET, "amount_won": float("inf")}),
        (BET, {**GOOD_BET, "amount_won": Decimal("-Infinity")}),
        (BET, {**GOOD_BET, "amount_won": Decimal("1e400")}),
        (BET, {**GOOD_BET, "amount_won": Decimal("1E+999999999999")}),
        (BET, {**GOOD_BET, "amount_won": 10**30}),
        (BET, {**GOOD_BET, "amount_won": 10**5000}),
        (BET, {**GOOD_BET, "amount_bet": -1}),
        (BET, {**GOOD_BET, "amount_bet": True}),
        (BET, {**GOOD_BET, "won": "true"}),
        (BET, {**GOOD_BET, "won": 1}),
        (BET, {**GOOD_BET, "amount_won": {"value": 1}}),
        (BATCH, {"results": None, "balance_after": 1}),
        (BATCH, {"results": [GOOD_BET, "x"], "balance_after": 1}),
        (BATCH, {"results": [GOOD_BET, {"amount_bet": 1}], "balance_after": 1}),
        (BATCH, {"results": [GOOD_BET]}),
        (BALANCE, {"balance_usd": "100.00"}),
        (TRADE_OPEN, {"fee": None}),
        (TRADE_OPEN, {"fee": -1}),
        (TRADE_CLOSE, {**GOOD_CLOSE, "pnl": "NaN"}),
        (TRADE_CLOSE, {"pnl": Decimal(1)}),
        (WITHDRAW, {"amount": 5, "fee": Decimal("0.5"), "new_balance": None}),
        (WITHDRAW, {"fee": Decimal("0.5")}),
        (FAUCET_CLAIM, {"credited": False}),
        (ESCROW_CREATE, {"amount_usd": "10"}),
        (DOMAIN_PURCHASE, {"cost_usdc": 18}),
        (DOMAINS_BALANCE, {"balance_usdc": [1]}),
    ],
)
def test_odd_bodies_are_unsettleable(op: Operation, body: object) -> None:
    """Missing fields, strings, floats, NaN, huge numbers, non-objects: Unsettleable."""
    with pytest.raises(Unsettleable) as info:
        settle(op, 200, body)
    assert info.value.reason


def test_batch_skips_inline_error_items() -> None:
    """Failed batch items ({error, message}) are not bets; an empty batch still reports."""
    body = {"results": [{"error": "unknown_game", "message": "Unknown game"}], "balance_after": 9}
    assert settle(BATCH, 200, body) == Settlement(balance=Decimal(9))


def test_amounts_keep_every_digit() -> None:
    """An unrounded balance is reported exactly as the body states it."""
    body = json.loads('{"balance_usd": 101.27690500000004}', parse_float=Decimal)
    assert settle(BALANCE, 200, body) == Settlement(balance=Decimal("101.27690500000004"))


def test_non_2xx_settles_nothing_even_with_a_bet_body() -> None:
    """Only a 2xx reply settles."""
    for status in (201, 204):
        assert settle(BET, status, GOOD_BET) is not None
    for status in (199, 300, 400, 402, 500):
        assert settle(BET, status, GOOD_BET) is None


# --- never anything but Unsettleable ----------------------------------------------------------

FIELDS = sorted(
    {
        "amount_bet",
        "amount_won",
        "won",
        "new_balance",
        "results",
        "balance_after",
        "balance_usd",
        "fee",
        "pnl",
        "amount",
        "credited",
        "amount_usd",
        "cost_usdc",
        "balance_remaining",
        "balance_usdc",
        "bet_id",
        "error",
    }
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.decimals(allow_nan=True, allow_infinity=True)
    | st.floats()
    | st.text(max_size=8)
)
# Bodies of the right shape with mostly sound values, so that settle often gets past its
# checks into the arithmetic.
VALUE = (
    st.integers(min_value=0, max_value=10**6)
    | st.decimals(min_value=-(10**6), max_value=10**6, places=2)
    | st.booleans()
    | SCALARS
)
BET_SHAPED = st.fixed_dictionaries(
    {"amount_bet": VALUE, "amount_won": VALUE, "won": VALUE, "new_balance": VALUE},
    optional={"bet_id": st.text(max_size=4), "error": VALUE},
)
PLAUSIBLE = (
    BET_SHAPED
    | st.fixed_dictionaries({"results": st.lists(BET_SHAPED, max_size=4), "balance_after": VALUE})
    | st.fixed_dictionaries({}, optional=dict.fromkeys(FIELDS, VALUE))
)
JSON_LIKE = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=4), children, max_size=8)
    ),
    max_leaves=30,
)


@given(
    op=st.sampled_from(SETTLING),
    status=st.sampled_from([200, 201, 400, 500]),
    body=JSON_LIKE | st.dictionaries(st.sampled_from(FIELDS), JSON_LIKE, max_size=10) | PLAUSIBLE,
)
def test_settle_raises_nothing_but_unsettleable(op: Operation, status: int, body: object) -> None:
    """For any JSON-like body, settle returns a Settlement or None, or raises Unsettleable."""
    try:
        result = settle(op, status, body)
    except Unsettleable:
        return
    assert result is None or isinstance(result, Settlement)
